//! Mounting mocks on a running server, and the guard of a scoped mock.

use std::fmt;
use std::sync::Arc;

use super::MockChatServer;
use crate::http::ServerState;
use crate::matching::{Conversation, Mock};
use crate::request::ReceivedRequest;

impl Mock {
    /// Mounts the mock on `server`. It answers matching requests until the server is
    /// dropped or [reset](MockChatServer::reset).
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    pub async fn mount(self, server: &MockChatServer) {
        server.mount(self);
    }

    /// [`mount`](Self::mount) for synchronous code, such as a plain `#[test]`.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// Mock::given(matchers::model("gpt-4o"))
    ///     .respond_with(Reply::text("Hi!"))
    ///     .mount_blocking(&server);
    /// ```
    pub fn mount_blocking(self, server: &MockChatServer) {
        server.mount(self);
    }

    /// Mounts the mock for as long as the returned guard lives. Dropping the guard
    /// unmounts the mock and checks its expectation, so one server can serve several
    /// phases of a test, each with its own expectations.
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{matchers, Mock, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::start().await;
    /// {
    ///     let _phase_one = Mock::given(matchers::any())
    ///         .respond_with(Reply::text("first"))
    ///         .expect(0)
    ///         .mount_as_scoped(&server)
    ///         .await;
    ///     // ... requests made here must not match ...
    /// } // checked and unmounted here
    /// # }
    /// ```
    #[must_use = "dropping the guard unmounts the mock at once: bind it to a name \
                  (`let _guard = ...`; `let _ = ...` drops it)"]
    pub async fn mount_as_scoped(self, server: &MockChatServer) -> MockGuard {
        self.mount_as_scoped_blocking(server)
    }

    /// [`mount_as_scoped`](Self::mount_as_scoped) for synchronous code.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// let guard = Mock::given(matchers::any())
    ///     .respond_with(Reply::text("Hi!"))
    ///     .expect(0)
    ///     .mount_as_scoped_blocking(&server);
    /// assert!(guard.received_requests_blocking().is_empty());
    /// drop(guard); // unmounted and checked here
    /// ```
    #[must_use = "dropping the guard unmounts the mock at once: bind it to a name \
                  (`let _guard = ...`; `let _ = ...` drops it)"]
    pub fn mount_as_scoped_blocking(self, server: &MockChatServer) -> MockGuard {
        let id = server.mount(self);
        MockGuard {
            server: server.state(),
            id,
        }
    }
}

/// Keeps a mock mounted by [`Mock::mount_as_scoped`]; dropping it unmounts the mock and
/// checks its expectation. Bind it to a name for as long as the mock should answer:
/// `let _guard = ...` keeps it to the end of the scope, while `let _ = ...` drops it at
/// once.
#[must_use = "the mock is unmounted as soon as this guard is dropped"]
pub struct MockGuard {
    server: Arc<ServerState>,
    id: usize,
}

impl MockGuard {
    /// The requests this mock has matched so far.
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    pub async fn received_requests(&self) -> Vec<ReceivedRequest> {
        self.received_requests_blocking()
    }

    /// [`received_requests`](Self::received_requests) for synchronous code; see
    /// [`Mock::mount_as_scoped_blocking`] for an example.
    pub fn received_requests_blocking(&self) -> Vec<ReceivedRequest> {
        self.server.requests_matched_by(self.id)
    }
}

impl fmt::Debug for MockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockGuard").field("id", &self.id).finish()
    }
}

impl Drop for MockGuard {
    fn drop(&mut self) {
        self.server.unmount_and_verify(self.id);
    }
}

impl Conversation {
    /// Mounts the conversation on `server`, as [`Mock::mount`] does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{Conversation, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::start().await;
    /// Conversation::new().turn(Reply::text("Hi!")).mount(&server).await;
    /// let body = r#"{"model":"m","messages":[{"role":"user","content":"Hello"}]}"#;
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// let response = reqwest::Client::new().post(url).body(body).send().await.unwrap();
    /// assert_eq!(response.status(), 200);
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If the conversation has no turns.
    #[track_caller]
    pub fn mount(self, server: &MockChatServer) -> impl std::future::Future<Output = ()> + '_ {
        self.into_mock().mount(server)
    }

    /// Mounts the conversation for as long as the returned guard lives, as
    /// [`Mock::mount_as_scoped`] does; dropping the guard checks that every turn was
    /// reached.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use chatmock::{Conversation, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::start().await;
    /// let body = r#"{"model":"m","messages":[{"role":"user","content":"Hello"}]}"#;
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// {
    ///     let _greeting = Conversation::new()
    ///         .turn(Reply::text("Hi!"))
    ///         .mount_as_scoped(&server)
    ///         .await;
    ///     let response = reqwest::Client::new().post(&url).body(body).send().await.unwrap();
    ///     assert_eq!(response.status(), 200);
    /// } // turn 1 was reached: checked, and unmounted, here
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If the conversation has no turns.
    #[track_caller]
    pub fn mount_as_scoped(
        self,
        server: &MockChatServer,
    ) -> impl std::future::Future<Output = MockGuard> + '_ {
        self.into_mock().mount_as_scoped(server)
    }

    /// [`mount`](Self::mount) for a plain `#[test]`, as [`Mock::mount_blocking`] is.
    ///
    /// ```
    /// use chatmock::{Conversation, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// Conversation::new()
    ///     .turn(Reply::text("Hi!"))
    ///     .mount_blocking(&server);
    ///
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// let body = r#"{"model":"m","messages":[{"role":"user","content":"Hello"}]}"#;
    /// let response = reqwest::blocking::Client::new().post(url).body(body).send().unwrap();
    /// assert_eq!(response.status(), 200);
    /// // Dropping `server` checks that turn 1 was reached.
    /// ```
    ///
    /// # Panics
    ///
    /// If the conversation has no turns.
    #[track_caller]
    pub fn mount_blocking(self, server: &MockChatServer) {
        self.into_mock().mount_blocking(server);
    }

    /// [`mount_as_scoped`](Self::mount_as_scoped) for a plain `#[test]`, as
    /// [`Mock::mount_as_scoped_blocking`] is.
    ///
    /// ```
    /// use chatmock::{Conversation, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// let body = r#"{"model":"m","messages":[{"role":"user","content":"Hello"}]}"#;
    /// {
    ///     let _greeting = Conversation::new()
    ///         .turn(Reply::text("Hi!"))
    ///         .mount_as_scoped_blocking(&server);
    ///     let response = reqwest::blocking::Client::new().post(&url).body(body).send().unwrap();
    ///     assert_eq!(response.status(), 200);
    /// } // checked (turn 1 was reached) and unmounted here
    /// ```
    ///
    /// # Panics
    ///
    /// If the conversation has no turns.
    #[track_caller]
    #[must_use = "dropping the guard unmounts the conversation at once: bind it to a name"]
    pub fn mount_as_scoped_blocking(self, server: &MockChatServer) -> MockGuard {
        self.into_mock().mount_as_scoped_blocking(server)
    }
}

//! Mounting mocks on a running server, and the guard of a scoped mock.

use std::fmt;
use std::sync::Arc;

use super::MockChatServer;
use crate::http::ServerState;
use crate::matching::Mock;
use crate::request::ReceivedRequest;

impl Mock {
    /// Mounts the mock on `server`. It answers matching requests until the server is
    /// dropped or [reset](MockChatServer::reset).
    ///
    /// `async` only to read as wiremock's API does: it returns at once, awaiting nothing.
    pub async fn mount(self, server: &MockChatServer) {
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
    pub async fn mount_as_scoped(self, server: &MockChatServer) -> MockGuard {
        let id = server.mount(self);
        MockGuard {
            server: server.state(),
            id,
        }
    }
}

/// Keeps a mock mounted by [`Mock::mount_as_scoped`]; dropping it unmounts the mock and
/// checks its expectation.
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

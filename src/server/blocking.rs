//! The `_blocking` twins of the server's async test-side methods, for plain `#[test]`s
//! that have no runtime. The server runs on its own thread, so nothing here needs one:
//! the waits sleep the calling thread until the request log changes.
//!
//! A twin that blocks refuses to run where blocking would stop the server or the client:
//! on a server with virtual time (it runs on the test's runtime) or on a thread that runs
//! a tokio runtime. It panics then, naming the async method to use instead.

use std::io;

use futures_util::FutureExt;

use super::{wait_for_requests, wait_for_streams_to_end, MockChatServer, WaitTimeout, WAIT_UNTIL};
use crate::request::ReceivedRequest;

impl MockChatServer {
    /// [`received_requests`](Self::received_requests) for synchronous code.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// assert!(server.received_requests_blocking().is_empty());
    /// ```
    pub fn received_requests_blocking(&self) -> Vec<ReceivedRequest> {
        self.state.recording.snapshot()
    }

    /// [`wait_for_requests`](Self::wait_for_requests) for synchronous code: blocks the
    /// thread until the server has received at least `count` requests.
    ///
    /// ```
    /// use chatmock::{MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder().reply(Reply::text("Hi")).start_blocking();
    /// let url = format!("{}/chat/completions", server.openai_base_url());
    /// std::thread::spawn(move || {
    ///     reqwest::blocking::Client::new().post(url).body(r#"{"model":"m","messages":[]}"#).send()
    /// });
    /// let requests = server.wait_for_requests_blocking(1).unwrap();
    /// assert_eq!(requests[0].path(), "/v1/chat/completions");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`wait_for_requests`](Self::wait_for_requests).
    ///
    /// # Panics
    ///
    /// On a server with virtual time, or on a thread that runs a tokio runtime, where
    /// blocking would stop the server or the client: use `.wait_for_requests(n).await`.
    #[track_caller]
    pub fn wait_for_requests_blocking(
        &self,
        count: usize,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        self.refuse_to_block("wait_for_requests_blocking", "wait_for_requests(n)");
        let (what, condition) = wait_for_requests(count);
        self.wait_for_blocking(what, condition)
    }

    /// [`wait_for_streams_to_end`](Self::wait_for_streams_to_end) for synchronous code.
    ///
    /// ```
    /// use chatmock::{MockChatServer, Reply, StreamOutcome};
    ///
    /// let server = MockChatServer::builder().reply(Reply::text("Hi")).start_blocking();
    /// reqwest::blocking::Client::new()
    ///     .post(format!("{}/chat/completions", server.openai_base_url()))
    ///     .body(r#"{"model":"m","messages":[],"stream":true}"#)
    ///     .send()
    ///     .unwrap()
    ///     .text()
    ///     .unwrap();
    /// let requests = server.wait_for_streams_to_end_blocking().unwrap();
    /// assert!(matches!(requests[0].stream_outcome(), StreamOutcome::Completed { .. }));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`wait_for_streams_to_end`](Self::wait_for_streams_to_end).
    ///
    /// # Panics
    ///
    /// As [`wait_for_requests_blocking`](Self::wait_for_requests_blocking).
    #[track_caller]
    pub fn wait_for_streams_to_end_blocking(&self) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        self.refuse_to_block(
            "wait_for_streams_to_end_blocking",
            "wait_for_streams_to_end()",
        );
        let (what, condition) = wait_for_streams_to_end();
        self.wait_for_blocking(what, condition)
    }

    /// [`wait_until`](Self::wait_until) for synchronous code.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    /// use std::time::Duration;
    ///
    /// let server = MockChatServer::builder()
    ///     .wait_timeout(Duration::from_millis(10))
    ///     .start_blocking();
    /// // Nothing arrives: the wait gives up after the wait timeout, with what it saw.
    /// let timeout = server.wait_until_blocking(|requests| !requests.is_empty()).unwrap_err();
    /// assert!(timeout.received_requests().is_empty());
    /// ```
    ///
    /// # Errors
    ///
    /// As [`wait_until`](Self::wait_until).
    ///
    /// # Panics
    ///
    /// As [`wait_for_requests_blocking`](Self::wait_for_requests_blocking).
    #[track_caller]
    pub fn wait_until_blocking(
        &self,
        condition: impl FnMut(&[ReceivedRequest]) -> bool,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        self.refuse_to_block("wait_until_blocking", "wait_until(..)");
        self.wait_for_blocking(WAIT_UNTIL.to_owned(), condition)
    }

    fn wait_for_blocking(
        &self,
        what: String,
        condition: impl FnMut(&[ReceivedRequest]) -> bool,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        self.state
            .recording
            .wait_until_blocking(condition, self.wait_timeout)
            .map_err(|requests| self.timed_out(what, requests))
    }

    /// [`verify`](Self::verify) for synchronous code.
    ///
    /// ```
    /// use chatmock::{matchers, Mock, MockChatServer, Reply};
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// Mock::given(matchers::any())
    ///     .respond_with(Reply::text("Hi"))
    ///     .expect(0)
    ///     .mount_blocking(&server);
    /// server.verify_blocking();
    /// ```
    ///
    /// # Panics
    ///
    /// As [`verify`](Self::verify).
    #[track_caller]
    pub fn verify_blocking(&self) {
        self.verify_now();
    }

    /// [`reset`](Self::reset) for synchronous code.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// server.reset_blocking();
    /// ```
    pub fn reset_blocking(&self) {
        self.state.reset();
    }

    /// [`stop`](Self::stop) for synchronous code.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// server.stop_blocking();
    /// assert!(std::net::TcpStream::connect(server.address()).is_err());
    /// server.restart_blocking();
    /// assert!(std::net::TcpStream::connect(server.address()).is_ok());
    /// ```
    ///
    /// # Panics
    ///
    /// As [`wait_for_requests_blocking`](Self::wait_for_requests_blocking), using
    /// `.stop().await` instead.
    #[track_caller]
    pub fn stop_blocking(&self) {
        self.refuse_to_block("stop_blocking", "stop()");
        let _turn = self.lifecycle.blocking_lock();
        self.stop_on_own_thread();
    }

    /// [`restart`](Self::restart) for synchronous code; see
    /// [`stop_blocking`](Self::stop_blocking) for an example.
    ///
    /// # Panics
    ///
    /// If the address cannot be bound again, and as
    /// [`wait_for_requests_blocking`](Self::wait_for_requests_blocking), using
    /// `.restart().await` instead.
    #[track_caller]
    pub fn restart_blocking(&self) {
        self.refuse_to_block("restart_blocking", "restart()");
        if let Err(error) = self.try_restart_blocking() {
            panic!("{error}");
        }
    }

    /// [`try_restart`](Self::try_restart) for synchronous code.
    ///
    /// ```
    /// use chatmock::MockChatServer;
    ///
    /// let server = MockChatServer::builder().start_blocking();
    /// server.try_restart_blocking().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`try_restart`](Self::try_restart).
    ///
    /// # Panics
    ///
    /// As [`wait_for_requests_blocking`](Self::wait_for_requests_blocking), using
    /// `.try_restart().await` instead.
    #[track_caller]
    pub fn try_restart_blocking(&self) -> io::Result<()> {
        self.refuse_to_block("try_restart_blocking", "try_restart()");
        let _turn = self.lifecycle.blocking_lock();
        self.stop_on_own_thread();
        self.start_in_turn()
    }

    /// Stops a server on its own thread, which takes no waiting on any runtime.
    fn stop_on_own_thread(&self) {
        self.stop_in_turn()
            .now_or_never()
            .expect("a server on its own thread stops without awaiting");
    }

    #[track_caller]
    fn refuse_to_block(&self, method: &str, instead: &str) {
        if self.virtual_time {
            panic!(
                "MockChatServer::{method}: this server has virtual time, so it runs on the \
                 test's tokio runtime, which blocking the thread would stop: use \
                 .{instead}.await"
            );
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            panic!(
                "MockChatServer::{method} blocks its thread, and this thread runs a tokio \
                 runtime, whose tasks (perhaps the client under test) would stop with it: \
                 use .{instead}.await in async code"
            );
        }
    }
}

//! Matching: which mounted mock answers a request, and whether each mock got the
//! requests it expected.
//!
//! - `mock.rs`: the public [`Mock`] builder, [`Times`] and the [`Match`] trait.
//! - `matchers.rs`: the ready-made matchers, public as `chatmock::matchers`.
//! - `mock_set.rs`: the mocks mounted on one server, searched in priority and mount
//!   order.
//! - `verification.rs`: the report printed when an expectation is not met.
//!
//! Matching reads the recorded request and hands back a [`Reply`](crate::Reply); it never
//! touches a socket, and matchers must be free of side effects: every mounted mock's
//! matchers may be evaluated for every request.

pub mod matchers;
mod mock;
pub(crate) mod mock_set;
pub(crate) mod verification;

pub use mock::{Match, Mock, MockBuilder, Times};

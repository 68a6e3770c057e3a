//! Matching: which mounted mock answers a request, and whether each mock got the
//! requests it expected.
//!
//! - `mock.rs`: the public [`Mock`] builder, [`Times`] and the [`Match`] trait.
//! - `respond.rs`: the [`Respond`] trait: a fixed [`Reply`](crate::Reply), or one computed
//!   from the request.
//! - `conversation.rs`: [`Conversation`], one reply per turn of an agent run, mounted as
//!   a mock.
//! - `matchers.rs`: the ready-made matchers, public as `chatmock::matchers`.
//! - `explain.rs`: why a request did not match a mock, for 404s and verification
//!   reports.
//! - `mock_set.rs`: the mocks mounted on one server, searched in priority and mount
//!   order.
//! - `verification.rs`: the report printed when an expectation is not met.
//!
//! Matching reads the recorded request and hands back a [`Reply`](crate::Reply); it never
//! touches a socket, and matchers must be free of side effects: every mounted mock's
//! matchers may be evaluated for every request.

mod conversation;
pub(crate) mod explain;
pub mod matchers;
mod mock;
pub(crate) mod mock_set;
mod respond;
pub(crate) mod verification;

pub use conversation::Conversation;
pub use mock::{Match, Mock, MockBuilder, Times};
pub use respond::Respond;

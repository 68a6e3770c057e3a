//! Realistic traffic: what stands between a request and its reply on a real provider.
//!
//! - `rate_limit.rs`: [`RateLimit`], buckets of requests and tokens per API key that
//!   refill on the server's clock, and the 429 and headers they answer with.
//! - `chaos.rs`: [`Chaos`], faults drawn from a seed, each played by the reply
//!   machinery that scripts it by hand ([`Reply::disconnect_after`](crate::Reply::disconnect_after), ...),
//!   and the [`ChaosFault`](crate::ChaosFault) a request met.
//!
//! Jitter, the third part of realistic traffic, belongs to a reply's script
//! (`script/pacing.rs`), since it shapes the timeline.
//!
//! The HTTP layer consults these between matching and answering; they read the request
//! and the reply, and hand back a reading of the buckets or a changed reply. They know
//! nothing of sockets or formats, beyond the header reading `wire/` writes out.

mod chaos;
mod rate_limit;

pub use chaos::Chaos;
pub(crate) use chaos::Kind as ChaosKind;
pub use rate_limit::RateLimit;
pub(crate) use rate_limit::{Cost, RateLimiter, Refusal};

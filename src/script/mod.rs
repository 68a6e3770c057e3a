//! The reply script: what the mock model says, when, and how it fails, independent of
//! any wire format.
//!
//! - `reply.rs`: [`Reply`], the public builder a test writes, and its HTTP-error form.
//! - `step.rs`: [`Step`], [`Thinking`] and [`ToolCall`], the pieces of an explicit script.
//! - `usage.rs`: [`Usage`], the token counts a script may state.
//! - `timeline.rs`: the built script and the one function that turns it into timed
//!   events ([`Script::timeline`]), which every wire format and playback consume.
//! - `error.rs`: the failures a script can name ([`StreamError`], [`CutKind`]).
//! - `pacing.rs`: [`Jitter`], random variation of the gaps between tokens, and the gaps
//!   it draws, which keep their mean and never go negative.
//! - `random.rs`: the crate's own seeded random numbers (SplitMix64), the same on every
//!   machine, which jitter and chaos draw from.
//! - `rules.rs`: every rule a builder enforces (no keep-alive of zero, one ending per
//!   stream, ...), each checked once, for the builders, which panic, and for fixtures,
//!   which report the same message at a JSON path.
//!
//! Nothing here knows about HTTP connections, wire formats or timers: a script is data,
//! and its timeline is a pure function of it.

mod error;
mod pacing;
pub(crate) mod random;
mod reply;
pub(crate) mod rules;
mod step;
mod timeline;
mod usage;

pub(crate) use error::ErrorBody;
pub use error::{CutKind, StreamError};
pub use pacing::Jitter;
pub use reply::Reply;
pub(crate) use reply::{HttpError, ReplyKind};
pub use step::{Step, Thinking, ToolCall};
pub(crate) use timeline::{
    Delivery, Ending, FinishReason, MessageEvent, OutputPart, Script, ScriptEvent,
};
pub use usage::Usage;

//! Seeded chaos: now and then, a request meets one of the faults a reply can script,
//! chosen from a seed, so that a soak test replays exactly.

use axum::http::StatusCode;

use crate::request::ChaosFault;
use crate::script::random;
use crate::script::rules::{self, enforce};
use crate::script::{Reply, StreamError};

/// Random faults from a seed: each request meets at most one, with the probabilities
/// given, and otherwise gets its reply unharmed. Attach it to a server
/// ([`MockChatServerBuilder::chaos`](crate::MockChatServerBuilder::chaos)) or to a mock
/// ([`Mock::chaos`](crate::Mock::chaos), which then replaces the server's for its
/// requests).
///
/// The fault for the n-th request (counted per server, or per mounted mock), and for a
/// fault inside a stream the token it strikes at, are drawn from the seed and `n` alone:
/// the same seed gives the same faults in the same order on every run and machine. The
/// fault each request met is recorded
/// ([`ReceivedRequest::chaos_applied`](crate::ReceivedRequest::chaos_applied)), so a
/// soak test can check that its client recovered from every kind it met.
///
/// Each fault is one a reply can script, and plays the same way: an HTTP error
/// ([`Reply::http_error`]; for 429, [`Reply::rate_limited`], with the provider's
/// rate-limit headers), an error event ([`Reply::error_after`] with
/// [`StreamError::server_error`]), a disconnect ([`Reply::disconnect_after`]), a
/// connection reset ([`Reply::reset_connection_after`]) or a stall
/// ([`Reply::stall_after`]). A fault inside a stream strikes only replies that are
/// streams without an ending of their own; an HTTP error strikes any reply.
///
/// ```
/// use chatmock::{Chaos, MockChatServer, Reply};
///
/// let server = MockChatServer::builder()
///     .reply(Reply::text("Usually this arrives whole."))
///     .chaos(
///         Chaos::seeded(7)
///             .http_error(0.05, 503)
///             .error_event(0.02)
///             .disconnect(0.02)
///             .reset(0.01)
///             .stall(0.01),
///     )
///     .start_blocking();
/// # drop(server);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "Chaos does nothing until it is given to a server or a mock"]
pub struct Chaos {
    seed: u64,
    faults: Vec<(f64, Kind)>,
    total: f64,
}

/// A kind of fault, with what it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    HttpError(StatusCode),
    ErrorEvent,
    Disconnect,
    Reset,
    Stall,
}

/// Keeps the draws of chaos apart from each other and from the jitter's.
const CHOICE_STREAM: u64 = 2;
const POSITION_STREAM: u64 = 3;

impl Chaos {
    /// Chaos drawn from `seed`, with no faults yet: add them with the other methods.
    pub fn seeded(seed: u64) -> Chaos {
        Chaos {
            seed,
            faults: Vec::new(),
            total: 0.0,
        }
    }

    /// With probability `p`, answers with HTTP error `status` (400 to 599) instead of
    /// the reply.
    ///
    /// # Panics
    ///
    /// If `p` is not from 0 to 1, the probabilities add up to more than 1, or `status`
    /// is not an error status.
    #[track_caller]
    pub fn http_error(self, p: f64, status: u16) -> Chaos {
        let status = enforce(
            "Chaos::http_error",
            rules::check_error_status(status.into()),
        );
        self.add("http_error", p, Kind::HttpError(status))
    }

    /// With probability `p`, ends the stream with the provider's error event (a server
    /// error) at a random token.
    ///
    /// # Panics
    ///
    /// If `p` is not from 0 to 1, or the probabilities add up to more than 1.
    #[track_caller]
    pub fn error_event(self, p: f64) -> Chaos {
        self.add("error_event", p, Kind::ErrorEvent)
    }

    /// With probability `p`, closes the connection mid-body at a random token.
    ///
    /// # Panics
    ///
    /// As [`error_event`](Self::error_event).
    #[track_caller]
    pub fn disconnect(self, p: f64) -> Chaos {
        self.add("disconnect", p, Kind::Disconnect)
    }

    /// With probability `p`, resets the connection (TCP RST) at a random token.
    ///
    /// # Panics
    ///
    /// As [`error_event`](Self::error_event).
    #[track_caller]
    pub fn reset(self, p: f64) -> Chaos {
        self.add("reset", p, Kind::Reset)
    }

    /// With probability `p`, stalls the stream at a random token: the client's read
    /// timeout must end it.
    ///
    /// # Panics
    ///
    /// As [`error_event`](Self::error_event).
    #[track_caller]
    pub fn stall(self, p: f64) -> Chaos {
        self.add("stall", p, Kind::Stall)
    }

    #[track_caller]
    fn add(self, fault: &'static str, p: f64, kind: Kind) -> Chaos {
        enforce(format_args!("Chaos::{fault}"), self.try_add(fault, p, kind))
    }

    /// Adds a fault from a fixture, by the rule the builder methods enforce.
    pub(crate) fn try_add(
        mut self,
        fault: &'static str,
        p: f64,
        kind: Kind,
    ) -> Result<Chaos, rules::RuleError> {
        self.total = rules::check_probability(fault, p, self.total)?;
        self.faults.push((p, kind));
        Ok(self)
    }

    /// The fault request `index` meets with `reply`, and the reply that plays it, or
    /// `None` if it meets none (or only one that cannot strike this reply).
    pub(crate) fn strike(&self, index: u64, reply: &Reply) -> Option<(ChaosFault, Reply)> {
        let choice = random::unit(random::draw(self.seed, CHOICE_STREAM, index));
        let mut below = 0.0;
        let kind = self.faults.iter().find_map(|(p, kind)| {
            below += p;
            (choice < below).then_some(*kind)
        })?;
        if let Kind::HttpError(status) = kind {
            let fault = ChaosFault::HttpError {
                status: status.as_u16(),
            };
            // A 429 says, as a provider's does, that no requests remain.
            let reply = match status {
                StatusCode::TOO_MANY_REQUESTS => Reply::rate_limited(),
                status => Reply::http_error(status.as_u16()),
            };
            return Some((fault, reply));
        }
        let tokens = reply.tokens_before_any_ending()?;
        let position = random::draw(self.seed, POSITION_STREAM, index) % (tokens as u64 + 1);
        let at = position as usize;
        let struck = reply.clone();
        Some(match kind {
            Kind::ErrorEvent => (
                ChaosFault::ErrorEvent { after_tokens: at },
                struck.error_after(at, StreamError::server_error()),
            ),
            Kind::Disconnect => (
                ChaosFault::Disconnect { after_tokens: at },
                struck.disconnect_after(at),
            ),
            Kind::Reset => (
                ChaosFault::Reset { after_tokens: at },
                struck.reset_connection_after(at),
            ),
            Kind::Stall | Kind::HttpError(_) => (
                ChaosFault::Stall { after_tokens: at },
                struck.stall_after(at),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(chaos: &Chaos, reply: &Reply, n: u64) -> Vec<Option<ChaosFault>> {
        (0..n)
            .map(|index| chaos.strike(index, reply).map(|(fault, _)| fault))
            .collect()
    }

    #[test]
    fn faults_come_at_their_rates_from_the_seed_alone() {
        let chaos = Chaos::seeded(7)
            .http_error(0.1, 503)
            .error_event(0.1)
            .disconnect(0.1)
            .reset(0.1)
            .stall(0.1);
        let reply = Reply::text("one two three four");
        let drawn = faults(&chaos, &reply, 20_000);
        assert_eq!(drawn, faults(&chaos, &reply, 20_000));
        assert_ne!(
            drawn,
            faults(
                &Chaos {
                    seed: 8,
                    ..chaos.clone()
                },
                &reply,
                20_000
            )
        );
        let share = |test: fn(&ChaosFault) -> bool| {
            drawn.iter().flatten().filter(|fault| test(fault)).count() as f64 / 20_000.0
        };
        for share in [
            share(|f| matches!(f, ChaosFault::HttpError { status: 503 })),
            share(|f| matches!(f, ChaosFault::ErrorEvent { .. })),
            share(|f| matches!(f, ChaosFault::Disconnect { .. })),
            share(|f| matches!(f, ChaosFault::Reset { .. })),
            share(|f| matches!(f, ChaosFault::Stall { .. })),
        ] {
            assert!((share - 0.1).abs() < 0.01, "{share}");
        }
        assert!(
            (drawn.iter().filter(|f| f.is_none()).count() as f64 / 20_000.0 - 0.5).abs() < 0.02
        );
        // Cuts strike anywhere from before the first token to after the last.
        let positions: std::collections::BTreeSet<usize> = drawn
            .iter()
            .flatten()
            .filter_map(|fault| match fault {
                ChaosFault::Disconnect { after_tokens } => Some(*after_tokens),
                _ => None,
            })
            .collect();
        assert_eq!(positions, (0..=4).collect());
    }

    #[test]
    fn stream_faults_spare_replies_they_cannot_strike() {
        let chaos = Chaos::seeded(1).disconnect(1.0);
        assert_eq!(chaos.strike(0, &Reply::server_error()), None);
        assert_eq!(chaos.strike(0, &Reply::text("a b").stall_after(1)), None);
        let errors = Chaos::seeded(1).http_error(1.0, 500);
        let (fault, reply) = errors
            .strike(0, &Reply::text("a b").stall_after(1))
            .unwrap();
        assert_eq!(fault, ChaosFault::HttpError { status: 500 });
        assert_eq!(reply, Reply::http_error(500));
        let limited = Chaos::seeded(1).http_error(1.0, 429);
        let (_, reply) = limited.strike(0, &Reply::text("a")).unwrap();
        assert_eq!(reply, Reply::rate_limited());
    }
}

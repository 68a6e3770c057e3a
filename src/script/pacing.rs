//! Uneven pacing: random variation of the gaps between tokens, from a seed.

use std::time::Duration;

use super::random;

/// Random variation of the gaps between tokens, as a real model's stream has: give it to
/// [`Reply::jitter`](crate::Reply::jitter).
///
/// Each gap is the scripted one ([`Reply::tokens_per_second`](crate::Reply::tokens_per_second),
/// [`Reply::token_delay`](crate::Reply::token_delay), and the
/// [time to first token](crate::Reply::time_to_first_token)) plus a random amount drawn
/// from a seed: [uniformly](Self::uniform) within a spread, or [normally](Self::normal)
/// with a standard deviation. No gap is ever negative, and the mean is kept: a gap that
/// would be negative is zero and the time it owed is taken from the gaps after it, so a
/// long stream lasts as long on average as its scripted rate says.
///
/// The same seed gives the same gaps on every run and machine. Without
/// [`seed`](Self::seed), every request draws a fresh seed, which the server records
/// ([`ReceivedRequest::pacing_seed`](crate::ReceivedRequest::pacing_seed)) and prints in
/// its failure reports, so a failing run can be replayed with `.seed(that)`.
///
/// ```
/// use chatmock::{Jitter, Reply};
/// use std::time::Duration;
///
/// let reply = Reply::text("A stream that arrives unevenly, as a real one does.")
///     .time_to_first_token(Duration::from_millis(400))
///     .tokens_per_second(50.0)
///     .jitter(Jitter::normal(Duration::from_millis(5)).seed(42));
/// # drop(reply);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use = "a Jitter does nothing until it is given to Reply::jitter"]
pub struct Jitter {
    spread: Spread,
    seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Spread {
    Uniform(Duration),
    Normal(Duration),
}

/// Keeps the draws for gaps apart from other draws made from the same seed.
const GAP_STREAM: u64 = 1;

impl Jitter {
    /// Adds to each gap an amount drawn uniformly from `-spread` to `+spread`.
    ///
    /// ```
    /// use chatmock::Jitter;
    /// use std::time::Duration;
    ///
    /// let jitter = Jitter::uniform(Duration::from_millis(10));
    /// # drop(jitter);
    /// ```
    pub fn uniform(spread: Duration) -> Jitter {
        Jitter {
            spread: Spread::Uniform(spread),
            seed: None,
        }
    }

    /// Adds to each gap an amount drawn from a normal distribution of mean zero and
    /// standard deviation `sd` (its tails end at six standard deviations).
    ///
    /// ```
    /// use chatmock::Jitter;
    /// use std::time::Duration;
    ///
    /// let jitter = Jitter::normal(Duration::from_millis(5));
    /// # drop(jitter);
    /// ```
    pub fn normal(sd: Duration) -> Jitter {
        Jitter {
            spread: Spread::Normal(sd),
            seed: None,
        }
    }

    /// Draws from `seed`, so that every request gets the same gaps, on every run and
    /// machine.
    ///
    /// ```
    /// use chatmock::Jitter;
    /// use std::time::Duration;
    ///
    /// let jitter = Jitter::uniform(Duration::from_millis(10)).seed(7);
    /// # drop(jitter);
    /// ```
    pub fn seed(mut self, seed: u64) -> Jitter {
        self.seed = Some(seed);
        self
    }

    pub(crate) fn fixed_seed(&self) -> Option<u64> {
        self.seed
    }

    /// The random amount, in seconds, added to gap `index` of a stream drawn from `seed`.
    pub(crate) fn offset(&self, seed: u64, index: u64) -> f64 {
        match self.spread {
            Spread::Uniform(spread) => {
                let u = random::unit(random::draw(seed, GAP_STREAM, index));
                (2.0 * u - 1.0) * spread.as_secs_f64()
            }
            Spread::Normal(sd) => {
                random::standard_normal(seed, GAP_STREAM, index) * sd.as_secs_f64()
            }
        }
    }
}

/// The gaps of a jittered stream, in order: each scripted gap plus its offset, with what a
/// negative gap owes carried to the next ones, so that none is negative and the sum stays
/// the scripted sum plus the offsets.
#[derive(Debug)]
pub(crate) struct JitteredGaps {
    jitter: Jitter,
    seed: u64,
    index: u64,
    /// Seconds that earlier gaps could not give back, because they were already zero.
    owed: f64,
}

impl JitteredGaps {
    pub(crate) fn new(jitter: Jitter, seed: u64) -> JitteredGaps {
        JitteredGaps {
            jitter,
            seed,
            index: 0,
            owed: 0.0,
        }
    }

    /// The next gap, for a scripted gap of `gap`. Rounded to whole microseconds, so that
    /// a recorded stream reads the same however it is printed.
    pub(crate) fn next(&mut self, gap: Duration) -> Duration {
        let wanted = gap.as_secs_f64() + self.jitter.offset(self.seed, self.index) - self.owed;
        self.index += 1;
        if wanted < 0.0 {
            self.owed = -wanted;
            Duration::ZERO
        } else {
            self.owed = 0.0;
            Duration::from_micros((wanted * 1e6).round() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(jitter: Jitter, seed: u64, gap: Duration, n: usize) -> Vec<Duration> {
        let mut gaps = JitteredGaps::new(jitter, seed);
        (0..n).map(|_| gaps.next(gap)).collect()
    }

    #[test]
    fn the_mean_gap_is_kept_and_no_gap_is_negative_even_when_the_spread_exceeds_it() {
        let gap = Duration::from_millis(20);
        for jitter in [
            Jitter::uniform(Duration::from_millis(5)),
            Jitter::uniform(Duration::from_millis(60)),
            Jitter::normal(Duration::from_millis(4)),
            Jitter::normal(Duration::from_millis(40)),
        ] {
            let drawn = gaps(jitter, 3, gap, 20_000);
            let mean = drawn.iter().sum::<Duration>().as_secs_f64() / drawn.len() as f64;
            assert!((mean / 0.020 - 1.0).abs() < 0.02, "{jitter:?}: mean {mean}");
            assert!(drawn.iter().any(|g| *g != gap), "{jitter:?} varies nothing");
        }
    }

    #[test]
    fn a_uniform_spread_stays_within_its_bounds() {
        let drawn = gaps(
            Jitter::uniform(Duration::from_millis(5)),
            9,
            Duration::from_millis(20),
            5_000,
        );
        assert!(drawn
            .iter()
            .all(|g| (Duration::from_millis(15)..=Duration::from_millis(25)).contains(g)));
    }

    #[test]
    fn a_seed_gives_the_same_gaps_and_another_seed_others() {
        let jitter = Jitter::normal(Duration::from_millis(5));
        let gap = Duration::from_millis(20);
        assert_eq!(gaps(jitter, 1, gap, 100), gaps(jitter, 1, gap, 100));
        assert_ne!(gaps(jitter, 1, gap, 100), gaps(jitter, 2, gap, 100));
    }
}

//! Rate limits: buckets of requests and tokens per API key, refilled on the server's
//! clock, that refuse a request they cannot pay for with the time until they could.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::request::ReceivedRequest;
use crate::script::rules::{self, enforce};
use crate::sync::lock;
use crate::wire::rate_limits::{go_duration, BucketReading, RateLimitReading};

/// A provider's quota: at most so many requests and tokens in a window, counted per API
/// key, with headers that count down and a 429 once a bucket is empty. Give it to
/// [`MockChatServerBuilder::rate_limit`](crate::MockChatServerBuilder::rate_limit) (every
/// request) or [`Mock::rate_limit`](crate::Mock::rate_limit) (the mock's requests).
///
/// Each bucket holds its limit when full and refills steadily over the window, as the
/// providers' buckets do: with `per_minute().requests(3)`, three requests in a row empty
/// it, and one more request's worth comes back every 20 seconds. A request takes one
/// request and its tokens (the words of its prompt, plus the completion tokens of its
/// reply) from every bucket, or, if any bucket lacks them, is refused with the
/// provider's 429 and a `retry-after` saying when the buckets will hold enough. Every
/// response carries the provider's headers: OpenAI's `x-ratelimit-limit-requests`,
/// `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` (and `-tokens`), with
/// durations such as `6m0s`; Anthropic's `anthropic-ratelimit-requests-limit`, `-remaining`
/// and `-reset` (an RFC 3339 time), and the same for `tokens`, `input-tokens` and
/// `output-tokens`; none for Gemini and Ollama, whose APIs send none.
///
/// Buckets refill on the server's clock, so with
/// [virtual time](crate::MockChatServerBuilder::virtual_time) a test of a client's
/// backoff against a per-minute limit takes milliseconds.
///
/// ```
/// use chatmock::{MockChatServer, RateLimit, Reply};
///
/// let server = MockChatServer::builder()
///     .reply(Reply::text("Hello!"))
///     .rate_limit(RateLimit::per_minute().requests(3).tokens(10_000))
///     .start_blocking();
/// # drop(server);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a RateLimit does nothing until it is given to a server or a mock"]
pub struct RateLimit {
    window: Duration,
    requests: Option<u64>,
    tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    shared: bool,
}

impl RateLimit {
    /// A limit whose buckets refill over a minute, as the providers' limits per minute
    /// (RPM, TPM) do.
    ///
    /// ```
    /// use chatmock::RateLimit;
    ///
    /// let limit = RateLimit::per_minute().requests(500);
    /// # drop(limit);
    /// ```
    pub fn per_minute() -> RateLimit {
        RateLimit::per(Duration::from_secs(60))
    }

    /// A limit whose buckets refill over `window`: a short window keeps a test that
    /// waits in real time (a client in another process) fast.
    ///
    /// ```
    /// use chatmock::RateLimit;
    /// use std::time::Duration;
    ///
    /// let limit = RateLimit::per(Duration::from_secs(3)).requests(3);
    /// # drop(limit);
    /// ```
    ///
    /// # Panics
    ///
    /// If `window` is zero.
    #[track_caller]
    pub fn per(window: Duration) -> RateLimit {
        enforce("RateLimit::per", rules::check_rate_limit_window(window));
        RateLimit {
            window,
            requests: None,
            tokens: None,
            input_tokens: None,
            output_tokens: None,
            shared: false,
        }
    }

    /// At most `n` requests per window.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    #[track_caller]
    pub fn requests(mut self, n: u64) -> RateLimit {
        enforce(
            "RateLimit::requests",
            rules::check_rate_limit_amount("requests", n),
        );
        self.requests = Some(n);
        self
    }

    /// At most `n` tokens per window, prompt and completion together.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    #[track_caller]
    pub fn tokens(mut self, n: u64) -> RateLimit {
        enforce(
            "RateLimit::tokens",
            rules::check_rate_limit_amount("tokens", n),
        );
        self.tokens = Some(n);
        self
    }

    /// At most `n` prompt tokens per window (Anthropic's input tokens per minute).
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    #[track_caller]
    pub fn input_tokens(mut self, n: u64) -> RateLimit {
        enforce(
            "RateLimit::input_tokens",
            rules::check_rate_limit_amount("input_tokens", n),
        );
        self.input_tokens = Some(n);
        self
    }

    /// At most `n` completion tokens per window (Anthropic's output tokens per minute).
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    #[track_caller]
    pub fn output_tokens(mut self, n: u64) -> RateLimit {
        enforce(
            "RateLimit::output_tokens",
            rules::check_rate_limit_amount("output_tokens", n),
        );
        self.output_tokens = Some(n);
        self
    }

    /// Counts every request against one set of buckets, whatever its API key. By default
    /// each key (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`) has
    /// its own, and requests without a key share one.
    ///
    /// ```
    /// use chatmock::RateLimit;
    ///
    /// let limit = RateLimit::per_minute().requests(10).shared();
    /// # drop(limit);
    /// ```
    pub fn shared(mut self) -> RateLimit {
        self.shared = true;
        self
    }

    /// The limit's buckets, checked when it is attached: a limit of nothing is a mistake.
    pub(crate) fn check(&self) -> Result<(), rules::RuleError> {
        let buckets = [
            self.requests,
            self.tokens,
            self.input_tokens,
            self.output_tokens,
        ];
        rules::check_rate_limit_buckets(buckets.iter().flatten().count())
    }
}

/// What a request costs the buckets, besides the one request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
}

/// A request the buckets refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The buckets after the refusal (nothing was taken).
    pub(crate) reading: RateLimitReading,
    /// When the buckets will hold enough; `None` if they never will (the request needs
    /// more than a full bucket).
    pub(crate) retry_after: Option<Duration>,
    /// The provider's message, naming the bucket.
    pub(crate) message: String,
}

/// A rate limit's buckets for every key, on one server or one mounted mock.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    /// The server's clock and the wall clock at one moment, to write reset times as
    /// dates that follow the server's clock (in virtual time too).
    epoch: (Instant, SystemTime),
    keys: Mutex<HashMap<u64, Buckets>>,
    /// Keys are kept as hashes: the buckets never hold a secret.
    hasher: std::collections::hash_map::RandomState,
}

/// The order of a limit's buckets: requests, tokens, input tokens, output tokens.
const NAMES: [&str; 4] = ["requests", "tokens", "input tokens", "output tokens"];
const SHORT: [&str; 4] = ["RPM", "TPM", "ITPM", "OTPM"];

type Buckets = [Option<Bucket>; 4];

/// One bucket. Its level counts in units of `1 / window` nanoseconds' worth of refill, so
/// that refills, costs and waits are exact integers: a full bucket holds
/// `limit * window_nanos`, and it gains `limit` units every nanosecond.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: u64,
    level: u128,
    updated: Instant,
}

impl Bucket {
    fn full(limit: u64, now: Instant, window: u128) -> Bucket {
        Bucket {
            limit,
            level: u128::from(limit) * window,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant, window: u128) {
        let elapsed = now.saturating_duration_since(self.updated).as_nanos();
        let capacity = u128::from(self.limit) * window;
        self.level = (self.level + elapsed * u128::from(self.limit)).min(capacity);
        self.updated = now;
    }

    /// How long until the bucket holds `amount`, or `None` if it never will.
    fn wait_for(&self, amount: u64, window: u128) -> Option<Duration> {
        if amount > self.limit {
            return None;
        }
        let needed = u128::from(amount) * window;
        let missing = needed.saturating_sub(self.level);
        Some(nanos(missing.div_ceil(u128::from(self.limit))))
    }

    fn reading(&self, window: u128) -> BucketReading {
        let capacity = u128::from(self.limit) * window;
        BucketReading {
            limit: Some(self.limit),
            remaining: u64::try_from(self.level / window).unwrap_or(u64::MAX),
            reset: nanos((capacity - self.level).div_ceil(u128::from(self.limit))),
        }
    }
}

/// A wait of `nanos`, rounded up to the millisecond: the unit of `retry-after-ms` and of
/// the reset headers, so that a client that waits what they say never comes back early.
fn nanos(nanos: u128) -> Duration {
    Duration::from_millis(u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            epoch: (Instant::now(), SystemTime::now()),
            keys: Mutex::default(),
            hasher: Default::default(),
        }
    }

    /// Takes one request and its `cost` from the buckets of `request`'s key, or refuses
    /// it, taking nothing.
    pub(crate) fn admit(
        &self,
        request: &ReceivedRequest,
        cost: Cost,
    ) -> Result<RateLimitReading, Box<Refusal>> {
        let now = Instant::now();
        let window = self.limit.window.as_nanos();
        let amounts = [
            1,
            cost.prompt_tokens + cost.completion_tokens,
            cost.prompt_tokens,
            cost.completion_tokens,
        ];
        let mut keys = lock(&self.keys);
        let buckets = keys.entry(self.key(request)).or_insert_with(|| {
            let limits = [
                self.limit.requests,
                self.limit.tokens,
                self.limit.input_tokens,
                self.limit.output_tokens,
            ];
            limits.map(|limit| limit.map(|limit| Bucket::full(limit, now, window)))
        });
        let mut refused: Option<(usize, Option<Duration>)> = None;
        for (index, bucket) in buckets.iter_mut().enumerate() {
            let Some(bucket) = bucket else { continue };
            bucket.refill(now, window);
            let wait = bucket.wait_for(amounts[index], window);
            if wait != Some(Duration::ZERO) {
                // The longest wait decides; a request too large for a bucket never fits.
                let longer = match (refused, wait) {
                    (None, _) | (_, None) => true,
                    (Some((_, Some(before))), Some(wait)) => wait > before,
                    (Some((_, None)), Some(_)) => false,
                };
                if longer {
                    refused = Some((index, wait));
                }
            }
        }
        if refused.is_none() {
            for (index, bucket) in buckets.iter_mut().enumerate() {
                if let Some(bucket) = bucket {
                    bucket.level -= u128::from(amounts[index]) * window;
                }
            }
        }
        let reading = self.reading(buckets, now, window);
        drop(keys);
        match refused {
            None => Ok(reading),
            Some((index, retry_after)) => {
                let limit = self.bucket_limit(index);
                // OpenAI's wording, for the window this limit has.
                let per = if self.limit.window == Duration::from_secs(60) {
                    format!("per min ({})", SHORT[index])
                } else {
                    format!("per {}", go_duration(self.limit.window))
                };
                let message = match retry_after {
                    Some(wait) => format!(
                        "Rate limit reached for {} {per}: Limit {limit}, Requested {}. \
                         Please try again in {}.",
                        NAMES[index],
                        amounts[index],
                        go_duration(wait)
                    ),
                    None => format!(
                        "Request too large for {} {per}: Limit {limit}, Requested {}. The \
                         input or output tokens must be reduced in order to run successfully.",
                        NAMES[index], amounts[index]
                    ),
                };
                Err(Box::new(Refusal {
                    reading,
                    retry_after,
                    message,
                }))
            }
        }
    }

    /// Forgets every key's buckets: each starts full again.
    pub(crate) fn refill_all(&self) {
        lock(&self.keys).clear();
    }

    /// Gives back what an admitted request took, when another limit refused it.
    pub(crate) fn refund(&self, request: &ReceivedRequest, cost: Cost) {
        let window = self.limit.window.as_nanos();
        let amounts = [
            1,
            cost.prompt_tokens + cost.completion_tokens,
            cost.prompt_tokens,
            cost.completion_tokens,
        ];
        if let Some(buckets) = lock(&self.keys).get_mut(&self.key(request)) {
            for (index, bucket) in buckets.iter_mut().enumerate() {
                if let Some(bucket) = bucket {
                    let capacity = u128::from(bucket.limit) * window;
                    bucket.level =
                        (bucket.level + u128::from(amounts[index]) * window).min(capacity);
                }
            }
        }
    }

    fn bucket_limit(&self, index: usize) -> u64 {
        [
            self.limit.requests,
            self.limit.tokens,
            self.limit.input_tokens,
            self.limit.output_tokens,
        ][index]
            .unwrap_or(0)
    }

    fn reading(&self, buckets: &Buckets, now: Instant, window: u128) -> RateLimitReading {
        let read = |index: usize| buckets[index].map(|bucket| bucket.reading(window));
        RateLimitReading {
            requests: read(0),
            tokens: read(1),
            input_tokens: read(2),
            output_tokens: read(3),
            now: self.epoch.1 + now.saturating_duration_since(self.epoch.0),
        }
    }

    /// The bucket key of a request: a hash of its API key, or one key for all.
    fn key(&self, request: &ReceivedRequest) -> u64 {
        if self.limit.shared {
            return 0;
        }
        let mut hasher = self.hasher.build_hasher();
        match api_key(request) {
            Some(key) => {
                hasher.write_u8(1);
                hasher.write(key.as_bytes());
            }
            None => hasher.write_u8(0),
        }
        hasher.finish()
    }
}

/// The API key a request carries, where each provider's clients put it.
pub(crate) fn api_key(request: &ReceivedRequest) -> Option<&str> {
    let bearer = request.header("authorization").and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    });
    bearer
        .or_else(|| request.header("x-api-key"))
        .or_else(|| request.header("x-goog-api-key"))
        .or_else(|| {
            request.query()?.split('&').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                (name == "key").then_some(value)
            })
        })
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, Method};

    fn request(headers: &[(&'static str, &str)], query: Option<&str>) -> ReceivedRequest {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        ReceivedRequest::new(
            Method::POST,
            "/v1/chat/completions".to_owned(),
            query.map(str::to_owned),
            map,
            Default::default(),
            None,
            None,
        )
    }

    const FREE: Cost = Cost {
        prompt_tokens: 0,
        completion_tokens: 0,
    };

    #[test]
    fn api_keys_are_read_where_each_provider_puts_them() {
        let cases = [
            (
                request(&[("authorization", "Bearer sk-1")], None),
                Some("sk-1"),
            ),
            (request(&[("x-api-key", "ant-2")], None), Some("ant-2")),
            (request(&[("x-goog-api-key", "g-3")], None), Some("g-3")),
            (request(&[], Some("alt=sse&key=g-4")), Some("g-4")),
            (request(&[("authorization", "Basic abc")], None), None),
            (request(&[], None), None),
        ];
        for (request, key) in &cases {
            assert_eq!(api_key(request), *key, "{:?}", request.headers());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_counts_down_refuses_with_the_time_to_refill_and_refills() {
        let limiter = RateLimiter::new(RateLimit::per_minute().requests(3));
        let client = request(&[("authorization", "Bearer sk-a")], None);
        let remaining: Vec<(u64, Duration)> = (0..3)
            .map(|_| {
                let reading = limiter.admit(&client, FREE).unwrap().requests.unwrap();
                (reading.remaining, reading.reset)
            })
            .collect();
        let secs = Duration::from_secs;
        assert_eq!(remaining, [(2, secs(20)), (1, secs(40)), (0, secs(60))]);
        let refused = limiter.admit(&client, FREE).unwrap_err();
        assert_eq!(refused.retry_after, Some(secs(20)));
        assert!(refused.message.contains("Limit 3"), "{}", refused.message);

        // Another key has buckets of its own.
        let other = request(&[("x-api-key", "sk-b")], None);
        assert_eq!(
            limiter
                .admit(&other, FREE)
                .unwrap()
                .requests
                .unwrap()
                .remaining,
            2
        );

        tokio::time::advance(secs(19)).await;
        let refused = limiter.admit(&client, FREE).unwrap_err();
        assert_eq!(refused.retry_after, Some(secs(1)));
        tokio::time::advance(secs(1)).await;
        let reading = limiter.admit(&client, FREE).unwrap().requests.unwrap();
        assert_eq!((reading.remaining, reading.reset), (0, secs(60)));
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_taken_from_every_token_bucket_and_a_refusal_takes_nothing() {
        let limiter = RateLimiter::new(
            RateLimit::per_minute()
                .tokens(100)
                .input_tokens(60)
                .output_tokens(50)
                .shared(),
        );
        let anyone = request(&[], None);
        let cost = Cost {
            prompt_tokens: 30,
            completion_tokens: 20,
        };
        let reading = limiter.admit(&anyone, cost).unwrap();
        assert_eq!(reading.tokens.unwrap().remaining, 50);
        assert_eq!(reading.input_tokens.unwrap().remaining, 30);
        assert_eq!(reading.output_tokens.unwrap().remaining, 30);
        assert_eq!(reading.requests, None);
        let refused = limiter
            .admit(
                &anyone,
                Cost {
                    prompt_tokens: 40,
                    completion_tokens: 0,
                },
            )
            .unwrap_err();
        // 10 input tokens are missing, at 1 a second.
        assert_eq!(refused.retry_after, Some(Duration::from_secs(10)));
        assert!(
            refused.message.contains("input tokens"),
            "{}",
            refused.message
        );
        assert_eq!(refused.reading.tokens.unwrap().remaining, 50);

        let too_large = limiter
            .admit(
                &anyone,
                Cost {
                    prompt_tokens: 0,
                    completion_tokens: 51,
                },
            )
            .unwrap_err();
        assert_eq!(too_large.retry_after, None);
        assert!(
            too_large.message.starts_with("Request too large"),
            "{}",
            too_large.message
        );
    }
}

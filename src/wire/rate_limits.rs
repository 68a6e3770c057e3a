//! Rate-limit headers, in the names and units each provider uses: OpenAI's
//! `x-ratelimit-*` with durations such as `6m0s`, Anthropic's `anthropic-ratelimit-*`
//! with RFC 3339 times. Formats whose APIs send none (Gemini, Ollama) send none here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The state of a rate limit's buckets after one request, as its headers report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RateLimitReading {
    pub(crate) requests: Option<BucketReading>,
    pub(crate) tokens: Option<BucketReading>,
    pub(crate) input_tokens: Option<BucketReading>,
    pub(crate) output_tokens: Option<BucketReading>,
    /// The wall-clock time of the reading, which reset times are counted from.
    pub(crate) now: SystemTime,
}

/// One bucket: its size (unknown for a preset reply that names none), what is left, and
/// how long until it is full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketReading {
    pub(crate) limit: Option<u64>,
    pub(crate) remaining: u64,
    pub(crate) reset: Duration,
}

impl RateLimitReading {
    /// What [`Reply::rate_limited`](crate::Reply::rate_limited) reports: no request left,
    /// a full bucket again in 20 seconds.
    pub(crate) fn requests_exhausted() -> RateLimitReading {
        RateLimitReading {
            requests: Some(BucketReading {
                limit: None,
                remaining: 0,
                reset: Duration::from_secs(20),
            }),
            tokens: None,
            input_tokens: None,
            output_tokens: None,
            now: SystemTime::now(),
        }
    }
}

/// OpenAI's headers: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
pub(crate) fn openai_headers(reading: &RateLimitReading, headers: &mut HeaderMap) {
    for (name, bucket) in [("requests", reading.requests), ("tokens", reading.tokens)] {
        let Some(bucket) = bucket else { continue };
        if let Some(limit) = bucket.limit {
            insert(
                headers,
                &format!("x-ratelimit-limit-{name}"),
                limit.to_string(),
            );
        }
        insert(
            headers,
            &format!("x-ratelimit-remaining-{name}"),
            bucket.remaining.to_string(),
        );
        insert(
            headers,
            &format!("x-ratelimit-reset-{name}"),
            go_duration(bucket.reset),
        );
    }
}

/// Anthropic's headers: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
/// {limit,remaining,reset}`, the reset as the RFC 3339 time the bucket is full again.
pub(crate) fn anthropic_headers(reading: &RateLimitReading, headers: &mut HeaderMap) {
    let buckets = [
        ("requests", reading.requests),
        ("tokens", reading.tokens),
        ("input-tokens", reading.input_tokens),
        ("output-tokens", reading.output_tokens),
    ];
    for (name, bucket) in buckets {
        let Some(bucket) = bucket else { continue };
        if let Some(limit) = bucket.limit {
            insert(
                headers,
                &format!("anthropic-ratelimit-{name}-limit"),
                limit.to_string(),
            );
        }
        insert(
            headers,
            &format!("anthropic-ratelimit-{name}-remaining"),
            bucket.remaining.to_string(),
        );
        insert(
            headers,
            &format!("anthropic-ratelimit-{name}-reset"),
            rfc3339_seconds(reading.now + bucket.reset),
        );
    }
}

fn insert(headers: &mut HeaderMap, name: &str, value: String) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        headers.insert(name, value);
    }
}

/// A duration as Go prints it, which OpenAI's headers use, to the millisecond: `20ms`,
/// `1s`, `17.28s`, `6m0s`, `1h2m3.5s`.
pub(crate) fn go_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let seconds = match (rest / 1000, rest % 1000) {
        (whole, 0) => format!("{whole}s"),
        (whole, fraction) => {
            let fraction = format!("{fraction:03}");
            format!("{whole}.{}s", fraction.trim_end_matches('0'))
        }
    };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, minutes) => format!("{minutes}m{seconds}"),
        (hours, minutes) => format!("{hours}h{minutes}m{seconds}"),
    }
}

/// A time as RFC 3339 in UTC, to the second, rounded up so that a client waiting until
/// then never comes back early: `2026-12-02T01:15:20Z`.
pub(crate) fn rfc3339_seconds(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0);
    let (year, month, day) = super::ollama::civil_from_days((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (20, "20ms"),
            (999, "999ms"),
            (1000, "1s"),
            (17_280, "17.28s"),
            (20_000, "20s"),
            (60_000, "1m0s"),
            (360_000, "6m0s"),
            (361_500, "6m1.5s"),
            (3_723_500, "1h2m3.5s"),
        ];
        for (millis, text) in cases {
            assert_eq!(go_duration(Duration::from_millis(millis)), text);
        }
    }

    #[test]
    fn times_are_rfc3339_seconds_rounded_up() {
        let at = |secs: u64, nanos: u32| UNIX_EPOCH + Duration::new(secs, nanos);
        assert_eq!(rfc3339_seconds(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_seconds(at(1_796_173_519, 1)),
            "2026-12-02T01:05:20Z"
        );
    }

    #[test]
    fn each_provider_names_its_buckets_its_own_way() {
        let bucket = |limit, remaining, reset| {
            Some(BucketReading {
                limit: Some(limit),
                remaining,
                reset: Duration::from_millis(reset),
            })
        };
        let reading = RateLimitReading {
            requests: bucket(3, 2, 20_000),
            tokens: bucket(1000, 990, 600),
            input_tokens: bucket(500, 495, 600),
            output_tokens: None,
            now: UNIX_EPOCH,
        };
        let mut openai = HeaderMap::new();
        openai_headers(&reading, &mut openai);
        let show = |headers: &HeaderMap| {
            let mut all: Vec<String> = headers
                .iter()
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
                .collect();
            all.sort();
            all
        };
        assert_eq!(
            show(&openai),
            [
                "x-ratelimit-limit-requests: 3",
                "x-ratelimit-limit-tokens: 1000",
                "x-ratelimit-remaining-requests: 2",
                "x-ratelimit-remaining-tokens: 990",
                "x-ratelimit-reset-requests: 20s",
                "x-ratelimit-reset-tokens: 600ms",
            ]
        );
        let mut anthropic = HeaderMap::new();
        anthropic_headers(&reading, &mut anthropic);
        assert_eq!(
            show(&anthropic),
            [
                "anthropic-ratelimit-input-tokens-limit: 500",
                "anthropic-ratelimit-input-tokens-remaining: 495",
                "anthropic-ratelimit-input-tokens-reset: 1970-01-01T00:00:01Z",
                "anthropic-ratelimit-requests-limit: 3",
                "anthropic-ratelimit-requests-remaining: 2",
                "anthropic-ratelimit-requests-reset: 1970-01-01T00:00:20Z",
                "anthropic-ratelimit-tokens-limit: 1000",
                "anthropic-ratelimit-tokens-remaining: 990",
                "anthropic-ratelimit-tokens-reset: 1970-01-01T00:00:01Z",
            ]
        );
    }
}

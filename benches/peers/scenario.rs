//! What a server is started to stream: a number of tokens and the delay between them.
//! Every peer gets the same tokens, `tk00000 `, `tk00001 `, ..., each the same length, so
//! that a peer that cuts its content into fixed-size chunks (llmposter, aimock, mock-llm)
//! sends exactly one token per event.

/// The characters of one token; the chunk size given to peers that chunk by characters.
pub const TOKEN_LENGTH: usize = 8;

pub const STREAM_BODY: &str =
    r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
pub const JSON_BODY: &str =
    r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub tokens: usize,
    pub delay_ms: u64,
}

/// 1 stream x 20 tokens @ 50 ms.
pub const TIMED_50: Scenario = Scenario {
    tokens: 20,
    delay_ms: 50,
};
/// 100 streams x 20 tokens @ 20 ms.
pub const TIMED_20: Scenario = Scenario {
    tokens: 20,
    delay_ms: 20,
};
/// One zero-delay stream of 20,000 tokens.
pub const THROUGHPUT: Scenario = Scenario {
    tokens: 20_000,
    delay_ms: 0,
};
/// Slow streams held open for the memory figure: a token a second for two minutes.
pub const SLOW: Scenario = Scenario {
    tokens: 120,
    delay_ms: 1_000,
};
/// A short zero-delay reply: time to first byte, and the lifecycle round.
pub const SHORT: Scenario = Scenario {
    tokens: 3,
    delay_ms: 0,
};

pub fn tokens(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("tk{i:05} ")).collect()
}

impl Scenario {
    /// `TOKENS:DELAY_MS`, as the child processes are given it.
    pub fn arg(self) -> String {
        format!("{}:{}", self.tokens, self.delay_ms)
    }

    pub fn parse(arg: &str) -> Scenario {
        let (tokens, delay) = arg.split_once(':').expect("TOKENS:DELAY_MS");
        Scenario {
            tokens: tokens.parse().expect("TOKENS"),
            delay_ms: delay.parse().expect("DELAY_MS"),
        }
    }
}

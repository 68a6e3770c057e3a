//! What never reaches a recording's file: the client's credentials (its secret headers
//! are never written, and their values are masked wherever else they appear, should the
//! upstream echo them), and any text the test's redaction patterns match.

use regex::bytes::Regex;

pub(crate) use crate::request::secrets::is_secret_parameter as is_secret_query;

/// What masked text becomes.
const MASK: &[u8] = b"[REDACTED]";

/// The masking of one exchange: the server's patterns, and the credentials of the
/// request.
#[derive(Debug)]
pub(crate) struct Redaction {
    patterns: Vec<Regex>,
    credentials: Vec<Vec<u8>>,
}

impl Redaction {
    pub(crate) fn new(patterns: &[Regex], credentials: Vec<String>) -> Redaction {
        Redaction {
            patterns: patterns.to_vec(),
            credentials: credentials.into_iter().map(String::into_bytes).collect(),
        }
    }

    /// `bytes` with every credential and every match of a pattern masked.
    pub(crate) fn mask(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for credential in &self.credentials {
            out = replace_all(&out, credential);
        }
        for pattern in &self.patterns {
            out = pattern.replace_all(&out, MASK).into_owned();
        }
        out
    }

    pub(crate) fn mask_text(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.mask(text.as_bytes())).into_owned()
    }

    /// Whether `text` has nothing to mask.
    pub(crate) fn leaves(&self, text: &str) -> bool {
        self.mask(text.as_bytes()) == text.as_bytes()
    }
}

fn replace_all(haystack: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = memchr::memmem::find(rest, needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(MASK);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_pattern_matches_are_masked_everywhere() {
        let patterns = [Regex::new(r"acct_[0-9]+").unwrap()];
        let redaction = Redaction::new(&patterns, vec!["sk-secret-1".into()]);
        assert_eq!(
            redaction.mask_text("key sk-secret-1 for acct_42, again sk-secret-1"),
            "key [REDACTED] for [REDACTED], again [REDACTED]"
        );
        assert!(redaction.leaves("nothing here"));
        assert!(!redaction.leaves("acct_7"));
    }
}

//! Identifiers for responses (`chatcmpl-…`, `req_…`): deterministic per server, so two
//! runs of a test see the same ids, yet distinct for every response.

use std::sync::atomic::{AtomicU64, Ordering};

/// Hands out pseudo-random ids from a per-server counter.
#[derive(Debug, Default)]
pub(crate) struct IdGenerator {
    counter: AtomicU64,
}

const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8; 16] = b"0123456789abcdef";

impl IdGenerator {
    /// `prefix` followed by `len` alphanumeric characters, like OpenAI's object ids.
    pub(crate) fn alphanumeric(&self, prefix: &str, len: usize) -> String {
        self.draw(prefix, len, ALPHANUMERIC)
    }

    /// `prefix` followed by `len` lowercase hex digits, like OpenAI's request ids.
    pub(crate) fn hex(&self, prefix: &str, len: usize) -> String {
        self.draw(prefix, len, HEX)
    }

    // The alphabet's length is a constant of each instance, so its division is a
    // multiplication: a division by a run-time length was most of an id's time, and a
    // response draws four ids.
    fn draw<const N: usize>(&self, prefix: &str, len: usize, alphabet: &[u8; N]) -> String {
        let mut state = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(prefix.len() + len);
        id.push_str(prefix);
        let mut bits = 0;
        for _ in 0..len {
            if bits == 0 {
                bits = splitmix64(&mut state);
            }
            id.push(char::from(alphabet[(bits % N as u64) as usize]));
            bits /= N as u64;
        }
        id
    }
}

/// SplitMix64: a tiny, well-mixed generator; ids need to look random, not be secret.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

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

    /// An id drawn now, in its turn, and spelled out only if it is used: most responses
    /// have no tool calls, and spelling out their seed was 1,700 of the 60,000
    /// instructions a non-streaming answer takes (BENCHMARKS.md, `first_byte`).
    pub(crate) fn draw_later(&self) -> DrawnId {
        DrawnId(self.counter.fetch_add(1, Ordering::Relaxed))
    }

    fn draw<const N: usize>(&self, prefix: &str, len: usize, alphabet: &[u8; N]) -> String {
        let mut id = String::with_capacity(prefix.len() + len);
        id.push_str(prefix);
        self.draw_later().spell(&mut id, len, alphabet);
        id
    }
}

/// An id drawn from an [`IdGenerator`] whose characters are not written yet; they are
/// the same whenever they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DrawnId(u64);

impl DrawnId {
    /// Appends `len` alphanumeric characters to `id`.
    pub(crate) fn push_alphanumeric(self, id: &mut String, len: usize) {
        self.spell(id, len, ALPHANUMERIC);
    }

    // The alphabet's length is a constant of each instance, so its division is a
    // multiplication: a division by a run-time length was most of an id's time, and a
    // response draws four ids.
    fn spell<const N: usize>(self, id: &mut String, len: usize, alphabet: &[u8; N]) {
        let mut state = self.0;
        let mut bits = 0;
        for _ in 0..len {
            if bits == 0 {
                bits = splitmix64(&mut state);
            }
            id.push(char::from(alphabet[(bits % N as u64) as usize]));
            bits /= N as u64;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_drawn_later_is_the_id_drawn_in_its_turn() {
        let (now, later) = (IdGenerator::default(), IdGenerator::default());
        assert_eq!(now.hex("req_", 32), later.hex("req_", 32));
        let seed = now.alphanumeric("call_", 22);
        let drawn = later.draw_later();
        // The draws after it are the same whether it is spelled out late or never.
        assert_eq!(now.hex("", 10), later.hex("", 10));
        let mut id = String::from("call_");
        drawn.push_alphanumeric(&mut id, 22);
        assert_eq!(id, seed);
        assert!(id[5..].bytes().all(|byte| byte.is_ascii_alphanumeric()));
    }
}

//! What the formats that carry reasoning share: the signature of a thinking block, and
//! the base64 it is written in.

/// The signature of a thinking block: the one the script gave it, else one derived from
/// its text, so the same text always gets the same signature. Real signatures are
/// opaque base64 (Anthropic's `signature`, Gemini's `thoughtSignature`, Responses'
/// `encrypted_content`); so is this one.
pub(crate) fn signature(text: &str, scripted: Option<&str>) -> String {
    if let Some(signature) = scripted {
        return signature.to_owned();
    }
    // FNV-1a of the text seeds an xorshift generator: 48 bytes, 64 base64 characters.
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut bytes = Vec::with_capacity(48);
    while bytes.len() < 48 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(48);
    base64(&bytes)
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (position, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if position <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{base64, signature};

    #[test]
    fn base64_matches_the_rfc_test_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn a_derived_signature_depends_on_the_text_only_and_a_scripted_one_wins() {
        let first = signature("Paris in June.", None);
        assert_eq!(first, signature("Paris in June.", None));
        assert_ne!(first, signature("Rome in June.", None));
        assert_eq!(first.len(), 64);
        assert!(first
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'));
        assert_eq!(signature("Paris in June.", Some("sig")), "sig");
    }
}

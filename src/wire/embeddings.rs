//! Deterministic embeddings, which the formats with an embeddings endpoint (OpenAI's
//! `/v1/embeddings`, Ollama's `/api/embed`, Gemini's `:embedContent` and
//! `:batchEmbedContents`) wrap in their own shapes.
//!
//! A vector is the text's hashed features, normalised: each lower-cased word and each
//! pair of neighbouring words adds ±1 (±0.5 for a pair) to a coordinate its FNV-1a hash
//! picks. The same text always gives the same vector, on every server and run, and texts
//! that share words point closer together than texts that share none, so a test of
//! retrieval or ranking sees plausible similarities.

use super::reasoning::base64;

/// The embedding of `text` with `dimensions` coordinates, of unit length.
pub(crate) fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let dimensions = dimensions.max(1);
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut vector = vec![0.0_f64; dimensions];
    let mut add = |feature: &str, weight: f64| {
        let hash = fnv1a(feature);
        let index = (hash % dimensions as u64) as usize;
        let sign = if hash >> 63 == 1 { -1.0 } else { 1.0 };
        vector[index] += sign * weight;
    };
    if words.is_empty() {
        // Text without words (empty, punctuation) still has a direction of its own.
        add(text, 1.0);
    }
    for word in &words {
        add(word, 1.0);
    }
    for pair in words.windows(2) {
        add(&format!("{} {}", pair[0], pair[1]), 0.5);
    }
    let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
    vector
        .into_iter()
        .map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 })
        .collect()
}

/// The vector as OpenAI's `encoding_format: "base64"` sends it: little-endian `f32`s in
/// standard base64 (wire reference §8.6).
pub(crate) fn to_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64(&bytes)
}

/// A rough token count of the inputs, for usage: their words.
pub(crate) fn tokens(inputs: &[String]) -> u64 {
    inputs
        .iter()
        .map(|input| input.split_whitespace().count().max(1) as u64)
        .sum()
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::{embed, to_base64};

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn the_same_text_gives_the_same_unit_vector() {
        for text in ["", "?", "The cat sat on the mat.", "héllo wörld 你好"] {
            let vector = embed(text, 64);
            assert_eq!(vector, embed(text, 64), "{text:?}");
            assert_eq!(vector.len(), 64);
            let length = cosine(&vector, &vector);
            assert!((length - 1.0).abs() < 1e-5, "{text:?}: {length}");
        }
        // Case and punctuation do not change the words.
        assert_eq!(embed("The cat.", 32), embed("the CAT", 32));
    }

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let cat = embed("the cat sat on the mat", 256);
        let similar = embed("a cat sat on a mat", 256);
        let unrelated = embed("quarterly revenue grew in europe", 256);
        assert!(
            cosine(&cat, &similar) > cosine(&cat, &unrelated) + 0.3,
            "{} vs {}",
            cosine(&cat, &similar),
            cosine(&cat, &unrelated)
        );
    }

    #[test]
    fn base64_is_little_endian_f32s() {
        assert_eq!(to_base64(&[1.0]), "AACAPw==");
        assert_eq!(to_base64(&[1.0, -2.0]), "AACAPwAAAMA=");
    }
}

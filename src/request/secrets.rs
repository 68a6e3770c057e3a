//! The parts of a request that carry credentials, and how reports show them: never whole,
//! but by their first characters, enough to tell `test-key` from `prod-key`.
//!
//! Everything chatmock prints about a request (failure reports, `WaitTimeout`, 404
//! messages, logs) goes through here, so that no report or CI log ever holds a key.

/// Headers whose values are credentials, lowercase.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "cookie",
    "set-cookie",
];

/// Query parameters whose values are credentials (Gemini's `?key=`).
const SECRET_PARAMETERS: &[&str] = &["key", "api_key", "api-key"];

/// How many characters of a credential a report shows.
const SHOWN: usize = 4;

/// Whether header `name` carries a credential.
pub(crate) fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
}

/// Whether query parameter `name` carries a credential.
pub(crate) fn is_secret_parameter(name: &str) -> bool {
    SECRET_PARAMETERS.contains(&name)
}

/// The credentials a request carries, whole: the values of its secret headers (without
/// their scheme) and secret query parameters, for a recording to mask wherever they
/// appear.
pub(crate) fn credentials(headers: &axum::http::HeaderMap, query: Option<&str>) -> Vec<String> {
    let from_headers = headers
        .iter()
        .filter(|(name, _)| is_secret_header(name.as_str()))
        .filter_map(|(_, value)| value.to_str().ok())
        .map(|value| match value.split_once(' ') {
            Some((scheme, credential)) if is_scheme(scheme) => credential.trim(),
            _ => value.trim(),
        });
    let from_query = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| is_secret_parameter(name))
        .map(|(_, value)| value);
    from_headers
        .chain(from_query)
        // Too short to be a key, and masking it would mask ordinary text.
        .filter(|value| value.len() >= 6)
        .map(str::to_owned)
        .collect()
}

/// A header value as reports show it: masked if `name` carries a credential.
pub(crate) fn shown_header(name: &str, value: &str) -> String {
    if !is_secret_header(name) {
        return value.to_owned();
    }
    // The scheme says which kind of credential it is, and is no secret.
    match value.split_once(' ') {
        Some((scheme, credential)) if is_scheme(scheme) => {
            format!("{scheme} {}", masked(credential))
        }
        _ => masked(value),
    }
}

/// A query string as reports show it: credential parameters masked.
pub(crate) fn shown_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if SECRET_PARAMETERS.contains(&name) => {
                format!("{name}={}", masked(value))
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_scheme(word: &str) -> bool {
    ["bearer", "basic", "token"]
        .iter()
        .any(|scheme| scheme.eq_ignore_ascii_case(word))
}

fn masked(credential: &str) -> String {
    let length = credential.chars().count();
    if length <= 2 * SHOWN {
        // So short that its first characters would be most of it.
        return format!("*** ({length} chars, masked)");
    }
    let shown: String = credential.chars().take(SHOWN).collect();
    format!("{shown}*** ({length} chars, masked)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_show_only_their_first_characters() {
        let cases = [
            (
                "authorization",
                "Bearer test-key-123",
                "Bearer test*** (12 chars, masked)",
            ),
            (
                "Authorization",
                "bearer sk-proj-abcdef",
                "bearer sk-p*** (14 chars, masked)",
            ),
            (
                "x-api-key",
                "sk-ant-api03-secret",
                "sk-a*** (19 chars, masked)",
            ),
            ("x-goog-api-key", "short", "*** (5 chars, masked)"),
            ("cookie", "session=abcdefghij", "sess*** (18 chars, masked)"),
            ("content-type", "application/json", "application/json"),
        ];
        for (name, value, shown) in cases {
            assert_eq!(shown_header(name, value), shown, "{name}: {value}");
        }
    }

    #[test]
    fn a_key_in_the_query_is_masked_and_the_rest_kept() {
        assert_eq!(
            shown_query("alt=sse&key=AIzaSyA-secret-key"),
            "alt=sse&key=AIza*** (18 chars, masked)"
        );
        assert_eq!(shown_query("alt=sse"), "alt=sse");
    }
}

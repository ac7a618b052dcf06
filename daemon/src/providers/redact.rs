//! Removes credentials from text before it is stored, logged or sent to a client. A provider
//! or a proxy in front of it may echo the request's headers in an error reply; nothing it
//! sends back may carry a key further than this.
//!
//! Three things are masked: the secret values given (the keys genq holds), any
//! `Bearer <token>`, and the value of any `Authorization` header or field.

/// What a masked value becomes.
pub const MASK: &str = "***";

/// Secrets shorter than this are not searched for: they would mask ordinary words while
/// protecting nothing.
const MIN_SECRET: usize = 4;

/// Tokens after `Bearer` shorter than this are words ("the bearer of"), not credentials.
const MIN_TOKEN: usize = 8;

/// `text` with every secret value, bearer token and authorization value masked.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut spans = Vec::new();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET) {
        spans.extend(text.match_indices(secret).map(|(at, s)| (at, at + s.len())));
    }
    let lower = text.to_ascii_lowercase();
    spans.extend(bearer_tokens(&lower));
    spans.extend(authorization_values(&lower));
    mask(text, spans)
}

/// `body` with every occurrence of `secret` masked, for replies that may not be UTF-8.
pub fn scrub_bytes(body: bytes::Bytes, secret: &[u8]) -> bytes::Bytes {
    if secret.len() < MIN_SECRET || !contains(&body, secret) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = &body[..];
    while let Some(at) = find(rest, secret) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(MASK.as_bytes());
        rest = &rest[at + secret.len()..];
    }
    out.extend_from_slice(rest);
    out.into()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// Bytes that end a token: whitespace and the punctuation that surrounds values in JSON,
/// headers, query strings and XML.
fn ends_token(b: u8) -> bool {
    b.is_ascii_whitespace() || b"\"'`,;{}[]()<>\\&".contains(&b)
}

/// Spans of the tokens after `bearer` (matched in the lower-cased text, same offsets).
fn bearer_tokens(lower: &str) -> Vec<(usize, usize)> {
    let bytes = lower.as_bytes();
    let mut spans = Vec::new();
    for (at, word) in lower.match_indices("bearer") {
        let mut start = at + word.len();
        let gap = bytes[start..]
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        if gap == 0 {
            continue;
        }
        start += gap;
        let len = bytes[start..]
            .iter()
            .take_while(|b| !ends_token(**b))
            .count();
        if len >= MIN_TOKEN {
            spans.push((start, start + len));
        }
    }
    spans
}

/// Spans of the values of `authorization` headers or fields: `Authorization: x`,
/// `"authorization": "x"`, `authorization=x`.
fn authorization_values(lower: &str) -> Vec<(usize, usize)> {
    let bytes = lower.as_bytes();
    let mut spans = Vec::new();
    for (at, word) in lower.match_indices("authorization") {
        let mut i = at + word.len();
        let skip = |i: &mut usize, set: &[u8]| {
            while *i < bytes.len() && set.contains(&bytes[*i]) {
                *i += 1;
            }
        };
        skip(&mut i, b"\"' \t");
        if i >= bytes.len() || !matches!(bytes[i], b':' | b'=') {
            continue;
        }
        i += 1;
        skip(&mut i, b" \t");
        let start = i;
        let end = match bytes.get(i) {
            Some(q @ (b'"' | b'\'')) => {
                let close = bytes[i + 1..].iter().position(|b| b == q);
                // Inside the quotes; an unclosed quote runs to the end of the text.
                spans.push((i + 1, close.map_or(bytes.len(), |c| i + 1 + c)));
                continue;
            }
            _ => bytes[start..]
                .iter()
                .position(|b| matches!(b, b'\r' | b'\n' | b',' | b';' | b'}' | b'&'))
                .map_or(bytes.len(), |p| start + p),
        };
        if end > start {
            spans.push((start, end));
        }
    }
    spans
}

/// `text` with the spans (byte ranges on ASCII boundaries) replaced by [`MASK`].
fn mask(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (start, end) in spans {
        if end <= done {
            continue;
        }
        let start = start.max(done);
        out.push_str(&text[done..start]);
        if !out.ends_with(MASK) {
            out.push_str(MASK);
        }
        done = end;
    }
    out.push_str(&text[done..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_secrets_are_masked_wherever_they_appear() {
        let text = "key sk-abc123xyz refused (sk-abc123xyz)";
        assert_eq!(scrub(text, &["sk-abc123xyz"]), "key *** refused (***)");
        // Too short to be a secret worth searching for.
        assert_eq!(scrub("a b c", &["b"]), "a b c");
    }

    #[test]
    fn bearer_tokens_are_masked_in_any_case() {
        assert_eq!(
            scrub("header: BEARER tsk_0123456789abcdef next", &[]),
            "header: BEARER *** next"
        );
        assert_eq!(
            scrub(r#"{"auth":"Bearer ms-0123456789"}"#, &[]),
            r#"{"auth":"Bearer ***"}"#
        );
        assert_eq!(
            scrub("the bearer of bad news", &[]),
            "the bearer of bad news"
        );
    }

    #[test]
    fn authorization_values_are_masked_in_headers_json_and_queries() {
        assert_eq!(
            scrub("Authorization: Basic dXNlcjpwYXNz\r\nHost: x", &[]),
            "Authorization: ***\r\nHost: x"
        );
        assert_eq!(
            scrub(r#"{"authorization": "Token abc", "host": "x"}"#, &[]),
            r#"{"authorization": "***", "host": "x"}"#
        );
        assert_eq!(
            scrub("?authorization=abc&x=1", &[]),
            "?authorization=***&x=1"
        );
        assert_eq!(
            scrub("no authorization was sent", &[]),
            "no authorization was sent"
        );
    }

    #[test]
    fn overlapping_matches_leave_one_mask_and_non_ascii_text_intact() {
        let text = "「Authorization: Bearer sk-0123456789\n」 échec sk-0123456789";
        let out = scrub(text, &["sk-0123456789"]);
        assert_eq!(out, "「Authorization: ***\n」 échec ***");
    }

    #[test]
    fn bodies_are_scrubbed_of_the_secret_as_bytes() {
        let body = bytes::Bytes::from_static(b"\xff{\"k\":\"sk-0123\",\"again\":\"sk-0123\"}");
        let out = scrub_bytes(body, b"sk-0123");
        assert_eq!(&out[..], b"\xff{\"k\":\"***\",\"again\":\"***\"}");
        let untouched = bytes::Bytes::from_static(b"nothing here");
        assert_eq!(scrub_bytes(untouched.clone(), b"sk-0123"), untouched);
    }
}

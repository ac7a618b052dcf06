//! A line from the daemon read as a reply: which call it answers and its result as text,
//! for the call to decode straight into its own type.

use bytes::Bytes;
use genq_protocol::RpcError;
use genq_protocol::rpc::Version2;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// A line read as a reply. (A line with a method and no id is a notification.)
#[derive(Deserialize)]
pub(super) struct Reply {
    #[serde(rename = "jsonrpc")]
    _jsonrpc: Version2,
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    #[serde(default)]
    pub method: Option<IgnoredAny>,
    #[serde(default)]
    pub result: Option<Box<RawValue>>,
    #[serde(default)]
    pub error: Option<RpcError>,
}

/// A result's JSON text, as the daemon sent it: decoded (and so checked) only by the call it
/// answers, into that call's type.
#[derive(Debug)]
pub struct ResultText {
    line: Bytes,
    start: usize,
    end: usize,
}

impl ResultText {
    pub fn get(&self) -> &str {
        // Checked as UTF-8 when it was made.
        std::str::from_utf8(&self.line[self.start..self.end]).unwrap_or_default()
    }

    pub(super) fn of(raw: &RawValue) -> ResultText {
        let line = Bytes::copy_from_slice(raw.get().as_bytes());
        ResultText {
            end: line.len(),
            line,
            start: 0,
        }
    }
}

/// A result in the one shape the daemon writes it, `{"jsonrpc":"2.0","id":N,"result":…}`:
/// its id and text, found without reading through the result, which may be megabytes long
/// (a page of jobs); its call decodes it once. Any other line (an error, a notification,
/// another writer's spacing) is for the general reading.
pub(super) fn plain_result(line: &Bytes) -> Option<(u64, ResultText)> {
    let head = br#"{"jsonrpc":"2.0","id":"#;
    let rest = line.strip_prefix(head)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let id = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let start = head.len() + digits + br#","result":"#.len();
    let end = line.len().checked_sub(1)?;
    let shaped = rest[digits..].starts_with(br#","result":"#) && line.ends_with(b"}");
    if !shaped || start > end || std::str::from_utf8(&line[start..end]).is_err() {
        return None;
    }
    Some((
        id,
        ResultText {
            line: line.clone(),
            start,
            end,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_result_is_found_without_reading_it_and_other_lines_are_not() {
        let line =
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":42,"result":{"jobs":[],"total":0}}"#);
        let (id, text) = plain_result(&line).unwrap();
        assert_eq!(id, 42);
        assert_eq!(text.get(), r#"{"jobs":[],"total":0}"#);
        for other in [
            &br#"{"jsonrpc":"2.0","id":42,"error":{"code":-32000,"message":"x"}}"#[..],
            br#"{"jsonrpc":"2.0","method":"event","params":{}}"#,
            br#"{"jsonrpc": "2.0", "id": 42, "result": 1}"#,
            br#"{"jsonrpc":"2.0","id":"a","result":1}"#,
            br#"{"jsonrpc":"2.0","id":42,"result":"#,
        ] {
            assert!(
                plain_result(&Bytes::copy_from_slice(other)).is_none(),
                "{other:?}"
            );
        }
    }
}

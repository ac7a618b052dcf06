//! The JSON-RPC 2.0 envelope: requests, responses and notifications, one per line.

use crate::error::{ErrorKind, RpcError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The literal `"2.0"`; anything else is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version2;

impl Serialize for Version2 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("2.0")
    }
}

impl<'de> Deserialize<'de> for Version2 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "2.0" {
            Ok(Version2)
        } else {
            Err(serde::de::Error::custom(format!(
                "jsonrpc must be \"2.0\", got {s:?}"
            )))
        }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub jsonrpc: Version2,
    pub id: Value,
    pub method: String,
    pub params: Option<Value>,
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub jsonrpc: Version2,
    pub id: Value,
    pub result: Option<Value>,
    pub error: Option<RpcError>,
}

impl Response {
    pub fn ok(id: Value, result: Value) -> Self {
        Response {
            jsonrpc: Version2,
            id,
            result: Some(result),
            error: None,
        }
    }

    pub fn err(id: Value, error: RpcError) -> Self {
        Response {
            jsonrpc: Version2,
            id,
            result: None,
            error: Some(error),
        }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub jsonrpc: Version2,
    pub method: String,
    pub params: Option<Value>,
}

impl Notification {
    pub fn new(method: &str, params: impl Serialize) -> Self {
        Notification {
            jsonrpc: Version2,
            method: method.to_string(),
            params: serde_json::to_value(params).ok(),
        }
    }
}

/// What a client reads from the daemon.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    Response(Response),
    Notification(Notification),
}

impl Incoming {
    pub fn parse(line: &[u8]) -> Result<Incoming, serde_json::Error> {
        let v: Value = serde_json::from_slice(line)?;
        if v.get("method").is_some() && v.get("id").is_none() {
            Ok(Incoming::Notification(serde_json::from_value(v)?))
        } else {
            Ok(Incoming::Response(serde_json::from_value(v)?))
        }
    }
}

/// Reads one request line as the daemon does. On failure the error says what was wrong and
/// carries the request id when it could be recovered, so the reply can name it.
// Bad frames are rare and answered at once: boxing the pair would only add an allocation.
#[allow(clippy::result_large_err)]
pub fn parse_request(line: &[u8]) -> Result<Request, (Value, RpcError)> {
    let text = std::str::from_utf8(line).map_err(|e| {
        (
            Value::Null,
            RpcError::new(
                ErrorKind::ParseError,
                format!(
                    "frame is not valid UTF-8 (bad byte at offset {})",
                    e.valid_up_to()
                ),
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        (
            Value::Null,
            RpcError::new(
                ErrorKind::ParseError,
                format!("frame is not valid JSON: {e}"),
            ),
        )
    })?;
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    if !value.is_object() {
        return Err((
            id,
            RpcError::new(
                ErrorKind::InvalidRequest,
                "a request must be a JSON object with jsonrpc, id and method",
            ),
        ));
    }
    match &id {
        Value::Null | Value::String(_) | Value::Number(_) => {}
        _ => {
            return Err((
                Value::Null,
                RpcError::new(ErrorKind::InvalidRequest, "id must be a string or a number"),
            ));
        }
    }
    serde_json::from_value::<Request>(value).map_err(|e| {
        (
            id,
            RpcError::new(
                ErrorKind::InvalidRequest,
                format!("not a JSON-RPC 2.0 request: {e}"),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_a_parse_error() {
        let (_, e) = parse_request(b"{\"a\":\"\xff\"}").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ParseError);
        assert!(e.message.contains("UTF-8"));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let (_, e) = parse_request(deep.as_bytes()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ParseError);
    }

    #[test]
    fn wrong_version_is_an_invalid_request_with_its_id() {
        let (id, e) = parse_request(br#"{"jsonrpc":"1.0","id":7,"method":"hello"}"#).unwrap_err();
        assert_eq!(id, Value::from(7));
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn notifications_and_responses_are_told_apart() {
        let n = Incoming::parse(br#"{"jsonrpc":"2.0","method":"event","params":{}}"#).unwrap();
        assert!(matches!(n, Incoming::Notification(_)));
        let r = Incoming::parse(br#"{"jsonrpc":"2.0","id":1,"result":true}"#).unwrap();
        assert!(matches!(r, Incoming::Response(_)));
    }
}

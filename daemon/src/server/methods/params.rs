//! Parameters as the protocol's types, so a wrong field is reported with its path.

use genq_protocol::RpcError;
use genq_protocol::methods::Method;
use serde_json::Value;

/// Parses a method's parameters, naming the offending field on failure.
pub fn params<M: Method>(raw: Option<Value>) -> Result<M::Params, RpcError> {
    let raw = match raw {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v,
    };
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = e.into_inner().to_string();
        RpcError::invalid_params(
            field.clone(),
            format!(
                "invalid parameters for {}: {}{inner}",
                M::NAME,
                if field.is_empty() {
                    String::new()
                } else {
                    format!("{field}: ")
                }
            ),
            None,
        )
    })
}

/// Refuses a number the database cannot hold (it keeps them as signed 64-bit integers).
pub fn check_i64(field: &str, value: Option<u64>) -> Result<(), RpcError> {
    match value {
        Some(v) if i64::try_from(v).is_err() => Err(RpcError::invalid_params(
            field,
            format!("{field}: {v} is out of range"),
            Some(format!("0 to {}", i64::MAX)),
        )),
        _ => Ok(()),
    }
}

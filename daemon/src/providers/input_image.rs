//! A job's input image as the adaptors that upload one read and send it: its bytes from a
//! local file or a URL, and the multipart body carrying it.

use crate::providers::adaptor::ProviderError;
use genq_protocol::JobErrorKind;
use serde_json::{Map, Value};

/// Largest input image read.
const INPUT_MAX_BYTES: usize = 50 * 1024 * 1024;

/// A multipart body: every field as a text part, then the image as the part `image`. Returns the
/// content type with its boundary, and the body.
pub fn multipart(fields: &Map<String, Value>, filename: &str, image: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("genq-{}", uuid::Uuid::now_v7().simple());
    let mut body = Vec::new();
    for (name, value) in fields {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{text}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; \
             filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The input image's bytes: a local file (an absolute path or a `file://` URL) or an
/// http(s) URL fetched now. Nothing was sent to the provider yet, so a failure is final and
/// costs nothing.
pub async fn read(http: &reqwest::Client, input: &str) -> Result<Vec<u8>, ProviderError> {
    let refused = |why: String| {
        ProviderError::final_error(JobErrorKind::InvalidParams, format!("image: {why}"))
    };
    let bytes = if input.starts_with("http://") || input.starts_with("https://") {
        let reply = http
            .get(input)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| refused(format!("cannot fetch the input image: {e}")))?;
        reply
            .bytes()
            .await
            .map_err(|e| refused(format!("cannot fetch the input image: {e}")))?
            .to_vec()
    } else {
        let path = match input.strip_prefix("file://") {
            Some(p) => std::path::PathBuf::from(p),
            None => std::path::PathBuf::from(input),
        };
        if !path.is_absolute() {
            return Err(refused(
                "a local image must be given as an absolute path".into(),
            ));
        }
        tokio::fs::read(&path)
            .await
            .map_err(|e| refused(format!("cannot read {}: {e}", path.display())))?
    };
    if bytes.len() > INPUT_MAX_BYTES {
        return Err(refused(format!(
            "the input image is larger than {} MB",
            INPUT_MAX_BYTES / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

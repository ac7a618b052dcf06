//! The request of one job: the JSON body of `/v1/images/generations`, or the multipart body
//! of `/v1/images/edits` with the input image.

use crate::providers::adaptor::ProviderError;
use genq_protocol::{JobErrorKind, JobSpec};
use serde_json::{Map, Value, json};

/// Largest input image sent to `/v1/images/edits`.
const INPUT_MAX_BYTES: usize = 50 * 1024 * 1024;

/// The request fields of a spec: its model, prompt and every field the validation let
/// through, under the names OpenAI-compatible servers use.
pub fn fields(spec: &JobSpec) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), json!(spec.model));
    body.insert("prompt".into(), json!(spec.prompt));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    };
    put("n", spec.n.map(|v| json!(v)));
    put(
        "size",
        spec.size
            .map(|s| json!(format!("{}x{}", s.width, s.height))),
    );
    put(
        "negative_prompt",
        spec.negative_prompt.as_ref().map(|v| json!(v)),
    );
    put("seed", spec.seed.map(|v| json!(v)));
    put("num_inference_steps", spec.steps.map(|v| json!(v)));
    put("guidance_scale", spec.guidance.map(|v| json!(v)));
    for (k, v) in &spec.params {
        body.insert(k.clone(), v.clone());
    }
    body
}

/// The multipart body of an edit: every field as a text part, then the image. Returns the
/// content type with its boundary, and the body.
pub fn multipart(fields: &Map<String, Value>, image: &[u8]) -> (String, Vec<u8>) {
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
             filename=\"image.png\"\r\nContent-Type: application/octet-stream\r\n\r\n"
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
pub async fn input_image(http: &reqwest::Client, input: &str) -> Result<Vec<u8>, ProviderError> {
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

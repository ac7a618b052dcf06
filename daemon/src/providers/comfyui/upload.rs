//! The job's input image on the ComfyUI host: `POST /upload/image` (multipart) into its
//! `input/` folder, answered with the name `LoadImage` reads it by. The file is named by its
//! content, so sending the same bytes again (a retried submit, or a daemon restart between
//! the upload and the prompt) finds ComfyUI's identical file and reuses its name instead of
//! adding `name (1).png`; an upload costs nothing, so it is never a reason not to retry.

use super::info::NAME;
use crate::providers::adaptor::{CallContext, ProviderError};
use crate::providers::{http, input_image};
use genq_protocol::JobErrorKind;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Map, json};
use sha2::{Digest, Sha256};

/// Extensions kept from the input's name; anything else is uploaded as `.png`.
const EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "gif", "bmp"];

/// The upload's file name: `genq-<first 16 hex digits of its SHA-256>.<extension>`.
fn file_name(input: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let last = input.rsplit(['/', '\\']).next().unwrap_or_default();
    let ext = last
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| EXTENSIONS.contains(&e.as_str()))
        .unwrap_or_else(|| "png".into());
    format!("genq-{hex}.{ext}")
}

/// Uploads the input image `input` (a local path or a URL) and returns the value for the
/// bound `LoadImage` input: `subfolder/name`, or `name` when ComfyUI gives no subfolder.
pub async fn upload(ctx: &CallContext, input: &str) -> Result<String, ProviderError> {
    let bytes = input_image::read(&ctx.http, input).await?;
    let mut fields = Map::new();
    fields.insert("type".into(), json!("input"));
    let (content_type, body) = input_image::multipart(&fields, &file_name(input, &bytes), &bytes);
    let url = http::endpoint(&ctx.base_url, &["upload", "image"])?;
    let request = ctx
        .http
        .request(Method::POST, url)
        .header(CONTENT_TYPE, content_type)
        .body(body);
    let not_billed = |mut e: ProviderError| {
        e.maybe_accepted = false;
        e
    };
    let reply = http::send(request).await.map_err(not_billed)?;
    if reply.status.as_u16() == 413 {
        return Err(ProviderError::final_error(
            JobErrorKind::InvalidParams,
            "image: larger than the ComfyUI server accepts (its --max-upload-size, 100 MB \
             unless set)",
        ));
    }
    if !reply.status.is_success() {
        return Err(not_billed(http::classify_status(
            reply.status,
            format!("image: {NAME} refused the upload: {}", reply.text()),
        )));
    }
    let answer = reply.json_or_malformed(NAME).map_err(not_billed)?;
    let Some(name) = answer["name"].as_str().filter(|n| !n.is_empty()) else {
        return Err(ProviderError::retryable(
            JobErrorKind::Provider,
            format!("{NAME}: the upload reply names no file: {answer}"),
        ));
    };
    Ok(match answer["subfolder"].as_str() {
        Some(sub) if !sub.is_empty() => format!("{sub}/{name}"),
        _ => name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn the_file_name_follows_the_content_and_keeps_a_known_extension() {
        let a = file_name("/tmp/cat.JPG", b"one");
        assert!(a.starts_with("genq-") && a.ends_with(".jpg"), "{a}");
        assert_eq!(a, file_name("/elsewhere/dog.jpg", b"one"));
        assert_ne!(a, file_name("/tmp/cat.jpg", b"two"));
        assert!(file_name("https://x/img?id=3", b"one").ends_with(".png"));
    }
}

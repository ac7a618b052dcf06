//! `params.json` beside a job's files, and the same facts in the PNG `tEXt` chunk: enough to
//! trace an output back and re-run it, with nothing secret in it.

use super::download::OutputError;
use super::fsutil::write_atomic;
use genq_protocol::{Job, JobErrorKind};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// File name of the record beside the outputs.
pub const PARAMS_FILE: &str = "params.json";

/// Whether a provider-specific parameter name looks like it carries a credential.
fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "authorization",
        "credential",
        "cookie",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// A URL without its query string and fragment (signed URLs carry signatures and access
/// key ids there).
fn strip_query(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or("").to_string(),
    }
}

/// The job's parameters without secrets: the spec with credential-like provider extras
/// removed.
pub fn spec_value(job: &Job) -> Value {
    let mut spec = serde_json::to_value(&job.params).unwrap_or(Value::Null);
    if let Some(extra) = spec.get_mut("params").and_then(Value::as_object_mut) {
        let keep: Map<String, Value> = extra
            .iter()
            .filter(|(k, _)| !looks_secret(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        *extra = keep;
    }
    spec
}

/// The short record embedded in PNG outputs.
pub fn png_params_json(job: &Job) -> String {
    json!({
        "job": job.id,
        "provider": job.provider,
        "model": job.model,
        "created_at": job.created_at,
        "params": spec_value(job),
    })
    .to_string()
}

/// The full record written to `params.json`.
pub fn params_record(job: &Job) -> Value {
    let outputs: Vec<Value> = job
        .outputs
        .iter()
        .map(|o| {
            json!({
                "index": o.index,
                "file": o.path.as_deref().and_then(|p| Path::new(p).file_name()).map(|n| n.to_string_lossy().into_owned()),
                "sha256": o.sha256,
                "size": o.size,
                "mime": o.mime,
                "width": o.width,
                "height": o.height,
                "source_url": o.source_url.as_deref().map(strip_query),
                "uploads": o.uploads.iter().filter(|u| u.url.is_some()).map(|u| json!({"target": u.target, "url": u.url})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "job": job.id,
        "kind": job.kind,
        "provider": job.provider,
        "model": job.model,
        "remote_id": job.remote_id,
        "retry_of": job.retry_of,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "times": job.times,
        "params": spec_value(job),
        "outputs": outputs,
    })
}

/// Writes `dir/params.json` atomically (creating `dir`); returns its path.
pub fn write_params_json(dir: &Path, job: &Job) -> Result<PathBuf, OutputError> {
    let path = dir.join(PARAMS_FILE);
    let mut text = serde_json::to_string_pretty(&params_record(job)).map_err(|e| OutputError {
        kind: JobErrorKind::Internal,
        retryable: false,
        local: false,
        message: format!("cannot serialise the parameters of job {}: {e}", job.id),
        status: None,
    })?;
    text.push('\n');
    write_atomic(&path, text.as_bytes())
        .map_err(|e| OutputError::local(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_query_strings_are_dropped() {
        assert_eq!(
            strip_query(
                "https://b.oss-cn-beijing.aliyuncs.com/x/1.png?OSSAccessKeyId=AK&Signature=s"
            ),
            "https://b.oss-cn-beijing.aliyuncs.com/x/1.png"
        );
    }

    #[test]
    fn credential_like_names_are_recognised() {
        assert!(looks_secret("api_key"));
        assert!(looks_secret("X-Auth-Token"));
        assert!(!looks_secret("style"));
    }
}

//! Images that came back inside a reply, kept in the spool directory until the engine stores
//! them: `{spool}/{remote_id}-{index}`, written whole under a temporary name first, so a file
//! with its final name is always complete. They outlive a daemon restart, so a job whose
//! reply arrived is finished from them rather than generated (and billed) again.

use crate::providers::adaptor::{ProviderError, RemoteOutput};
use genq_protocol::JobErrorKind;
use genq_protocol::job::OutputRole;
use std::path::{Path, PathBuf};

/// Keeps the images of the call `remote_id`, in reply order.
pub async fn keep(spool: &Path, remote_id: &str, images: &[Vec<u8>]) -> Result<(), ProviderError> {
    let failed = |e: std::io::Error| {
        ProviderError::final_error(
            JobErrorKind::Storage,
            format!(
                "the images were made but cannot be kept in {}: {e}; `genq retry` makes them \
                 again",
                spool.display()
            ),
        )
    };
    tokio::fs::create_dir_all(spool).await.map_err(failed)?;
    for (i, bytes) in images.iter().enumerate() {
        let done = spool.join(format!("{remote_id}-{i}"));
        let part = spool.join(format!(".{remote_id}-{i}.part"));
        tokio::fs::write(&part, bytes).await.map_err(failed)?;
        tokio::fs::rename(&part, &done).await.map_err(failed)?;
    }
    Ok(())
}

/// The kept images of the call `remote_id` as outputs, in reply order; empty when none were
/// kept.
pub fn kept(spool: &Path, remote_id: &str) -> Vec<RemoteOutput> {
    let prefix = format!("{remote_id}-");
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(spool)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let index = name.strip_prefix(&prefix)?.parse().ok()?;
            Some((index, e.path()))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .filter_map(|(_, path)| {
            Some(RemoteOutput {
                url: reqwest::Url::from_file_path(&path).ok()?.to_string(),
                role: OutputRole::Image,
                format: None,
                label: None,
            })
        })
        .collect()
}

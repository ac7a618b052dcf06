//! Outputs that are not on this machine (the daemon runs elsewhere): previews drawn from the
//! daemon's small rendition, and opening an output after pulling its job into the cache
//! directory.

use crate::client::Client;
use crate::transfer;
use crate::tui::action::Action;
use crate::tui::preview::{self, Preview};
use genq_protocol::JobId;
use genq_protocol::methods::{JobRef, JobsGet, OutputsPreview};
use genq_protocol::outputs::{PREVIEW_MAX_SIDE, PreviewParams, base64_decode};
use ratatui_image::picker::Picker;
use std::path::{Path, PathBuf};

/// What a preview from the daemon is called in messages.
const DAEMON_PREVIEW: &str = "the daemon's preview";

/// The pixels `cells` cells of `cell_px` pixels each take, within what the daemon renders.
fn pixels(cells: u16, cell_px: u16) -> u32 {
    (u32::from(cells) * u32::from(cell_px.max(1))).clamp(1, PREVIEW_MAX_SIDE)
}

/// Asks the daemon for a rendition of the job's image sized for `cols` × `rows` cells and
/// encodes it for the terminal off the UI thread.
pub async fn fetch_preview(
    client: Client,
    picker: Picker,
    id: JobId,
    cols: u16,
    rows: u16,
) -> Action {
    let font = picker.font_size();
    let params = PreviewParams {
        id: id.0.clone(),
        index: None,
        max_width: pixels(cols, font.width),
        max_height: pixels(rows, font.height),
    };
    let result = match client.call::<OutputsPreview>(params).await {
        Ok(reply) => tokio::task::spawn_blocking(move || {
            let bytes = base64_decode(&reply.data)
                .map_err(|e| format!("cannot read {DAEMON_PREVIEW}: {e}"))?;
            preview::encode_bytes(&picker, &bytes, DAEMON_PREVIEW, cols, rows)
        })
        .await
        .unwrap_or_else(|e| Err(format!("cannot encode {DAEMON_PREVIEW}: {e}"))),
        Err(e) => Err(format!("{DAEMON_PREVIEW}: {e}")),
    };
    Action::PreviewReady(Preview {
        id,
        path: DAEMON_PREVIEW.into(),
        result,
    })
}

/// Pulls the job's files into `cache/pulled/<job-id>/` and opens the copy of `path` there.
pub async fn pull_then_open(client: Client, cache: PathBuf, id: JobId, path: String) -> Action {
    let Some(name) = Path::new(&path).file_name().map(|n| n.to_owned()) else {
        return Action::Info(format!("{path} does not name a file"));
    };
    let dir = cache.join("pulled").join(id.as_str());
    let job = match client.call::<JobsGet>(JobRef::from(&id)).await {
        Ok(job) => job,
        Err(e) => return Action::Info(format!("cannot pull {path}: {e}")),
    };
    match transfer::pull_job(&client, &job, &dir).await {
        Ok(_) => open_local(&dir.join(name)),
        Err(e) => Action::Info(format!("cannot pull job {}: {e}", job.short_id())),
    }
}

/// Opens a file on this machine with the system opener, without waiting for it.
pub fn open_local(path: &Path) -> Action {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let shown = path.display();
    let mut cmd = tokio::process::Command::new(opener);
    cmd.arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    match cmd.spawn() {
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            Action::Info(format!("opened {shown}"))
        }
        Err(e) => Action::Info(format!("cannot run {opener} for {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_pixels_follow_the_cells_within_the_daemon_s_bounds() {
        assert_eq!(pixels(38, 10), 380);
        assert_eq!(pixels(35, 0), 35);
        assert_eq!(pixels(0, 20), 1);
        assert_eq!(pixels(500, 20), PREVIEW_MAX_SIDE);
    }
}

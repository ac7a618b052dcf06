//! Image previews: which terminal graphics protocol to use (`GENQ_PREVIEW`), and decoding
//! plus scaling an output on a blocking thread so the UI never waits for it.

use genq_protocol::JobId;
use ratatui::layout::Size;
use ratatui_image::Resize;
use ratatui_image::picker::Picker;
use ratatui_image::protocol::Protocol;
use std::fmt;

/// How previews are drawn, from `GENQ_PREVIEW` (`halfblocks`, `none`, or unset: ask the
/// terminal for kitty/sixel/iTerm2, falling back to halfblocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreviewMode {
    Query,
    Halfblocks,
    None,
}

impl PreviewMode {
    pub fn from_env() -> PreviewMode {
        match std::env::var("GENQ_PREVIEW").ok().as_deref() {
            Some("none") | Some("off") => PreviewMode::None,
            Some("halfblocks") => PreviewMode::Halfblocks,
            _ => PreviewMode::Query,
        }
    }

    /// The picker for this mode. Querying must happen after raw mode is on and before the
    /// event stream starts reading stdin.
    pub fn picker(self) -> Option<Picker> {
        match self {
            PreviewMode::None => None,
            PreviewMode::Halfblocks => Some(Picker::halfblocks()),
            PreviewMode::Query => {
                Some(Picker::from_query_stdio().unwrap_or_else(|_| Picker::halfblocks()))
            }
        }
    }
}

/// An encoded preview of one output, ready to draw.
pub struct Preview {
    pub id: JobId,
    pub path: String,
    pub result: Result<Protocol, String>,
}

impl fmt::Debug for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Preview")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("ok", &self.result.is_ok())
            .finish()
    }
}

/// Decodes and scales `path` to fit `cols` × `rows` cells. Blocking: call it from
/// `spawn_blocking`.
pub fn load(picker: &Picker, id: JobId, path: String, cols: u16, rows: u16) -> Preview {
    let result = image::ImageReader::open(&path)
        .map_err(|e| format!("cannot open {path}: {e}"))
        .and_then(|r| {
            r.with_guessed_format()
                .map_err(|e| format!("cannot read {path}: {e}"))
        })
        .and_then(|r| r.decode().map_err(|e| format!("cannot decode {path}: {e}")))
        .and_then(|img| {
            picker
                .new_protocol(img, Size::new(cols, rows), Resize::Fit(None))
                .map_err(|e| format!("cannot encode a preview of {path}: {e}"))
        });
    Preview { id, path, result }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_png_becomes_a_preview_and_a_bad_file_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("out.png");
        image::RgbImage::from_pixel(200, 100, image::Rgb([10, 200, 30]))
            .save(&png)
            .unwrap();
        let picker = Picker::halfblocks();
        let p = load(
            &picker,
            JobId("j".into()),
            png.display().to_string(),
            20,
            10,
        );
        let size = p.result.as_ref().map(|proto| proto.size()).unwrap();
        assert!(
            size.width <= 20 && size.height <= 10 && size.width > 0,
            "{size:?}"
        );

        let bad = dir.path().join("not.png");
        std::fs::write(&bad, b"not an image").unwrap();
        let p = load(
            &picker,
            JobId("j".into()),
            bad.display().to_string(),
            20,
            10,
        );
        let Err(err) = p.result else {
            panic!("a text file decoded as an image");
        };
        assert!(err.contains("not.png"), "{err}");
    }
}

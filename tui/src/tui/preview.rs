//! Image previews: which terminal graphics protocol to use (`GENQ_PREVIEW`), and decoding
//! plus scaling an output on a blocking thread so the UI never waits for it.

use genq_protocol::JobId;
use ratatui::layout::Size;
use ratatui_image::FontSize;
use ratatui_image::Resize;
use ratatui_image::picker::cap_parser::{Parser, QueryStdioOptions, Response};
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;
use std::fmt;
use std::time::{Duration, Instant};

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
            PreviewMode::Query => Some(query_picker(QUERY_TIMEOUT)),
        }
    }
}

/// How long the terminal has to answer the graphics query.
const QUERY_TIMEOUT: Duration = Duration::from_millis(500);

/// Asks the terminal which graphics protocol it speaks, reading the answers on this thread
/// with a deadline. (ratatui-image's own query reads stdin on a thread that stays blocked
/// when the terminal never answers, and that thread then swallows the user's first key.)
/// Inside tmux the query would need passthrough, which changes the user's tmux options, so
/// halfblocks are used there without asking.
fn query_picker(timeout: Duration) -> Picker {
    let in_tmux = std::env::var_os("TMUX").is_some()
        || std::env::var("TERM").is_ok_and(|t| t.starts_with("tmux") || t.starts_with("screen"));
    if in_tmux {
        return Picker::halfblocks();
    }
    match query_terminal(timeout) {
        Some((protocol, Some(font))) => {
            #[allow(deprecated)] // the only constructor that takes a measured font size
            let mut picker = Picker::from_fontsize(font);
            picker.set_protocol_type(protocol);
            picker
        }
        _ => Picker::halfblocks(),
    }
}

/// Writes the capability query and reads replies until the terminal's status report (which
/// every terminal sends last) or the deadline. `None` when nothing usable came back.
fn query_terminal(timeout: Duration) -> Option<(ProtocolType, Option<FontSize>)> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    let query = Parser::query(false, QueryStdioOptions::default());
    let mut out = std::io::stdout();
    out.write_all(query.as_bytes()).ok()?;
    out.flush().ok()?;

    let stdin = std::io::stdin();
    let deadline = Instant::now() + timeout;
    let mut parser = Parser::new();
    let (mut kitty, mut sixel, mut font) = (false, false, None);
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, wait).ok()? == 0 {
            return None;
        }
        let mut buf = [0u8; 64];
        // poll said it is readable, so this read does not block.
        let n = stdin.lock().read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        for b in &buf[..n] {
            for r in parser.push(char::from(*b)) {
                match r {
                    Response::Kitty => kitty = true,
                    Response::Sixel => sixel = true,
                    Response::CellSize(Some((w, h))) => font = Some(FontSize::new(w, h)),
                    Response::Status => {
                        let protocol = if kitty {
                            ProtocolType::Kitty
                        } else if sixel {
                            ProtocolType::Sixel
                        } else if iterm2_from_env() {
                            ProtocolType::Iterm2
                        } else {
                            ProtocolType::Halfblocks
                        };
                        return Some((protocol, font));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// iTerm2's protocol has no query; these terminals say who they are in `TERM_PROGRAM`.
fn iterm2_from_env() -> bool {
    std::env::var("TERM_PROGRAM")
        .is_ok_and(|p| ["iTerm", "WezTerm", "mintty"].iter().any(|t| p.contains(t)))
}

/// An image encoded for the terminal, ready to draw; its `Debug` leaves the pixels out.
pub struct Image(pub Protocol);

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Image")
    }
}

/// An encoded preview of one output.
#[derive(Debug)]
pub struct Preview {
    pub id: JobId,
    pub path: String,
    pub result: Result<Image, String>,
}

/// An encoded LoRA cover, for the card with `id`.
#[derive(Debug)]
pub struct Cover {
    pub id: String,
    pub result: Result<Image, String>,
}

/// Decodes and scales `path` to fit `cols` × `rows` cells. Blocking: call it from
/// `spawn_blocking`.
pub fn load(picker: &Picker, id: JobId, path: String, cols: u16, rows: u16) -> Preview {
    let result = encode(picker, &path, cols, rows);
    Preview { id, path, result }
}

/// Whether `path` can be read on this machine (else the daemon is asked for a preview).
pub fn is_local(path: &str) -> bool {
    std::fs::File::open(path).is_ok()
}

/// Decodes `path` and encodes it for the terminal at `cols` × `rows` cells. Blocking.
pub fn encode(picker: &Picker, path: &str, cols: u16, rows: u16) -> Result<Image, String> {
    image::ImageReader::open(path)
        .map_err(|e| format!("cannot open {path}: {e}"))
        .and_then(|r| {
            r.with_guessed_format()
                .map_err(|e| format!("cannot read {path}: {e}"))
        })
        .and_then(|r| r.decode().map_err(|e| format!("cannot decode {path}: {e}")))
        .and_then(|img| fit(picker, img, cols, rows, path))
}

/// Decodes an image held in memory (`what` names it in errors) and encodes it like
/// [`encode`]. Blocking.
pub fn encode_bytes(
    picker: &Picker,
    bytes: &[u8],
    what: &str,
    cols: u16,
    rows: u16,
) -> Result<Image, String> {
    image::load_from_memory(bytes)
        .map_err(|e| format!("cannot decode {what}: {e}"))
        .and_then(|img| fit(picker, img, cols, rows, what))
}

fn fit(
    picker: &Picker,
    img: image::DynamicImage,
    cols: u16,
    rows: u16,
    what: &str,
) -> Result<Image, String> {
    picker
        .new_protocol(img, Size::new(cols, rows), Resize::Fit(None))
        .map(Image)
        .map_err(|e| format!("cannot encode a preview of {what}: {e}"))
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
        let size = p.result.as_ref().map(|image| image.0.size()).unwrap();
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

        assert!(is_local(&png.display().to_string()));
        assert!(!is_local(
            &dir.path().join("gone.png").display().to_string()
        ));
        let bytes = std::fs::read(&png).unwrap();
        assert!(encode_bytes(&picker, &bytes, "a rendition", 20, 10).is_ok());
        let Err(err) = encode_bytes(&picker, b"junk", "a rendition", 20, 10) else {
            panic!("junk decoded as an image");
        };
        assert!(err.contains("a rendition"), "{err}");
    }
}

//! Input images: where each comes from (a URL or a local file), the checks a local file
//! must pass before anything is sent, and the multipart body that uploads it.

use crate::providers::builtin_models;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest input image Tripo takes.
pub const IMAGE_MAX_BYTES: u64 = 20 * 1024 * 1024;

/// Where an input image comes from.
pub(super) enum Input {
    Url(String),
    Local(PathBuf),
    Refused(String),
}

pub(super) fn classify_input(input: &str) -> Input {
    let lower = input.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return match reqwest::Url::parse(input) {
            Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Input::Url(input.to_string()),
            _ => Input::Refused("not a valid http(s) URL".into()),
        };
    }
    if lower.starts_with("file://") {
        return match reqwest::Url::parse(input)
            .ok()
            .and_then(|u| u.to_file_path().ok())
        {
            Some(p) => Input::Local(p),
            None => Input::Refused("not a valid file:// URL".into()),
        };
    }
    if lower.contains("://") || lower.starts_with("data:") {
        return Input::Refused(
            "only local files and http(s) URLs can be sent to Tripo".to_string(),
        );
    }
    let path = PathBuf::from(input);
    if path.is_absolute() {
        Input::Local(path)
    } else {
        Input::Refused("a local image must be given as an absolute path".to_string())
    }
}

/// The `type` of a URL input, from its extension. Tripo fetches URL inputs itself and takes
/// JPEG or PNG that way; an extension that says neither is sent as `jpg`.
pub(super) fn url_type(url: &str) -> &'static str {
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_ascii_lowercase())
        .unwrap_or_default();
    if path.ends_with(".png") {
        "png"
    } else if path.ends_with(".webp") {
        "webp"
    } else {
        "jpg"
    }
}

/// An accepted input image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
}

impl ImageFormat {
    fn sniff(head: &[u8]) -> Option<ImageFormat> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else {
            None
        }
    }

    /// The `format` asked for in an STS token request.
    pub(super) fn sts_format(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
        }
    }

    /// The `type` in a task's file entry.
    pub(super) fn task_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
        }
    }

    pub(super) fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
        }
    }

    fn image_format(self) -> image::ImageFormat {
        match self {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Webp => image::ImageFormat::WebP,
        }
    }
}

/// Size, type (by magic bytes) and dimensions of a local image, reading only its header.
pub fn check_local_image(path: &Path) -> Result<ImageFormat, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    if meta.len() > IMAGE_MAX_BYTES {
        return Err(format!(
            "{shown} is {:.1} MB; Tripo takes images up to 20 MB",
            meta.len() as f64 / 1e6
        ));
    }
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let n = read_up_to(&mut file, &mut head).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let format = ImageFormat::sniff(&head[..n]).ok_or_else(|| {
        format!("{shown} is not a JPEG, PNG or WebP image (judged by its first bytes)")
    })?;
    let reader = image::ImageReader::with_format(
        std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?,
        ),
        format.image_format(),
    );
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("{shown} cannot be read as an image: {e}"))?;
    let size = genq_protocol::Size {
        width: w,
        height: h,
    };
    builtin_models::TRIPO_INPUT_SIZE
        .check(size)
        .map_err(|why| format!("{shown} is {size}: {why}; Tripo takes each side 20–6000 px"))?;
    Ok(format)
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The image's bytes and format, checked again at submit time (the file may have changed
/// since the job was queued).
pub(super) fn read_image(path: &Path) -> Result<(Vec<u8>, ImageFormat), String> {
    let format = check_local_image(path)?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > IMAGE_MAX_BYTES {
        return Err("it grew past 20 MB".into());
    }
    Ok((bytes, format))
}

/// A `multipart/form-data` body with the image as field `file`. The file name is generic so
/// local path names never leave the machine.
pub(super) fn multipart_body(bytes: &[u8], format: ImageFormat) -> (String, Vec<u8>) {
    let boundary = format!("genq-{}", uuid::Uuid::now_v7().simple());
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"image.{}\"\r\nContent-Type: {}\r\n\r\n",
            format.task_type(),
            format.mime()
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

//! Small renditions of output images for previews on other machines, cached under the cache
//! directory by the file's sha256 and size, so asking again costs a file read. Blocking;
//! call off the runtime.

use super::fsutil::write_atomic;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Largest side of an image the daemon decodes for a rendition.
pub const INPUT_MAX_SIDE: u32 = 16_384;
/// Most memory one decode may take.
const INPUT_MAX_ALLOC: u64 = 512 * 1024 * 1024;
/// A PNG rendition larger than this is sent as JPEG instead.
const PNG_MAX_BYTES: usize = 256 * 1024;
const JPEG_QUALITY: u8 = 85;

/// An encoded rendition.
#[derive(Debug, PartialEq)]
pub struct Rendition {
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenditionError {
    #[error("{path}: {message}")]
    Decode { path: String, message: String },
    #[error("cannot encode a rendition: {0}")]
    Encode(String),
}

/// Where renditions of one file at one size are kept.
pub struct RenditionKey<'a> {
    pub sha256: &'a str,
    pub size: u64,
    pub max_width: u32,
    pub max_height: u32,
}

impl RenditionKey<'_> {
    /// The cache file for `ext`, or `None` when the hash cannot name a file.
    fn path(&self, cache: &Path, ext: &str) -> Option<PathBuf> {
        let hex = self.sha256.len() == 64 && self.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then(|| {
            cache.join(format!(
                "{}-{}-{}x{}.{ext}",
                self.sha256.to_ascii_lowercase(),
                self.size,
                self.max_width,
                self.max_height
            ))
        })
    }
}

/// A rendition of `src` fitting the key's bounds with its aspect kept (never enlarged), from
/// `cache` when made before. A cache that cannot be written only costs the next ask.
pub fn rendition(
    src: &Path,
    cache: &Path,
    key: &RenditionKey,
) -> Result<Rendition, RenditionError> {
    for (ext, mime) in [("png", "image/png"), ("jpg", "image/jpeg")] {
        if let Some(hit) = key.path(cache, ext).and_then(|p| cached(&p, mime)) {
            return Ok(hit);
        }
    }
    let made = render(src, key.max_width, key.max_height)?;
    let ext = if made.mime == "image/png" {
        "png"
    } else {
        "jpg"
    };
    if let Some(path) = key.path(cache, ext)
        && let Err(e) = write_atomic(&path, &made.bytes)
    {
        tracing::warn!("preview cache {}: {e}", path.display());
    }
    Ok(made)
}

fn cached(path: &Path, mime: &'static str) -> Option<Rendition> {
    let bytes = std::fs::read(path).ok()?;
    let (width, height) = ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()?;
    Some(Rendition {
        mime,
        width,
        height,
        bytes,
    })
}

/// Decodes `src` under the input limits and encodes it scaled down to fit.
fn render(src: &Path, max_width: u32, max_height: u32) -> Result<Rendition, RenditionError> {
    let decode = |message: String| RenditionError::Decode {
        path: src.display().to_string(),
        message,
    };
    let mut reader = ImageReader::open(src)
        .map_err(|e| decode(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| decode(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(INPUT_MAX_SIDE);
    limits.max_image_height = Some(INPUT_MAX_SIDE);
    limits.max_alloc = Some(INPUT_MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| decode(e.to_string()))?;
    let img = if img.width() > max_width || img.height() > max_height {
        img.thumbnail(max_width, max_height)
    } else {
        img
    };
    encode(&img)
}

/// PNG when small enough, else JPEG (alpha flattened).
fn encode(img: &DynamicImage) -> Result<Rendition, RenditionError> {
    let (width, height) = (img.width(), img.height());
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| RenditionError::Encode(e.to_string()))?;
    if png.len() <= PNG_MAX_BYTES {
        return Ok(Rendition {
            mime: "image/png",
            width,
            height,
            bytes: png,
        });
    }
    let mut jpeg = Vec::new();
    let mut sink = Cursor::new(&mut jpeg);
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut sink, JPEG_QUALITY);
    DynamicImage::ImageRgb8(img.to_rgb8())
        .write_with_encoder(encoder)
        .map_err(|e| RenditionError::Encode(e.to_string()))?;
    Ok(Rendition {
        mime: "image/jpeg",
        width,
        height,
        bytes: jpeg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(max_width: u32, max_height: u32) -> RenditionKey<'static> {
        RenditionKey {
            sha256: "ab".repeat(32).leak(),
            size: 7,
            max_width,
            max_height,
        }
    }

    #[test]
    fn scales_down_with_the_aspect_kept_and_serves_the_cache_next_time() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("0.png");
        image::RgbImage::from_fn(400, 200, |x, y| image::Rgb([x as u8, y as u8, 7]))
            .save(&src)
            .unwrap();
        let cache = tmp.path().join("cache");
        let r = rendition(&src, &cache, &key(100, 100)).unwrap();
        assert_eq!((r.width, r.height), (100, 50));
        let decoded = image::load_from_memory(&r.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (100, 50));
        std::fs::remove_file(&src).unwrap();
        let again = rendition(&src, &cache, &key(100, 100)).unwrap();
        assert_eq!(again, r);
        assert!(rendition(&src, &cache, &key(50, 50)).is_err());
    }

    #[test]
    fn small_images_are_not_enlarged_and_bad_files_say_which() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("0.png");
        image::RgbImage::from_pixel(30, 20, image::Rgb([1, 2, 3]))
            .save(&src)
            .unwrap();
        let r = rendition(&src, tmp.path(), &key(100, 100)).unwrap();
        assert_eq!((r.width, r.height), (30, 20));
        let bad = tmp.path().join("1.png");
        std::fs::write(&bad, b"not an image").unwrap();
        let err = rendition(&bad, tmp.path(), &key(9, 9)).unwrap_err();
        assert!(err.to_string().contains("1.png"), "{err}");
    }
}

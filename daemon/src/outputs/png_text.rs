//! The job's parameters inside a PNG, as a `tEXt` chunk with keyword [`PNG_KEYWORD`], so
//! a file alone can be traced back to the job that made it. The chunk goes right after
//! `IHDR`; an older `genq` chunk is replaced, every other chunk is copied byte for byte.
//!
//! `tEXt` holds Latin-1, so the JSON is written with every non-ASCII character escaped
//! (`\uXXXX`): still valid JSON, and a prompt in any script survives.

use super::verify::hex;
use sha2::{Digest, Sha256};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Keyword of the chunk genq writes.
pub const PNG_KEYWORD: &str = "genq";

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Copies the PNG at `src` to `dst` with `json` in a `tEXt` chunk; returns the SHA-256 and
/// size of what was written. `dst` is created (it must not exist) but not synced.
pub(crate) fn copy_with_params(
    src: &Path,
    dst: &Path,
    json: &str,
) -> std::io::Result<(String, u64)> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut input = BufReader::with_capacity(1 << 16, std::fs::File::open(src)?);
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)?;
    let mut out = HashingWriter {
        inner: BufWriter::with_capacity(1 << 16, out),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut sig = [0u8; 8];
    input.read_exact(&mut sig)?;
    if &sig != SIGNATURE {
        return Err(invalid("not a PNG file"));
    }
    out.write_all(&sig)?;
    let mut inserted = false;
    loop {
        let mut head = [0u8; 8];
        match input.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(invalid("PNG ends without an IEND chunk"));
            }
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        if len > 0x7FFF_FFFF {
            return Err(invalid("PNG chunk length out of range"));
        }
        if &kind == b"tEXt" && (len as usize) < 64 * 1024 * 1024 {
            // Read it to see whether it is ours (then dropped).
            let mut body = vec![0u8; len as usize + 4];
            input.read_exact(&mut body)?;
            let ours =
                body.starts_with(PNG_KEYWORD.as_bytes()) && body.get(PNG_KEYWORD.len()) == Some(&0);
            if !ours {
                out.write_all(&head)?;
                out.write_all(&body)?;
            }
        } else {
            out.write_all(&head)?;
            let copied = std::io::copy(&mut (&mut input).take(u64::from(len) + 4), &mut out)?;
            if copied != u64::from(len) + 4 {
                return Err(invalid("PNG is truncated inside a chunk"));
            }
        }
        if &kind == b"IHDR" && !inserted {
            write_text_chunk(&mut out, json)?;
            inserted = true;
        }
        if &kind == b"IEND" {
            break;
        }
    }
    if !inserted {
        return Err(invalid("PNG has no IHDR chunk"));
    }
    out.inner.flush()?;
    Ok((hex(&out.hasher.finalize()), out.size))
}

fn write_text_chunk(out: &mut impl Write, json: &str) -> std::io::Result<()> {
    let text = ascii_json(json);
    let mut data = Vec::with_capacity(PNG_KEYWORD.len() + 1 + text.len());
    data.extend_from_slice(PNG_KEYWORD.as_bytes());
    data.push(0);
    data.extend_from_slice(text.as_bytes());
    let len = u32::try_from(data.len()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "parameters too large")
    })?;
    out.write_all(&len.to_be_bytes())?;
    let mut crc = Crc32::new();
    crc.update(b"tEXt");
    crc.update(&data);
    out.write_all(b"tEXt")?;
    out.write_all(&data)?;
    out.write_all(&crc.finish().to_be_bytes())
}

/// JSON with every non-ASCII character as a `\u` escape (surrogate pairs beyond the BMP).
/// Non-ASCII characters only occur inside JSON strings, so escaping them is always valid.
pub fn ascii_json(json: &str) -> String {
    let mut s = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            s.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                s.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    s
}

/// The parameters genq wrote into a PNG, if any.
pub fn read_png_params(path: &Path) -> std::io::Result<Option<String>> {
    let mut input = BufReader::new(std::fs::File::open(path)?);
    let mut sig = [0u8; 8];
    input.read_exact(&mut sig)?;
    if &sig != SIGNATURE {
        return Ok(None);
    }
    loop {
        let mut head = [0u8; 8];
        if input.read_exact(&mut head).is_err() {
            return Ok(None);
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        if kind == b"tEXt" {
            let mut body = vec![0u8; len + 4];
            input.read_exact(&mut body)?;
            body.truncate(len);
            if let Some(rest) = body.strip_prefix(PNG_KEYWORD.as_bytes())
                && let Some(text) = rest.strip_prefix(&[0])
            {
                return Ok(Some(String::from_utf8_lossy(text).into_owned()));
            }
        } else if kind == b"IDAT" || kind == b"IEND" {
            return Ok(None);
        } else {
            std::io::copy(&mut (&mut input).take(len as u64 + 4), &mut std::io::sink())?;
        }
    }
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// CRC-32 (IEEE, as PNG uses), table-driven.
struct Crc32(u32);

impl Crc32 {
    fn new() -> Self {
        Crc32(0xFFFF_FFFF)
    }

    fn update(&mut self, data: &[u8]) {
        static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
        let table = TABLE.get_or_init(|| {
            let mut t = [0u32; 256];
            for (i, slot) in t.iter_mut().enumerate() {
                let mut c = i as u32;
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        0xEDB8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
                *slot = c;
            }
            t
        });
        for &b in data {
            self.0 = table[((self.0 ^ u32::from(b)) & 0xFF) as usize] ^ (self.0 >> 8);
        }
    }

    fn finish(&self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_reference_value() {
        let mut c = Crc32::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn non_ascii_prompts_survive_as_json_escapes() {
        let json = r#"{"prompt":"猫 🐱"}"#;
        let a = ascii_json(json);
        assert!(a.is_ascii());
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(v["prompt"], "猫 🐱");
    }

    #[test]
    fn chunk_is_inserted_once_and_image_still_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.png");
        image::RgbImage::new(3, 2).save(&src).unwrap();
        let once = dir.path().join("b.png");
        copy_with_params(&src, &once, r#"{"n":1}"#).unwrap();
        let twice = dir.path().join("c.png");
        let (sha, size) = copy_with_params(&once, &twice, r#"{"n":2}"#).unwrap();
        assert_eq!(
            read_png_params(&twice).unwrap().as_deref(),
            Some(r#"{"n":2}"#)
        );
        assert_eq!(size, std::fs::metadata(&twice).unwrap().len());
        assert_eq!(super::super::verify::hash_file(&twice).unwrap().0, sha);
        // Exactly one genq chunk: the old one was replaced, not kept beside the new one.
        assert_eq!(size, std::fs::metadata(&once).unwrap().len());
        let img = image::open(&twice).unwrap();
        assert_eq!((img.width(), img.height()), (3, 2));
    }
}

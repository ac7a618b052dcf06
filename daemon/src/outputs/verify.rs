//! Content checks on a file on disk: images must decode, GLB files must carry a valid glTF
//! 2.0 header whose length matches the file. Also the check an output already on disk gets
//! after a restart ([`verify_existing`]). Everything here blocks; callers run it on a
//! blocking thread.

use super::detect::{self, Expected, FileType};
use super::download::{OutputError, output_file};
use crate::store::OutputFile;
use genq_protocol::job::OutputRole;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Width and height of an image, or `None` for models.
pub type Dimensions = Option<(u32, u32)>;

/// Checks that the file at `path`, already sniffed as `t`, is whole and usable.
pub fn check_content(path: &Path, t: FileType) -> Result<Dimensions, String> {
    match t {
        FileType::Png | FileType::Jpeg | FileType::Webp => decode_image(path, t).map(Some),
        FileType::Glb => check_glb(path).map(|()| None),
        // No structural check beyond the magic bytes for FBX.
        FileType::Fbx => Ok(None),
    }
}

fn decode_image(path: &Path, t: FileType) -> Result<(u32, u32), String> {
    let format = match t {
        FileType::Png => image::ImageFormat::Png,
        FileType::Jpeg => image::ImageFormat::Jpeg,
        _ => image::ImageFormat::WebP,
    };
    let file = std::fs::File::open(path).map_err(|e| format!("cannot reopen the file: {e}"))?;
    let mut reader = image::ImageReader::with_format(std::io::BufReader::new(file), format);
    reader.limits(image::Limits::default());
    let img = reader.decode().map_err(|e| {
        format!(
            "{} does not decode: {e}",
            detect::type_name(t).trim_start_matches("a ")
        )
    })?;
    Ok((img.width(), img.height()))
}

/// glTF 2.0 binary container: 12-byte header (`glTF`, version 2, total length), then a JSON
/// chunk first. The declared length must equal the file size, and every chunk must fit.
pub fn check_glb(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot reopen the file: {e}"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read the file's size: {e}"))?
        .len();
    let mut header = [0u8; 20];
    if size < 20 {
        return Err(format!(
            "GLB file is only {size} bytes, shorter than its headers"
        ));
    }
    file.read_exact(&mut header)
        .map_err(|e| format!("cannot read the GLB header: {e}"))?;
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if &header[..4] != b"glTF" {
        return Err("not a GLB file (no glTF magic)".into());
    }
    let version = u32_at(4);
    if version != 2 {
        return Err(format!(
            "GLB version is {version}; only glTF 2.0 is accepted"
        ));
    }
    let declared = u64::from(u32_at(8));
    if declared != size {
        return Err(format!(
            "GLB header declares {declared} bytes but the file has {size} (truncated or padded)"
        ));
    }
    // Walk the chunks: lengths must add up exactly, the first must be JSON.
    let mut offset: u64 = 12;
    let mut first = true;
    let mut chunk = [0u8; 8];
    chunk.copy_from_slice(&header[12..20]);
    loop {
        let len = u64::from(u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        let kind = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        if first && kind != 0x4E4F_534A {
            return Err("GLB's first chunk is not the JSON chunk".into());
        }
        first = false;
        offset += 8 + len;
        if offset > size {
            return Err(format!(
                "a GLB chunk at byte {} runs past the end of the file",
                offset - 8 - len
            ));
        }
        if offset == size {
            return Ok(());
        }
        if size - offset < 8 {
            return Err("GLB has trailing bytes after its last chunk".into());
        }
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut chunk))
            .map_err(|e| format!("cannot read a GLB chunk header: {e}"))?;
    }
}

/// SHA-256 (lowercase hex) and size of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// What is known about an output already recorded, to check a file on disk against.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpectedOutput {
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// Checks an output already on disk (after a restart): it exists, has the recorded size and
/// hash, the type its role expects, and passes the content checks. `Ok` gives its record
/// again; an error (kind `verify`) means the engine should download it again.
pub async fn verify_existing(
    path: &Path,
    role: OutputRole,
    format_hint: Option<&str>,
    expected: &ExpectedOutput,
) -> Result<OutputFile, OutputError> {
    let path = path.to_path_buf();
    let expect = Expected::for_role(role, format_hint);
    let expected = expected.clone();
    tokio::task::spawn_blocking(move || verify_existing_blocking(&path, expect, &expected))
        .await
        .map_err(|e| OutputError::verify(format!("the verification task failed: {e}")))?
}

fn verify_existing_blocking(
    path: &Path,
    expect: Expected,
    expected: &ExpectedOutput,
) -> Result<OutputFile, OutputError> {
    let shown = path.display();
    let mut head = Vec::with_capacity(detect::SNIFF_LEN);
    match std::fs::File::open(path) {
        Ok(f) => {
            f.take(detect::SNIFF_LEN as u64)
                .read_to_end(&mut head)
                .map_err(|e| OutputError::verify(format!("{shown}: cannot read it: {e}")))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OutputError::verify(format!("{shown} is missing")));
        }
        Err(e) => return Err(OutputError::verify(format!("{shown}: cannot open it: {e}"))),
    }
    let t = match detect::sniff(&head) {
        Some(t) if expect.accepts(t) => t,
        Some(t) => {
            return Err(OutputError::verify(format!(
                "{shown} is {}, expected {}",
                detect::type_name(t),
                expect.describe()
            )));
        }
        None => {
            return Err(OutputError::verify(format!(
                "{shown} is {}, expected {}",
                detect::describe_other(&head),
                expect.describe()
            )));
        }
    };
    let (sha256, size) = hash_file(path)
        .map_err(|e| OutputError::verify(format!("{shown}: cannot read it: {e}")))?;
    if let Some(want) = expected.size
        && want != size
    {
        return Err(OutputError::verify(format!(
            "{shown} has {size} bytes, {want} were recorded"
        )));
    }
    if let Some(want) = &expected.sha256
        && !want.eq_ignore_ascii_case(&sha256)
    {
        return Err(OutputError::verify(format!(
            "{shown} does not match its recorded SHA-256"
        )));
    }
    let dims = check_content(path, t).map_err(|m| OutputError::verify(format!("{shown}: {m}")))?;
    Ok(output_file(path.to_path_buf(), sha256, size, t, dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn glb(json: &[u8], bin: &[u8]) -> Vec<u8> {
        let pad = |v: &[u8], fill: u8| {
            let mut v = v.to_vec();
            while !v.len().is_multiple_of(4) {
                v.push(fill);
            }
            v
        };
        let json = pad(json, b' ');
        let bin = pad(bin, 0);
        let total = 12 + 8 + json.len() + if bin.is_empty() { 0 } else { 8 + bin.len() };
        let mut out = Vec::new();
        out.extend_from_slice(b"glTF");
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&0x4E4F_534Au32.to_le_bytes());
        out.extend_from_slice(&json);
        if !bin.is_empty() {
            out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
            out.extend_from_slice(&0x004E_4942u32.to_le_bytes());
            out.extend_from_slice(&bin);
        }
        out
    }

    #[test]
    fn glb_header_and_chunks_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.glb");
        let good = glb(br#"{"asset":{"version":"2.0"}}"#, &[1, 2, 3]);
        std::fs::write(&p, &good).unwrap();
        check_glb(&p).unwrap();

        std::fs::write(&p, &good[..good.len() - 4]).unwrap();
        assert!(check_glb(&p).unwrap_err().contains("declares"));

        let mut bad_chunk = good.clone();
        bad_chunk[12] = 0xff; // JSON chunk length far too large
        std::fs::write(&p, &bad_chunk).unwrap();
        assert!(check_glb(&p).unwrap_err().contains("runs past"));

        let mut v1 = good.clone();
        v1[4] = 1;
        std::fs::write(&p, &v1).unwrap();
        assert!(check_glb(&p).unwrap_err().contains("version"));
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}

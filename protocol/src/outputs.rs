//! Reading a job's files through the daemon, so a client on another machine gets the same
//! bytes as one beside the outputs directory: chunked reads checked against the recorded
//! sha256, and small renditions for previews.

use serde::{Deserialize, Serialize};

/// Largest chunk `outputs.read` returns; its base64 form stays well under a client's frame.
pub const READ_MAX_LENGTH: u32 = 1024 * 1024;

/// Largest side of an `outputs.preview` rendition, in pixels.
pub const PREVIEW_MAX_SIDE: u32 = 2048;

/// A file of a job that is not one of its numbered outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobFile {
    /// The job's parameters beside its outputs.
    #[serde(rename = "params.json")]
    Params,
}

impl JobFile {
    pub fn name(self) -> &'static str {
        match self {
            JobFile::Params => "params.json",
        }
    }
}

/// Which file of a job to read: an output by `index`, or another of its files by `file`;
/// exactly one of the two.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    pub id: String,
    pub index: Option<u32>,
    pub file: Option<JobFile>,
    /// Byte to start at; at most the file's size.
    #[serde(default)]
    pub offset: u64,
    /// Bytes wanted, 1 to [`READ_MAX_LENGTH`]; that many when absent.
    pub length: Option<u32>,
}

/// One chunk of a file.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadResult {
    /// The file's name in the job's directory (`0.png`, `params.json`).
    pub name: String,
    /// The chunk, base64 (standard alphabet, padded).
    pub data: String,
    pub offset: u64,
    /// Whether this chunk ends the file.
    pub eof: bool,
    /// The whole file's size.
    pub size: u64,
    /// The whole file's sha256 (lowercase hex): the job record's for outputs, computed for
    /// other files.
    pub sha256: Option<String>,
}

/// A rendition of an output (or, for a 3D model, of the job's preview image) fitting
/// `max_width` × `max_height` pixels with its aspect kept.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    pub id: String,
    /// The output; the job's first image when absent.
    pub index: Option<u32>,
    /// 1 to [`PREVIEW_MAX_SIDE`].
    pub max_width: u32,
    /// 1 to [`PREVIEW_MAX_SIDE`].
    pub max_height: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreviewResult {
    /// The output the rendition was made from.
    pub index: u32,
    /// `image/png` or `image/jpeg`.
    pub mime: String,
    pub width: u32,
    pub height: u32,
    /// The encoded image, base64.
    pub data: String,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Not a base64 character.
const INVALID: u8 = 0xff;
/// Each byte's value in [`ALPHABET`], or [`INVALID`].
const SEXTETS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    let sextet = |n: u32, shift: u32| ALPHABET[(n >> shift & 63) as usize];
    let mut whole = bytes.chunks_exact(3);
    for c in whole.by_ref() {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), sextet(n, 6), sextet(n, 0)]);
    }
    match *whole.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), b'=', b'=']);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), sextet(n, 6), b'=']);
        }
        _ => {}
    }
    // Every byte pushed comes from ALPHABET or is '=', all ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// A base64 text that is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not valid base64")]
pub struct Base64Error;

/// Decodes standard padded base64.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return Err(Base64Error);
    }
    let pad = text.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return Err(Base64Error);
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let body = &text[..text.len() - pad];
    let mut quads = body.chunks_exact(4);
    for q in quads.by_ref() {
        let (a, b, c, d) = (
            SEXTETS[q[0] as usize],
            SEXTETS[q[1] as usize],
            SEXTETS[q[2] as usize],
            SEXTETS[q[3] as usize],
        );
        if [a, b, c, d].contains(&INVALID) {
            return Err(Base64Error);
        }
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let rest = quads.remainder();
    if !rest.is_empty() {
        let mut n = 0u32;
        for &ch in rest {
            let v = SEXTETS[ch as usize];
            if v == INVALID {
                return Err(Base64Error);
            }
            n = n << 6 | u32::from(v);
        }
        n <<= 6 * pad as u32;
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_known_values() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(&[0xff, 0xfe]), "//4=");
        let all: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm8"), Err(Base64Error));
        assert_eq!(base64_decode("Z=8="), Err(Base64Error));
        assert_eq!(base64_decode("Zg==Zg=="), Err(Base64Error));
        assert_eq!(base64_decode("Zm9!"), Err(Base64Error));
    }
}

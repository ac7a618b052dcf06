//! NDJSON framing with a length cap. Unlike a plain lines codec it hands out raw bytes, so
//! a line that is not UTF-8 can get a parse-error reply instead of killing the connection.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame longer than {max} bytes")]
    TooLong { max: usize },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One JSON value per line; lines longer than `max` bytes are an error.
#[derive(Clone, Debug)]
pub struct NdjsonCodec {
    max: usize,
    /// Where to resume looking for a newline in the buffer.
    scanned: usize,
}

impl NdjsonCodec {
    pub fn new(max: usize) -> Self {
        NdjsonCodec { max, scanned: 0 }
    }

    /// Changes the line limit, e.g. once a connection has said hello.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }
}

impl Decoder for NdjsonCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            let limit = buf.len().min(self.max + 1);
            match memchr::memchr(b'\n', &buf[self.scanned..limit]) {
                Some(pos) => {
                    let end = self.scanned + pos;
                    self.scanned = 0;
                    let mut line = buf.split_to(end + 1);
                    line.truncate(end);
                    if line.last() == Some(&b'\r') {
                        line.truncate(end - 1);
                    }
                    if line.iter().all(|b| b.is_ascii_whitespace()) {
                        continue; // blank lines are keep-alives, not requests
                    }
                    return Ok(Some(line.freeze()));
                }
                None if buf.len() > self.max => {
                    return Err(FrameError::TooLong { max: self.max });
                }
                None => {
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        self.scanned = 0;
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            buf.advance(buf.len());
            return Ok(None);
        }
        // A last line without its newline still counts.
        Ok(Some(buf.split().freeze()))
    }
}

impl Encoder<String> for NdjsonCodec {
    type Error = FrameError;

    fn encode(&mut self, item: String, dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.reserve(item.len() + 1);
        dst.extend_from_slice(item.as_bytes());
        dst.extend_from_slice(b"\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_keeps_partial_ones() {
        let mut c = NdjsonCodec::new(64);
        let mut buf = BytesMut::from(&b"{\"a\":1}\n{\"b\""[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"{\"a\":1}"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b":2}\r\n\n");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"{\"b\":2}"[..]);
        assert!(c.decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn refuses_a_line_over_the_cap_even_before_its_newline() {
        let mut c = NdjsonCodec::new(8);
        let mut buf = BytesMut::from(&b"0123456789"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::TooLong { max: 8 })
        ));
    }

    #[test]
    fn passes_invalid_utf8_through_as_bytes() {
        let mut c = NdjsonCodec::new(64);
        let mut buf = BytesMut::from(&b"\xff\xfe\n"[..]);
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"\xff\xfe"[..]);
    }
}

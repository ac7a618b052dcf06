//! Fuzzing the frame decoder: arbitrary bytes (newlines, `\r`, blanks, NUL, invalid UTF-8)
//! fed in arbitrary pieces, against line caps small enough to be hit. Whatever arrives, the
//! decoder never panics and gives exactly the lines a plain model of the framing rules gives,
//! or `TooLong` at the first line over the cap.
//!
//! `GENQ_FUZZ_CASES` sets the number of cases of each of the two properties (default 40,000).

use bytes::{Bytes, BytesMut};
use genq_protocol::{FrameError, NdjsonCodec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio_util::codec::Decoder;

fn cases() -> u32 {
    std::env::var("GENQ_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(40_000)
}

/// What the decoder gave for one input.
#[derive(Debug, PartialEq)]
struct Decoded {
    lines: Vec<Bytes>,
    too_long: bool,
}

/// Feeds `input` in pieces of the given sizes, as a framed reader does: decode until it has
/// no more, read the next piece, and at the end of input `decode_eof` until it has no more.
fn decode_in_pieces(max: usize, input: &[u8], pieces: &[usize]) -> Decoded {
    let mut codec = NdjsonCodec::new(max);
    let mut buf = BytesMut::new();
    let mut out = Decoded {
        lines: Vec::new(),
        too_long: false,
    };
    let mut rest = input;
    let mut sizes = pieces.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(line)) => out.lines.push(line),
                Ok(None) => break,
                Err(FrameError::TooLong { .. }) => {
                    out.too_long = true;
                    return out;
                }
                Err(e) => panic!("decoding from memory gave an I/O error: {e}"),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(line)) => out.lines.push(line),
            Ok(None) => return out,
            Err(FrameError::TooLong { .. }) => {
                out.too_long = true;
                return out;
            }
            Err(e) => panic!("decoding from memory gave an I/O error: {e}"),
        }
    }
}

/// The framing rules written plainly: lines end at `\n` (one `\r` before it is dropped),
/// blank lines are skipped, a last line without `\n` still counts, and a line longer than
/// `max` ends the stream with `TooLong`.
fn model(max: usize, input: &[u8]) -> Decoded {
    let mut out = Decoded {
        lines: Vec::new(),
        too_long: false,
    };
    let mut segments: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
    let last = segments.pop().unwrap_or_default();
    for seg in segments {
        if seg.len() > max {
            out.too_long = true;
            return out;
        }
        let line = seg.strip_suffix(b"\r").unwrap_or(seg);
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.lines.push(Bytes::copy_from_slice(line));
        }
    }
    if last.len() > max {
        out.too_long = true;
    } else if !last.iter().all(u8::is_ascii_whitespace) {
        out.lines.push(Bytes::copy_from_slice(last));
    }
    out
}

/// Bytes that make framing interesting: newlines, `\r`, blanks, NUL, bytes never valid in
/// UTF-8, JSON punctuation.
const SPECIAL: &[u8] = b"\n\n\n\r\r  \t\0\xff\xc3{}[]\":,019aeflnrstu\\";

/// A special byte about half the time, any byte otherwise, from one random `u16`: per-byte
/// strategy choices would make every case many times slower.
fn biased(r: u16) -> u8 {
    let [pick, byte] = r.to_le_bytes();
    if pick < 128 {
        SPECIAL[usize::from(pick) % SPECIAL.len()]
    } else {
        byte
    }
}

fn frame_byte() -> impl Strategy<Value = u8> {
    any::<u16>().prop_map(biased)
}

fn frame_bytes(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u16>(), len).prop_map(|rs| rs.into_iter().map(biased).collect())
}

#[test]
fn arbitrary_bytes_in_arbitrary_pieces_frame_like_the_model() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        1usize..200,
        frame_bytes(0..1500),
        prop::collection::vec(1usize..300, 1..8),
    );
    runner
        .run(&strategy, |(max, input, pieces)| {
            let got = decode_in_pieces(max, &input, &pieces);
            let want = model(max, &input);
            for line in &got.lines {
                prop_assert!(line.len() <= max, "a line over the cap was handed out");
                prop_assert!(!line.contains(&b'\n'), "a line kept its newline");
            }
            prop_assert_eq!(got, want);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn hostile_shapes_never_panic_and_stay_within_the_cap() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    // Long runs of one byte (nesting, padding, NULs) around a few separators.
    let run = (
        prop::sample::select(vec![b'[', b'{', b'"', b'\\', 0u8, b'9', b' ', 0xfe]),
        0usize..5000,
    );
    let strategy = (
        1usize..4096,
        prop::collection::vec((run, prop::option::of(frame_byte())), 1..6),
        prop::collection::vec(1usize..2048, 1..4),
    );
    runner
        .run(&strategy, |(max, runs, pieces)| {
            let mut input = Vec::new();
            for ((byte, len), sep) in runs {
                input.extend(std::iter::repeat_n(byte, len));
                input.extend(sep);
            }
            let got = decode_in_pieces(max, &input, &pieces);
            prop_assert!(got.lines.iter().all(|l| l.len() <= max));
            prop_assert_eq!(got, model(max, &input));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_line_just_over_the_cap_is_too_long_and_one_at_the_cap_is_a_line() {
    let at_cap = [b"a".repeat(64), b"\n".to_vec()].concat();
    let got = decode_in_pieces(64, &at_cap, &[7]);
    assert_eq!(got.lines, vec![Bytes::from(b"a".repeat(64))]);
    assert!(!got.too_long);

    let over = [b"a".repeat(65), b"\n".to_vec()].concat();
    assert!(decode_in_pieces(64, &over, &[1]).too_long);
    // Without a newline ever coming, the cap still holds once the bytes are in.
    assert!(decode_in_pieces(64, &b"a".repeat(10_000), &[4096]).too_long);
}

#[test]
fn nul_bytes_invalid_utf8_and_deep_nesting_are_handed_on_as_lines() {
    let input = [
        b"{\"a\":\"\0\0\"}\n".to_vec(),
        b"\xff\xfe\xc3\x28\n".to_vec(),
        b"[".repeat(100_000),
        b"\n".to_vec(),
    ]
    .concat();
    let got = decode_in_pieces(1 << 20, &input, &[1, 4096, 13]);
    assert!(!got.too_long);
    assert_eq!(got.lines.len(), 3);
    assert_eq!(&got.lines[0][..], b"{\"a\":\"\0\0\"}");
    assert_eq!(&got.lines[1][..], b"\xff\xfe\xc3\x28");
    assert_eq!(got.lines[2].len(), 100_000);
}

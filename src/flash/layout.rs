//! The shapes a copy passes around: the spans of an image to read and
//! verify, the chunks the reader hands to every writer, and what a target
//! got. Shared by the reader, the writers and the orchestration.

use std::sync::Arc;

use crate::io::aligned::AlignedBuf;

/// 4 MiB reads and writes: large sequential writes are what SD cards are
/// fastest at, and a few in flight per card keep memory small.
pub const BUF: usize = 4 << 20;
/// Verification granularity without a bmap: a mismatch names a 64 MiB span.
pub const SPAN: u64 = 64 << 20;
/// A byte range of the image, with the sha256 the block map promises.
#[derive(Debug, Clone)]
pub struct Span {
    pub start: u64,
    pub end: u64,
    pub sha256: Option<String>,
}

/// What the reader reads: known spans (a block map or the data extents), or
/// the whole decoded stream, `SPAN` at a time, until it ends.
pub enum Layout {
    Spans(Vec<Span>),
    Stream,
}

impl Layout {
    /// `start..end` split into `SPAN`-sized spans without checksums.
    pub fn split(ranges: impl IntoIterator<Item = (u64, u64)>) -> Layout {
        let mut out = Vec::new();
        for (start, end) in ranges {
            let mut s = start;
            while s < end {
                let e = (s + SPAN).min(end);
                out.push(Span {
                    start: s,
                    end: e,
                    sha256: None,
                });
                s = e;
            }
        }
        Layout::Spans(out)
    }
}

/// What one target got.
pub struct CardWritten {
    pub bytes: u64,
    pub spans: usize,
    pub seconds: f64,
}

/// A span as read from the image: what every target must read back.
#[derive(Debug, Clone, Copy)]
pub struct Hashed {
    pub start: u64,
    pub end: u64,
    pub sha256: [u8; 32],
}

pub struct Chunk {
    pub off: u64,
    pub buf: Arc<AlignedBuf>,
    pub len: usize,
    pub zero: bool,
}

pub enum Msg {
    Data(Chunk),
    /// The image was read whole: the spans to verify and the image's size.
    Done(Arc<Vec<Hashed>>, u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_makes_spans_of_at_most_span_bytes() {
        let Layout::Spans(s) = Layout::split([(0, SPAN * 2 + 5), (SPAN * 3, SPAN * 3 + 1)]) else {
            panic!("spans expected");
        };
        let got: Vec<(u64, u64)> = s.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(
            got,
            [
                (0, SPAN),
                (SPAN, 2 * SPAN),
                (2 * SPAN, 2 * SPAN + 5),
                (3 * SPAN, 3 * SPAN + 1)
            ]
        );
    }
}

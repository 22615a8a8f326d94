//! Streaming .xz decoding for files the block-parallel path does not take:
//! every stream of the file in turn (xz allows several, concatenated, with
//! NUL padding between), each on liblzma's multi-threaded decoder. Bytes
//! after the last stream that do not start another are an error, never
//! silently dropped: a truncated image is worse than none.

use std::io::{BufRead, Read};

use liblzma::bufread::XzDecoder;
use liblzma::stream::{MtStreamBuilder, Stream};

use crate::error::{Error, Result};

/// What every .xz stream starts with.
pub const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
/// Above this, liblzma falls back to fewer threads instead of using more memory.
const THREAD_MEMLIMIT: u64 = 1 << 30;

/// liblzma's multi-threaded stream decoder for one stream: blocks decode on
/// `threads` cores, output stays in order.
pub fn mt_decoder(threads: u32) -> Result<Stream> {
    MtStreamBuilder::new()
        .threads(threads)
        .memlimit_threading(THREAD_MEMLIMIT)
        .memlimit_stop(u64::MAX)
        .decoder()
        .map_err(|e| Error::internal(format!("cannot start the xz decoder: {e}")))
}

enum State<R> {
    Decoding(XzDecoder<R>),
    Ended(R),
}

/// The decoded bytes of every stream of an .xz file, in order.
pub struct XzStreams<R: BufRead> {
    state: Option<State<R>>,
    threads: u32,
}

impl<R: BufRead> XzStreams<R> {
    pub fn new(r: R, threads: u32) -> Result<Self> {
        Ok(XzStreams {
            state: Some(State::Decoding(XzDecoder::new_stream(
                r,
                mt_decoder(threads)?,
            ))),
            threads,
        })
    }

    /// The compressed input, for progress.
    pub fn get_ref(&self) -> &R {
        match self
            .state
            .as_ref()
            .expect("state is restored after every read")
        {
            State::Decoding(d) => d.get_ref(),
            State::Ended(r) => r,
        }
    }
}

/// After a stream's end: skip its padding (NULs, a multiple of four) and say
/// whether another stream follows.
fn next_stream<R: BufRead>(r: &mut R) -> std::io::Result<bool> {
    let mut padding = 0usize;
    loop {
        let b = r.fill_buf()?;
        if b.is_empty() {
            break;
        }
        let (zeros, all) = (b.iter().take_while(|&&x| x == 0).count(), b.len());
        padding += zeros;
        r.consume(zeros);
        if zeros < all {
            break;
        }
    }
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    if !padding.is_multiple_of(4) {
        return Err(bad(format!(
            "{padding} bytes of stream padding (not a multiple of 4) after an xz stream"
        )));
    }
    let head = r.fill_buf()?;
    if head.is_empty() {
        return Ok(false);
    }
    // A short read may end inside the magic; what is there must match it.
    if !XZ_MAGIC.starts_with(&head[..head.len().min(XZ_MAGIC.len())]) {
        return Err(bad(
            "data after the end of the xz stream that is not another xz stream".into(),
        ));
    }
    Ok(true)
}

impl<R: BufRead> Read for XzStreams<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let mut dec = match self
                .state
                .take()
                .expect("state is restored after every read")
            {
                State::Decoding(d) => d,
                ended => {
                    self.state = Some(ended);
                    return Ok(0);
                }
            };
            let n = match dec.read(buf) {
                Ok(n) => n,
                Err(e) => {
                    self.state = Some(State::Decoding(dec));
                    return Err(e);
                }
            };
            if n > 0 {
                self.state = Some(State::Decoding(dec));
                return Ok(n);
            }
            let mut r = dec.into_inner();
            let more = match next_stream(&mut r) {
                Ok(more) => more,
                Err(e) => {
                    self.state = Some(State::Ended(r));
                    return Err(e);
                }
            };
            if !more {
                self.state = Some(State::Ended(r));
                return Ok(0);
            }
            let stream = match mt_decoder(self.threads) {
                Ok(s) => s,
                Err(e) => {
                    self.state = Some(State::Ended(r));
                    return Err(std::io::Error::other(e.message));
                }
            };
            self.state = Some(State::Decoding(XzDecoder::new_stream(r, stream)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut c = std::process::Command::new("xz")
            .args(["-0", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(data).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success());
        o.stdout
    }

    fn decode(file: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        // A small buffer, so stream boundaries fall inside and across reads.
        let r = std::io::BufReader::with_capacity(7, file);
        XzStreams::new(r, 2).unwrap().read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn every_concatenated_stream_is_decoded() {
        let (a, b) = (vec![1u8; 100_000], b"second stream".to_vec());
        let one = xz(&a);
        assert_eq!(decode(&one).unwrap(), a);
        let mut two = one.clone();
        two.extend(xz(&b));
        let mut want = a.clone();
        want.extend(&b);
        assert_eq!(decode(&two).unwrap(), want);
        // With stream padding between and after the streams.
        let mut padded = one.clone();
        padded.extend([0u8; 8]);
        padded.extend(xz(&b));
        padded.extend([0u8; 4]);
        assert_eq!(decode(&padded).unwrap(), want);
    }

    #[test]
    fn what_follows_the_last_stream_is_never_dropped_silently() {
        let one = xz(b"image");
        for tail in [
            &b"garbage"[..],
            &[0u8; 3],
            &[0u8, 0, 0, 0, 9],
            &XZ_MAGIC[..3],
        ] {
            let mut f = one.clone();
            f.extend(tail);
            assert!(decode(&f).is_err(), "tail {tail:?} was accepted");
        }
        let mut cut = one.clone();
        cut.truncate(one.len() - 3);
        assert!(decode(&cut).is_err());
    }
}

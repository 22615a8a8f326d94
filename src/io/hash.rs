//! SHA-256 of a stream as it passes: one reader and one writer adapter, so
//! the code that reads or writes a stream never hashes by hand.

use std::io::{Read, Write};

use sha2::{Digest, Sha256};

/// Reads through to `inner`, hashing every byte read.
pub struct HashingReader<R> {
    inner: R,
    h: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            h: Sha256::new(),
            len: 0,
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Writes through to `inner`, hashing every byte written. `continuing`
/// resumes from a hasher that has already seen earlier bytes.
pub struct HashingWriter<W> {
    inner: W,
    h: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            h: Sha256::new(),
        }
    }

    /// Writes after bytes whose hashing `h` has already done (a resumed file).
    pub fn continuing(inner: W, h: Sha256) -> Self {
        HashingWriter { inner, h }
    }

    /// The hex sha256 of what was written, and the writer.
    pub fn finish(self) -> (String, W) {
        let (digest, inner) = self.finish_raw();
        (hex::encode(digest), inner)
    }

    /// The sha256 of what was written as bytes, and the writer.
    pub fn finish_raw(self) -> ([u8; 32], W) {
        (self.h.finalize().into(), self.inner)
    }
}

/// A hasher for bytes that go nowhere else (a span read back or passed on).
pub fn digester() -> HashingWriter<std::io::Sink> {
    HashingWriter::new(std::io::sink())
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Hash `r` to its end: the hasher's state (to go on with) and the bytes read.
pub fn hash_to_end(r: impl Read) -> std::io::Result<(Sha256, u64)> {
    let mut hr = HashingReader::new(r);
    std::io::copy(&mut hr, &mut std::io::sink())?;
    Ok((hr.h, hr.len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_writer_and_resume_agree_with_one_digest() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let want = hex::encode(Sha256::digest(&data));
        let (h, n) = hash_to_end(&data[..]).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(hex::encode(h.finalize()), want);
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (got, out) = w.finish();
        assert_eq!((got.as_str(), out.as_slice()), (want.as_str(), &data[..]));
        // Resumed: the first part hashed from what is there, the rest as written.
        let (h, n) = hash_to_end(&data[..40_000]).unwrap();
        assert_eq!(n, 40_000);
        let mut w = HashingWriter::continuing(Vec::new(), h);
        w.write_all(&data[40_000..]).unwrap();
        assert_eq!(w.finish().0, want);
    }
}

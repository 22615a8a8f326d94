//! `--compress xz`: a multi-threaded .xz of a node image, hashed as written.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use liblzma::stream::{Check, MtStreamBuilder};
use liblzma::write::XzEncoder;

use crate::error::{Error, Result};
use crate::io::hash::HashingWriter;

/// Compress `len` bytes of `src` to `dst` (preset 6, all cores); returns its sha256.
pub fn xz(src: &File, len: u64, dst: &Path) -> Result<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let stream = MtStreamBuilder::new()
        .threads(threads)
        .preset(6)
        .check(Check::Crc64)
        .encoder()
        .map_err(|e| Error::internal(format!("cannot start the xz encoder: {e}")))?;
    // The image inside carries the node's secrets.
    let file = crate::io::atomic::create_new(dst, crate::io::atomic::Holds::Secret)
        .map_err(|e| Error::output_io(dst, "cannot create", &e))?;
    let mut enc = XzEncoder::new_stream(HashingWriter::new(file), stream);
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < len {
        let n = ((len - off) as usize).min(buf.len());
        src.read_exact_at(&mut buf[..n], off)
            .map_err(|e| Error::output_io(dst, "cannot read the image for", &e))?;
        enc.write_all(&buf[..n])
            .map_err(|e| Error::output_io(dst, "cannot write", &e))?;
        off += n as u64;
    }
    let w = enc
        .finish()
        .map_err(|e| Error::output_io(dst, "cannot finish", &e))?;
    let (sha256, file) = w.finish();
    file.sync_all()
        .map_err(|e| Error::output_io(dst, "cannot sync", &e))?;
    Ok(sha256)
}

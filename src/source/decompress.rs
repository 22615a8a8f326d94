//! .xz → raw image, written sparse: 4 KiB blocks of zeros become holes. A
//! multi-block file is decoded block by block on every core (`xz_blocks`);
//! anything else stream by stream (`xz_stream`). When the raw image's sha256 is
//! wanted, it is computed on the way.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use std::sync::{Condvar, Mutex};

use super::xz_blocks;
pub use super::xz_stream::XZ_MAGIC;
use super::xz_stream::XzStreams;
use crate::error::{Error, Result};
use crate::io::hash::HashingWriter;

const BLOCK: usize = 4096;
static ZEROS: [u8; BLOCK] = [0; BLOCK];
/// 1 MiB output chunks: big enough for throughput, small enough for RSS.
const CHUNK: usize = 1 << 20;
pub fn is_xz(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 6];
    let f = File::open(path)?;
    Ok(f.read_exact_at(&mut head, 0).is_ok() && head == XZ_MAGIC)
}

pub struct Raw {
    pub size: u64,
    /// sha256 of the raw image, when asked for.
    pub sha256: Option<String>,
}

/// Decompress `src` into the (new, empty) file `dst`; with `hash`, also
/// compute the raw image's sha256 on the way (to check it against a
/// published one; otherwise the first bake hashes it, once).
pub fn decompress(src: &Path, dst: &File, dst_name: &Path, hash: bool) -> Result<Raw> {
    let input = File::open(src).map_err(|e| Error::image_io(src, "cannot open", &e))?;
    let compressed = input.metadata().map(|m| m.len()).unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let pb = crate::reporter::bar(Some(compressed), "unpack");
    if let Some(layout) = xz_blocks::layout(&input, compressed).filter(|l| l.blocks.len() > 1) {
        return by_blocks(
            src,
            &input,
            &layout,
            dst,
            dst_name,
            &pb,
            hash,
            threads as usize,
        );
    }
    let counting = CountingReader {
        inner: input,
        read: 0,
    };
    let mut dec = XzStreams::new(std::io::BufReader::with_capacity(CHUNK, counting), threads)?;
    // Decoding runs here (and in liblzma's threads); hashing, zero detection
    // and writing run in a second thread, so the two overlap.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>, usize)>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    for _ in 0..6 {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    let writer = std::thread::scope(|s| {
        let w = s.spawn(move || -> std::io::Result<Option<String>> {
            let mut h = hash.then(|| HashingWriter::new(std::io::sink()));
            for (off, buf, n) in full_rx {
                if let Some(h) = h.as_mut() {
                    h.write_all(&buf[..n])?;
                }
                write_sparse(dst, off, &buf[..n])?;
                let _ = empty_tx.send(buf);
            }
            Ok(h.map(|h| h.finish().0))
        });
        let mut off = 0u64;
        let decoded: Result<u64> = loop {
            let Ok(mut buf) = empty_rx.recv() else {
                break Ok(off);
            };
            // Fill a whole chunk, so zero detection sees aligned 4 KiB blocks.
            let mut n = 0;
            let mut failed = None;
            while n < CHUNK {
                match dec.read(&mut buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                break Err(Error::image(format!(
                    "{}: corrupt or truncated xz data after {off} output bytes: {e}",
                    src.display()
                )));
            }
            if n == 0 {
                break Ok(off);
            }
            if full_tx.send((off, buf, n)).is_err() {
                break Ok(off); // the writer stopped: its error is reported below
            }
            off += n as u64;
            pb.set_position(dec.get_ref().get_ref().read);
        };
        drop(full_tx);
        let written = w.join().expect("the writer thread does not panic");
        (decoded, written)
    });
    let (decoded, written) = writer;
    let sha = written.map_err(|e| Error::output_io(dst_name, "cannot write", &e))?;
    let off = decoded?;
    pb.finish_and_clear();
    finish(dst, dst_name, off, sha)
}

fn finish(dst: &File, dst_name: &Path, size: u64, sha256: Option<String>) -> Result<Raw> {
    // Trailing zero blocks were skipped: the length makes them holes.
    dst.set_len(size)
        .map_err(|e| Error::output_io(dst_name, "cannot size", &e))?;
    dst.sync_all()
        .map_err(|e| Error::output_io(dst_name, "cannot sync", &e))?;
    Ok(Raw { size, sha256 })
}

/// Write `data` at `off`, leaving 4 KiB blocks of zeros as holes.
fn write_sparse(dst: &File, off: u64, data: &[u8]) -> std::io::Result<()> {
    for (i, block) in data.chunks(BLOCK).enumerate() {
        // A slice compare is a vectorised memcmp; a byte loop is not.
        if block != &ZEROS[..block.len()] {
            dst.write_all_at(block, off + (i * BLOCK) as u64)?;
        }
    }
    Ok(())
}

/// Decode the blocks in parallel, each written at its offset. With `hash`,
/// a further thread hashes the output in order, reading back each block (from
/// the page cache) once it and all before it are written.
#[allow(clippy::too_many_arguments)]
fn by_blocks(
    src: &Path,
    input: &File,
    layout: &xz_blocks::Layout,
    dst: &File,
    dst_name: &Path,
    pb: &ProgressBar,
    hash: bool,
    threads: usize,
) -> Result<Raw> {
    let reader = if hash {
        Some(File::open(dst_name).map_err(|e| Error::output_io(dst_name, "cannot read back", &e))?)
    } else {
        None
    };
    // Sized first, so zeros not written read back as zeros.
    dst.set_len(layout.size)
        .map_err(|e| Error::output_io(dst_name, "cannot size", &e))?;
    let done = (Mutex::new(vec![false; layout.blocks.len()]), Condvar::new());
    let mark_all_done = || {
        done.0.lock().expect("no panics").fill(true);
        done.1.notify_all();
    };
    // One writer thread: buffered writes to one file from several threads
    // contend for its inode lock (a tenth of the CPU time, spinning).
    enum Msg {
        Piece(u64, Vec<u8>, usize),
        Done(usize),
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(2 * threads);
    let tx = Mutex::new(tx);
    let spare: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    let (decoded, written, sha) = std::thread::scope(|s| {
        let writer = s.spawn(|| -> std::io::Result<()> {
            for m in rx {
                match m {
                    Msg::Piece(off, buf, n) => {
                        write_sparse(dst, off, &buf[..n])?;
                        spare.lock().expect("no panics").push(buf);
                    }
                    Msg::Done(i) => {
                        // Start writing the block back now, so the final
                        // fsync has little left to wait for.
                        let b = &layout.blocks[i];
                        // SAFETY: a plain syscall on an open descriptor.
                        unsafe {
                            libc::sync_file_range(
                                std::os::fd::AsRawFd::as_raw_fd(dst),
                                b.out as i64,
                                b.size as i64,
                                libc::SYNC_FILE_RANGE_WRITE,
                            );
                        }
                        done.0.lock().expect("no panics")[i] = true;
                        done.1.notify_all();
                    }
                }
            }
            Ok(())
        });
        let hasher = reader.map(|r| {
            let done = &done;
            s.spawn(move || -> std::io::Result<Option<String>> {
                let mut h = Sha256::new();
                let mut buf = vec![0u8; CHUNK];
                for (i, b) in layout.blocks.iter().enumerate() {
                    let mut d = done.0.lock().expect("no panics");
                    while !d[i] {
                        d = done.1.wait(d).expect("no panics");
                    }
                    drop(d);
                    // Holes (zero blocks not written) are hashed without reads.
                    crate::io::extents::hash_span(
                        &r,
                        b.out,
                        b.out + b.size,
                        &mut h,
                        &mut buf,
                        &mut |_| {},
                    )?;
                }
                Ok(Some(hex::encode(h.finalize())))
            })
        });
        let send = |m: Msg| {
            tx.lock()
                .expect("no panics")
                .send(m)
                .map_err(|_| std::io::Error::other("the writer stopped"))
        };
        let decoded = xz_blocks::decode_all(
            input,
            layout,
            threads,
            &|off, buf, n| {
                if n > 0 {
                    send(Msg::Piece(off, buf, n))?;
                }
                let next = spare.lock().expect("no panics").pop();
                Ok(next.unwrap_or_else(|| vec![0u8; CHUNK]))
            },
            &|n| pb.inc(n),
            &|i| {
                let _ = send(Msg::Done(i));
            },
        );
        drop(tx);
        let written = writer.join().expect("the writer thread does not panic");
        if decoded.is_err() || written.is_err() {
            // Release the hasher: it reads what exists and its result is dropped.
            mark_all_done();
        }
        let sha = hasher.map(|h| h.join().expect("the hashing thread does not panic"));
        (decoded, written, sha)
    });
    pb.finish_and_clear();
    written.map_err(|e| Error::output_io(dst_name, "cannot write", &e))?;
    decoded.map_err(|e| {
        Error::image(format!(
            "{}: corrupt or truncated xz data: {e}",
            src.display()
        ))
    })?;
    let sha = match sha {
        Some(r) => r.map_err(|e| Error::output_io(dst_name, "cannot read back", &e))?,
        None => None,
    };
    finish(dst, dst_name, layout.size, sha)
}

struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

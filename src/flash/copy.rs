//! The copy itself: one reader per image and one writer thread per target.
//! The reader decodes each chunk once and hands the same buffer to every
//! writer, hashing each span as it goes; each writer then reads its target
//! back and compares every span's sha256. A failing target stops only
//! itself; an image that cannot be read stops its targets.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::destination::{Destination, DestinationKind};
use super::image::Sequential;
use super::reader::{Msg, read_image};
use crate::error::{Error, Result};
use crate::interrupt::TempPath;
use crate::io::aligned::{ALIGN, AlignedBuf, DirectWriter};

/// 4 MiB reads and writes: large sequential writes are what SD cards are
/// fastest at, and a few in flight per card keep memory small.
pub const BUF: usize = 4 << 20;
/// Verification granularity without a bmap: a mismatch names a 64 MiB span.
pub const SPAN: u64 = 64 << 20;
/// Chunks queued per writer: a slow card lets the reader run this far ahead.
const QUEUE: usize = 4;
/// Buffered writes (no O_DIRECT) are synced every this many bytes, so the
/// progress shows bytes on the card, not in the page cache.
const DIRTY_LIMIT: u64 = 32 << 20;

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

/// Test-only fault injection: `OFFSET` or `OFFSET:PATH-SUFFIX` flips the
/// byte at that image offset as it is written (to every target, or to those
/// whose path ends so), to prove that read-back catches a bad write.
fn failpoint(target: &Path) -> Option<u64> {
    let v = std::env::var("PIPREP_FAILPOINT_CORRUPT_WRITE").ok()?;
    let (off, suffix) = v.split_once(':').unwrap_or((&v, ""));
    target
        .to_string_lossy()
        .ends_with(suffix)
        .then(|| off.parse().ok())?
}

/// Open what a target's bytes go to: the disk itself (exclusively, when it is
/// a block device), or a fresh temporary beside a file target.
fn open_target(t: &Destination) -> Result<(File, Option<TempPath>)> {
    match &t.kind {
        DestinationKind::Disk(_) => {
            let block = std::fs::metadata(&t.path).is_ok_and(|m| m.file_type().is_block_device());
            let mut oo = OpenOptions::new();
            oo.read(true).write(true);
            if block {
                // O_EXCL on a block device fails if anything has it mounted
                // or claimed since the checks: a last guard.
                oo.custom_flags(libc::O_EXCL);
            }
            let f = oo
                .open(&t.path)
                .map_err(|e| Error::output_io(&t.path, "cannot open", &e))?;
            Ok((f, None))
        }
        DestinationKind::File => {
            let temp = super::destination::temp_for(&t.path);
            // The image carries the node's secrets: 0600.
            let f = crate::io::atomic::create_new(temp.path(), crate::io::atomic::Holds::Secret)
                .map_err(|e| Error::output_io(temp.path(), "cannot create", &e))?;
            Ok((f, Some(temp)))
        }
    }
}

/// Read back what was written, bypassing the page cache where the target
/// allows O_DIRECT (otherwise after dropping its cached pages).
struct ReadBack<'a> {
    file: &'a File,
    direct: Option<File>,
}

impl ReadBack<'_> {
    fn read(&self, buf: &mut AlignedBuf, len: usize, off: u64) -> std::io::Result<()> {
        if let Some(d) = &self.direct
            && (off as usize).is_multiple_of(ALIGN)
            && len.is_multiple_of(ALIGN)
        {
            return d.read_exact_at(&mut buf[..len], off);
        }
        self.file.read_exact_at(&mut buf[..len], off)
    }
}

fn write_target(
    t: &Destination,
    rx: Receiver<Msg>,
    pb: &ProgressBar,
    total: Option<u64>,
) -> Result<CardWritten> {
    let started = Instant::now();
    let (file, temp) = open_target(t)?;
    let path = temp.as_ref().map_or(t.path.as_path(), |t| t.path());
    let is_file = temp.is_some();
    if let (true, Some(len)) = (is_file, total) {
        file.set_len(len)
            .map_err(|e| Error::output_io(path, "cannot size", &e))?;
    }
    let corrupt_at = failpoint(&t.path);
    let mut w = DirectWriter::new(&file, path);
    let mut pending = 0u64;
    let mut bytes = 0u64;
    let (hashed, size) = loop {
        let chunk = match rx.recv() {
            Ok(Msg::Data(c)) => c,
            Ok(Msg::Done(h, size)) => break (h, size),
            // The reader failed; it reports why.
            Err(_) => return Err(Error::image("the image could not be read")),
        };
        let end = chunk.off + chunk.len as u64;
        bytes += chunk.len as u64;
        if let (true, Some(len)) = (is_file, total)
            && end > len
        {
            return Err(Error::image("the image is longer than its size"));
        }
        // A fresh file reads zeros where nothing was written: keep holes.
        if chunk.zero && is_file {
            pb.inc(chunk.len as u64);
            continue;
        }
        let data = &chunk.buf[..chunk.len];
        let res = match corrupt_at.filter(|at| (chunk.off..end).contains(at)) {
            Some(at) => {
                let mut bad = AlignedBuf::new(chunk.len);
                bad.copy_from_slice(data);
                bad[(at - chunk.off) as usize] ^= 0xff;
                w.write_at(&bad, chunk.off)
            }
            None => w.write_at(data, chunk.off),
        };
        res.map_err(|e| write_error(t, chunk.off, &e))?;
        if w.is_direct() {
            pb.inc(chunk.len as u64);
        } else {
            pending += chunk.len as u64;
            if pending >= DIRTY_LIMIT {
                file.sync_data()
                    .map_err(|e| write_error(t, chunk.off, &e))?;
                pb.inc(pending);
                pending = 0;
            }
        }
    };
    if is_file {
        // The image's size when known (trailing holes are not read), else
        // where the decoded stream ended.
        file.set_len(total.unwrap_or(size))
            .map_err(|e| Error::output_io(path, "cannot size", &e))?;
    }
    file.sync_all()
        .map_err(|e| Error::output_io(&t.path, "cannot sync", &e))?;
    pb.inc(pending);

    let verify_total: u64 = hashed.iter().map(|h| h.end - h.start).sum();
    pb.set_prefix(format!("{} verify", short_name(&t.path)));
    pb.set_length(verify_total);
    pb.set_position(0);
    let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
    let rb = ReadBack {
        file: &file,
        direct: OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok(),
    };
    let mut buf = AlignedBuf::new(BUF);
    for span in hashed.iter() {
        let mut h = Sha256::new();
        let mut off = span.start;
        while off < span.end {
            let n = ((span.end - off) as usize).min(BUF);
            rb.read(&mut buf, n, off)
                .map_err(|e| Error::output_io(&t.path, "cannot read back", &e))?;
            h.update(&buf[..n]);
            off += n as u64;
            pb.inc(n as u64);
        }
        let got: [u8; 32] = h.finalize().into();
        if got != span.sha256 {
            return Err(Error::output(format!(
                "verification failed on {}: bytes {}..{} read back with sha256 {}, expected {}; the card may be faulty or counterfeit, try another",
                t.path.display(),
                span.start,
                span.end,
                hex::encode(got),
                hex::encode(span.sha256)
            )));
        }
    }
    if let Some(temp) = temp {
        crate::io::atomic::commit(temp, &t.path)
            .map_err(|e| Error::output_io(&t.path, "cannot rename into place", &e))?;
    }
    pb.finish_and_clear();
    Ok(CardWritten {
        bytes,
        spans: hashed.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_error(t: &Destination, off: u64, e: &std::io::Error) -> Error {
    let nospc = e.raw_os_error() == Some(libc::ENOSPC);
    match (&t.kind, nospc) {
        (DestinationKind::Disk(_), true) => Error::output(format!(
            "cannot write {} at byte {off}: the device is full; it is smaller than the image, use a larger card",
            t.path.display()
        )),
        _ => Error::output_io(&t.path, &format!("cannot write at byte {off} of"), e),
    }
}

/// `sdb` for /dev/sdb: the label of a target's progress bar.
pub fn short_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Copy one image to its targets. The image's error, if it could not be
/// read, comes first; then one result per target, in order.
pub fn copy(
    mut src: Box<dyn Sequential>,
    image: &Path,
    layout: &Layout,
    size: Option<u64>,
    targets: &[Destination],
    bars: &[ProgressBar],
) -> (Result<()>, Vec<Result<CardWritten>>) {
    let need_zero = targets.iter().any(|t| !t.is_disk());
    std::thread::scope(|s| {
        let mut txs = Vec::new();
        let mut handles = Vec::new();
        for (t, pb) in targets.iter().zip(bars) {
            let (tx, rx) = sync_channel(QUEUE);
            txs.push(tx);
            handles.push(s.spawn(move || write_target(t, rx, pb, size)));
        }
        let read = read_image(src.as_mut(), image, layout, need_zero, txs);
        let results = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::internal("a flash writer panicked")))
            })
            .collect();
        (read, results)
    })
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

    #[test]
    fn failpoint_applies_to_the_named_target_only() {
        // SAFETY: this test alone reads or writes this variable.
        unsafe { std::env::set_var("PIPREP_FAILPOINT_CORRUPT_WRITE", "77:card-b") };
        assert_eq!(failpoint(Path::new("/x/card-b")), Some(77));
        assert_eq!(failpoint(Path::new("/x/card-a")), None);
        unsafe { std::env::remove_var("PIPREP_FAILPOINT_CORRUPT_WRITE") };
    }
}

//! The copy itself: one reader per image and one writer thread per target.
//! The reader decodes each chunk once and hands the same buffer to every
//! writer, hashing each span as it goes; each writer then reads its target
//! back and compares every span's sha256. A failing target stops only
//! itself; an image that cannot be read stops its targets.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use indicatif::ProgressBar;

use super::destination::{Destination, DestinationKind};
use super::image::Sequential;
use super::layout::{BUF, CardWritten, Hashed, Layout, Msg};
use super::reader::read_image;
use super::sink;
use crate::error::{Error, Result};
use crate::io::aligned::{ALIGN, AlignedBuf, DirectWriter};
use crate::io::hash::digester;

/// Chunks queued per writer: a slow card lets the reader run this far ahead.
const QUEUE: usize = 4;
/// Buffered writes (no O_DIRECT) are synced every this many bytes, so the
/// progress shows bytes on the card, not in the page cache.
const DIRTY_LIMIT: u64 = 32 << 20;

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

/// Write and verify one target; its bar is cleared however that ends, so a
/// failed card leaves no stale bar behind the error.
fn write_target(
    t: &Destination,
    rx: Receiver<Msg>,
    pb: &ProgressBar,
    total: Option<u64>,
) -> Result<CardWritten> {
    let r = write_and_verify(t, rx, pb, total);
    pb.finish_and_clear();
    r
}

fn write_and_verify(
    t: &Destination,
    rx: Receiver<Msg>,
    pb: &ProgressBar,
    total: Option<u64>,
) -> Result<CardWritten> {
    let started = Instant::now();
    let sink = sink::open(t, total)?;
    let (file, path) = (sink.file(), sink.path());
    let corrupt_at = failpoint(&t.path);
    let mut w = DirectWriter::new(file, path);
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
        sink.accept(end)?;
        if chunk.zero && sink.keeps_holes() {
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
    sink.finish(size)?;
    file.sync_all()
        .map_err(|e| Error::output_io(&t.path, "cannot sync", &e))?;
    pb.inc(pending);
    verify(t, file, path, &hashed, pb)?;
    sink.commit(&t.path)?;
    Ok(CardWritten {
        bytes,
        spans: hashed.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Read every span back (past the page cache) and compare its sha256.
fn verify(
    t: &Destination,
    file: &File,
    path: &Path,
    hashed: &[Hashed],
    pb: &ProgressBar,
) -> Result<()> {
    let verify_total: u64 = hashed.iter().map(|h| h.end - h.start).sum();
    pb.set_prefix(format!("{} verify", short_name(&t.path)));
    pb.set_length(verify_total);
    pb.set_position(0);
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    let rb = ReadBack {
        file,
        direct: OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok(),
    };
    let mut buf = AlignedBuf::new(BUF);
    for span in hashed.iter() {
        let mut h = digester();
        let mut off = span.start;
        while off < span.end {
            let n = ((span.end - off) as usize).min(BUF);
            rb.read(&mut buf, n, off)
                .map_err(|e| Error::output_io(&t.path, "cannot read back", &e))?;
            h.write_all(&buf[..n]).expect("a sink takes every byte");
            off += n as u64;
            pb.inc(n as u64);
        }
        let (got, _) = h.finish_raw();
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
    Ok(())
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
    fn failpoint_applies_to_the_named_target_only() {
        // SAFETY: this test alone reads or writes this variable.
        unsafe { std::env::set_var("PIPREP_FAILPOINT_CORRUPT_WRITE", "77:card-b") };
        assert_eq!(failpoint(Path::new("/x/card-b")), Some(77));
        assert_eq!(failpoint(Path::new("/x/card-a")), None);
        unsafe { std::env::remove_var("PIPREP_FAILPOINT_CORRUPT_WRITE") };
    }
}

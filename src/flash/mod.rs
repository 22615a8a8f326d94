//! `piprep flash`: write an image to a card, only the mapped blocks when a
//! .bmap exists, fsync, then read every written range back and compare its
//! sha256. Safety checks live in `device`.

pub mod device;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::bmap::Bmap;
use crate::error::{Error, Kind, Result};
use device::{SystemView, Target};

/// 4 MiB I/O: big sequential writes are what SD cards are fastest at.
const BUF: usize = 4 << 20;
/// Verification granularity without a bmap: a mismatch names a 64 MiB range.
const CHUNK: u64 = 64 << 20;

pub struct Options<'a> {
    pub yes: bool,
    pub allow_non_removable: bool,
    pub quiet: bool,
    pub bmap: Option<Bmap>,
    pub system: &'a SystemView,
}

/// One range to write and verify; `sha256` is known up front from a bmap.
struct Extent {
    start: u64,
    end: u64,
    sha256: Option<String>,
}

fn split(start: u64, end: u64, out: &mut Vec<Extent>) {
    let mut s = start;
    while s < end {
        let e = (s + CHUNK).min(end);
        out.push(Extent {
            start: s,
            end: e,
            sha256: None,
        });
        s = e;
    }
}

/// Data extents of the image (SEEK_DATA/SEEK_HOLE), or everything.
fn data_extents(file: &File, len: u64, whole: bool) -> Vec<Extent> {
    let mut out = Vec::new();
    if whole {
        split(0, len, &mut out);
        return out;
    }
    let mut pos = 0;
    while pos < len {
        let data = match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => {
                split(pos, len, &mut out);
                break;
            }
        };
        let hole = rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(data))
            .map(|h| h.min(len))
            .unwrap_or(len);
        split(data, hole, &mut out);
        pos = hole;
    }
    out
}

fn confirm(device: &Path, disk: &device::Disk, yes: bool) -> Result<()> {
    let parts: Vec<&str> = disk.partitions.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!(
        "target {}: {}, {}, {}; partitions: {}",
        device.display(),
        disk.model,
        crate::image::human_size(disk.size),
        if disk.removable {
            "removable"
        } else {
            "NOT removable"
        },
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    );
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::new(
            Kind::Config,
            format!(
                "refusing to overwrite {} without confirmation; pass --yes",
                device.display()
            ),
        ));
    }
    eprint!(
        "All data on {} will be lost. Type yes to continue: ",
        device.display()
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::internal(format!("cannot read the answer: {e}")))?;
    if line.trim() != "yes" {
        return Err(Error::new(
            Kind::Config,
            "not confirmed; nothing was written",
        ));
    }
    Ok(())
}

/// Test-only fault injection: flip the byte at this image offset as it is written,
/// so tests can prove that read-back verification catches a bad write.
fn failpoint() -> Option<u64> {
    std::env::var("PIPREP_FAILPOINT_CORRUPT_WRITE")
        .ok()?
        .parse()
        .ok()
}

pub struct Summary {
    pub written: u64,
    pub ranges: usize,
    pub used_bmap: bool,
    pub seconds: f64,
}

pub fn flash(image: &Path, device: &Path, opts: &Options) -> Result<Summary> {
    let started = Instant::now();
    let (src, len) = crate::image::open_readonly(image)?;
    if crate::image::same_file(device, image) {
        return Err(Error::new(
            Kind::Output,
            format!("{} is the image itself", device.display()),
        ));
    }
    if let Some(b) = &opts.bmap
        && b.image_size != len
    {
        return Err(Error::image(format!(
            "{}: the .bmap describes a {} byte image but the image is {len} bytes; it belongs to another image",
            image.display(),
            b.image_size
        )));
    }
    let target = if device.exists() {
        device::probe(device, opts.system)?
    } else {
        Target::File
    };
    if let Target::Disk(d) = &target {
        device::check_safe(d, len, opts.allow_non_removable, opts.system)?;
        confirm(device, d, opts.yes)?;
    }
    let is_block = std::fs::metadata(device).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_block_device()
    });
    let mut oo = OpenOptions::new();
    oo.read(true).write(true);
    if is_block {
        // O_EXCL on a block device fails if anything has it mounted: a last guard.
        oo.custom_flags(rustix::fs::OFlags::EXCL.bits() as i32);
    } else {
        oo.create(true);
    }
    let dst = oo
        .open(device)
        .map_err(|e| Error::output_io(device, "cannot open", &e))?;

    let mut extents: Vec<Extent> = match &opts.bmap {
        Some(b) => b
            .ranges
            .iter()
            .map(|r| {
                let (s, e) = b.span(r);
                Extent {
                    start: s,
                    end: e,
                    sha256: r.sha256.clone(),
                }
            })
            .collect(),
        None => data_extents(&src, len, is_block || matches!(target, Target::Disk(_))),
    };
    if matches!(target, Target::File) {
        // A file target gets the image's exact size; unwritten blocks read as zeros.
        let old = dst.metadata().map(|m| m.len()).unwrap_or(0);
        dst.set_len(0)
            .and_then(|_| dst.set_len(old.max(len)))
            .map_err(|e| Error::output_io(device, "cannot size", &e))?;
    }
    let total: u64 = extents.iter().map(|e| e.end - e.start).sum();
    let corrupt_at = failpoint();
    let mut buf = vec![0u8; BUF];
    let pb = crate::progress::bar(opts.quiet, Some(total), "write");
    let mut done = 0u64;
    for ext in extents.iter_mut() {
        let mut h = Sha256::new();
        let mut off = ext.start;
        while off < ext.end {
            let n = ((ext.end - off) as usize).min(BUF);
            src.read_exact_at(&mut buf[..n], off)
                .map_err(|e| Error::image_io(image, "cannot read", &e))?;
            h.update(&buf[..n]);
            if let Some(at) = corrupt_at.filter(|at| (off..off + n as u64).contains(at)) {
                buf[(at - off) as usize] ^= 0xff;
            }
            dst.write_all_at(&buf[..n], off)
                .map_err(|e| Error::output_io(device, "cannot write", &e))?;
            off += n as u64;
            done += n as u64;
            pb.set_position(done);
        }
        let got = hex::encode(h.finalize());
        match &ext.sha256 {
            Some(want) if *want != got => {
                return Err(Error::image(format!(
                    "{}: bytes {}..{} hash to {got} but the .bmap says {want}; the image does not match its .bmap (the card is partly written: flash again with the right .bmap or --no-bmap)",
                    image.display(),
                    ext.start,
                    ext.end
                )));
            }
            Some(_) => {}
            None => ext.sha256 = Some(got),
        }
    }
    pb.finish_and_clear();
    dst.sync_all()
        .map_err(|e| Error::output_io(device, "cannot sync", &e))?;
    // Drop cached pages so the read-back comes from the medium, not from memory.
    let _ = rustix::fs::fadvise(&dst, 0, None, rustix::fs::Advice::DontNeed);

    let pb = crate::progress::bar(opts.quiet, Some(total), "verify");
    let mut done = 0u64;
    for ext in &extents {
        let mut h = Sha256::new();
        let mut off = ext.start;
        while off < ext.end {
            let n = ((ext.end - off) as usize).min(BUF);
            dst.read_exact_at(&mut buf[..n], off)
                .map_err(|e| Error::output_io(device, "cannot read back", &e))?;
            h.update(&buf[..n]);
            off += n as u64;
            done += n as u64;
            pb.set_position(done);
        }
        let got = hex::encode(h.finalize());
        let want = ext.sha256.as_deref().unwrap_or_default();
        if got != want {
            return Err(Error::output(format!(
                "verification failed on {}: bytes {}..{} read back with sha256 {got}, expected {want}; the card may be faulty or counterfeit, try another",
                device.display(),
                ext.start,
                ext.end
            )));
        }
    }
    pb.finish_and_clear();
    Ok(Summary {
        written: total,
        ranges: extents.len(),
        used_bmap: opts.bmap.is_some(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

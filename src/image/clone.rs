//! Copy the base image to a node's output without filling holes: a reflink
//! (FICLONE) when the filesystem can share extents, else a SEEK_DATA/SEEK_HOLE
//! walk with copy_file_range. `std::fs::copy` would turn a 3 GiB sparse image
//! into 3 GiB of written zeros.

use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Reflink,
    SparseCopy,
}

/// 8 MiB per copy_file_range call: large enough to amortise the syscall, small
/// enough for a responsive progress bar.
const CHUNK: u64 = 8 * 1024 * 1024;

static ZEROS: [u8; 4096] = [0; 4096];

/// Clone `len` bytes of `src` into the empty file `dst`, except the byte
/// ranges in `skip` (sorted, disjoint), which the caller writes itself.
/// `progress` gets the image offset reached. The bytes never pass through
/// user space.
pub fn clone(
    src: &File,
    dst: &File,
    len: u64,
    skip: &[(u64, u64)],
    progress: &mut dyn FnMut(u64),
) -> io::Result<Method> {
    if reflink(src, dst).is_ok() {
        progress(len);
        return Ok(Method::Reflink);
    }
    dst.set_len(len)?;
    for (data, hole) in crate::io::extents::data_ranges(src, 0, len) {
        for (a, b) in minus(data, hole, skip) {
            let mut off = a;
            while off < b {
                let n = copy_range(src, dst, off, (b - off).min(CHUNK) as usize)?;
                off += n as u64;
                progress(off);
            }
        }
    }
    Ok(Method::SparseCopy)
}

/// Make `dst` share all of `src`'s extents (FICLONE; btrfs, XFS, bcachefs).
pub fn reflink(src: &File, dst: &File) -> io::Result<()> {
    rustix::fs::ioctl_ficlone(dst, src).map_err(io::Error::from)
}

/// [a, b) without the `skip` ranges.
fn minus(a: u64, b: u64, skip: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pos = a;
    for &(s, e) in skip.iter().filter(|(s, e)| *e > a && *s < b) {
        if s > pos {
            out.push((pos, s));
        }
        pos = pos.max(e);
    }
    if pos < b {
        out.push((pos, b));
    }
    out
}

fn copy_range(src: &File, dst: &File, off: u64, want: usize) -> io::Result<usize> {
    let (mut i, mut o) = (off, off);
    match rustix::fs::copy_file_range(src, Some(&mut i), dst, Some(&mut o), want) {
        Ok(0) => Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "base image shrank while copying",
        )),
        Ok(n) => Ok(n),
        Err(
            rustix::io::Errno::XDEV
            | rustix::io::Errno::NOSYS
            | rustix::io::Errno::INVAL
            | rustix::io::Errno::OPNOTSUPP,
        ) => {
            // Fallback: read/write, leaving all-zero blocks as holes.
            let mut buf = vec![0u8; want];
            src.read_exact_at(&mut buf, off)?;
            for (i, block) in buf.chunks(4096).enumerate() {
                if block != &ZEROS[..block.len()] {
                    dst.write_all_at(block, off + (i * 4096) as u64)?;
                }
            }
            Ok(want)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn subtracts_skipped_ranges() {
        assert_eq!(
            minus(0, 100, &[(10, 20), (50, 60)]),
            [(0, 10), (20, 50), (60, 100)]
        );
        assert_eq!(minus(15, 55, &[(10, 20), (50, 60)]), [(20, 50)]);
        assert_eq!(minus(0, 10, &[(0, 10)]), []);
    }

    #[test]
    fn keeps_holes_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let f = File::create(&a).unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(&[1u8; 1 << 20], 4 << 20).unwrap();
        f.write_all_at(&[2u8; 4096], (64 << 20) - 4096).unwrap();
        drop(f);
        let src = File::open(&a).unwrap();
        let dst = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&b)
            .unwrap();
        let mut last = 0;
        clone(&src, &dst, 64 << 20, &[], &mut |n| last = n).unwrap();
        assert!(last >= (1 << 20) + 4096);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        // 64 MiB apparent, about 1 MiB allocated.
        assert!(dst.metadata().unwrap().blocks() * 512 < 8 << 20);
    }
}

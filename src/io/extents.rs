//! Where a file holds data: one SEEK_DATA/SEEK_HOLE walker for everything
//! that reads sparse images (hashing, block maps, copies, flashing), so a
//! hole is never read and never written.

use std::fs::File;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

/// The data extents of `file` within `[from, to)`, clipped to it. A
/// filesystem without SEEK_DATA reports everything as data.
pub fn data_ranges(file: &File, from: u64, to: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pos = from;
    while pos < to {
        let data = match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(pos)) {
            Ok(d) if d < to => d,
            Ok(_) | Err(rustix::io::Errno::NXIO) => break, // only a hole remains
            Err(_) => {
                out.push((pos, to));
                break;
            }
        };
        let hole = rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(data))
            .map(|h| h.min(to))
            .unwrap_or(to);
        out.push((data, hole));
        pos = hole;
    }
    out
}

/// `ranges` (sorted) widened to whole `block`s, not below `from`, with
/// touching or overlapping ranges merged.
pub fn widen(ranges: &[(u64, u64)], block: u64, from: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(a, b) in ranges {
        let (a, b) = ((a / block * block).max(from), b.div_ceil(block) * block);
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The data of `file` within `[from, to)` as whole `block`s (a filesystem
/// reports data in its own block size, which may be smaller).
pub fn data_blocks(file: &File, from: u64, to: u64, block: u64) -> Vec<(u64, u64)> {
    widen(&data_ranges(file, from, to), block, from)
}

/// Fill `buf` with the bytes of `file` at `off`, holes as zeros (not read).
pub fn read_sparse(file: &File, off: u64, buf: &mut [u8], block: u64) -> std::io::Result<()> {
    let end = off + buf.len() as u64;
    buf.fill(0);
    for (a, b) in data_blocks(file, off, end, block) {
        let (a, b) = (a.max(off), b.min(end));
        file.read_exact_at(&mut buf[(a - off) as usize..(b - off) as usize], a)?;
    }
    Ok(())
}

/// Feed `[from, to)` of `file` to `h`, holes as zeros without reading them;
/// `progress` gets the offset reached after each read.
pub fn hash_span(
    file: &File,
    from: u64,
    to: u64,
    h: &mut Sha256,
    buf: &mut [u8],
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<()> {
    let zeros = [0u8; 64 * 1024];
    let feed_zeros = |h: &mut Sha256, mut n: u64| {
        while n > 0 {
            let k = n.min(zeros.len() as u64) as usize;
            h.update(&zeros[..k]);
            n -= k as u64;
        }
    };
    let mut pos = from;
    for (a, b) in data_ranges(file, from, to) {
        feed_zeros(h, a - pos);
        pos = a;
        while pos < b {
            let n = ((b - pos) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..n], pos)?;
            h.update(&buf[..n]);
            pos += n as u64;
            progress(pos);
        }
    }
    feed_zeros(h, to - pos);
    progress(to);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sparse_file(name: &str) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        let mut f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        f.set_len(16 << 20).unwrap();
        f.write_all_at(&[1u8; 8192], 1 << 20).unwrap();
        f.write_all_at(&[2u8; 100], (8 << 20) + 5).unwrap();
        f.flush().unwrap();
        (dir, f)
    }

    #[test]
    fn finds_data_and_clips_to_the_window() {
        let (_d, f) = sparse_file("a");
        let r = data_ranges(&f, 0, 16 << 20);
        // Filesystems report data in their own block size; the bytes written
        // are inside, and nothing far from them is reported.
        assert!(
            r.iter()
                .any(|&(a, b)| a <= 1 << 20 && b >= (1 << 20) + 8192)
        );
        assert!(
            r.iter()
                .any(|&(a, b)| a <= (8 << 20) + 5 && b >= (8 << 20) + 105)
        );
        let total: u64 = r.iter().map(|(a, b)| b - a).sum();
        assert!(total < 4 << 20, "{r:?}");
        let inner = data_ranges(&f, (1 << 20) + 4096, 8 << 20);
        assert!(
            inner
                .iter()
                .all(|&(a, b)| a >= (1 << 20) + 4096 && b <= 8 << 20)
        );
        assert!(data_ranges(&f, 12 << 20, 16 << 20).is_empty());
    }

    #[test]
    fn widen_rounds_and_merges() {
        assert_eq!(
            widen(&[(10, 20), (4000, 4100), (9000, 9001)], 4096, 0),
            [(0, 12288)]
        );
        assert_eq!(
            widen(&[(10, 20), (9000, 9001)], 4096, 0),
            [(0, 4096), (8192, 12288)]
        );
        assert_eq!(widen(&[(5000, 5001)], 4096, 4500), [(4500, 8192)]);
    }

    #[test]
    fn hash_span_equals_a_plain_hash() {
        let (_d, f) = sparse_file("b");
        for (from, to) in [(0u64, 16u64 << 20), ((1 << 20) + 7, (8 << 20) + 50), (3, 4)] {
            let mut h = Sha256::new();
            let mut seen = 0;
            hash_span(&f, from, to, &mut h, &mut [0u8; 4096], &mut |p| seen = p).unwrap();
            let mut all = vec![0u8; (to - from) as usize];
            f.read_exact_at(&mut all, from).unwrap();
            assert_eq!(h.finalize(), Sha256::digest(&all), "{from}..{to}");
            assert_eq!(seen, to);
        }
    }
}

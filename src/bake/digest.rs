//! Checksums of node images without re-reading what they share with the base.
//!
//! A node image differs from its base only inside the FAT partition. So the
//! base is digested once: the sha256 state after the bytes before the FAT
//! partition, and the block map (with per-range sha256) of everything outside
//! it, remembered in the cache by the base's hash. Per node, only the FAT
//! partition is mapped and hashed anew; the whole-image sha256 continues from
//! the saved state through the node's FAT partition and the base's suffix.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bmap::Range;

pub const BLOCK: u64 = 4096;
/// 1 MiB reads: streaming speed without a large footprint per worker.
const BUF: usize = 1 << 20;

/// Data extents of `file` within [from, to), widened to whole blocks.
pub fn data_extents(file: &File, from: u64, to: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut pos = from;
    while pos < to {
        let data = match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(pos)) {
            Ok(d) if d < to => d,
            Ok(_) | Err(rustix::io::Errno::NXIO) => break,
            Err(_) => {
                out.push((pos, to)); // no SEEK_DATA: everything is data
                break;
            }
        };
        let hole = rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(data))
            .map(|h| h.min(to))
            .unwrap_or(to);
        let (a, b) = (
            (data / BLOCK * BLOCK).max(from),
            hole.div_ceil(BLOCK) * BLOCK,
        );
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
        pos = hole;
    }
    out
}

/// Merge sorted byte extents that touch or overlap.
pub fn merge(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Feed [from, to) of `file` to `h`, holes as zeros (no reads for them).
pub fn hash_span(
    file: &File,
    from: u64,
    to: u64,
    h: &mut Sha256,
    buf: &mut [u8],
) -> std::io::Result<()> {
    let zeros = [0u8; 64 * 1024];
    let mut pos = from;
    for (a, b) in data_extents(file, from, to)
        .into_iter()
        .map(|(a, b)| (a.max(from), b.min(to)))
    {
        while pos < a {
            let n = (a - pos).min(zeros.len() as u64) as usize;
            h.update(&zeros[..n]);
            pos += n as u64;
        }
        while pos < b {
            let n = ((b - pos) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..n], pos)?;
            h.update(&buf[..n]);
            pos += n as u64;
        }
    }
    while pos < to {
        let n = (to - pos).min(zeros.len() as u64) as usize;
        h.update(&zeros[..n]);
        pos += n as u64;
    }
    Ok(())
}

/// Feed [from, to) of `base` with `pages` applied to `h`.
fn hash_overlay(
    base: &File,
    pages: &[(u64, Vec<u8>)],
    from: u64,
    to: u64,
    h: &mut Sha256,
    buf: &mut [u8],
) -> std::io::Result<()> {
    let mut pos = from;
    for (off, data) in pages {
        let (ps, pe) = (*off, *off + data.len() as u64);
        if pe <= pos || ps >= to {
            continue;
        }
        if ps > pos {
            hash_span(base, pos, ps, h, buf)?;
            pos = ps;
        }
        let end = pe.min(to);
        h.update(&data[(pos - ps) as usize..(end - ps) as usize]);
        pos = end;
    }
    if pos < to {
        hash_span(base, pos, to, h, buf)?;
    }
    Ok(())
}

/// Block-map ranges (with sha256) for byte extents of `file`, clipped to `len`.
pub fn ranges(file: &File, extents: &[(u64, u64)], len: u64) -> std::io::Result<Vec<Range>> {
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::new();
    for &(a, b) in extents {
        let end = b.min(len);
        if a >= end {
            continue;
        }
        let mut h = Sha256::new();
        hash_span(file, a, end, &mut h, &mut buf)?;
        out.push(Range {
            first: a / BLOCK,
            last: (end - 1) / BLOCK,
            sha256: Some(hex::encode(h.finalize())),
        });
    }
    Ok(out)
}

#[derive(Serialize, Deserialize)]
struct Memo {
    outside: Vec<(u64, u64, String)>,
}

/// What every node image of one base shares.
pub struct BaseDigest {
    pub len: u64,
    pub fat: (u64, u64),
    /// Bytes at the start of the FAT partition that are always mapped.
    pub fat_meta: u64,
    prefix: Sha256,
    outside: Vec<Range>,
}

impl BaseDigest {
    /// Digest the base; the outside ranges come from `memo` when present.
    pub fn new(
        base: &File,
        len: u64,
        fat: (u64, u64),
        fat_meta: u64,
        memo: &Path,
    ) -> std::io::Result<Self> {
        let mut buf = vec![0u8; BUF];
        let mut prefix = Sha256::new();
        hash_span(base, 0, fat.0, &mut prefix, &mut buf)?;
        let outside = match std::fs::read_to_string(memo)
            .ok()
            .and_then(|t| serde_json::from_str::<Memo>(&t).ok())
        {
            Some(m) => m
                .outside
                .into_iter()
                .map(|(first, last, sha)| Range {
                    first,
                    last,
                    sha256: Some(sha),
                })
                .collect(),
            None => {
                let mut ext = data_extents(base, 0, fat.0);
                ext.extend(data_extents(base, fat.1, len));
                let r = ranges(base, &ext, len)?;
                let m = Memo {
                    outside: r
                        .iter()
                        .map(|r| (r.first, r.last, r.sha256.clone().unwrap_or_default()))
                        .collect(),
                };
                if std::fs::create_dir_all(memo.parent().expect("memo has a parent")).is_ok() {
                    let tmp = memo.with_extension(format!("tmp{}", std::process::id()));
                    if std::fs::write(&tmp, serde_json::to_string(&m).expect("json")).is_ok() {
                        let _ = std::fs::rename(&tmp, memo);
                    }
                }
                r
            }
        };
        Ok(BaseDigest {
            len,
            fat,
            fat_meta,
            prefix,
            outside,
        })
    }

    /// For the node image that is the base with `pages` (absolute offset,
    /// bytes; sorted; inside the FAT partition) applied: the sha256 state after
    /// its FAT partition, and its complete block map. The caller hashes the
    /// rest (identical to the base) with a [`Suffix`], while copying it.
    pub fn node(
        &self,
        base: &File,
        pages: &[(u64, Vec<u8>)],
    ) -> std::io::Result<(Suffix, Vec<Range>)> {
        let (fs, fe) = self.fat;
        let mut buf = vec![0u8; BUF];
        let mut h = self.prefix.clone();
        hash_overlay(base, pages, fs, fe, &mut h, &mut buf)?;
        let mut fat_ext = data_extents(base, fs, fe);
        fat_ext.extend(pages.iter().map(|(o, d)| {
            (
                o / BLOCK * BLOCK,
                (o + d.len() as u64).div_ceil(BLOCK) * BLOCK,
            )
        }));
        fat_ext.push((fs, (fs + self.fat_meta).div_ceil(BLOCK) * BLOCK));
        let mut all = self.outside.clone();
        for (a, b) in merge(fat_ext) {
            let end = b.min(self.len);
            let mut rh = Sha256::new();
            hash_overlay(base, pages, a, end, &mut rh, &mut buf)?;
            all.push(Range {
                first: a / BLOCK,
                last: (end - 1) / BLOCK,
                sha256: Some(hex::encode(rh.finalize())),
            });
        }
        all.sort_by_key(|r| r.first);
        Ok((
            Suffix {
                h,
                pos: fe,
                len: self.len,
            },
            all,
        ))
    }

    /// Whether the FAT partition sits on block boundaries (it does in every
    /// real image); otherwise per-node digests fall back to full hashing.
    pub fn usable(fat: (u64, u64)) -> bool {
        fat.0.is_multiple_of(BLOCK) && fat.1.is_multiple_of(BLOCK)
    }
}

/// The whole-image hash from the end of the FAT partition on: fed the copied
/// data in offset order, with the holes in between hashed as zeros.
pub struct Suffix {
    h: Sha256,
    pos: u64,
    len: u64,
}

impl Suffix {
    fn zeros(&mut self, to: u64) {
        let zeros = [0u8; 64 * 1024];
        while self.pos < to {
            let n = (to - self.pos).min(zeros.len() as u64) as usize;
            self.h.update(&zeros[..n]);
            self.pos += n as u64;
        }
    }

    /// Bytes copied at `off`; earlier parts of the image are ignored.
    pub fn feed(&mut self, off: u64, data: &[u8]) {
        let end = off + data.len() as u64;
        if end <= self.pos {
            return;
        }
        self.zeros(off);
        let skip = (self.pos - off.min(self.pos)) as usize;
        self.h.update(&data[skip..]);
        self.pos = end;
    }

    /// Hash what was not fed from `file` (after a reflink, nothing was).
    pub fn finish(mut self, file: &File) -> std::io::Result<String> {
        if self.pos < self.len {
            let mut buf = vec![0u8; BUF];
            hash_span(file, self.pos, self.len, &mut self.h, &mut buf)?;
        }
        Ok(hex::encode(self.h.finalize()))
    }
}

/// Full digest of a node image without a base (unaligned partitions).
pub fn full(out: &File, len: u64) -> std::io::Result<(String, Vec<Range>)> {
    let mut buf = vec![0u8; BUF];
    let mut h = Sha256::new();
    hash_span(out, 0, len, &mut h, &mut buf)?;
    let r = ranges(out, &data_extents(out, 0, len), len)?;
    Ok((hex::encode(h.finalize()), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_digest_equals_a_plain_hash() {
        let dir = std::env::temp_dir().join(format!("piprep-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (bp, op) = (dir.join("base"), dir.join("out"));
        let len = 64 * BLOCK * 16;
        let b = File::create(&bp).unwrap();
        b.set_len(len).unwrap();
        b.write_all_at(&[1; 512], 0).unwrap();
        b.write_all_at(&[2; 9000], 40 * BLOCK).unwrap();
        b.write_all_at(&[3; 100], len - 100).unwrap();
        b.write_all_at(&[4; 700], 20 * BLOCK).unwrap(); // data inside the "FAT"
        // The edit: one page in a hole of the FAT region, one over its data.
        let pages = vec![
            (17 * BLOCK, vec![9u8; 5000]),
            (20 * BLOCK + 100, vec![8u8; 50]),
        ];
        std::fs::copy(&bp, &op).unwrap();
        let o = std::fs::OpenOptions::new().write(true).open(&op).unwrap();
        for (off, d) in &pages {
            o.write_all_at(d, *off).unwrap();
        }
        let b = File::open(&bp).unwrap();
        let d = BaseDigest::new(
            &b,
            len,
            (16 * BLOCK, 32 * BLOCK),
            512,
            &dir.join("memo.json"),
        )
        .unwrap();
        let (suffix, map) = d.node(&b, &pages).unwrap();
        // As bake does: feed what is copied (here: the data after the FAT).
        let mut suffix = suffix;
        for (a, e) in data_extents(&b, 32 * BLOCK, len) {
            let mut chunk = vec![0u8; (e.min(len) - a) as usize];
            b.read_exact_at(&mut chunk, a).unwrap();
            suffix.feed(a, &chunk);
        }
        let sha = suffix.finish(&b).unwrap();
        let data = std::fs::read(&op).unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(&data)));
        let (sha2, _) = full(&File::open(&op).unwrap(), len).unwrap();
        assert_eq!(sha, sha2);
        // Every range's checksum matches the output's bytes, and every
        // non-zero byte of the output is mapped.
        for r in &map {
            let a = (r.first * BLOCK) as usize;
            let e = (((r.last + 1) * BLOCK).min(len)) as usize;
            assert_eq!(
                r.sha256.as_deref().unwrap(),
                hex::encode(Sha256::digest(&data[a..e]))
            );
        }
        for (i, byte) in data.iter().enumerate() {
            if *byte != 0 {
                let blk = i as u64 / BLOCK;
                assert!(
                    map.iter().any(|r| (r.first..=r.last).contains(&blk)),
                    "byte {i} unmapped"
                );
            }
        }
        assert!(map.iter().any(|r| r.first == 16), "FAT metadata is mapped");
        // The memo is used the second time.
        let d2 = BaseDigest::new(
            &b,
            len,
            (16 * BLOCK, 32 * BLOCK),
            512,
            &dir.join("memo.json"),
        )
        .unwrap();
        let (unfed, map2) = d2.node(&b, &pages).unwrap();
        assert_eq!(map2, map);
        // Nothing fed (a reflink copies no bytes): finish hashes the rest itself.
        assert_eq!(unfed.finish(&b).unwrap(), sha);
        // The memo is what the second digest read: a doctored memo shows up.
        let memo = std::fs::read_to_string(dir.join("memo.json")).unwrap();
        std::fs::write(dir.join("memo.json"), memo.replacen(",\"", ",\"f", 1)).unwrap();
        let d3 = BaseDigest::new(
            &b,
            len,
            (16 * BLOCK, 32 * BLOCK),
            512,
            &dir.join("memo.json"),
        )
        .unwrap();
        assert_ne!(d3.node(&b, &pages).unwrap().1, map);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

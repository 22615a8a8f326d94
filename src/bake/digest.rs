//! Checksums of node images without re-reading what they share with the base.
//!
//! A node image differs from its base only inside the FAT partition. So the
//! base is digested once: the sha256 state after the bytes before the FAT
//! partition, and the block map (with per-range sha256) of everything outside
//! it, remembered in the cache by the base's hash. Per node, only the FAT
//! partition is mapped anew. The whole-image sha256 values of a group of nodes
//! continue from the saved state in one read of the base, the nodes' edits
//! swapped in where they apply (see `multihash`).

use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chunk::{Chunk, overlay};
use crate::bmap::Range;
use crate::io::extents::{self, data_blocks, read_sparse};
use crate::multihash::{self, State};

pub const BLOCK: u64 = 4096;
/// 1 MiB reads: streaming speed without a large footprint per worker.
const BUF: usize = 1 << 20;
/// Nodes whose sha256 one pass over the base computes: the SHA-NI interleave
/// width (see `multihash`).
pub const GROUP: usize = 4;

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
            extents::hash_span(base, pos, ps, h, buf, &mut |_| {})?;
            pos = ps;
        }
        let end = pe.min(to);
        h.update(&data[(pos - ps) as usize..(end - ps) as usize]);
        pos = end;
    }
    if pos < to {
        extents::hash_span(base, pos, to, h, buf, &mut |_| {})?;
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
        extents::hash_span(file, a, end, &mut h, &mut buf, &mut |_| {})?;
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
    /// sha256 state after the bytes before the FAT partition (whole blocks,
    /// as the partition starts on a block boundary).
    prefix: State,
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
        let mut prefix = multihash::IV;
        let mut pos = 0;
        while pos < fat.0 {
            let chunk = &mut buf[..(fat.0 - pos).min(BUF as u64) as usize];
            read_sparse(base, pos, chunk, BLOCK)?;
            multihash::compress_shared(std::slice::from_mut(&mut prefix), chunk);
            pos += chunk.len() as u64;
        }
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
                let mut ext = data_blocks(base, 0, fat.0, BLOCK);
                ext.extend(data_blocks(base, fat.1, len, BLOCK));
                let r = ranges(base, &ext, len)?;
                let m = Memo {
                    outside: r
                        .iter()
                        .map(|r| (r.first, r.last, r.sha256.clone().unwrap_or_default()))
                        .collect(),
                };
                if std::fs::create_dir_all(memo.parent().expect("memo has a parent")).is_ok() {
                    let json = serde_json::to_string(&m).expect("json");
                    let _ = crate::io::atomic::write_atomic(
                        memo,
                        json.as_bytes(),
                        crate::io::atomic::Holds::Public,
                    );
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

    /// The complete block map of the node image that is the base with
    /// `pages` (absolute offset, bytes; sorted; inside the FAT partition).
    pub fn node_map(&self, base: &File, pages: &[(u64, Vec<u8>)]) -> std::io::Result<Vec<Range>> {
        let (fs, fe) = self.fat;
        let mut buf = vec![0u8; BUF];
        let mut fat_ext = data_blocks(base, fs, fe, BLOCK);
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
        Ok(all)
    }

    /// Whole-image sha256 of each node image (the base with that node's
    /// `pages` applied), from one read of the base: chunks no node edits are
    /// hashed for all nodes at once, an edited chunk for its node alone.
    /// Starting with `first`, every chunk of the base in [FAT start, end of
    /// image), once hashed, goes to `emit`, which returns the chunk to fill
    /// next: the same one, or another of the same size.
    pub fn images_sha256(
        &self,
        base: &File,
        nodes: &[&[(u64, Vec<u8>)]],
        first: Chunk,
        emit: &mut dyn FnMut(Chunk) -> std::io::Result<Chunk>,
    ) -> std::io::Result<Vec<String>> {
        let mut states = vec![self.prefix; nodes.len()];
        let mut tails: Vec<Vec<u8>> = vec![Vec::new(); nodes.len()];
        let mut shared: Vec<(usize, State)> = Vec::with_capacity(nodes.len());
        let mut group: Vec<State> = Vec::with_capacity(nodes.len());
        let mut c = first;
        let mut own = vec![0u8; c.base.len()];
        let mut pos = self.fat.0;
        while pos < self.len {
            let end = (pos + c.base.len() as u64).min(self.len);
            (c.pos, c.len) = (pos, (end - pos) as usize);
            let chunk = &mut c.base[..c.len];
            read_sparse(base, pos, chunk, BLOCK)?;
            // Only the image's last chunk can end inside a block.
            let whole = chunk.len() / 64 * 64;
            shared.clear();
            for (i, pages) in nodes.iter().enumerate() {
                if !pages
                    .iter()
                    .any(|(o, d)| *o < end && o + d.len() as u64 > pos)
                {
                    shared.push((i, states[i]));
                    continue;
                }
                let mine = &mut own[..chunk.len()];
                mine.copy_from_slice(chunk);
                overlay(pages, pos, mine);
                multihash::compress_shared(std::slice::from_mut(&mut states[i]), &mine[..whole]);
                tails[i] = mine[whole..].to_vec();
            }
            group.clear();
            group.extend(shared.iter().map(|(_, s)| *s));
            multihash::compress_shared(&mut group, &chunk[..whole]);
            for (&(i, _), s) in shared.iter().zip(&group) {
                states[i] = *s;
                tails[i] = chunk[whole..].to_vec();
            }
            c = emit(c)?;
            pos = end;
        }
        Ok(states
            .iter()
            .zip(&tails)
            .map(|(s, t)| hex::encode(multihash::finish(*s, self.len - t.len() as u64, t)))
            .collect())
    }

    /// `images_sha256` alone, with the image offset reached for `progress`.
    pub fn images_sha256_only(
        &self,
        base: &File,
        nodes: &[&[(u64, Vec<u8>)]],
        progress: &mut dyn FnMut(u64),
    ) -> std::io::Result<Vec<String>> {
        self.images_sha256(base, nodes, Chunk::new(BUF), &mut |c| {
            progress(c.pos + c.len as u64);
            Ok(c)
        })
    }

    /// Whether the FAT partition sits on block boundaries (it does in every
    /// real image); otherwise per-node digests fall back to full hashing.
    pub fn usable(fat: (u64, u64)) -> bool {
        fat.0.is_multiple_of(BLOCK) && fat.1.is_multiple_of(BLOCK)
    }
}

/// Full digest of a node image without a base (unaligned partitions).
pub fn full(out: &File, len: u64) -> std::io::Result<(String, Vec<Range>)> {
    let mut buf = vec![0u8; BUF];
    let mut h = Sha256::new();
    extents::hash_span(out, 0, len, &mut h, &mut buf, &mut |_| {})?;
    let r = ranges(out, &data_blocks(out, 0, len, BLOCK), len)?;
    Ok((hex::encode(h.finalize()), r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn write_copy(base: &Path, out: &Path, pages: &[(u64, Vec<u8>)]) -> Vec<u8> {
        std::fs::copy(base, out).unwrap();
        let o = std::fs::OpenOptions::new().write(true).open(out).unwrap();
        for (off, d) in pages {
            o.write_all_at(d, *off).unwrap();
        }
        std::fs::read(out).unwrap()
    }

    #[test]
    fn node_digests_equal_plain_hashes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let bp = dir.join("base");
        // Not a whole number of SHA-256 blocks, so the last chunk has a tail.
        let len = 4 * BUF as u64 + 37;
        let fat = (16 * BLOCK, 16 * BLOCK + 2 * BUF as u64);
        let b = File::create(&bp).unwrap();
        b.set_len(len).unwrap();
        b.write_all_at(&[1; 512], 0).unwrap();
        b.write_all_at(&[2; 9000], fat.1 + 40 * BLOCK).unwrap();
        b.write_all_at(&[3; 100], len - 100).unwrap();
        b.write_all_at(&[4; 700], 20 * BLOCK).unwrap(); // data inside the "FAT"
        // Six nodes (a group wider than the SHA-NI interleave): one page in a
        // hole, one over data, one across a chunk boundary, none at all.
        let boundary = fat.0 + BUF as u64;
        let nodes: Vec<Vec<(u64, Vec<u8>)>> = vec![
            vec![
                (17 * BLOCK, vec![9u8; 5000]),
                (20 * BLOCK + 100, vec![8u8; 50]),
            ],
            vec![],
            vec![(boundary - 3000, vec![7u8; 6000])],
            vec![(fat.0, vec![6u8; 512])],
            vec![
                (17 * BLOCK, vec![5u8; 5000]),
                (boundary + 64, vec![5u8; 64]),
            ],
            vec![(fat.1 - 10, vec![4u8; 10])],
        ];
        let b = File::open(&bp).unwrap();
        let memo = dir.join("memo.json");
        let d = BaseDigest::new(&b, len, fat, 512, &memo).unwrap();
        let refs: Vec<&[(u64, Vec<u8>)]> = nodes.iter().map(|n| n.as_slice()).collect();
        let mut reached = 0;
        let shas = d
            .images_sha256_only(&b, &refs, &mut |p| reached = p)
            .unwrap();
        assert_eq!(reached, len);
        let mut maps = Vec::new();
        for (i, pages) in nodes.iter().enumerate() {
            let op = dir.join(format!("out{i}"));
            let data = write_copy(&bp, &op, pages);
            assert_eq!(shas[i], hex::encode(Sha256::digest(&data)), "node {i}");
            assert_eq!(shas[i], full(&File::open(&op).unwrap(), len).unwrap().0);
            // Every range's checksum matches the output's bytes, and every
            // non-zero byte of the output is mapped.
            let map = d.node_map(&b, pages).unwrap();
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
            maps.push(map);
        }
        // One node alone gives the same as in a group.
        assert_eq!(
            d.images_sha256_only(&b, &refs[2..3], &mut |_| ()).unwrap(),
            [shas[2].clone()]
        );
        // The memo is used the second time.
        let d2 = BaseDigest::new(&b, len, fat, 512, &memo).unwrap();
        assert_eq!(d2.node_map(&b, &nodes[0]).unwrap(), maps[0]);
        // The memo is what the second digest read: a doctored memo shows up.
        let text = std::fs::read_to_string(&memo).unwrap();
        std::fs::write(&memo, text.replacen(",\"", ",\"f", 1)).unwrap();
        let d3 = BaseDigest::new(&b, len, fat, 512, &memo).unwrap();
        assert_ne!(d3.node_map(&b, &nodes[0]).unwrap(), maps[0]);
    }
}

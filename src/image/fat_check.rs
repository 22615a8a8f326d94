//! A consistency check of a FAT filesystem, run before fatfs ever touches one
//! and again on every edited result. fatfs follows cluster chains without a
//! bound (a looping root directory hangs it) and writes into whatever it finds,
//! so a damaged boot partition would be baked into cards that `fsck.fat` then
//! repairs destructively. This walks every chain at most once with a bitmap:
//! loops, chains that cross, free, bad or out-of-range clusters in a chain,
//! FAT copies that disagree, sizes that do not match their chains and invalid
//! directory entries are all reported, with the first problem named.

use std::io::{self, Read, Seek, SeekFrom};

/// What piprep learns of the layout while checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub bits: u8,
    pub bytes_per_sector: u64,
    pub cluster_size: u64,
    pub clusters: u32,
}

/// Directories nest at most this deep (FAT allows more; Raspberry Pi OS's
/// boot partition has two levels).
const MAX_DEPTH: usize = 32;

struct Fs<'a, R> {
    r: &'a mut R,
    layout: Layout,
    fat: Vec<u32>,
    /// Byte offset of cluster 2.
    data: u64,
    /// FAT12/16: the fixed root directory (offset, entries).
    fixed_root: Option<(u64, u64)>,
    root_cluster: u32,
    owned: Vec<u64>,
}

fn read_at<R: Read + Seek>(r: &mut R, off: u64, buf: &mut [u8]) -> io::Result<()> {
    r.seek(SeekFrom::Start(off))?;
    r.read_exact(buf)
}

fn le16(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u64
}
fn le32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as u64
}

/// Check the FAT filesystem of `len` bytes that `r` reads (offsets relative
/// to the partition). Err(problem) names the first inconsistency.
pub fn check<R: Read + Seek>(r: &mut R, len: u64) -> Result<Layout, String> {
    let io = |e: io::Error| format!("cannot read it: {e}");
    let mut bs = [0u8; 512];
    read_at(r, 0, &mut bs).map_err(io)?;
    if bs[510] != 0x55 || bs[511] != 0xaa {
        return Err("its boot sector has no 55 AA signature".into());
    }
    let bps = le16(&bs, 11);
    let spc = bs[13] as u64;
    let reserved = le16(&bs, 14);
    let fats = bs[16] as u64;
    let root_entries = le16(&bs, 17);
    let total = match le16(&bs, 19) {
        0 => le32(&bs, 32),
        n => n,
    };
    let fat_sectors = match le16(&bs, 22) {
        0 => le32(&bs, 36),
        n => n,
    };
    if ![512, 1024, 2048, 4096].contains(&bps) || !spc.is_power_of_two() || spc > 128 {
        return Err(format!(
            "its boot sector gives {bps}-byte sectors and {spc} sectors per cluster"
        ));
    }
    if reserved == 0 || fats == 0 || fats > 4 || fat_sectors == 0 {
        return Err(format!(
            "its boot sector gives {reserved} reserved sectors, {fats} FATs of {fat_sectors} sectors"
        ));
    }
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let first_data = reserved + fats * fat_sectors + root_sectors;
    if total * bps > len || first_data >= total {
        return Err(format!(
            "its boot sector describes {} bytes with data from sector {first_data}, but the partition holds {len} bytes",
            total * bps
        ));
    }
    let clusters = (total - first_data) / spc;
    let bits = if clusters < 4085 {
        12
    } else if clusters < 65525 {
        16
    } else {
        32
    };
    if (bits == 32) != (root_entries == 0) {
        return Err("its boot sector mixes FAT32 and FAT12/16 fields".into());
    }
    let layout = Layout {
        bits,
        bytes_per_sector: bps,
        cluster_size: bps * spc,
        clusters: clusters as u32,
    };
    // Every cluster number must fit in the FAT.
    let entries = clusters + 2;
    let fat_bytes = fat_sectors * bps;
    if entries * bits as u64 > fat_bytes * 8 {
        return Err(format!(
            "its FAT ({fat_bytes} bytes) is too small for {clusters} clusters"
        ));
    }
    let table_len = (entries * bits as u64).div_ceil(8) as usize;
    let mut first = vec![0u8; table_len];
    read_at(r, reserved * bps, &mut first).map_err(io)?;
    let mut other = vec![0u8; table_len];
    for copy in 1..fats {
        read_at(r, (reserved + copy * fat_sectors) * bps, &mut other).map_err(io)?;
        // Entries 0 and 1 hold media and shutdown flags, not chains.
        let skip = (2 * bits as usize).div_ceil(8);
        if let Some(at) = (skip..table_len).find(|&i| first[i] != other[i]) {
            let cluster = at as u64 * 8 / bits as u64;
            return Err(format!(
                "its FAT copies 1 and {} disagree (first at cluster {cluster})",
                copy + 1
            ));
        }
    }
    let fat: Vec<u32> = (0..entries as usize)
        .map(|i| match bits {
            12 => {
                let b = i * 3 / 2;
                let v = u16::from_le_bytes([first[b], first[b + 1]]);
                (if i % 2 == 0 { v & 0xfff } else { v >> 4 }) as u32
            }
            16 => u16::from_le_bytes([first[2 * i], first[2 * i + 1]]) as u32,
            _ => {
                u32::from_le_bytes([
                    first[4 * i],
                    first[4 * i + 1],
                    first[4 * i + 2],
                    first[4 * i + 3],
                ]) & 0x0fff_ffff
            }
        })
        .collect();
    let mut fs = Fs {
        r,
        layout,
        fat,
        data: first_data * bps,
        fixed_root: (bits != 32).then_some(((reserved + fats * fat_sectors) * bps, root_entries)),
        root_cluster: le32(&bs, 44) as u32,
        owned: vec![0u64; (entries as usize).div_ceil(64)],
    };
    fs.walk_root()?;
    // Leave the reader where a filesystem driver expects to start.
    r.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(layout)
}

impl<R: Read + Seek> Fs<'_, R> {
    fn bad_marker(&self) -> u32 {
        match self.layout.bits {
            12 => 0xff7,
            16 => 0xfff7,
            _ => 0x0fff_fff7,
        }
    }

    fn end_of_chain(&self, v: u32) -> bool {
        v >= match self.layout.bits {
            12 => 0xff8,
            16 => 0xfff8,
            _ => 0x0fff_fff8,
        }
    }

    /// The clusters of the chain from `start`, each claimed for `what`: a
    /// cluster claimed twice means a loop or a cross-link.
    fn chain(&mut self, start: u32, what: &str) -> Result<Vec<u32>, String> {
        let max = self.layout.clusters + 1;
        let mut out = Vec::new();
        let mut c = start;
        loop {
            if c < 2 || c > max {
                return Err(format!(
                    "the cluster chain of {what} reaches cluster {c}, outside 2..={max}"
                ));
            }
            let (word, bit) = (c as usize / 64, c as usize % 64);
            if self.owned[word] & (1 << bit) != 0 {
                return Err(format!(
                    "the cluster chain of {what} runs into cluster {c} a second time (a loop, or a chain shared with another file)"
                ));
            }
            self.owned[word] |= 1 << bit;
            out.push(c);
            let next = self.fat[c as usize];
            if self.end_of_chain(next) {
                return Ok(out);
            }
            if next == 0 {
                return Err(format!(
                    "the cluster chain of {what} holds cluster {c}, which the FAT marks free"
                ));
            }
            if next == self.bad_marker() {
                return Err(format!(
                    "the cluster chain of {what} continues into a cluster marked bad"
                ));
            }
            c = next;
        }
    }

    fn read_clusters(&mut self, chain: &[u32]) -> Result<Vec<u8>, String> {
        let cs = self.layout.cluster_size;
        let mut buf = vec![0u8; chain.len() * cs as usize];
        for (i, c) in chain.iter().enumerate() {
            let off = self.data + (*c as u64 - 2) * cs;
            read_at(
                self.r,
                off,
                &mut buf[i * cs as usize..(i + 1) * cs as usize],
            )
            .map_err(|e| format!("cannot read cluster {c}: {e}"))?;
        }
        Ok(buf)
    }

    fn walk_root(&mut self) -> Result<(), String> {
        let entries = match self.fixed_root {
            Some((off, n)) => {
                let mut buf = vec![0u8; n as usize * 32];
                read_at(self.r, off, &mut buf)
                    .map_err(|e| format!("cannot read the root directory: {e}"))?;
                buf
            }
            None => {
                let chain = self.chain(self.root_cluster, "the root directory")?;
                self.read_clusters(&chain)?
            }
        };
        self.walk_dir(&entries, "/", 0)
    }

    fn walk_dir(&mut self, entries: &[u8], path: &str, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "directories nest deeper than {MAX_DEPTH} at {path}"
            ));
        }
        for e in entries.chunks_exact(32) {
            match e[0] {
                0x00 => break,
                0xe5 => continue,
                _ => {}
            }
            let attr = e[11];
            if attr & 0x3f == 0x0f || attr & 0x08 != 0 {
                continue; // a long-name part, or the volume label
            }
            let name = short_name(e);
            if name == "." || name == ".." {
                continue;
            }
            if let Some(b) = e[..11]
                .iter()
                .enumerate()
                .find(|(i, b)| {
                    (**b < 0x20 && !(*i == 0 && **b == 0x05)) || b"\"*/:<>?\\|\x7f".contains(b)
                })
                .map(|(_, b)| *b)
            {
                return Err(format!(
                    "the directory {path} has an entry with the invalid name byte {b:#04x}"
                ));
            }
            let full = format!("{path}{name}");
            let start = ((le16(e, 20) << 16) | le16(e, 26)) as u32;
            let size = le32(e, 28);
            if attr & 0x10 != 0 {
                let chain = self.chain(start, &full)?;
                let sub = self.read_clusters(&chain)?;
                self.walk_dir(&sub, &format!("{full}/"), depth + 1)?;
            } else if start == 0 {
                if size != 0 {
                    return Err(format!("{full} is {size} bytes long but has no clusters"));
                }
            } else {
                let chain = self.chain(start, &full)?;
                let want = size.div_ceil(self.layout.cluster_size).max(1);
                if chain.len() as u64 != want {
                    return Err(format!(
                        "{full} is {size} bytes long but its cluster chain holds {} clusters of {} bytes",
                        chain.len(),
                        self.layout.cluster_size
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `NAME.EXT` of a short directory entry, for messages.
fn short_name(e: &[u8]) -> String {
    let part = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .trim_end_matches(' ')
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
    };
    let (base, ext) = (part(&e[..8]), part(&e[8..11]));
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

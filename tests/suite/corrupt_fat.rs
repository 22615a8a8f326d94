//! Damaged boot partitions are refused, never looped on or copied forward: a
//! corpus of cycles, cross-links, out-of-range and free clusters in chains,
//! FAT copies that disagree, bad directory entries and sizes, each made by
//! editing bytes of a good fixture (offsets read from its boot sector here,
//! not by piprep). inspect, render, bake and report must exit 3 within a time
//! bound, name the damage and the fix, leave the input unchanged and write no
//! image.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::*;

/// The FAT32 geometry of the fixture's boot partition.
struct Geo {
    start: u64,
    bps: u64,
    cluster: u64,
    fat: u64,
    fat_len: u64,
    data: u64,
    root_cluster: u32,
    clusters: u32,
}

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0, |v, x| (v << 8) | *x as u64)
}

fn geometry(img: &[u8], start: u64) -> Geo {
    let bs = &img[start as usize..start as usize + 512];
    let bps = le(bs, 11, 2);
    let spc = le(bs, 13, 1);
    let reserved = le(bs, 14, 2);
    let fats = le(bs, 16, 1);
    let fat_len = le(bs, 36, 4) * bps;
    let total = le(bs, 32, 4);
    let data_sector = reserved + fats * fat_len / bps;
    Geo {
        start,
        bps,
        cluster: bps * spc,
        fat: start + reserved * bps,
        fat_len,
        data: start + data_sector * bps,
        root_cluster: le(bs, 44, 4) as u32,
        clusters: ((total - data_sector) / spc) as u32,
    }
}

impl Geo {
    fn set_fat(&self, img: &mut [u8], cluster: u32, value: u32, copies: &[u64]) {
        for copy in copies {
            let at = (self.fat + copy * self.fat_len + 4 * cluster as u64) as usize;
            img[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
    }
    fn fat_entry(&self, img: &[u8], cluster: u32) -> u32 {
        le(img, (self.fat + 4 * cluster as u64) as usize, 4) as u32
    }
    /// Offset of the root directory entry with this 11-byte short name.
    fn entry(&self, img: &[u8], name: &[u8; 11]) -> usize {
        let root = (self.data + (self.root_cluster as u64 - 2) * self.cluster) as usize;
        (0..self.cluster as usize / 32)
            .map(|i| root + 32 * i)
            .find(|&at| &img[at..at + 11] == name)
            .unwrap_or_else(|| {
                panic!(
                    "no {:?} in the root directory",
                    String::from_utf8_lossy(name)
                )
            })
    }
    fn first_cluster(&self, img: &[u8], name: &[u8; 11]) -> u32 {
        let e = self.entry(img, name);
        ((le(img, e + 20, 2) << 16) | le(img, e + 26, 2)) as u32
    }
}

const BOTH: &[u64] = &[0, 1];
const CMDLINE: &[u8; 11] = b"CMDLINE TXT";
const CONFIG: &[u8; 11] = b"CONFIG  TXT";

/// Each corruption: a name, the words the refusal must contain, the edit.
type Corrupt = (
    &'static str,
    &'static [&'static str],
    fn(&Geo, &mut Vec<u8>),
);

/// What a refusal of a damaged FAT says: the damage and the fix.
macro_rules! damaged {
    ($w:expr) => {
        &["damaged", "fsck.fat", $w]
    };
}

const CORPUS: &[Corrupt] = &[
    ("root-loop", damaged!("a second time"), |g, img| {
        g.set_fat(img, g.root_cluster, g.root_cluster, BOTH)
    }),
    ("cmdline-loop", damaged!("CMDLINE.TXT"), |g, img| {
        let c = g.first_cluster(img, CMDLINE);
        // Grow the size so the chain length is not what gives it away.
        let e = g.entry(img, CMDLINE);
        img[e + 28..e + 32].copy_from_slice(&((2 * g.cluster) as u32).to_le_bytes());
        g.set_fat(img, c, c, BOTH)
    }),
    ("cross-link", damaged!("a second time"), |g, img| {
        let a = g.first_cluster(img, CONFIG);
        let b = g.first_cluster(img, CMDLINE);
        let e = g.entry(img, CONFIG);
        let size = le(img, e + 28, 4);
        let len = size.div_ceil(g.cluster);
        // config.txt's last cluster continues into cmdline.txt's first.
        let mut last = a;
        for _ in 1..len {
            last = g.fat_entry(img, last);
        }
        img[e + 28..e + 32].copy_from_slice(&((len + 1) * g.cluster).to_le_bytes()[..4]);
        g.set_fat(img, last, b, BOTH)
    }),
    ("out-of-range", damaged!("outside"), |g, img| {
        let c = g.first_cluster(img, CMDLINE);
        let e = g.entry(img, CMDLINE);
        img[e + 28..e + 32].copy_from_slice(&((2 * g.cluster) as u32).to_le_bytes());
        g.set_fat(img, c, g.clusters + 50, BOTH)
    }),
    ("free-in-chain", damaged!("marks free"), |g, img| {
        let c = g.first_cluster(img, CMDLINE);
        g.set_fat(img, c, 0, BOTH)
    }),
    ("fat-copies-differ", damaged!("disagree"), |g, img| {
        let c = g.first_cluster(img, CONFIG);
        g.set_fat(img, c, 0x0fff_fff0, &[1])
    }),
    ("bad-name", damaged!("invalid name byte"), |g, img| {
        let e = g.entry(img, CONFIG);
        img[e + 2] = b'*';
    }),
    (
        "size-mismatch",
        damaged!("cluster chain holds"),
        |g, img| {
            let e = g.entry(img, CMDLINE);
            img[e + 28..e + 32].copy_from_slice(&(10 * g.cluster as u32 + 1).to_le_bytes());
        },
    ),
    ("boot-sector", damaged!("sectors per cluster"), |g, img| {
        img[g.start as usize + 13] = 3;
    }),
    // Without its signature the partition is no FAT at all.
    ("no-signature", &["no FAT boot partition"], |g, img| {
        img[g.start as usize + 510] = 0;
    }),
];

fn bounded(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let o = Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_piprep"))
        .args(args)
        .current_dir(dir)
        .env("PIPREP_CACHE", dir.join("cache"))
        .output()
        .unwrap();
    (o, t.elapsed())
}

#[test]
fn damaged_boot_partitions_are_refused_in_bounded_time() {
    // A small boot partition keeps the corpus quick (it is still FAT32).
    let base = fixture("bookworm", &["--fat-mib", "64", "--cluster-sectors", "1"]);
    let good = std::fs::read(&base).unwrap();
    let fat = partitions(&base)[0];
    let g = geometry(&good, fat.start);
    assert_eq!(g.bps, 512);
    for (name, words, edit) in CORPUS {
        let dir = scratch(&format!("corrupt-fat-{name}"));
        let mut img = good.clone();
        edit(&g, &mut img);
        assert_ne!(img, good, "{name}: the edit changed nothing");
        let path = dir.join("base.img");
        std::fs::write(&path, &img).unwrap();
        write_inventory(&dir, &path, "");
        let before = sha256_file(&path);
        let p = path.to_str().unwrap();
        for args in [
            vec!["inspect", p],
            vec!["render", "--node", "cp-1", "--image", p],
            vec!["bake", "--all", "-q"],
            vec!["report", p],
        ] {
            let (o, took) = bounded(&dir, &args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(3), "{name}: {args:?}: {err}");
            assert!(
                took < Duration::from_secs(10),
                "{name}: {args:?} took {took:?}"
            );
            for w in *words {
                assert!(err.contains(w), "{name}: {args:?}: expected {w:?} in {err}");
            }
            assert!(!err.contains("panicked"), "{name}: {err}");
        }
        assert_eq!(sha256_file(&path), before, "{name}: the input changed");
        let out = dir.join("out");
        let images: Vec<String> = if out.exists() {
            dir_names(&out)
                .into_iter()
                .filter(|n| n.contains(".img"))
                .collect()
        } else {
            Vec::new()
        };
        assert!(images.is_empty(), "{name}: bake left {images:?}");
    }
}

/// Raspberry Pi OS's layouts pass: FAT32 with 4- and 1-sector clusters.
#[test]
fn intact_layouts_pass_the_check() {
    for args in [&[][..], &["--cluster-sectors", "1"][..]] {
        let img = fixture("trixie", args);
        let dir = scratch(&format!("corrupt-fat-intact-{}", args.len()));
        let o = piprep(&dir, &["inspect", img.to_str().unwrap()]);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
}

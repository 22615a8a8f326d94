//! Disk images: partition tables, the FAT boot partition (read/write), the ext4
//! root (read-only), and sparse cloning. Knows disks and filesystems, nothing
//! about Kubernetes.

pub mod clone;
pub mod ext4;
pub mod fat;
pub mod fat_check;
pub mod regional;
pub mod table;
pub mod window;

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::open_readonly;
use ext4::RootFacts;
use fat::BootView;
use table::Partition;

/// A size for people: `312.0 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Whether two paths name the same file (so an output would overwrite an input).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The named files of the FAT boot partition of an image or card (`None`
/// for each one absent): the one way commands read what a card holds.
pub fn read_boot_files(path: &Path, names: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
    let (file, size) = open_readonly(path)?;
    let table = table::read(&file, path, size)?;
    let boot = table.boot(path)?;
    Ok(fat::read(&file, path, boot, names)?.1)
}

/// A base image, opened read-only and inspected once.
pub struct BaseImage {
    pub path: PathBuf,
    pub file: File,
    pub len: u64,
    pub boot: Partition,
    pub facts: RootFacts,
    pub boot_view: BootView,
    pub cmdline: String,
    /// config.txt (empty when the boot partition has none).
    pub config_txt: String,
    /// Where the image came from and its hashes, filled in by the caller.
    pub identity: crate::source::Identity,
    /// Size, inode and modification time when opened.
    version: Version,
}

/// What changes when a file is rewritten, truncated or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    ino: u64,
    mtime: (i64, i64),
}

fn version(file: &File, len: u64) -> Option<Version> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().ok()?;
    Some(Version {
        len,
        ino: m.ino(),
        mtime: (m.mtime(), m.mtime_nsec()),
    })
}

impl BaseImage {
    /// Fails when the base was written to, truncated or replaced since it was
    /// opened: what was baked from it no longer matches its checksums.
    pub fn check_unchanged(&self) -> Result<()> {
        let now_len = rustix::fs::seek(&self.file, rustix::fs::SeekFrom::End(0)).ok();
        let now = now_len.and_then(|l| version(&self.file, l));
        let replaced = std::fs::metadata(&self.path).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.ino()
        }) != Some(self.version.ino);
        if now != Some(self.version) || replaced {
            return Err(Error::image(format!(
                "the base image {} changed while piprep was baking from it (its size, contents or file changed); nothing from this bake was kept; bake again from a copy nothing else writes to",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Bytes the base occupies on its disk (its data, holes excluded).
    pub fn allocated(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        match self.file.metadata() {
            Ok(m) if m.is_file() => m.blocks() * 512,
            _ => self.len,
        }
    }

    pub fn open(path: &Path) -> Result<Self> {
        if path.extension().is_some_and(|x| x == "xz") {
            return Err(Error::image(format!(
                "{} is xz-compressed; decompress it first (`xz -dk {}`) and bake from the .img",
                path.display(),
                path.display()
            )));
        }
        let (file, len) = open_readonly(path)?;
        let table = table::read(&file, path, len)?;
        let boot = table.boot(path)?.clone();
        let root = table.root().cloned().ok_or_else(|| {
            Error::image(format!(
                "{}: no ext4 root partition found; is this a Raspberry Pi OS image?",
                path.display()
            ))
        })?;
        let fs = ext4::open(&file, path, &root)?;
        let facts = ext4::facts(&fs, &boot).map_err(|why| {
            Error::image(format!(
                "{}: root filesystem (partition {}): {why}; run `e2fsck -n` on a copy to see the damage, or use a fresh image",
                path.display(),
                root.number
            ))
        })?;
        drop(fs);
        // The mount point goes into the first-boot scripts and cmdline.txt.
        if let Some(why) = crate::config::grammar::mount_point_problem(&facts.boot_mount) {
            return Err(Error::image(format!(
                "{}: /etc/fstab mounts the boot partition at `{}`, which {why}; fix that fstab line on a copy, or use a fresh image",
                path.display(),
                facts.boot_mount.escape_debug()
            )));
        }
        let (boot_view, mut contents) =
            fat::read(&file, path, &boot, &["cmdline.txt", "config.txt"])?;
        let config_txt = contents.pop().flatten().unwrap_or_default();
        let config_txt = String::from_utf8(config_txt).map_err(|_| {
            Error::image(format!("{}: config.txt is not UTF-8 text", path.display()))
        })?;
        let cmdline = contents.remove(0).ok_or_else(|| {
            Error::image(format!(
                "{}: the boot partition (partition {}) has no cmdline.txt, so the kernel arguments cannot be set; is this a Raspberry Pi OS image?",
                path.display(),
                boot.number
            ))
        })?;
        let cmdline = String::from_utf8(cmdline).map_err(|_| {
            Error::image(format!("{}: cmdline.txt is not UTF-8 text", path.display()))
        })?;
        Ok(BaseImage {
            path: path.to_path_buf(),
            len,
            boot,
            facts,
            boot_view,
            cmdline,
            config_txt,
            identity: Default::default(),
            version: version(&file, len).unwrap_or(Version {
                len,
                ino: 0,
                mtime: (0, 0),
            }),
            file,
        })
    }
}

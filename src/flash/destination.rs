//! Where `flash` may write. Every target is classified and checked before a
//! byte is written to any of them, so a typo costs nothing: no file is ever
//! created under /dev, a missing target needs --create, and an existing file
//! that looks like something to keep needs --force.

use std::fs::File;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::device::{self, Disk, SystemView};
use crate::error::{Error, Kind, Result};
use crate::interrupt::TempPath;

pub struct Rules<'a> {
    pub create: bool,
    pub force: bool,
    pub allow_non_removable: bool,
    pub system: &'a SystemView,
    /// Files never to overwrite without --force, with the reason (the
    /// inventory's base image).
    pub keep: Vec<(PathBuf, String)>,
    /// Never written, even with --force: piprep's own image cache.
    pub cache_dir: PathBuf,
}

#[derive(Debug)]
pub enum DestinationKind {
    /// A whole disk: a block device, or a file a (test) sysfs describes.
    Disk(Disk),
    /// A regular file, written as a temporary beside it and renamed into place
    /// after verification.
    File,
}

#[derive(Debug)]
pub struct Destination {
    pub path: PathBuf,
    pub kind: DestinationKind,
}

impl Destination {
    pub fn is_disk(&self) -> bool {
        matches!(self.kind, DestinationKind::Disk(_))
    }
}

fn refuse(msg: String) -> Error {
    Error::new(Kind::Output, msg)
}

/// `path` made absolute with its parent resolved (the file itself may not exist).
fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent)
            .map(|p| p.join(name))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

fn under_dev(path: &Path) -> bool {
    resolved(path).starts_with("/dev")
}

const LIST_DISKS: &str = "list cards with `piprep cards`";

/// What a regular file holds that suggests it is worth keeping.
fn worth_keeping(path: &Path) -> Option<String> {
    let f = File::open(path).ok()?;
    let mut head = [0u8; 1024];
    let n = f.read_at(&mut head, 0).ok()?;
    if !super::image::has_partition_table(&head[..n]) {
        return None;
    }
    let what = match crate::contract::read_stamp(path) {
        Some(stamp) => format!("a piprep image (node {})", stamp.node),
        None => "a partition table".to_string(),
    };
    Some(format!("holds {what}"))
}

/// Classify one target and check what can be checked without writing or
/// knowing the image (`check_fits` comes once the image is known).
pub fn classify(path: &Path, rules: &Rules) -> Result<Destination> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if under_dev(path) {
                return Err(refuse(format!(
                    "{} does not exist: no such device ({LIST_DISKS}); piprep never creates files under /dev",
                    path.display()
                )));
            }
            if !rules.create {
                return Err(refuse(format!(
                    "{} does not exist; to write the image to a new file pass --create, to write a card give its device ({LIST_DISKS})",
                    path.display()
                )));
            }
            return Ok(Destination {
                path: path.to_path_buf(),
                kind: DestinationKind::File,
            });
        }
        Err(e) => {
            return Err(refuse(format!(
                "cannot use {} as a flash target: {e}",
                path.display()
            )));
        }
    };
    let ft = meta.file_type();
    if (ft.is_block_device() || ft.is_file())
        && let device::DeviceKind::Disk(d) = device::probe(path, rules.system)?
    {
        device::check_safe(&d, 0, rules.allow_non_removable, rules.system)?;
        return Ok(Destination {
            path: path.to_path_buf(),
            kind: DestinationKind::Disk(d),
        });
    }
    if !ft.is_file() {
        return Err(refuse(format!(
            "{} is neither a block device nor a regular file; give a card's device ({LIST_DISKS})",
            path.display()
        )));
    }
    if under_dev(path) {
        return Err(refuse(format!(
            "{} is a regular file in /dev, not a device (perhaps left by a mistyped flash); remove it, then give a card's device ({LIST_DISKS})",
            path.display()
        )));
    }
    let real = resolved(path);
    if let Ok(cache) = std::fs::canonicalize(&rules.cache_dir)
        && real.starts_with(&cache)
    {
        return Err(refuse(format!(
            "{} is in piprep's image cache; flash to a copy instead",
            path.display()
        )));
    }
    if !rules.force {
        for (keep, why) in &rules.keep {
            if crate::image::same_file(keep, path) {
                return Err(refuse(format!(
                    "{} is {why}; pass --force to overwrite it",
                    path.display()
                )));
            }
        }
        if let Some(why) = worth_keeping(path) {
            return Err(refuse(format!(
                "{} already exists and {why}; pass --force to overwrite it",
                path.display()
            )));
        }
    }
    Ok(Destination {
        path: path.to_path_buf(),
        kind: DestinationKind::File,
    })
}

/// A disk smaller than the image is refused before anything is written.
pub fn check_fits(t: &Destination, image_len: Option<u64>) -> Result<()> {
    if let (DestinationKind::Disk(d), Some(len)) = (&t.kind, image_len)
        && d.size < len
    {
        return Err(refuse(format!(
            "{} is {}, smaller than the image ({}); use a larger card",
            t.path.display(),
            super::device::size_of(d.size),
            super::device::size_of(len)
        )));
    }
    Ok(())
}

/// The same file or device named twice, or a target that is a source image.
pub fn check_distinct(targets: &[&Path], sources: &[&Path]) -> Result<()> {
    let id = |p: &Path| -> (Option<(u64, u64)>, PathBuf) {
        let m = std::fs::metadata(p).ok();
        let dev = m.map(|m| {
            if m.file_type().is_block_device() {
                (u64::MAX, m.rdev())
            } else {
                (m.dev(), m.ino())
            }
        });
        (dev, resolved(p))
    };
    for (i, a) in targets.iter().enumerate() {
        let ia = id(a);
        for b in &targets[..i] {
            let ib = id(b);
            if (ia.0.is_some() && ia.0 == ib.0) || ia.1 == ib.1 {
                return Err(Error::config(format!(
                    "{} and {} are the same target; give each card once",
                    b.display(),
                    a.display()
                )));
            }
        }
        for s in sources {
            if crate::image::same_file(a, s) || ia.1 == resolved(s) {
                return Err(Error::config(format!(
                    "{} is the image being flashed; give a card's device ({LIST_DISKS})",
                    a.display()
                )));
            }
        }
    }
    Ok(())
}

/// Show every disk that will be overwritten and ask once, unless --yes.
pub fn confirm(disks: &[&Destination], yes: bool) -> Result<()> {
    for t in disks {
        let DestinationKind::Disk(disk) = &t.kind else {
            continue;
        };
        let parts: Vec<&str> = disk.partitions.iter().map(|(n, _)| n.as_str()).collect();
        eprintln!(
            "target {}: {}, {}, {}; partitions: {}",
            t.path.display(),
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
    }
    if yes || disks.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = disks.iter().map(|t| t.path.display().to_string()).collect();
    let names = names.join(", ");
    if !std::io::stdin().is_terminal() {
        return Err(Error::new(
            Kind::Config,
            format!("refusing to overwrite {names} without confirmation; pass --yes"),
        ));
    }
    eprint!("All data on {names} will be lost. Type yes to continue: ");
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

/// The file a regular-file target is written to before its rename:
/// `.NAME.PID.partial` beside it, registered for removal on a signal.
pub fn temp_for(path: &Path) -> TempPath {
    TempPath::new(crate::io::atomic::temp_beside(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_paths_are_recognised_through_their_parent() {
        assert!(under_dev(Path::new("/dev/sdz")));
        assert!(under_dev(Path::new("/dev/disk/by-id/nope")));
        assert!(!under_dev(Path::new("/tmp/dev/sdz")));
        assert!(!under_dev(Path::new("/devices")));
    }
}

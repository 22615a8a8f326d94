//! What a flash target is, read from sysfs and mountinfo, and whether writing to
//! it is safe. Both paths are parameters so tests can use a fake tree.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Kind, Result};

/// Where to read the machine's state from (real: /sys and /proc/self/mountinfo).
pub struct SystemView {
    pub sysfs: PathBuf,
    pub mountinfo: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Disk {
    pub name: String,
    pub model: String,
    pub size: u64,
    pub removable: bool,
    /// `major:minor` of the disk and of each partition.
    pub dev: String,
    pub partitions: Vec<(String, String)>,
    pub holders: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum DeviceKind {
    /// A plain file (tests, VM disks): no device checks apply.
    File,
    /// A whole disk: a real block device, or a file described by a fake sysfs.
    Disk(Disk),
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

fn load_disk(name: &str, dir: &Path) -> Result<Disk> {
    if dir.join("partition").exists() {
        return Err(Error::new(
            Kind::Config,
            format!(
                "{name} is a partition; flash the whole disk it belongs to (for example /dev/sdX, not /dev/sdX1)"
            ),
        ));
    }
    let size = read_trim(&dir.join("size"))
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        * 512;
    let vendor = read_trim(&dir.join("device/vendor")).unwrap_or_default();
    let model = read_trim(&dir.join("device/model")).unwrap_or_default();
    let model = format!("{vendor} {model}").trim().to_string();
    // Built-in SD slots (mmcblk) report removable=0 although the card is removable.
    let removable =
        read_trim(&dir.join("removable")).as_deref() == Some("1") || name.starts_with("mmcblk");
    let dev = read_trim(&dir.join("dev")).unwrap_or_default();
    let mut partitions = Vec::new();
    let mut holders: Vec<String> = Vec::new();
    let list = |p: &Path| -> Vec<String> {
        std::fs::read_dir(p)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    holders.extend(list(&dir.join("holders")));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.join("partition").exists() {
                let pname = e.file_name().to_string_lossy().into_owned();
                partitions.push((pname, read_trim(&p.join("dev")).unwrap_or_default()));
                holders.extend(list(&p.join("holders")));
            }
        }
    }
    partitions.sort();
    Ok(Disk {
        name: name.to_string(),
        model: if model.is_empty() {
            "unknown model".into()
        } else {
            model
        },
        size,
        removable,
        dev,
        partitions,
        holders,
    })
}

/// Every whole disk sysfs lists (partitions, loop, ram and zram devices
/// aside), with how it is attached: `usb`, `sd` (mmc), `nvme`, `sata` or `-`.
pub fn disks(sys: &SystemView) -> Vec<(Disk, &'static str)> {
    let class = sys.sysfs.join("class/block");
    let Ok(entries) = std::fs::read_dir(&class) else {
        return Vec::new();
    };
    let mut out: Vec<(Disk, &'static str)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let virtual_dev = ["loop", "ram", "zram", "dm-", "md", "sr"]
                .iter()
                .any(|p| name.starts_with(p));
            if virtual_dev || e.path().join("partition").exists() {
                return None;
            }
            let real = std::fs::canonicalize(e.path()).unwrap_or_else(|_| e.path());
            let at = real.to_string_lossy();
            let transport = if at.contains("/usb") {
                "usb"
            } else if name.starts_with("mmcblk") || at.contains("/mmc") {
                "sd"
            } else if name.starts_with("nvme") {
                "nvme"
            } else if at.contains("/ata") {
                "sata"
            } else {
                "-"
            };
            load_disk(&name, &e.path()).ok().map(|d| (d, transport))
        })
        .collect();
    out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    out
}

/// Where `disk` is mounted, from mountinfo (its partitions included).
pub fn mount_points(disk: &Disk, sys: &SystemView) -> Vec<String> {
    let info = std::fs::read_to_string(&sys.mountinfo).unwrap_or_default();
    let mut devs: Vec<&str> = vec![disk.dev.as_str()];
    devs.extend(disk.partitions.iter().map(|(_, d)| d.as_str()));
    mounts_of(&info, &devs)
}

/// Classify `path`: a block device (looked up in sysfs by major:minor), a file
/// that a (fake) sysfs describes as a disk by its name, or a plain file.
pub fn probe(path: &Path, sys: &SystemView) -> Result<DeviceKind> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::new(
            Kind::Output,
            format!("cannot use {} as a flash target: {e}", path.display()),
        )
    })?;
    let ft = meta.file_type();
    if ft.is_block_device() {
        let rdev = meta.rdev();
        let (maj, min) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
        let link = sys.sysfs.join(format!("dev/block/{maj}:{min}"));
        let dir = std::fs::canonicalize(&link).map_err(|e| {
            Error::new(
                Kind::Output,
                format!(
                    "{}: cannot find {} in sysfs: {e}",
                    path.display(),
                    link.display()
                ),
            )
        })?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(DeviceKind::Disk(load_disk(&name, &dir)?));
    }
    if ft.is_file() {
        if let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) {
            let dir = sys.sysfs.join("class/block").join(&name);
            if dir.is_dir() {
                return Ok(DeviceKind::Disk(load_disk(&name, &dir)?));
            }
        }
        return Ok(DeviceKind::File);
    }
    Err(Error::new(
        Kind::Output,
        format!(
            "{} is neither a block device nor a regular file",
            path.display()
        ),
    ))
}

/// Mount points of the given `major:minor` numbers, from mountinfo.
fn mounts_of(mountinfo: &str, devs: &[&str]) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 4 && devs.contains(&f[2])).then(|| f[4].to_string())
        })
        .collect()
}

/// Refuse a disk that is mounted, holds the running root, is in use by another
/// driver, is not removable (unless allowed), or is too small.
pub fn check_safe(
    disk: &Disk,
    image_len: u64,
    allow_non_removable: bool,
    sys: &SystemView,
) -> Result<()> {
    let refuse = |msg: String| Err(Error::new(Kind::Output, msg));
    let info = std::fs::read_to_string(&sys.mountinfo).unwrap_or_default();
    let mut devs: Vec<&str> = vec![disk.dev.as_str()];
    devs.extend(disk.partitions.iter().map(|(_, d)| d.as_str()));
    devs.retain(|d| !d.is_empty());
    let mounts = mounts_of(&info, &devs);
    if mounts.iter().any(|m| m == "/") {
        return refuse(format!(
            "{} holds the running system's root filesystem; refusing to overwrite it",
            disk.name
        ));
    }
    if !mounts.is_empty() {
        return refuse(format!(
            "{} is mounted at {}; unmount it first (e.g. `udisksctl unmount -b /dev/{}`)",
            disk.name,
            mounts.join(", "),
            disk.partitions
                .first()
                .map(|p| p.0.as_str())
                .unwrap_or(&disk.name)
        ));
    }
    if !disk.holders.is_empty() {
        return refuse(format!(
            "{} is in use by {} (LVM, RAID or encryption); refusing to overwrite it",
            disk.name,
            disk.holders.join(", ")
        ));
    }
    if !disk.removable && !allow_non_removable {
        return refuse(format!(
            "{} ({}) is not a removable disk; if you really mean it, pass --allow-non-removable",
            disk.name, disk.model
        ));
    }
    if disk.size < image_len {
        return refuse(format!(
            "{} is {}, smaller than the image ({}); use a larger card",
            disk.name,
            size_of(disk.size),
            size_of(image_len)
        ));
    }
    Ok(())
}

/// `29.7 GiB (31914983424 bytes)`: readable, and exact where it matters.
pub fn size_of(bytes: u64) -> String {
    format!("{} ({bytes} bytes)", crate::image::human_size(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounts_by_device_number() {
        let info = "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n90 22 8:17 / /media/u/bootfs rw - vfat /dev/sdb1 rw\n";
        assert_eq!(mounts_of(info, &["8:16", "8:17"]), ["/media/u/bootfs"]);
        assert_eq!(mounts_of(info, &["259:2"]), ["/"]);
        assert!(mounts_of(info, &["8:32"]).is_empty());
    }
}

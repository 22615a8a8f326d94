//! The root filesystem, read-only through ext4-view: which release it is, where
//! it mounts the boot partition, and which relevant packages it has installed.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use ext4_view::{Ext4, Ext4Read};
use serde::Serialize;

use super::table::Partition;
use crate::error::{Error, Result};

/// Packages whose presence changes what the first boot does.
pub const INTERESTING: &[&str] = &[
    "chrony",
    "ufw",
    "dphys-swapfile",
    "rpi-swap",
    "systemd-zram-generator",
    "cloud-init",
    "userconf-pi",
    "network-manager",
    "dhcpcd5",
    "dhcpcd",
    "openssh-server",
    "raspberrypi-sys-mods",
    "systemd-timesyncd",
];

struct PartReader {
    file: File,
    start: u64,
    len: u64,
}

impl Ext4Read for PartReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if start_byte + dst.len() as u64 > self.len {
            return Err(format!("read past the end of the partition at byte {start_byte}").into());
        }
        self.file.read_exact_at(dst, self.start + start_byte)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OsRelease {
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub codename: Option<String>,
    pub pretty_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RootFacts {
    pub os: OsRelease,
    /// Where the running system mounts the FAT partition, from /etc/fstab.
    pub boot_mount: String,
    /// How boot_mount was decided, for `inspect`.
    pub boot_mount_source: String,
    pub installed: BTreeSet<String>,
    /// The Debian architecture (`arm64`, `armhf`), from the dpkg database or,
    /// failing that, the ELF header of a binary; None when neither says.
    pub architecture: Option<String>,
    /// How `architecture` was decided, for `inspect`.
    pub architecture_source: String,
    /// Time zones, locales and keyboard layouts the image has.
    #[serde(skip)]
    pub regional: super::regional::RegionalFacts,
}

/// ext4's "needs recovery" incompat flag: the journal has unreplayed changes.
const INCOMPAT_RECOVER: u32 = 0x4;

pub fn open(file: &File, path: &Path, part: &Partition) -> Result<Ext4> {
    let mut sb = [0u8; 1024];
    file.read_exact_at(&mut sb, part.start + 1024)
        .map_err(|e| Error::image_io(path, "cannot read the root filesystem superblock of", &e))?;
    let incompat = u32::from_le_bytes(sb[96..100].try_into().expect("4 bytes"));
    if incompat & INCOMPAT_RECOVER != 0 {
        return Err(Error::image(format!(
            "{}: the root filesystem (partition {}) has a journal that needs recovery (it was not cleanly unmounted, e.g. copied from a running Pi); run `e2fsck -fy` on it first, or use a fresh image",
            path.display(),
            part.number
        )));
    }
    let reader = PartReader {
        file: file
            .try_clone()
            .map_err(|e| Error::image_io(path, "cannot reopen", &e))?,
        start: part.start,
        len: part.size,
    };
    Ext4::load(Box::new(reader)).map_err(|e| {
        Error::image(format!(
            "{}: partition {} is not a readable ext4 filesystem: {e}",
            path.display(),
            part.number
        ))
    })
}

/// The most piprep reads of one root-filesystem file (dpkg's status is the
/// largest, a few MiB on a desktop image).
const FILE_CAP: u64 = 64 << 20;

/// At most `cap` bytes of `p`: None when it does not exist. Any other
/// failure (a checksum error, an inode claiming gigabytes) is an error, not
/// "absent": guessing from a damaged filesystem picks the wrong backend.
fn read_capped(fs: &Ext4, p: &str, cap: u64) -> Result<Option<Vec<u8>>, String> {
    // A link is read whole to follow it: one that claims more than a path's
    // length is damage (os-release is a link on Debian).
    match fs.symlink_metadata(p) {
        Ok(m) if m.is_symlink() && m.len() > 4096 => {
            return Err(format!(
                "{p} in the root filesystem is a symbolic link of {} bytes; its inode is damaged",
                m.len()
            ));
        }
        Err(ext4_view::Ext4Error::NotFound) => return Ok(None),
        _ => {}
    }
    let mut file = match fs.open(p) {
        Ok(f) => f,
        Err(ext4_view::Ext4Error::NotFound) => return Ok(None),
        Err(e) => return Err(format!("cannot read {p} in the root filesystem: {e}")),
    };
    let len = file.metadata().len();
    let mut buf = vec![0u8; len.min(cap) as usize];
    let mut at = 0;
    while at < buf.len() {
        match file.read_bytes(&mut buf[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) => return Err(format!("cannot read {p} in the root filesystem: {e}")),
        }
    }
    buf.truncate(at);
    Ok(Some(buf))
}

/// A whole text file, refused (as damage) past FILE_CAP.
fn read_text(fs: &Ext4, p: &str) -> Result<Option<String>, String> {
    let Some(b) = read_capped(fs, p, FILE_CAP + 1)? else {
        return Ok(None);
    };
    if b.len() as u64 > FILE_CAP {
        return Err(format!(
            "{p} in the root filesystem claims more than {} MiB; its inode is damaged",
            FILE_CAP >> 20
        ));
    }
    Ok(Some(String::from_utf8_lossy(&b).into_owned()))
}

pub fn parse_os_release(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => os.id = Some(v),
            "VERSION_ID" => os.version_id = Some(v),
            "VERSION_CODENAME" => os.codename = Some(v),
            "PRETTY_NAME" => os.pretty_name = Some(v),
            _ => {}
        }
    }
    os
}

/// The mount point of the FAT partition per fstab, given its PARTUUID suffix.
pub fn boot_mount_from_fstab(fstab: &str, boot_number: u32) -> Option<String> {
    let suffix = format!("-{boot_number:02}");
    fstab
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then_some(f)
        })
        .find(|f| {
            f[2] == "vfat"
                || (f[0].starts_with("PARTUUID=") && f[0].ends_with(&suffix))
                || f[0] == "LABEL=bootfs"
                || f[0] == "LABEL=boot"
        })
        .map(|f| f[1].trim_end_matches('/').to_string())
        .filter(|m| m.starts_with('/'))
}

/// Release fallback: Bookworm (12) moved the boot partition to /boot/firmware.
fn boot_mount_for_release(os: &OsRelease) -> Option<&'static str> {
    let major: u32 = os.version_id.as_deref()?.split('.').next()?.parse().ok()?;
    Some(if major >= 12 {
        "/boot/firmware"
    } else {
        "/boot"
    })
}

pub fn installed_packages(status: &str, wanted: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for stanza in status.split("\n\n") {
        let mut name = None;
        let mut ok = false;
        for line in stanza.lines() {
            if let Some(n) = line.strip_prefix("Package: ") {
                name = Some(n.trim());
            } else if let Some(s) = line.strip_prefix("Status: ") {
                ok = s.trim().ends_with(" installed");
            }
        }
        if let (Some(n), true) = (name, ok)
            && wanted.contains(&n)
        {
            out.insert(n.to_string());
        }
    }
    out
}

/// What piprep needs to know of the root filesystem; Err(why) when a file
/// it reads is there but cannot be read.
pub fn facts(fs: &Ext4, boot: &Partition) -> Result<RootFacts, String> {
    let os = match read_text(fs, "/etc/os-release")? {
        Some(t) => Some(t),
        None => read_text(fs, "/usr/lib/os-release")?,
    }
    .map(|t| parse_os_release(&t))
    .unwrap_or_default();
    let fstab = read_text(fs, "/etc/fstab")?.unwrap_or_default();
    let (boot_mount, source) = if let Some(m) = boot_mount_from_fstab(&fstab, boot.number) {
        (m, "/etc/fstab".to_string())
    } else if let Some(m) = boot_mount_for_release(&os) {
        (
            m.to_string(),
            format!("release {}", os.version_id.clone().unwrap_or_default()),
        )
    } else {
        (
            "/boot/firmware".to_string(),
            "default (no fstab entry, unknown release)".to_string(),
        )
    };
    let status = read_text(fs, "/var/lib/dpkg/status")?.unwrap_or_default();
    let (architecture, architecture_source) = match dpkg_architecture(&status) {
        Some(a) => (Some(a), "dpkg status (package dpkg)".to_string()),
        None => ELF_PROBES
            .iter()
            .find_map(|p| {
                // The header only: a binary may be large, or its inode damaged.
                let head = read_capped(fs, p, 64).ok()??;
                elf_architecture(&head).map(|a| (Some(a.to_string()), format!("ELF header of {p}")))
            })
            .unwrap_or((
                None,
                "unknown: no dpkg status and no readable binary".into(),
            )),
    };
    Ok(RootFacts {
        os,
        boot_mount,
        boot_mount_source: source,
        installed: installed_packages(&status, INTERESTING),
        architecture,
        architecture_source,
        regional: super::regional::read(fs, read_text)?,
    })
}

/// Binaries every Debian root filesystem has (merged /usr or not).
const ELF_PROBES: &[&str] = &["/usr/bin/dpkg", "/bin/sh", "/usr/bin/ls", "/bin/ls"];

/// The native architecture: that of the `dpkg` package, which is never
/// foreign or `all`.
pub fn dpkg_architecture(status: &str) -> Option<String> {
    status.split("\n\n").find_map(|stanza| {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        (field("Package:").as_deref() == Some("dpkg"))
            .then(|| field("Architecture:"))
            .flatten()
            .filter(|a| !a.is_empty() && a != "all")
    })
}

/// The Debian architecture an ELF binary was built for, from its header:
/// class, byte order, machine and (for 32-bit ARM) the hard-float ABI flag.
pub fn elf_architecture(head: &[u8]) -> Option<&'static str> {
    if head.len() < 0x34 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let (class64, little) = (head[4] == 2, head[5] == 1);
    let u16_at = |o: usize| {
        let b = [head[o], head[o + 1]];
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let flags_at = if class64 { 0x30 } else { 0x24 };
    let flags = u32::from_le_bytes(head[flags_at..flags_at + 4].try_into().ok()?);
    Some(match (u16_at(18), class64, little) {
        (0xB7, true, true) => "arm64",
        // EF_ARM_ABI_FLOAT_HARD: armhf; without it, the soft-float armel.
        (0x28, false, true) if flags & 0x400 != 0 => "armhf",
        (0x28, false, true) => "armel",
        (0x3E, true, true) => "amd64",
        (0x03, false, true) => "i386",
        (0xF3, true, true) => "riscv64",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_boot_mount_in_fstab() {
        let fstab = "proc /proc proc defaults 0 0\nPARTUUID=8acef004-01  /boot/firmware  vfat    defaults 0 2\nPARTUUID=8acef004-02  /  ext4 defaults,noatime 0 1\n";
        assert_eq!(
            boot_mount_from_fstab(fstab, 1).as_deref(),
            Some("/boot/firmware")
        );
        let old = "PARTUUID=1234-01 /boot vfat defaults 0 2\n";
        assert_eq!(boot_mount_from_fstab(old, 1).as_deref(), Some("/boot"));
        assert_eq!(boot_mount_from_fstab("# nothing\n", 1), None);
    }

    #[test]
    fn parses_os_release_and_dpkg_status() {
        let os = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n",
        );
        assert_eq!(os.codename.as_deref(), Some("trixie"));
        assert_eq!(boot_mount_for_release(&os), Some("/boot/firmware"));
        let status = "Package: chrony\nStatus: install ok installed\n\nPackage: ufw\nStatus: deinstall ok config-files\n\nPackage: rpi-swap\nStatus: install ok installed\n";
        let got = installed_packages(status, INTERESTING);
        assert!(got.contains("chrony") && got.contains("rpi-swap") && !got.contains("ufw"));
    }

    #[test]
    fn architecture_from_dpkg_status_and_elf_headers() {
        let status = "Package: base-files\nArchitecture: armhf\n\nPackage: dpkg\nStatus: install ok installed\nArchitecture: arm64\n\nPackage: tzdata\nArchitecture: all\n";
        assert_eq!(dpkg_architecture(status).as_deref(), Some("arm64"));
        assert_eq!(
            dpkg_architecture("Package: tzdata\nArchitecture: all\n"),
            None
        );
        let elf = |class: u8, machine: u16, flags: u32| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(b"\x7fELF");
            h[4] = class;
            h[5] = 1;
            h[18..20].copy_from_slice(&machine.to_le_bytes());
            let at = if class == 2 { 0x30 } else { 0x24 };
            h[at..at + 4].copy_from_slice(&flags.to_le_bytes());
            h
        };
        assert_eq!(elf_architecture(&elf(2, 0xB7, 0)), Some("arm64"));
        assert_eq!(elf_architecture(&elf(1, 0x28, 0x0500_0400)), Some("armhf"));
        assert_eq!(elf_architecture(&elf(1, 0x28, 0x0500_0200)), Some("armel"));
        assert_eq!(elf_architecture(b"#!/bin/sh\n"), None);
    }
}

//! Partition tables: MBR (what Raspberry Pi OS uses) via mbrman, GPT via gpt
//! when the MBR is protective. Partitions are recognised by their content (FAT
//! boot sector, ext4 superblock), never by fixed offsets.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

const SECTOR: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Mbr,
    Gpt,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Mbr => "MBR",
            Scheme::Gpt => "GPT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Content {
    Fat,
    Ext4,
    Other,
}

impl Content {
    pub fn name(self) -> &'static str {
        match self {
            Content::Fat => "fat",
            Content::Ext4 => "ext4",
            Content::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    /// 1-based, as in `/dev/mmcblk0p1` and `PARTUUID=<id>-01`.
    pub number: u32,
    pub start: u64,
    pub size: u64,
    /// `0x0c` for MBR, the type GUID for GPT.
    pub type_id: String,
    pub content: Content,
    /// Filesystem label read from the partition, if any.
    pub label: Option<String>,
}

impl Partition {
    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub scheme: Scheme,
    /// MBR disk signature as `%08x` (the PARTUUID prefix), or the GPT disk GUID.
    pub disk_id: String,
    pub partitions: Vec<Partition>,
}

impl Table {
    /// The FAT partition the firmware boots from: the first FAT partition.
    pub fn boot(&self, path: &Path) -> Result<&Partition> {
        self.partitions
            .iter()
            .find(|p| p.content == Content::Fat)
            .ok_or_else(|| {
                Error::image(format!(
                    "{}: no FAT boot partition found ({} partitions, none holds a FAT filesystem); is this a Raspberry Pi OS image?",
                    path.display(),
                    self.partitions.len()
                ))
            })
    }

    /// The root filesystem: the first ext4 partition.
    pub fn root(&self) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.content == Content::Ext4)
    }
}

fn read_at(file: &File, buf: &mut [u8], off: u64) -> bool {
    file.read_exact_at(buf, off).is_ok()
}

fn sniff(file: &File, start: u64) -> (Content, Option<String>) {
    let mut bs = [0u8; 512];
    if read_at(file, &mut bs, start) && bs[510] == 0x55 && bs[511] == 0xAA {
        // FAT32 keeps its type string and label at 82/71, FAT12/16 at 54/43.
        for (ty, label) in [(82usize, 71usize), (54, 43)] {
            if bs[ty..ty + 3] == *b"FAT" {
                let l = String::from_utf8_lossy(&bs[label..label + 11])
                    .trim()
                    .to_string();
                let l = (!l.is_empty() && l != "NO NAME").then_some(l);
                return (Content::Fat, l);
            }
        }
    }
    let mut sb = [0u8; 1024];
    if read_at(file, &mut sb, start + 1024) && sb[56..58] == [0x53, 0xEF] {
        let l = String::from_utf8_lossy(&sb[120..136])
            .trim_end_matches('\0')
            .to_string();
        return (Content::Ext4, (!l.is_empty()).then_some(l));
    }
    (Content::Other, None)
}

/// Read the partition table of `file` (`len` bytes long).
pub fn read(file: &File, path: &Path, len: u64) -> Result<Table> {
    let mut mbr = [0u8; 512];
    if !read_at(file, &mut mbr, 0) || mbr[510..512] != [0x55, 0xAA] {
        return Err(Error::image(format!(
            "{}: no partition table (no MBR boot signature in the first sector); is this a raw .img disk image?",
            path.display()
        )));
    }
    let mut reader = file;
    let parsed = mbrman::MBR::read_from(&mut reader, SECTOR as u32).map_err(|e| {
        Error::image(format!(
            "{}: corrupt MBR partition table: {e}",
            path.display()
        ))
    })?;
    let protective = parsed.iter().any(|(_, p)| p.is_used() && p.sys == 0xEE);
    let (scheme, disk_id, raw) = if protective {
        read_gpt(file, path)?
    } else {
        let sig = parsed.header.disk_signature;
        let raw: Vec<(u32, u64, u64, String)> = parsed
            .iter()
            .filter(|(_, p)| p.is_used() && !p.is_extended())
            .map(|(i, p)| {
                (
                    i as u32,
                    p.starting_lba as u64 * SECTOR,
                    p.sectors as u64 * SECTOR,
                    format!("0x{:02x}", p.sys),
                )
            })
            .collect();
        (Scheme::Mbr, format!("{:08x}", u32::from_le_bytes(sig)), raw)
    };
    let mut partitions = Vec::new();
    for (number, start, size, type_id) in raw {
        if size == 0 || start == 0 {
            continue;
        }
        if start + size > len {
            return Err(Error::image(format!(
                "{}: partition {number} ends at byte {} but the image is only {len} bytes; the image is truncated or its partition table is corrupt",
                path.display(),
                start + size
            )));
        }
        let (content, label) = sniff(file, start);
        partitions.push(Partition {
            number,
            start,
            size,
            type_id,
            content,
            label,
        });
    }
    partitions.sort_by_key(|p| p.start);
    for w in partitions.windows(2) {
        if w[0].end() > w[1].start {
            return Err(Error::image(format!(
                "{}: partitions {} and {} overlap; the partition table is corrupt",
                path.display(),
                w[0].number,
                w[1].number
            )));
        }
    }
    Ok(Table {
        scheme,
        disk_id,
        partitions,
    })
}

type RawParts = Vec<(u32, u64, u64, String)>;

fn read_gpt(file: &File, path: &Path) -> Result<(Scheme, String, RawParts)> {
    let dev = file
        .try_clone()
        .map_err(|e| Error::image_io(path, "cannot reopen", &e))?;
    let disk = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .open_from_device(dev)
        .map_err(|e| {
            Error::image(format!(
                "{}: corrupt GPT partition table: {e}",
                path.display()
            ))
        })?;
    let raw = disk
        .partitions()
        .iter()
        .filter(|(_, p)| p.is_used())
        .map(|(n, p)| {
            (
                *n,
                p.first_lba * SECTOR,
                (p.last_lba + 1).saturating_sub(p.first_lba) * SECTOR,
                p.part_type_guid.guid.to_string(),
            )
        })
        .collect();
    Ok((Scheme::Gpt, disk.guid().to_string(), raw))
}

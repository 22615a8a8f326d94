//! The FAT boot partition, read and written with fatfs through a cached window.
//! fatfs 0.3.6 traps handled here: files are written only into the root
//! directory (its `create_dir` output fails fsck.fat), `create_file` is followed
//! by `truncate`, timestamps come from our fixed TimeProvider instead of the
//! 1980-00-00 default, and the filesystem is unmounted explicitly.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use fatfs::{Date, DateTime, FileSystem, FsOptions, Time, TimeProvider};

use super::fat_check;
use super::table::Partition;
use super::window::Window;
use crate::error::{Error, Result};

/// Timestamps for everything piprep writes: fixed, so output is reproducible.
#[derive(Debug, Clone, Copy)]
struct FixedTime(DateTime);

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// FAT time from Unix seconds (UTC), clamped to FAT's 1980–2107 range.
pub fn fat_time_from_unix(secs: i64) -> DateTime {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let dt = DateTime {
        date: Date {
            year: year as u16,
            month: month as u16,
            day: day as u16,
        },
        time: Time {
            hour: (rem / 3600) as u16,
            min: (rem % 3600 / 60) as u16,
            sec: (rem % 60) as u16,
            millis: 0,
        },
    };
    if year < 1980 {
        DateTime {
            date: Date {
                year: 1980,
                month: 1,
                day: 1,
            },
            time: Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    } else if year > 2107 {
        DateTime {
            date: Date {
                year: 2107,
                month: 12,
                day: 31,
            },
            time: Time {
                hour: 23,
                min: 59,
                sec: 58,
                millis: 0,
            },
        }
    } else {
        dt
    }
}

/// A root-directory entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub len: u64,
    pub is_dir: bool,
    pub modified: DateTime,
}

#[derive(Debug, Clone)]
pub struct BootView {
    pub cluster_size: u32,
    pub free_bytes: u64,
    pub entries: Vec<Entry>,
}

impl BootView {
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }
}

fn mount<'w, 'f>(
    w: &'w mut Window<'f>,
    path: &Path,
    part: &Partition,
    time: Option<DateTime>,
) -> Result<FileSystem<&'w mut Window<'f>>> {
    let mut opts = FsOptions::new().update_accessed_date(false);
    if let Some(t) = time {
        // fatfs wants a &'static provider; one small leak per bake is fine.
        opts = opts.time_provider(Box::leak(Box::new(FixedTime(t))));
    }
    FileSystem::new(w, opts).map_err(|e| {
        Error::image(format!(
            "{}: partition {} is not a readable FAT filesystem: {e}",
            path.display(),
            part.number
        ))
    })
}

/// A boot partition that fails the consistency check.
fn damaged(path: &Path, part: &Partition, why: &str) -> Error {
    Error::image(format!(
        "{}: the FAT filesystem of boot partition {} is damaged: {why}; run `fsck.fat -a` on a copy of the image (not the only one you have), or use a fresh image",
        path.display(),
        part.number
    ))
}

fn fat_err(path: &Path, part: &Partition, what: &str, e: std::io::Error) -> Error {
    Error::image(format!(
        "{}: boot partition {}: {what}: {e}",
        path.display(),
        part.number
    ))
}

/// List the root directory and read the named files (case-insensitively).
pub fn read(
    file: &File,
    path: &Path,
    part: &Partition,
    names: &[&str],
) -> Result<(BootView, Vec<Option<Vec<u8>>>)> {
    let mut w = Window::new(file, part.start, part.size);
    fat_check::check(&mut w, part.size).map_err(|why| damaged(path, part, &why))?;
    let fs = mount(&mut w, path, part, None)?;
    let stats = fs
        .stats()
        .map_err(|e| fat_err(path, part, "cannot read the FAT", e))?;
    let root = fs.root_dir();
    let mut entries = Vec::new();
    for e in root.iter() {
        let e = e.map_err(|e| fat_err(path, part, "cannot list the root directory", e))?;
        let name = e.file_name();
        if name == "." || name == ".." {
            continue;
        }
        entries.push(Entry {
            name,
            len: e.len(),
            is_dir: e.is_dir(),
            modified: e.modified(),
        });
    }
    let mut contents = Vec::new();
    for name in names {
        let found = entries
            .iter()
            .find(|e| !e.is_dir && e.name.eq_ignore_ascii_case(name));
        contents.push(match found {
            Some(e) => {
                let mut buf = Vec::with_capacity(e.len as usize);
                root.open_file(&e.name)
                    .and_then(|mut f| f.read_to_end(&mut buf))
                    .map_err(|err| fat_err(path, part, &format!("cannot read {name}"), err))?;
                Some(buf)
            }
            None => None,
        });
    }
    let view = BootView {
        cluster_size: stats.cluster_size(),
        free_bytes: stats.free_clusters() as u64 * stats.cluster_size() as u64,
        entries,
    };
    drop(root);
    drop(fs);
    Ok((view, contents))
}

/// Clusters a file of `len` bytes occupies.
fn clusters(len: u64, cluster: u64) -> u64 {
    len.div_ceil(cluster)
}

/// Refuse up front when the new files cannot fit, instead of failing half-way.
pub fn check_space(
    view: &BootView,
    path: &Path,
    part: &Partition,
    files: &[(&str, &[u8])],
) -> Result<()> {
    let cs = view.cluster_size as u64;
    let mut need: u64 = 0;
    let mut freed: u64 = 0;
    for (name, content) in files {
        need += clusters(content.len() as u64, cs);
        if let Some(e) = view.entry(name) {
            freed += clusters(e.len, cs);
        }
    }
    // One spare cluster in case the root directory must grow for long names.
    let need_bytes = (need + 1).saturating_sub(freed) * cs;
    if need_bytes > view.free_bytes {
        return Err(Error::image(format!(
            "{}: the boot partition (partition {}) is too full: piprep needs {} KiB and only {} KiB are free; delete unneeded files from it (for example old overlays) or use a fresh image",
            path.display(),
            part.number,
            need_bytes / 1024,
            view.free_bytes / 1024
        )));
    }
    Ok(())
}

/// Overwrite the content of `name`, if it exists, with zeros: a replaced or
/// removed file's clusters keep their bytes on the card until reused, so a
/// re-bake from a baked image would carry the other node's secrets there.
fn zero_existing(root: &fatfs::Dir<&mut Window<'_>>, name: &str) -> std::io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let Ok(mut old) = root.open_file(name) else {
        return Ok(false);
    };
    let len = old.seek(SeekFrom::End(0))?;
    old.seek(SeekFrom::Start(0))?;
    let zeros = vec![0u8; 64 << 10];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        old.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    old.flush()?;
    Ok(true)
}

/// Plan writing (creating or replacing) files in the root directory of the FAT
/// partition of the read-only `file`: returns the changed pages as (absolute
/// offset, bytes). The caller writes them into a copy, so an edit never
/// touches the base and never copies a byte twice. Files replaced are zeroed
/// first, and piprep's secret files of an earlier bake that this one does
/// not write are zeroed and removed.
pub fn edit_pages(
    file: &File,
    path: &Path,
    part: &Partition,
    files: &[(&str, &[u8])],
    time: DateTime,
) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut w = Window::new(file, part.start, part.size);
    {
        let fs = mount(&mut w, path, part, Some(time))?;
        {
            let root = fs.root_dir();
            let stale: Vec<String> = root
                .iter()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| {
                    crate::contract::is_secret_file(n)
                        && !files.iter().any(|(f, _)| f.eq_ignore_ascii_case(n))
                })
                .collect();
            for name in &stale {
                zero_existing(&root, name)
                    .and_then(|_| root.remove(name))
                    .map_err(|e| fat_err(path, part, &format!("cannot remove {name}"), e))?;
            }
            for (name, _) in files {
                zero_existing(&root, name)
                    .map_err(|e| fat_err(path, part, &format!("cannot overwrite {name}"), e))?;
            }
            for (name, content) in files {
                let mut f = root
                    .create_file(name)
                    .map_err(|e| fat_err(path, part, &format!("cannot create {name}"), e))?;
                f.truncate()
                    .and_then(|_| f.write_all(content))
                    .and_then(|_| f.flush())
                    .map_err(|e| {
                        let msg = if e.to_string().contains("No space") {
                            format!("{name} does not fit (the partition is too full)")
                        } else {
                            format!("cannot write {name}")
                        };
                        fat_err(path, part, &msg, e)
                    })?;
            }
        }
        fs.unmount()
            .map_err(|e| fat_err(path, part, "cannot unmount", e))?;
    }
    // The result must be as consistent as the base was: never bake a card
    // that fsck.fat would repair.
    if let Err(why) = fat_check::check(&mut w, part.size) {
        return Err(Error::internal(format!(
            "{}: piprep's edit of boot partition {} would leave it inconsistent ({why}); nothing was written; please report this with `piprep inspect` of the image",
            path.display(),
            part.number
        )));
    }
    Ok(w.take_dirty())
}

/// Bytes from the start of a FAT partition to its first data cluster: boot
/// sector, reserved sectors, both FATs. Zeros here matter (free clusters), so
/// a block map must include the region even where the image has holes.
pub fn metadata_len(file: &File, part: &Partition) -> Option<u64> {
    let mut bs = [0u8; 64];
    file.read_exact_at(&mut bs, part.start).ok()?;
    let bytes_per_sector = u16::from_le_bytes([bs[11], bs[12]]) as u64;
    let reserved = u16::from_le_bytes([bs[14], bs[15]]) as u64;
    let fats = bs[16] as u64;
    let root_entries = u16::from_le_bytes([bs[17], bs[18]]) as u64;
    let fat16 = u16::from_le_bytes([bs[22], bs[23]]) as u64;
    let fat32 = u32::from_le_bytes([bs[36], bs[37], bs[38], bs[39]]) as u64;
    let fat_sectors = if fat16 != 0 { fat16 } else { fat32 };
    let root_dir = (root_entries * 32).div_ceil(bytes_per_sector.max(1));
    let len = (reserved + fats * fat_sectors + root_dir) * bytes_per_sector;
    (bytes_per_sector >= 512 && len > 0 && len <= part.size).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_to_fat_time() {
        let t = fat_time_from_unix(1_759_276_800); // 2025-10-01T00:00:00Z
        assert_eq!((t.date.year, t.date.month, t.date.day), (2025, 10, 1));
        let t = fat_time_from_unix(951_827_696); // 2000-02-29T12:34:56Z
        assert_eq!((t.date.year, t.date.month, t.date.day), (2000, 2, 29));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (12, 34, 56));
        assert_eq!(fat_time_from_unix(0).date.year, 1980);
    }
}

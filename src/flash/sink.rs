//! Where a target's bytes go, one writer per kind of target (as bmaptool
//! keeps its file and block-device copies apart): a disk is written in
//! place, every byte; a file target is a fresh, sparse, sized temporary that
//! replaces the file only once it is verified.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::destination::{Destination, DestinationKind};
use crate::error::{Error, Result};
use crate::interrupt::TempPath;

pub trait Sink: Send {
    /// What the bytes are written to and read back from.
    fn file(&self) -> &File;
    /// Its path (the temporary's, for a file target).
    fn path(&self) -> &Path;
    /// A chunk of zeros may be skipped: the sink reads zeros where nothing
    /// was written.
    fn keeps_holes(&self) -> bool;
    /// Refuse a chunk that ends past the size the sink was made for.
    fn accept(&self, end: u64) -> Result<()>;
    /// After the last chunk, where the image ended.
    fn finish(&self, size: u64) -> Result<()>;
    /// After verification: the written bytes become the target's.
    fn commit(self: Box<Self>, target: &Path) -> Result<()>;
}

/// The sink for `t`; a file target is sized to `total` when it is known.
pub fn open(t: &Destination, total: Option<u64>) -> Result<Box<dyn Sink>> {
    Ok(match &t.kind {
        DestinationKind::Disk(_) => Box::new(Disk::open(&t.path)?),
        DestinationKind::File => Box::new(FileSink::open(&t.path, total)?),
    })
}

/// A card: written in place, every byte of the image (its old contents must
/// not show through).
struct Disk {
    file: File,
    path: std::path::PathBuf,
}

impl Disk {
    fn open(path: &Path) -> Result<Disk> {
        let block = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device());
        let mut oo = OpenOptions::new();
        oo.read(true).write(true);
        if block {
            // O_EXCL on a block device fails if anything has it mounted or
            // claimed since the checks: a last guard.
            oo.custom_flags(libc::O_EXCL);
        }
        let file = oo
            .open(path)
            .map_err(|e| Error::output_io(path, "cannot open", &e))?;
        Ok(Disk {
            file,
            path: path.to_path_buf(),
        })
    }
}

impl Sink for Disk {
    fn file(&self) -> &File {
        &self.file
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn keeps_holes(&self) -> bool {
        false
    }
    fn accept(&self, _end: u64) -> Result<()> {
        Ok(())
    }
    fn finish(&self, _size: u64) -> Result<()> {
        Ok(())
    }
    fn commit(self: Box<Self>, _target: &Path) -> Result<()> {
        Ok(())
    }
}

/// A file target: a temporary beside it (0600: the image carries the node's
/// secrets), renamed over it once verified.
struct FileSink {
    file: File,
    temp: TempPath,
    size: Option<u64>,
}

impl FileSink {
    fn open(target: &Path, size: Option<u64>) -> Result<FileSink> {
        let temp = super::destination::temp_for(target);
        let file = crate::io::atomic::create_new(temp.path(), crate::io::atomic::Holds::Secret)
            .map_err(|e| Error::output_io(temp.path(), "cannot create", &e))?;
        if let Some(len) = size {
            file.set_len(len)
                .map_err(|e| Error::output_io(temp.path(), "cannot size", &e))?;
        }
        Ok(FileSink { file, temp, size })
    }
}

impl Sink for FileSink {
    fn file(&self) -> &File {
        &self.file
    }
    fn path(&self) -> &Path {
        self.temp.path()
    }
    fn keeps_holes(&self) -> bool {
        true
    }
    fn accept(&self, end: u64) -> Result<()> {
        match self.size {
            Some(len) if end > len => Err(Error::image("the image is longer than its size")),
            _ => Ok(()),
        }
    }
    fn finish(&self, size: u64) -> Result<()> {
        // The image's size when known (trailing holes are not read), else
        // where the decoded stream ended.
        self.file
            .set_len(self.size.unwrap_or(size))
            .map_err(|e| Error::output_io(self.temp.path(), "cannot size", &e))
    }
    fn commit(self: Box<Self>, target: &Path) -> Result<()> {
        crate::io::atomic::commit(self.temp, target)
            .map_err(|e| Error::output_io(target, "cannot rename into place", &e))
    }
}

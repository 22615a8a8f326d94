//! A byte window onto one partition of an image file, with a page cache that
//! also holds every write. fatfs issues tiny reads and writes (a FAT entry at a
//! time); through a raw file that is about a million syscalls per FAT scan,
//! through this cache a few hundred. Writes never reach the file: the changed
//! pages are taken out with `take_dirty` and applied elsewhere, so the file the
//! window reads (the base image) is never modified.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

/// 64 KiB pages: large enough that a FAT scan needs few reads, small enough
/// that a handful of changed entries rewrite little.
const PAGE: u64 = 64 * 1024;

struct Page {
    data: Vec<u8>,
    dirty: bool,
}

pub struct Window<'f> {
    file: &'f File,
    start: u64,
    len: u64,
    pos: u64,
    pages: HashMap<u64, Page>,
}

impl<'f> Window<'f> {
    pub fn new(file: &'f File, start: u64, len: u64) -> Self {
        Window {
            file,
            start,
            len,
            pos: 0,
            pages: HashMap::new(),
        }
    }

    fn page(&mut self, index: u64) -> io::Result<&mut Page> {
        if !self.pages.contains_key(&index) {
            let off = index * PAGE;
            let size = PAGE.min(self.len - off) as usize;
            let mut data = vec![0u8; size];
            self.file.read_exact_at(&mut data, self.start + off)?;
            self.pages.insert(index, Page { data, dirty: false });
        }
        Ok(self.pages.get_mut(&index).expect("page just inserted"))
    }

    /// The changed pages as (absolute file offset, bytes), in offset order: the
    /// exact writes an edit needs, for applying them to another file.
    pub fn take_dirty(&mut self) -> Vec<(u64, Vec<u8>)> {
        let mut out: Vec<(u64, Vec<u8>)> = self
            .pages
            .drain()
            .filter(|(_, p)| p.dirty)
            .map(|(i, p)| (self.start + i * PAGE, p.data))
            .collect();
        out.sort_by_key(|(o, _)| *o);
        out
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let index = self.pos / PAGE;
        let within = (self.pos % PAGE) as usize;
        let page = self.page(index)?;
        let n = buf.len().min(page.data.len() - within);
        buf[..n].copy_from_slice(&page.data[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        let index = self.pos / PAGE;
        let within = (self.pos % PAGE) as usize;
        let page = self.page(index)?;
        let n = buf.len().min(page.data.len() - within);
        page.data[within..within + n].copy_from_slice(&buf[..n]);
        page.dirty = true;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Nothing to flush: changes stay in the cache until taken out.
        Ok(())
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the partition",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_writes_without_touching_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        std::fs::write(&path, vec![7u8; 300_000]).unwrap();
        let before = std::fs::read(&path).unwrap();
        let file = File::open(&path).unwrap();
        let mut w = Window::new(&file, 1000, 200_000);
        w.seek(SeekFrom::Start(PAGE - 2)).unwrap();
        w.write_all(&[1, 2, 3, 4]).unwrap(); // spans two pages
        let mut b = [0u8; 4];
        w.seek(SeekFrom::Start(PAGE - 2)).unwrap();
        w.read_exact(&mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        w.seek(SeekFrom::End(0)).unwrap();
        assert!(w.write(&[9]).is_err());
        let dirty = w.take_dirty();
        assert_eq!(
            dirty.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            [1000, 1000 + PAGE]
        );
        let mut applied = before.clone();
        for (o, d) in &dirty {
            applied[*o as usize..*o as usize + d.len()].copy_from_slice(d);
        }
        assert_eq!(
            &applied[(1000 + PAGE - 2) as usize..(1000 + PAGE + 2) as usize],
            &[1, 2, 3, 4]
        );
        assert_eq!(
            applied.iter().zip(&before).filter(|(a, b)| a != b).count(),
            4
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "the file was modified"
        );
    }
}

//! What `flash` reads: a raw disk image or an .xz of one, told apart by
//! content, never by name, and read front to back (an .xz cannot seek).

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::bmap::Bmap;
use crate::error::{Error, Result};
use crate::source::xz_blocks;

use crate::source::xz_stream::XzStreams;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    Xz,
}

/// An image to flash: its format, its raw size when known, and its block map.
pub struct Source {
    pub path: PathBuf,
    pub format: Format,
    /// Size of the raw image; `None` for an .xz whose index piprep cannot read
    /// (several streams, padding): then the stream's end decides.
    pub size: Option<u64>,
    pub bmap: Option<Bmap>,
}

pub use crate::source::content::has_partition_table;
use crate::source::content::{Content, classify, refusal};

/// The format of `path` by its first bytes; anything that is neither a raw
/// disk image nor an .xz is refused.
pub fn detect(path: &Path) -> Result<(Format, u64)> {
    let (file, len) = crate::io::open_readonly(path)?;
    let mut head = vec![0u8; 1024.min(len as usize)];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::image_io(path, "cannot read", &e))?;
    let what = match classify(&head) {
        Content::Xz => return Ok((Format::Xz, len)),
        Content::DiskImage => return Ok((Format::Raw, len)),
        other => refusal(other).expect("neither image nor xz"),
    };
    Err(Error::image(format!(
        "{}: {what}; nothing was written",
        path.display()
    )))
}

/// The block map beside `image`: IMAGE.bmap, and for an .xz also the .bmap of
/// the image it was made from (`bake --compress xz` writes NODE.img.bmap).
pub fn find_bmap(image: &Path, format: Format) -> Option<PathBuf> {
    let mut p = image.as_os_str().to_owned();
    p.push(".bmap");
    let beside = PathBuf::from(p);
    if beside.exists() {
        return Some(beside);
    }
    if format == Format::Xz {
        let name = image.file_name()?.to_str()?;
        let stem = name.strip_suffix(".xz")?;
        let p = image.with_file_name(format!("{stem}.bmap"));
        return p.exists().then_some(p);
    }
    None
}

pub fn read_bmap(path: &Path) -> Result<Bmap> {
    let text = crate::io::input::read_text(path, 64 << 20)
        .map_err(|e| Error::image(format!("cannot read {}: {e}", path.display())))?;
    crate::bmap::parse(&text).map_err(|e| Error::image(format!("{}: {e}", path.display())))
}

/// Open `path` as a flash source with `bmap` (an explicit path, the one found
/// beside it, or none).
pub fn open(path: &Path, bmap: BmapChoice) -> Result<Source> {
    let (format, len) = detect(path)?;
    let size = match format {
        Format::Raw => Some(len),
        Format::Xz => {
            let f = File::open(path).map_err(|e| Error::image_io(path, "cannot open", &e))?;
            xz_blocks::layout(&f, len).map(|l| l.size)
        }
    };
    let bmap_path = match bmap {
        BmapChoice::None => None,
        BmapChoice::Path(p) => Some(p),
        BmapChoice::Beside => find_bmap(path, format),
    };
    let bmap = bmap_path.as_deref().map(read_bmap).transpose()?;
    if let (Some(b), Some(size)) = (&bmap, size)
        && b.image_size != size
    {
        return Err(Error::image(format!(
            "{}: the .bmap {} describes a {} byte image but the image is {size} bytes; it belongs to another image (pass --no-bmap or the right --bmap)",
            path.display(),
            bmap_path.as_deref().unwrap_or(Path::new("")).display(),
            b.image_size
        )));
    }
    Ok(Source {
        path: path.to_path_buf(),
        format,
        size: size.or(bmap.as_ref().map(|b| b.image_size)),
        bmap,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmapChoice {
    None,
    Path(PathBuf),
    Beside,
}

/// Reads an image front to back: each call asks for bytes at or after the
/// end of the previous one.
pub trait Sequential: Send {
    /// Fill `buf` from `off`; fewer bytes only at the end of the image.
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> std::io::Result<usize>;
}

struct RawReader(File);

impl Sequential for RawReader {
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.0.read_at(&mut buf[got..], off + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        Ok(got)
    }
}

struct XzReader {
    dec: XzStreams<BufReader<File>>,
    pos: u64,
}

impl Sequential for XzReader {
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        if off < self.pos {
            return Err(std::io::Error::other("an .xz is read front to back"));
        }
        // Skip to `off` (a gap between block-map ranges) by decoding into buf.
        while self.pos < off {
            let n = ((off - self.pos) as usize).min(buf.len());
            let got = self.dec.read(&mut buf[..n])?;
            if got == 0 {
                return Ok(0);
            }
            self.pos += got as u64;
        }
        let mut got = 0;
        while got < buf.len() {
            match self.dec.read(&mut buf[got..])? {
                0 => break,
                n => got += n,
            }
        }
        self.pos += got as u64;
        Ok(got)
    }
}

/// A reader for `src`: the file itself, or liblzma's multi-threaded decoder
/// (blocks decode on every core, output stays in order).
pub fn reader(src: &Source) -> Result<Box<dyn Sequential>> {
    let f = File::open(&src.path).map_err(|e| Error::image_io(&src.path, "cannot open", &e))?;
    match src.format {
        Format::Raw => Ok(Box::new(RawReader(f))),
        Format::Xz => {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            Ok(Box::new(XzReader {
                dec: XzStreams::new(BufReader::with_capacity(1 << 20, f), threads)?,
                pos: 0,
            }))
        }
    }
}

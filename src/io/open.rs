//! Opening an input image or block device read-only, with its size.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Open an image or block device read-only and return it with its size
/// (block devices report size 0 in metadata, so seek to the end instead).
pub fn open_readonly(path: &Path) -> Result<(File, u64)> {
    // A FIFO would block the open for ever and a character device never
    // ends: only regular files and block devices hold images.
    if let Ok(m) = std::fs::metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_fifo() || t.is_socket() || t.is_char_device() {
            return Err(Error::image(format!(
                "{} is a {}, not an image file or block device",
                path.display(),
                if t.is_fifo() {
                    "pipe (FIFO)"
                } else if t.is_socket() {
                    "socket"
                } else {
                    "character device"
                }
            )));
        }
    }
    let file = File::open(path).map_err(|e| {
        let fix = match e.kind() {
            std::io::ErrorKind::NotFound => "; check the path",
            std::io::ErrorKind::PermissionDenied => "; make it readable by this user",
            _ => "",
        };
        Error::image(format!("cannot open image {}: {e}{fix}", path.display()))
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::image_io(path, "cannot stat", &e))?;
    if meta.is_dir() {
        return Err(Error::image(format!(
            "{} is a directory, not an image file",
            path.display()
        )));
    }
    let len = rustix::fs::seek(&file, rustix::fs::SeekFrom::End(0))
        .map_err(|e| Error::image_io(path, "cannot find the size of", &e.into()))?;
    Ok((file, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_files_and_refuses_what_holds_no_image() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("disk.img");
        std::fs::write(&p, [0u8; 4096]).unwrap();
        assert_eq!(open_readonly(&p).unwrap().1, 4096);
        let missing = open_readonly(&dir.path().join("nope")).unwrap_err();
        assert!(missing.message.contains("cannot open image"), "{missing}");
        let d = open_readonly(dir.path()).unwrap_err();
        assert!(d.message.contains("is a directory"), "{d}");
        let c = open_readonly(Path::new("/dev/null")).unwrap_err();
        assert!(c.message.contains("character device"), "{c}");
    }
}

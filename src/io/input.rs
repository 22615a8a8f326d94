//! The one reader of the files piprep is given (inventory, profiles, keys,
//! known_hosts, sidecars): regular files only, opened so that a FIFO never
//! blocks, and never more than a cap, so no input can hang piprep or make it
//! take the machine's memory. Private files (the secrets directory) are also
//! never followed through a link and must be the user's own and private.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The largest configuration file, profile, key or known_hosts piprep reads.
pub const TEXT_CAP: u64 = 4 << 20;

fn refuse(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// What a non-regular file is, for the error.
fn kind_of(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn open(path: &Path, follow: bool) -> io::Result<File> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) && !follow {
                refuse("is a symbolic link (refused for a private file)".into())
            } else {
                e
            }
        })?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(refuse(format!("is {}, not a regular file", kind_of(&m))));
    }
    Ok(f)
}

fn read_all(f: File, cap: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(refuse(format!(
            "is larger than {} KiB, far more than such a file holds",
            cap / 1024
        )));
    }
    Ok(buf)
}

/// The bytes of the regular file at `path` (links followed), at most `cap`.
pub fn read(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    read_all(open(path, true)?, cap)
}

/// `read` as UTF-8 text.
pub fn read_text(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read(path, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// Why `m` (of a file or directory in the secrets store) is not private to
/// this user: a link, another owner, or group/other access.
pub fn not_private(m: &std::fs::Metadata) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.file_type().is_symlink() {
        Some("is a symbolic link".into())
    } else if m.uid() != me {
        Some(format!(
            "belongs to uid {}, not to this user ({me})",
            m.uid()
        ))
    } else if m.mode() & 0o077 != 0 {
        Some(format!(
            "is open to group or others (mode {:o})",
            m.mode() & 0o777
        ))
    } else {
        None
    }
}

/// A private file's text: a regular file, not a link, this user's, mode
/// 0600 or stricter, at most `cap` bytes.
pub fn read_private(path: &Path, cap: u64) -> io::Result<String> {
    let f = open(path, false)?;
    if let Some(why) = not_private(&f.metadata()?) {
        return Err(refuse(why));
    }
    String::from_utf8(read_all(f, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn regular_files_only_and_capped() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a.toml");
        std::fs::write(&p, "x = 1\n").unwrap();
        assert_eq!(read_text(&p, 100).unwrap(), "x = 1\n");
        let big = read(&p, 3).unwrap_err();
        assert!(big.to_string().contains("larger than"), "{big}");
        let fifo = t.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid path string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo, 100).unwrap_err(); // returns at once, no writer needed
        assert!(e.to_string().contains("pipe (FIFO)"), "{e}");
        let d = read(t.path(), 100).unwrap_err();
        assert!(d.to_string().contains("a directory"), "{d}");
        assert!(read(Path::new("/dev/zero"), 100).is_err());
    }

    #[test]
    fn private_files_are_the_users_own() {
        let t = tempfile::tempdir().unwrap();
        let key = t.path().join("key");
        std::fs::write(&key, "secret").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_private(&key, 100).unwrap(), "secret");
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&key, &link).unwrap();
        let e = read_private(&link, 100).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = read_private(&key, 100).unwrap_err();
        assert!(e.to_string().contains("mode 640"), "{e}");
    }
}

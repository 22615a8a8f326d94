//! Every file piprep makes appears whole or not at all: written to a hidden
//! temporary in the same directory (registered for removal on Ctrl-C),
//! synced, renamed over the target, and the directory synced, so after a
//! crash the file is the old one or the new one. Its mode is chosen by what
//! it holds, from the moment it exists: a secret is never readable by others,
//! not even between create and chmod.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::interrupt::TempPath;

/// `.NAME.PID.partial` beside `path`: hidden, and unique per process.
pub fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// What a file holds, which decides its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Nothing secret: 0644.
    Public,
    /// A private key, a password hash, a PSK or token, or an image carrying
    /// one: 0600.
    Secret,
}

impl Holds {
    pub fn mode(self) -> u32 {
        match self {
            Holds::Public => 0o644,
            Holds::Secret => 0o600,
        }
    }
}

/// Create `path` with the mode for what it holds. It must not exist, not even
/// as a symbolic link (O_EXCL), so nothing of someone else's is written.
pub fn create_new(path: &Path, holds: Holds) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(holds.mode())
        .open(path)
}

/// A directory for files that hold secrets: made 0700 (parents too).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Write `bytes` to the temporary `path` (a leftover of that name is ours and
/// replaced) and fsync it (no rename).
pub fn write_synced(path: &Path, bytes: &[u8], holds: Holds) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = create_new(path, holds)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Make `tmp` (complete and synced) the file at `path`.
pub fn commit(tmp: TempPath, path: &Path) -> std::io::Result<()> {
    std::fs::rename(tmp.path(), path)?;
    tmp.persist();
    sync_parent(path);
    Ok(())
}

/// Sync the directory holding `path`, so a rename into it survives a crash.
pub fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Replace `path` with `bytes` atomically, with the mode for what it holds.
pub fn write_atomic(path: &Path, bytes: &[u8], holds: Holds) -> std::io::Result<()> {
    let tmp = TempPath::new(temp_beside(path));
    write_synced(tmp.path(), bytes, holds)?;
    commit(tmp, path)
}

/// Replace a user's file at `path` with `bytes` atomically, keeping its mode
/// exactly (`mode`, as it was), whatever the umask.
pub fn replace_keeping_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempPath::new(temp_beside(path));
    write_synced(tmp.path(), bytes, Holds::Secret)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    commit(tmp, path)
}

/// Where the symbolic link `path` finally points (itself if not a link), so
/// a file is replaced there and the link stays.
pub fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::ELOOP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("manifest.json");
        write_atomic(&p, b"old", Holds::Public).unwrap();
        write_atomic(&p, b"new", Holds::Secret).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["manifest.json"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sums");
        write_atomic(&p, b"old", Holds::Public).unwrap();
        // The temporary's name is taken by a directory: the write fails.
        std::fs::create_dir(temp_beside(&p)).unwrap();
        assert!(write_atomic(&p, b"new", Holds::Public).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
    }
}

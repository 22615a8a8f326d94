//! Files that appear whole or not at all: written to a hidden temporary in
//! the same directory (registered for removal on Ctrl-C), synced, renamed
//! over the target, and the directory synced, so after a crash the file is
//! the old one or the new one.

use std::io::Write;
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

/// Write `bytes` to `path` and fsync it (no rename).
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
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

/// Replace `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = TempPath::new(temp_beside(path));
    write_synced(tmp.path(), bytes)?;
    commit(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("manifest.json");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
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
        write_atomic(&p, b"old").unwrap();
        // The temporary's name is taken by a directory: the write fails.
        std::fs::create_dir(temp_beside(&p)).unwrap();
        assert!(write_atomic(&p, b"new").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
    }
}

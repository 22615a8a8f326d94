//! The sha256 of a base image, computed once and remembered per file version
//! (device, inode, size, mtime), so re-baking does not re-read gigabytes.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// 1 MiB reads: large enough for full disk throughput.
const BUF: usize = 1 << 20;

/// Hash `len` bytes of `file`. Holes are fed as zeros without reading them.
pub fn sha256(file: &File, len: u64, progress: &mut dyn FnMut(u64)) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    crate::io::extents::hash_span(file, 0, len, &mut h, &mut buf, progress)?;
    Ok(hex::encode(h.finalize()))
}

fn memo_path(meta: &std::fs::Metadata, cache: &Path) -> std::path::PathBuf {
    let key = format!(
        "{:x}-{:x}-{}-{}.{}",
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    cache.join("identity").join(key)
}

/// The remembered sha256 of `file`, if it has not changed since.
pub fn memoized(file: &File, cache: &Path) -> Option<String> {
    let meta = file.metadata().ok()?;
    let s = std::fs::read_to_string(memo_path(&meta, cache)).ok()?;
    (s.trim().len() == 64).then(|| s.trim().to_string())
}

/// Record a hash computed elsewhere (while decompressing) so nobody re-reads the file.
pub fn remember(path: &Path, sha: &str, cache: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        write_memo(&memo_path(&meta, cache), sha);
    }
}

fn write_memo(memo: &Path, sha: &str) {
    // Remembering is an optimisation: failure to write the memo is not an error.
    if std::fs::create_dir_all(memo.parent().expect("memo has a parent")).is_ok() {
        let _ = crate::io::atomic::write_atomic(
            memo,
            format!("{sha}\n").as_bytes(),
            crate::io::atomic::Holds::Public,
        );
    }
}

/// sha256 of the image at `path`, from the memo in `cache` when the file has not
/// changed since it was last hashed. `bar`: whether this wait gets a bar of
/// its own (not when another bar already shows it).
pub fn image_sha256(path: &Path, file: &File, len: u64, cache: &Path, bar: bool) -> Result<String> {
    let meta = file
        .metadata()
        .map_err(|e| Error::image_io(path, "cannot stat", &e))?;
    let memo = memo_path(&meta, cache);
    if let Some(sha) = memoized(file, cache) {
        return Ok(sha);
    }
    // Under 256 MiB the hash takes well under a second.
    let pb = if !bar || len < (256 << 20) {
        indicatif::ProgressBar::hidden()
    } else {
        crate::reporter::bar(Some(len), "sha256")
    };
    let sha = sha256(file, len, &mut |n| pb.set_position(n))
        .map_err(|e| Error::image_io(path, "cannot read", &e))?;
    pb.finish_and_clear();
    write_memo(&memo, &sha);
    Ok(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn hashes_sparse_files_like_a_plain_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sparse.img");
        let f = File::create(&p).unwrap();
        f.set_len(5 << 20).unwrap();
        f.write_all_at(b"hello", 3 << 20).unwrap();
        drop(f);
        let f = File::open(&p).unwrap();
        let got = sha256(&f, 5 << 20, &mut |_| {}).unwrap();
        let want = hex::encode(Sha256::digest(std::fs::read(&p).unwrap()));
        assert_eq!(got, want);
    }
}

//! Where base images come from and what identifies them: the cache directory
//! and the content hash of a base image.

pub mod identity;

use std::path::PathBuf;

/// `--cache-dir`/`PIPREP_CACHE`, else `$XDG_CACHE_HOME/piprep`, else `~/.cache/piprep`.
pub fn cache_dir(flag: Option<&std::path::Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("piprep");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("piprep")
}

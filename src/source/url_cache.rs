//! Small files fetched by URL at bake time (repository keys, CNI manifests),
//! cached under one directory by their sha256, with an index entry per URL,
//! so that later bakes and `--offline` use the same bytes.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One kind of cached file: its directory under the cache and extension.
pub struct UrlCache {
    pub sub: &'static str,
    pub ext: &'static str,
}

impl UrlCache {
    fn dir(&self, cache_dir: &Path) -> PathBuf {
        cache_dir.join(self.sub)
    }

    /// The index entry naming the file cached for `url`.
    fn index(&self, cache_dir: &Path, url: &str) -> PathBuf {
        let h = hex::encode(&Sha256::digest(url.as_bytes())[..16]);
        self.dir(cache_dir).join(format!("url-{h}"))
    }

    /// The bytes cached for `url`, if they still have the recorded sha256.
    pub fn get(&self, cache_dir: &Path, url: &str) -> Option<Vec<u8>> {
        let sha = std::fs::read_to_string(self.index(cache_dir, url)).ok()?;
        let sha = sha.trim();
        let bytes = std::fs::read(self.dir(cache_dir).join(format!("{sha}.{}", self.ext))).ok()?;
        (hex::encode(Sha256::digest(&bytes)) == sha).then_some(bytes)
    }

    pub fn put(&self, cache_dir: &Path, url: &str, bytes: &[u8]) -> Result<()> {
        use crate::io::atomic::{Holds, write_atomic};
        let dir = self.dir(cache_dir);
        std::fs::create_dir_all(&dir).map_err(|e| Error::output_io(&dir, "cannot create", &e))?;
        let sha = hex::encode(Sha256::digest(bytes));
        let file = dir.join(format!("{sha}.{}", self.ext));
        write_atomic(&file, bytes, Holds::Public)
            .map_err(|e| Error::output_io(&file, "cannot write", &e))?;
        let idx = self.index(cache_dir, url);
        write_atomic(&idx, format!("{sha}\n").as_bytes(), Holds::Public)
            .map_err(|e| Error::output_io(&idx, "cannot write", &e))
    }
}

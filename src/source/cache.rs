//! The image cache: content-addressed by the sha256 of what was downloaded (or
//! of the local .xz), one directory per image holding the raw `image.img` and
//! `meta.json`. A complete entry is one whose `image.img` exists: it is renamed
//! into place last. A lock file per entry serialises concurrent fetches.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Meta {
    /// sha256 of the downloaded (or local compressed) file: the cache key.
    pub sha256: String,
    pub url: Option<String>,
    pub name: Option<String>,
    pub release_date: Option<String>,
    pub init_format: Option<String>,
    /// sha256 and size of the raw image.
    pub extract_sha256: String,
    pub extract_size: u64,
    /// Bytes of the download, when the OS list says.
    #[serde(default)]
    pub download_size: u64,
}

/// What `cache clean` removes.
pub enum Clean {
    Everything,
    PartialOnly,
    Images {
        prefixes: Vec<String>,
        partials: bool,
    },
}

pub struct Cache {
    pub root: PathBuf,
}

/// A cached image: its metadata, apparent size and allocated bytes.
pub struct Listed {
    pub meta: Meta,
    pub len: u64,
    pub allocated: u64,
}

/// An exclusive lock held while this value lives (flock, released on close).
pub struct Lock(#[allow(dead_code)] File);

impl Cache {
    pub fn new(root: &Path) -> Self {
        Cache {
            root: root.to_path_buf(),
        }
    }

    pub fn entry(&self, sha: &str) -> PathBuf {
        self.root.join("images").join(sha)
    }

    pub fn image(&self, sha: &str) -> PathBuf {
        self.entry(sha).join("image.img")
    }

    pub fn partial(&self, sha: &str) -> PathBuf {
        self.root.join("downloads").join(format!("{sha}.partial"))
    }

    /// The complete entry for `sha`, if cached.
    pub fn lookup(&self, sha: &str) -> Option<(PathBuf, Meta)> {
        let img = self.image(sha);
        let meta: Meta =
            serde_json::from_str(&std::fs::read_to_string(self.entry(sha).join("meta.json")).ok()?)
                .ok()?;
        img.exists().then_some((img, meta))
    }

    pub fn lock(&self, sha: &str) -> Result<Lock> {
        let dir = self.root.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| Error::output_io(&dir, "cannot create", &e))?;
        let path = dir.join(format!("{sha}.lock"));
        let f = File::create(&path).map_err(|e| Error::output_io(&path, "cannot create", &e))?;
        use rustix::fs::{FlockOperation, flock};
        if flock(&f, FlockOperation::NonBlockingLockExclusive).is_err() {
            crate::reporter::say("waiting for another piprep that is fetching the same image…");
            flock(&f, FlockOperation::LockExclusive)
                .map_err(|e| Error::internal(format!("cannot lock {}: {e}", path.display())))?;
        }
        Ok(Lock(f))
    }

    pub fn ensure_dirs(&self) -> Result<()> {
        for d in ["images", "downloads"] {
            let p = self.root.join(d);
            std::fs::create_dir_all(&p)
                .map_err(|e| Error::output_io(&p, "cannot create cache directory", &e))?;
        }
        Ok(())
    }

    /// Move a finished raw image into place: meta first, image last.
    pub fn commit(&self, meta: &Meta, tmp_image: &Path) -> Result<PathBuf> {
        let dir = self.entry(&meta.sha256);
        std::fs::create_dir_all(&dir).map_err(|e| Error::output_io(&dir, "cannot create", &e))?;
        let m = dir.join("meta.json");
        let json = serde_json::to_string_pretty(meta).expect("json") + "\n";
        crate::io::atomic::write_atomic(&m, json.as_bytes(), crate::io::atomic::Holds::Public)
            .map_err(|e| Error::output_io(&m, "cannot write", &e))?;
        let img = self.image(&meta.sha256);
        std::fs::rename(tmp_image, &img)
            .map_err(|e| Error::output_io(&img, "cannot move into", &e))?;
        Ok(img)
    }

    /// Every complete entry, and partial downloads with their sizes.
    pub fn list(&self) -> (Vec<Listed>, Vec<(PathBuf, u64)>) {
        let mut images = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.root.join("images")) {
            for e in rd.flatten() {
                let sha = e.file_name().to_string_lossy().into_owned();
                if let Some((img, meta)) = self.lookup(&sha) {
                    let md = std::fs::metadata(&img).ok();
                    images.push(Listed {
                        meta,
                        len: md.as_ref().map_or(0, |m| m.len()),
                        allocated: md.map_or(0, |m| m.blocks() * 512),
                    });
                }
            }
        }
        images.sort_by(|a, b| a.meta.sha256.cmp(&b.meta.sha256));
        let mut partial = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.root.join("downloads")) {
            for e in rd.flatten() {
                partial.push((e.path(), e.metadata().map_or(0, |m| m.len())));
            }
        }
        partial.sort();
        (images, partial)
    }

    /// Remove what `which` says. Returns bytes freed.
    pub fn clean(&self, which: &Clean) -> Result<u64> {
        let (images, parts) = self.list();
        let (prefixes, partials, any_image): (&[String], bool, bool) = match which {
            Clean::Everything => (&[], true, true),
            Clean::PartialOnly => (&[], true, false),
            Clean::Images { prefixes, partials } => (prefixes, *partials, false),
        };
        let mut freed = 0;
        for l in images {
            if any_image
                || prefixes
                    .iter()
                    .any(|p| l.meta.sha256.starts_with(p.as_str()))
            {
                let _lock = self.lock(&l.meta.sha256)?;
                let dir = self.entry(&l.meta.sha256);
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| Error::output_io(&dir, "cannot remove", &e))?;
                freed += l.allocated;
            }
        }
        if partials {
            for (p, len) in parts {
                std::fs::remove_file(&p).map_err(|e| Error::output_io(&p, "cannot remove", &e))?;
                freed += len;
            }
        }
        // Repository keys fetched for [kubernetes]: the next bake fetches them anew.
        let keys = self.root.join("keys");
        if any_image && keys.exists() {
            std::fs::remove_dir_all(&keys)
                .map_err(|e| Error::output_io(&keys, "cannot remove", &e))?;
        }
        Ok(freed)
    }
}

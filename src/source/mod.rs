//! Where base images come from: a local .img or .img.xz, a URL with its
//! checksum (given or from a sidecar), or an entry of Raspberry Pi Imager's OS
//! list. Downloads are verified while streaming, decompressed once and cached
//! by content; bake and fetch share this code.

pub mod cache;
pub mod checksum;
pub mod cni_manifest;
pub mod content;
pub mod decompress;
pub mod http;
pub mod identity;
pub mod oslist;
pub mod repo_key;
mod resolve;
pub mod url_cache;
pub mod xz_blocks;
pub mod xz_stream;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::config::image_spec::Spec;
use crate::error::{Error, Result};
use crate::interrupt::TempPath;
use cache::{Cache, Meta};
pub use checksum::parse_sidecar;
use checksum::{Expected, expected_sha};

/// `--cache-dir`/`PIPREP_CACHE`, else `$XDG_CACHE_HOME/piprep`, else `~/.cache/piprep`.
pub fn cache_dir(flag: Option<&Path>) -> PathBuf {
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

/// What identifies a base image, recorded in every node's stamp and manifest.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Identity {
    pub url: Option<String>,
    pub name: Option<String>,
    /// sha256 of the file as published (the .xz), when it came through the cache.
    pub sha256: Option<String>,
    /// sha256 of the raw image piprep bakes from.
    pub raw_sha256: Option<String>,
    pub release_date: Option<String>,
    pub init_format: Option<String>,
}

pub struct Base {
    pub raw: PathBuf,
    pub identity: Identity,
}

pub struct Fetcher {
    pub cache: Cache,
    pub offline: bool,
}

impl Fetcher {
    /// The raw base image for `spec`, downloading and decompressing only what
    /// the cache does not already hold.
    pub fn fetch(&self, spec: &Spec) -> Result<Base> {
        if let Spec::Path { path: p, sha256 } = spec {
            let (file, len) = crate::io::open_readonly(p)?;
            let want = expected_sha(p, sha256.as_deref())?;
            let xz = usable(p, p.display().to_string())? == content::Content::Xz;
            if !xz {
                let mut identity = Identity::default();
                if let Some(want) = &want {
                    let got = identity::image_sha256(p, &file, len, &self.cache.root, true)?;
                    want.check(p, &got)?;
                    identity.raw_sha256 = Some(got);
                }
                return Ok(Base {
                    raw: p.clone(),
                    identity,
                });
            }
            if let Some(sha) = identity::memoized(&file, &self.cache.root) {
                if let Some(want) = &want {
                    want.check(p, &sha)?;
                }
                let seed = Meta {
                    sha256: sha,
                    ..Meta::default()
                };
                return self.materialise(&seed, p, false);
            }
            return self.first_use(p, &file, len, want.as_ref());
        }
        let seed = self.resolve_or_remember(spec)?;
        if let Some(hit) = self.hit(&seed) {
            return Ok(hit);
        }
        if self.offline {
            return Err(Error::image(format!(
                "--offline: {} is not in the cache ({}); run `piprep fetch` while online first",
                describe(spec),
                self.cache.root.display()
            )));
        }
        self.cache.ensure_dirs()?;
        let _lock = self.cache.lock(&seed.sha256)?;
        if let Some(hit) = self.hit(&seed) {
            return Ok(hit); // another process finished it while we waited
        }
        let url = seed.url.clone().expect("resolved specs have a url");
        let partial = self.cache.partial(&seed.sha256);
        let client = http::client()?;
        let size = (seed.download_size > 0).then_some(seed.download_size);
        let got = http::download(&client, &url, &partial, size)?;
        if got != seed.sha256 {
            let _ = std::fs::remove_file(&partial);
            return Err(Error::image(format!(
                "checksum mismatch for {url}: expected sha256 {}, downloaded file has {got}; the download was deleted and nothing was cached",
                seed.sha256
            )));
        }
        let base = self.materialise(&seed, &partial, true);
        if base.is_err() {
            // A download that does not decompress is useless to keep.
            let _ = std::fs::remove_file(&partial);
        }
        base
    }

    /// A local .xz seen for the first time: hash it (the cache key) while
    /// decompressing it, instead of reading it twice in a row.
    fn first_use(
        &self,
        p: &Path,
        file: &std::fs::File,
        len: u64,
        want: Option<&Expected>,
    ) -> Result<Base> {
        self.cache.ensure_dirs()?;
        let tmp_path = self
            .cache
            .root
            .join("images")
            .join(format!(".incoming-{}.img", std::process::id()));
        let tmp = TempPath::new(tmp_path.clone());
        let out = std::fs::File::create(&tmp_path)
            .map_err(|e| Error::output_io(&tmp_path, "cannot create", &e))?;
        let (sha, raw) = std::thread::scope(|s| {
            let h = s.spawn(|| identity::image_sha256(p, file, len, &self.cache.root, false));
            let raw = decompress::decompress(p, &out, &tmp_path, false);
            (h.join().expect("the hashing thread does not panic"), raw)
        });
        let sha = sha?;
        if let Some(want) = want {
            want.check(p, &sha)?;
        }
        let raw = raw?;
        let seed = Meta {
            sha256: sha,
            ..Meta::default()
        };
        let _lock = self.cache.lock(&seed.sha256)?;
        if let Some(hit) = self.hit(&seed) {
            return Ok(hit); // another process cached it meanwhile
        }
        let meta = Meta {
            extract_size: raw.size,
            ..seed
        };
        let img = self.cache.commit(&meta, &tmp_path)?;
        tmp.persist();
        Ok(Base {
            raw: img,
            identity: identity_of(&meta),
        })
    }

    fn hit(&self, seed: &Meta) -> Option<Base> {
        let (raw, meta) = self.cache.lookup(&seed.sha256)?;
        Some(Base {
            raw,
            identity: identity_of(&meta),
        })
    }

    /// Decompress (or adopt) a verified file into the cache.
    fn materialise(&self, seed: &Meta, file: &Path, downloaded: bool) -> Result<Base> {
        if let Some(hit) = self.hit(seed) {
            return Ok(hit);
        }
        self.cache.ensure_dirs()?;
        let entry = self.cache.entry(&seed.sha256);
        std::fs::create_dir_all(&entry)
            .map_err(|e| Error::output_io(&entry, "cannot create", &e))?;
        let tmp_path = entry.join(format!("image.img.tmp{}", std::process::id()));
        let tmp = TempPath::new(tmp_path.clone());
        let origin = meta_origin(seed, file);
        let xz = usable(file, origin.clone())? == content::Content::Xz;
        let mut meta = seed.clone();
        if xz {
            let out = std::fs::File::create(&tmp_path)
                .map_err(|e| Error::output_io(&tmp_path, "cannot create", &e))?;
            let verify = !meta.extract_sha256.is_empty();
            let raw = decompress::decompress(file, &out, &tmp_path, verify)?;
            let got = raw.sha256.unwrap_or_default();
            if verify && meta.extract_sha256 != got {
                return Err(Error::image(format!(
                    "{}: the decompressed image has sha256 {got}, but {} was expected; nothing was cached",
                    file.display(),
                    meta.extract_sha256
                )));
            }
            meta.extract_sha256 = got;
            meta.extract_size = raw.size;
        } else {
            if !downloaded {
                return Err(Error::image(format!(
                    "{origin}: not an xz file (no xz header)"
                )));
            }
            // A raw .img download: adopt it as is.
            std::fs::rename(file, &tmp_path)
                .map_err(|e| Error::output_io(&tmp_path, "cannot move", &e))?;
            meta.extract_sha256 = meta.sha256.clone();
            meta.extract_size = std::fs::metadata(&tmp_path).map(|m| m.len()).unwrap_or(0);
        }
        let img = self.cache.commit(&meta, &tmp_path)?;
        tmp.persist();
        if downloaded {
            let _ = std::fs::remove_file(file);
        }
        if !meta.extract_sha256.is_empty() {
            identity::remember(&img, &meta.extract_sha256, &self.cache.root);
        }
        Ok(Base {
            raw: img,
            identity: identity_of(&meta),
        })
    }
}

/// A disk image or an .xz of one, told by content; anything else is refused
/// with what it is and the fix, so nothing unusable reaches the cache.
fn usable(file: &Path, origin: String) -> Result<content::Content> {
    let c = content::classify_file(file).map_err(|e| Error::image_io(file, "cannot read", &e))?;
    match content::refusal(c) {
        None => Ok(c),
        Some(why) => Err(Error::image(format!("{origin}: {why}; nothing was cached"))),
    }
}

fn meta_origin(m: &Meta, file: &Path) -> String {
    m.url.clone().unwrap_or_else(|| file.display().to_string())
}

fn identity_of(m: &Meta) -> Identity {
    Identity {
        url: m.url.clone(),
        name: m.name.clone(),
        sha256: Some(m.sha256.clone()),
        raw_sha256: Some(m.extract_sha256.clone()).filter(|s| !s.is_empty()),
        release_date: m.release_date.clone(),
        init_format: m.init_format.clone(),
    }
}

fn describe(spec: &Spec) -> String {
    match spec {
        Spec::Path { path, .. } => path.display().to_string(),
        Spec::Url { url, .. } => url.clone(),
        Spec::OsList { name, .. } => format!("\"{name}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_must_name_the_file() {
        let h = "a".repeat(64);
        let url = "https://d/2025-10-01-raspios-trixie-arm64-lite.img.xz";
        assert_eq!(
            parse_sidecar(
                &format!("{h}  2025-10-01-raspios-trixie-arm64-lite.img.xz\n"),
                url
            )
            .unwrap(),
            h
        );
        assert!(
            parse_sidecar(&format!("{h}  other.img.xz\n"), url)
                .unwrap_err()
                .contains("other.img.xz")
        );
        assert!(parse_sidecar("nonsense\n", url).is_err());
    }
}

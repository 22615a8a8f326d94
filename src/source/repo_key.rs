//! The Kubernetes repository's signing key, fetched at bake time so that the
//! first boot never fetches a key: from the repository's Release.key over
//! HTTPS, once, then from the cache (by URL, stored by its sha256).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::http;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};

const FIX: &str = "fix: check [kubernetes] repository, or set repository_key = \"FILE\"";

/// Repository keys are a few KiB.
const CAP: u64 = 64 << 10;

fn keys_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("keys")
}

/// The index entry naming the key cached for `url`.
fn index(cache_dir: &Path, url: &str) -> PathBuf {
    let h = hex::encode(&Sha256::digest(url.as_bytes())[..16]);
    keys_dir(cache_dir).join(format!("url-{h}"))
}

/// The key cached for `url`, if its bytes still have the recorded sha256.
fn cached(cache_dir: &Path, url: &str) -> Option<Vec<u8>> {
    let sha = std::fs::read_to_string(index(cache_dir, url)).ok()?;
    let sha = sha.trim();
    let bytes = std::fs::read(keys_dir(cache_dir).join(format!("{sha}.key"))).ok()?;
    (hex::encode(Sha256::digest(&bytes)) == sha).then_some(bytes)
}

fn store(cache_dir: &Path, url: &str, bytes: &[u8]) -> Result<()> {
    let dir = keys_dir(cache_dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::output_io(&dir, "cannot create", &e))?;
    let sha = hex::encode(Sha256::digest(bytes));
    let key = dir.join(format!("{sha}.key"));
    crate::io::atomic::write_atomic(&key, bytes, crate::io::atomic::Holds::Public)
        .map_err(|e| Error::output_io(&key, "cannot write", &e))?;
    let idx = index(cache_dir, url);
    crate::io::atomic::write_atomic(
        &idx,
        format!("{sha}\n").as_bytes(),
        crate::io::atomic::Holds::Public,
    )
    .map_err(|e| Error::output_io(&idx, "cannot write", &e))
}

/// Give every plan's `[kubernetes]` key its bytes: a file key was read by
/// validation; a URL key comes from the cache, or is fetched (not with
/// `offline`) and cached.
pub fn resolve(plans: &mut [NodePlan], cache_dir: &Path, offline: bool) -> Result<()> {
    let Some(key) = plans
        .iter()
        .filter_map(|p| p.kubernetes.as_ref())
        .map(|k| &k.key)
        .find(|k| k.armored.is_none())
        .cloned()
    else {
        return Ok(());
    };
    let url = key.origin.clone();
    let bytes = match cached(cache_dir, &url) {
        Some(b) => b,
        None if offline => {
            return Err(Error::config(format!(
                "[kubernetes]: the repository key {url} is not in the cache and --offline forbids fetching it; fix: bake once online, or set repository_key = \"FILE\""
            )));
        }
        None => http::get_small(&http::client()?, &url, CAP).map_err(|mut e| {
            e.message = format!("[kubernetes] repository key: {}; {FIX}", e.message);
            e
        })?,
    };
    let mut resolved = key.clone();
    resolved
        .set(&bytes)
        .map_err(|why| Error::image(format!("[kubernetes] repository key {url} {why}; {FIX}")))?;
    if cached(cache_dir, &url).is_none() {
        store(cache_dir, &url, &bytes)?;
        crate::reporter::say(format!(
            "fetched the Kubernetes repository key {url} (sha256 {})",
            resolved.sha256.as_deref().unwrap_or_default()
        ));
    }
    for k in plans.iter_mut().filter_map(|p| p.kubernetes.as_mut()) {
        if k.key.origin == url {
            k.key = resolved.clone();
        }
    }
    Ok(())
}

//! The Kubernetes repository's signing key, fetched at bake time so that the
//! first boot never fetches a key: from the repository's Release.key over
//! HTTPS, once, then from the cache (by URL, stored by its sha256).

use std::path::Path;

use super::http;
use super::url_cache::UrlCache;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};

const FIX: &str = "fix: check [kubernetes] repository, or set repository_key = \"FILE\"";

/// Repository keys are a few KiB.
const CAP: u64 = 64 << 10;

/// Keys by sha256 under the cache's `keys/`.
const KEYS: UrlCache = UrlCache {
    sub: "keys",
    ext: "key",
};

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
    let bytes = match KEYS.get(cache_dir, &url) {
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
    if KEYS.get(cache_dir, &url).is_none() {
        KEYS.put(cache_dir, &url, &bytes)?;
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

//! The CNI manifest of a cluster that forms itself, resolved at bake time so
//! that the init node never fetches it: a file beside the inventory, or a
//! URL fetched once and cached by sha256 (`--offline` uses the cache); then
//! fitted to the pod range.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::http;
use super::url_cache::UrlCache;
use crate::config::Config;
use crate::config::bootstrap::CniManifest;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};

/// Manifests by sha256 under the cache's `manifests/`.
const MANIFESTS: UrlCache = UrlCache {
    sub: "manifests",
    ext: "yaml",
};
/// Calico's manifest, CRDs included, is about 1 MiB.
const CAP: u64 = 16 << 20;
const FIX: &str = "fix: check [kubernetes] cni_manifest (a URL, or a file beside piprep.toml)";

fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// The manifest's bytes: a file's, the cache's, or fetched and cached.
fn bytes(cfg: &Config, origin: &str, cache_dir: &Path, offline: bool) -> Result<Vec<u8>> {
    if !is_url(origin) {
        let path = cfg.dir.join(origin);
        return crate::io::input::read(&path, CAP).map_err(|e| {
            Error::config(format!(
                "[kubernetes] cni_manifest {}: {e}; {FIX}",
                path.display()
            ))
        });
    }
    if let Some(b) = MANIFESTS.get(cache_dir, origin) {
        return Ok(b);
    }
    if offline {
        return Err(Error::config(format!(
            "[kubernetes]: the CNI manifest {origin} is not in the cache and --offline forbids fetching it; fix: bake once online, or set cni_manifest = \"FILE\""
        )));
    }
    let b = http::get_small(&http::client()?, origin, CAP).map_err(|mut e| {
        e.message = format!("[kubernetes] CNI manifest: {}; {FIX}", e.message);
        e
    })?;
    MANIFESTS.put(cache_dir, origin, &b)?;
    crate::reporter::say(format!(
        "fetched the CNI manifest {origin} (sha256 {})",
        hex::encode(Sha256::digest(&b))
    ));
    Ok(b)
}

/// Give every bootstrapping plan its CNI manifest, fitted to the pod range.
pub fn resolve(
    cfg: &Config,
    plans: &mut [NodePlan],
    cache_dir: &Path,
    offline: bool,
) -> Result<()> {
    let Some((origin, cni, pods)) = plans.iter().find_map(|p| {
        let k = p.kubernetes.as_ref()?;
        let origin = k.bootstrap.as_ref()?.cni_origin.clone()?;
        Some((origin, k.cni, k.pod_cidr.clone()))
    }) else {
        return Ok(());
    };
    let raw = bytes(cfg, &origin, cache_dir, offline)?;
    let text = String::from_utf8(raw.clone()).map_err(|_| {
        Error::config(format!(
            "[kubernetes] CNI manifest {origin} is not UTF-8 text; {FIX}"
        ))
    })?;
    let fitted = crate::config::cni_fit::fit(cni, &text, &pods).map_err(|why| {
        Error::config(format!(
            "[kubernetes] CNI manifest {origin} {why}, so piprep cannot set the pod range {pods} in it; {FIX}"
        ))
    })?;
    let manifest = CniManifest {
        origin: origin.clone(),
        sha256: hex::encode(Sha256::digest(&raw)),
        fitted,
    };
    for b in plans
        .iter_mut()
        .filter_map(|p| p.kubernetes.as_mut()?.bootstrap.as_mut())
    {
        b.cni = Some(manifest.clone());
    }
    Ok(())
}

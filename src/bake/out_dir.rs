//! The output directory: created, locked against a second bake, cleared of a
//! killed bake's temporaries, and asked whether a node's image is current.

use std::path::Path;

use super::Options;
use super::outputs::Manifest;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};
use crate::image::BaseImage;

pub fn prepare_out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::output_io(dir, "cannot create output directory", &e))
}

/// Held while a bake writes into its output directory: a flock on the
/// directory itself (no lock file left behind), released on close. A second
/// bake into the same directory waits for the first.
pub struct OutLock(#[allow(dead_code)] std::fs::File);

pub fn lock_out_dir(dir: &Path, quiet: bool) -> Result<OutLock> {
    use rustix::fs::{FlockOperation, flock};
    let f = std::fs::File::open(dir).map_err(|e| Error::output_io(dir, "cannot open", &e))?;
    if flock(&f, FlockOperation::NonBlockingLockExclusive).is_err() {
        if !quiet {
            eprintln!(
                "waiting for another piprep that is baking into {}…",
                dir.display()
            );
        }
        flock(&f, FlockOperation::LockExclusive)
            .map_err(|e| Error::output(format!("cannot lock {}: {e}", dir.display())))?;
    }
    Ok(OutLock(f))
}

/// Under the lock, every piprep temporary in `dir` is left over from a
/// killed bake: remove them. Returns how many and their allocated bytes.
pub fn remove_stale(dir: &Path) -> (usize, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut n, mut bytes) = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with('.')
            && (name.ends_with(".partial") || name.starts_with(".reproducibility-check."));
        if !ours {
            continue;
        }
        let size = e.metadata().map(|m| m.blocks() * 512).unwrap_or(0);
        let gone = if e.path().is_dir() {
            std::fs::remove_dir_all(e.path())
        } else {
            std::fs::remove_file(e.path())
        };
        if gone.is_ok() {
            n += 1;
            bytes += size;
        }
    }
    (n, bytes)
}

/// Whether `img` carries piprep's stamp for `node`: then piprep made it,
/// even if an interrupted bake never listed it in the manifest.
pub fn stamped_for(img: &Path, node: &str) -> bool {
    crate::contract::read_stamp(img).is_some_and(|s| s.node == node)
}

/// Whether `out/NAME.img` already is exactly what this plan and base give.
pub fn up_to_date(manifest: &Manifest, plan: &NodePlan, base: &BaseImage, opts: &Options) -> bool {
    let Some(e) = manifest.nodes.get(&plan.name) else {
        return false;
    };
    let img = opts.out_dir.join(&e.image);
    e.config_hash == plan.config_hash()
        && Some(&e.base_sha256) == base.identity.raw_sha256.as_ref()
        && e.piprep_version == env!("CARGO_PKG_VERSION")
        && (e.xz.is_some() || !opts.compress)
        && opts.out_dir.join(&e.bmap).exists()
        && std::fs::metadata(&img).is_ok_and(|m| m.len() == e.size)
        && crate::contract::read_stamp(&img).is_some_and(|s| s.config_hash == e.config_hash)
}

//! The output directory: created, locked against a second bake, cleared of a
//! killed bake's temporaries, and asked whether a node's image is current.

use std::path::Path;

use super::Options;
use super::outputs::Manifest;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};
use crate::image::BaseImage;

/// Create the output directory 0700 (its images hold the nodes' secrets);
/// an existing one open to others gets a warning with the fix.
pub fn prepare_out_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    crate::io::atomic::create_private_dir(dir)
        .map_err(|e| Error::output_io(dir, "cannot create output directory", &e))?;
    let mode = std::fs::metadata(dir).map_or(0, |m| m.permissions().mode());
    if mode & 0o077 != 0 {
        crate::reporter::say(format!(
            "warning: {} is open to other users (mode {:o}); the images are 0600, but a directory of your own keeps even their names private: chmod 700 {}",
            dir.display(),
            mode & 0o777,
            dir.display()
        ));
    }
    Ok(())
}

/// Held while a bake writes into its output directory: a flock on the
/// directory itself (no lock file left behind), released on close. A second
/// bake into the same directory waits for the first.
pub struct OutLock(#[allow(dead_code)] std::fs::File);

pub fn lock_out_dir(dir: &Path) -> Result<OutLock> {
    use rustix::fs::{FlockOperation, flock};
    let f = std::fs::File::open(dir).map_err(|e| Error::output_io(dir, "cannot open", &e))?;
    if flock(&f, FlockOperation::NonBlockingLockExclusive).is_err() {
        crate::reporter::say(format!(
            "waiting for another piprep that is baking into {}…",
            dir.display()
        ));
        flock(&f, FlockOperation::LockExclusive)
            .map_err(|e| Error::output(format!("cannot lock {}: {e}", dir.display())))?;
    }
    Ok(OutLock(f))
}

/// `.NAME.PID.partial`: the name `io::atomic::temp_beside` gives.
fn is_temp_name(name: &str) -> bool {
    let Some(inner) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".partial"))
    else {
        return false;
    };
    inner.rsplit_once('.').is_some_and(|(base, pid)| {
        !base.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Under the lock, every piprep temporary in `dir` is left over from a
/// killed bake: remove them. Only regular files with a temporary's exact
/// name, and scratch directories piprep marked, are piprep's; a directory,
/// link or other file that merely looks like one is left alone. Returns how
/// many and their allocated bytes.
pub fn remove_stale(dir: &Path) -> (usize, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut n, mut bytes) = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(m) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let gone = if m.is_file() && is_temp_name(&name) {
            std::fs::remove_file(e.path()).is_ok()
        } else if m.is_dir() && name.starts_with(super::reproducible::SCRATCH_PREFIX) {
            crate::io::owned::remove_marked(&e.path()).unwrap_or(false)
        } else {
            false
        };
        if gone {
            n += 1;
            bytes += m.blocks() * 512;
        }
    }
    (n, bytes)
}

/// The first line of the known_hosts a bake writes: its mark as piprep's.
pub fn is_our_known_hosts(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|l| l.starts_with("# SSH host keys of cluster ") && l.contains("(piprep)"))
}

/// Files in `dir` this bake would replace that piprep did not make: each as
/// (path, what it is). manifest.json must be piprep's; SHA256SUMS may list
/// only what that manifest lists; known_hosts must carry piprep's first
/// line; a node's .bmap and .xz are piprep's when its image is.
pub fn foreign_outputs(dir: &Path, manifest: Option<&Manifest>, nodes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let exists = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
    let text =
        |name: &str| crate::io::input::read_text(&dir.join(name), crate::io::input::TEXT_CAP);
    if exists(super::outputs::MANIFEST) && manifest.is_none() {
        out.push(format!(
            "{} is not a piprep manifest",
            dir.join(super::outputs::MANIFEST).display()
        ));
    }
    if exists(super::outputs::SUMS) {
        let listed: Vec<&str> = manifest
            .iter()
            .flat_map(|m| m.nodes.values())
            .flat_map(|e| {
                std::iter::once(e.image.as_str()).chain(e.xz.as_ref().map(|x| x.file.as_str()))
            })
            .collect();
        let ours = text(super::outputs::SUMS).is_ok_and(|t| {
            t.lines().all(|l| {
                l.split_once("  ").is_some_and(|(h, f)| {
                    h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) && listed.contains(&f)
                })
            })
        });
        if !ours {
            out.push(format!(
                "{} lists files piprep's manifest does not",
                dir.join(super::outputs::SUMS).display()
            ));
        }
    }
    if exists(super::outputs::KNOWN_HOSTS)
        && !text(super::outputs::KNOWN_HOSTS).is_ok_and(|t| is_our_known_hosts(&t))
    {
        out.push(format!(
            "{} has no piprep header line",
            dir.join(super::outputs::KNOWN_HOSTS).display()
        ));
    }
    for node in nodes {
        let img = format!("{node}.img");
        let image_ours = manifest.is_some_and(|m| m.nodes.contains_key(*node))
            || stamped_for(&dir.join(&img), node);
        for side in [format!("{img}.bmap"), format!("{img}.xz")] {
            if exists(&side) && !image_ours {
                out.push(format!(
                    "{} belongs to no image piprep made",
                    dir.join(side).display()
                ));
            }
        }
    }
    out
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

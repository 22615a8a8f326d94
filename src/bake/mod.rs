//! Bake: the one place where config, render, source and image meet. Nodes are
//! baked in parallel (bounded by cores) from one base, each into a hidden
//! temporary file renamed into place when complete; a failing node leaves the
//! others' outputs intact. Unchanged nodes are skipped; the manifest and
//! SHA256SUMS are rewritten at the end.

pub mod chunk;
pub mod compress;
pub mod digest;
pub mod fanout;
pub mod fat_time;
pub mod group;
pub mod node;
pub mod out_dir;
pub mod outputs;
mod parallel;
mod report;
mod reproducible;
pub mod space;

use crate::config::plan::NodePlan;
use crate::error::Error;
use crate::image::{BaseImage, fat};
use digest::BaseDigest;
use fat_time::fat_time;
use out_dir::{lock_out_dir, prepare_out_dir, remove_stale, stamped_for, up_to_date};
use outputs::Manifest;
use report::push;
pub use report::{NodeResult, Options, Outcome, Report};

/// Bake `plans` from `base`. Returns each node's outcome; writing the manifest
/// and SHA256SUMS failing is reported as an error of its own.
pub fn run(base: &BaseImage, plans: &[&NodePlan], opts: &Options) -> Report {
    let mut results: Vec<NodeResult> = Vec::new();
    if let Err(e) = prepare_out_dir(&opts.out_dir) {
        return Report::failed(Vec::new(), e);
    }
    let _lock = match lock_out_dir(&opts.out_dir) {
        Ok(l) => l,
        Err(e) => return Report::failed(Vec::new(), e),
    };
    let (stale, bytes) = remove_stale(&opts.out_dir);
    if stale > 0 {
        crate::reporter::say(format!(
            "removed {stale} temporary file(s) ({}) left in {} by an interrupted bake",
            crate::image::human_size(bytes),
            opts.out_dir.display()
        ));
    }
    let on_disk = Manifest::read(&opts.out_dir);
    let mut manifest = on_disk
        .clone()
        .unwrap_or_else(|| Manifest::load(&opts.out_dir));
    let mut todo: Vec<&NodePlan> = Vec::new();
    for p in plans {
        let img = opts.out_dir.join(format!("{}.img", p.name));
        if img.exists() && !opts.force {
            if up_to_date(&manifest, p, base, opts) {
                push(&mut results, &p.name, Ok(Outcome::UpToDate(img)));
                continue;
            }
            if !manifest.nodes.contains_key(&p.name) && !stamped_for(&img, &p.name) {
                push(
                    &mut results,
                    &p.name,
                    Err(Error::output(format!(
                        "{} already exists and is not listed in {}; pass --force to replace it",
                        img.display(),
                        opts.out_dir.join(outputs::MANIFEST).display()
                    ))
                    .context(format!("node {}", p.name))),
                );
                continue;
            }
        }
        todo.push(p);
    }
    // Bake what fits on the disk; name the rest.
    if let Some((free, shares)) = space::free(&opts.out_dir, base) {
        let per = space::per_node(base, opts.compress);
        let fit = space::fitting(free, shares, per, todo.len());
        for p in todo.split_off(fit) {
            push(&mut results, &p.name,
                Err(Error::output(format!(
                    "not baked: {} has {} free and each image needs about {} on disk ({fit} of the nodes fit); free space there, choose another --out, or bake fewer nodes at a time",
                    opts.out_dir.display(),
                    crate::image::human_size(free),
                    crate::image::human_size(per)
                ))
                .context(format!("node {}", p.name))),
            );
        }
    }
    // Only what piprep made is replaced (or what --force hands over).
    let names: Vec<&str> = todo.iter().map(|p| p.name.as_str()).collect();
    let foreign = out_dir::foreign_outputs(&opts.out_dir, on_disk.as_ref(), &names);
    if !foreign.is_empty() && !opts.force {
        return Report::failed(
            results,
            Error::output(format!(
                "{}: piprep did not make {}, and will not replace them; move them away, choose another --out, or pass --force to replace them",
                opts.out_dir.display(),
                foreign.join("; ")
            )),
        );
    }
    let retracted = manifest.nodes.clone();
    if let Err(e) = manifest.retract(&opts.out_dir, &names) {
        return Report::failed(results, e);
    }
    let time = match fat_time(base) {
        Ok(t) => t,
        Err(e) => return Report::failed(results, e),
    };
    // --check-reproducible bakes up-to-date nodes again too: "up to date"
    // says nothing about whether a second bake gives the same bytes.
    let again: Vec<&NodePlan> = if opts.check_reproducible {
        let fresh = |p: &&&NodePlan| {
            results
                .iter()
                .any(|n| n.node == p.name && matches!(n.outcome, Ok(Outcome::UpToDate(_))))
        };
        let mut v: Vec<&NodePlan> = plans.iter().filter(fresh).copied().collect();
        v.extend(todo.iter().copied());
        v
    } else {
        Vec::new()
    };
    let digest = (!(todo.is_empty() && again.is_empty())
        && BaseDigest::usable((base.boot.start, base.boot.end())))
    .then(|| {
        let key = format!(
            "{}-{}-{}-{}.json",
            base.identity.raw_sha256.as_deref().unwrap_or("unknown"),
            base.boot.start,
            base.boot.end(),
            base.len
        );
        let meta = fat::metadata_len(&base.file, &base.boot).unwrap_or(base.boot.size);
        BaseDigest::new(
            &base.file,
            base.len,
            (base.boot.start, base.boot.end()),
            meta,
            &opts.cache_dir.join("bmap").join(key),
        )
    })
    .transpose();
    let digest = match digest {
        Ok(d) => d,
        Err(e) => return Report::failed(results, Error::image_io(&base.path, "cannot read", &e)),
    };

    let baked = parallel::bake_parallel(base, &todo, digest.as_ref(), &opts.out_dir, time, opts);
    for (name, r) in baked {
        match r {
            Ok(b) => {
                manifest.nodes.insert(name.clone(), b.entry.clone());
                push(&mut results, &name, Ok(Outcome::Baked(Box::new(b))));
            }
            Err(e) => {
                // Not baked, so its image was never replaced: listed again.
                if let Some(old) = retracted.get(&name) {
                    manifest.nodes.insert(name.clone(), old.clone());
                }
                push(&mut results, &name, Err(e))
            }
        }
    }
    if let Some(text) = &opts.known_hosts
        && results.iter().any(|n| n.outcome.is_ok())
    {
        let path = opts.out_dir.join(outputs::KNOWN_HOSTS);
        if let Err(e) = crate::io::atomic::write_atomic(
            &path,
            text.as_bytes(),
            crate::io::atomic::Holds::Public,
        ) {
            return Report::failed(results, Error::output_io(&path, "cannot write", &e));
        }
    }
    let any_baked = results
        .iter()
        .any(|n| matches!(n.outcome, Ok(Outcome::Baked(_))));
    // Nothing new, and SHA256SUMS says what the manifest says: nothing to
    // write. (A bake killed before it wrote them, or a full disk, leaves them
    // to rewrite.)
    let mut saved = if !any_baked && manifest.sums_current(&opts.out_dir) {
        Ok(())
    } else {
        // Tests: die where a kill between the renames and the manifest would.
        if std::env::var_os("PIPREP_FAILPOINT_AFTER_RENAME").is_some() {
            std::process::exit(137);
        }
        manifest.base = base.identity.clone();
        manifest.save(&opts.out_dir)
    };
    if saved.is_ok() && opts.check_reproducible {
        let first = |name: &str| manifest.nodes.get(name).map(|e| e.sha256.clone());
        saved = reproducible::check_reproducible(base, &again, digest.as_ref(), &first, time, opts);
    }
    Report {
        nodes: results,
        saved,
    }
}

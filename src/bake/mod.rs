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
mod reproducible;
pub mod space;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use crate::config::inventory::InitMode;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};
use crate::image::{BaseImage, fat};
use crate::render::Target;
use digest::BaseDigest;
use fat_time::fat_time;
use node::{Baked, Job};
use out_dir::{lock_out_dir, prepare_out_dir, remove_stale, stamped_for, up_to_date};
use outputs::Manifest;

#[derive(Clone)]
pub struct Options {
    pub out_dir: PathBuf,
    pub force: bool,
    pub quiet: bool,
    pub compress: bool,
    pub jobs: Option<usize>,
    pub check_reproducible: bool,
    pub cache_dir: PathBuf,
    pub init: InitMode,
    /// The fleet's known_hosts, written into the output directory under its
    /// lock once any node has an image.
    pub known_hosts: Option<String>,
}

pub enum Outcome {
    Baked(Box<Baked>),
    UpToDate(PathBuf),
}

fn bars(quiet: bool) -> MultiProgress {
    if !crate::progress::visible(quiet) {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    }
}

/// Bake `plans` from `base`. Returns each node's outcome; writing the manifest
/// and SHA256SUMS failing is reported as an error of its own.
pub fn run(
    base: &BaseImage,
    plans: &[&NodePlan],
    opts: &Options,
) -> (Vec<(String, Result<Outcome>)>, Result<()>) {
    let mut results: Vec<(String, Result<Outcome>)> = Vec::new();
    if let Err(e) = prepare_out_dir(&opts.out_dir, opts.quiet) {
        return (Vec::new(), Err(e));
    }
    let _lock = match lock_out_dir(&opts.out_dir, opts.quiet) {
        Ok(l) => l,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let (stale, bytes) = remove_stale(&opts.out_dir);
    if stale > 0 && !opts.quiet {
        eprintln!(
            "removed {stale} temporary file(s) ({}) left in {} by an interrupted bake",
            crate::image::human_size(bytes),
            opts.out_dir.display()
        );
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
                results.push((p.name.clone(), Ok(Outcome::UpToDate(img))));
                continue;
            }
            if !manifest.nodes.contains_key(&p.name) && !stamped_for(&img, &p.name) {
                results.push((
                    p.name.clone(),
                    Err(Error::output(format!(
                        "{} already exists and is not listed in {}; pass --force to replace it",
                        img.display(),
                        opts.out_dir.join(outputs::MANIFEST).display()
                    ))
                    .context(format!("node {}", p.name))),
                ));
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
            results.push((
                p.name.clone(),
                Err(Error::output(format!(
                    "not baked: {} has {} free and each image needs about {} on disk ({fit} of the nodes fit); free space there, choose another --out, or bake fewer nodes at a time",
                    opts.out_dir.display(),
                    crate::image::human_size(free),
                    crate::image::human_size(per)
                ))
                .context(format!("node {}", p.name))),
            ));
        }
    }
    // Only what piprep made is replaced (or what --force hands over).
    let names: Vec<&str> = todo.iter().map(|p| p.name.as_str()).collect();
    let foreign = out_dir::foreign_outputs(&opts.out_dir, on_disk.as_ref(), &names);
    if !foreign.is_empty() && !opts.force {
        return (
            results,
            Err(Error::output(format!(
                "{}: piprep did not make {}, and will not replace them; move them away, choose another --out, or pass --force to replace them",
                opts.out_dir.display(),
                foreign.join("; ")
            ))),
        );
    }
    let retracted = manifest.nodes.clone();
    if let Err(e) = manifest.retract(&opts.out_dir, &names) {
        return (results, Err(e));
    }
    let time = match fat_time(base) {
        Ok(t) => t,
        Err(e) => return (results, Err(e)),
    };
    let digest = (!todo.is_empty() && BaseDigest::usable((base.boot.start, base.boot.end())))
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
        Err(e) => return (results, Err(Error::image_io(&base.path, "cannot read", &e))),
    };

    let baked = bake_parallel(base, &todo, digest.as_ref(), &opts.out_dir, time, opts);
    for (name, r) in baked {
        match r {
            Ok(b) => {
                manifest.nodes.insert(name.clone(), b.entry.clone());
                results.push((name, Ok(Outcome::Baked(Box::new(b)))));
            }
            Err(e) => {
                // Not baked, so its image was never replaced: listed again.
                if let Some(old) = retracted.get(&name) {
                    manifest.nodes.insert(name.clone(), old.clone());
                }
                results.push((name, Err(e)))
            }
        }
    }
    if let Some(text) = &opts.known_hosts
        && results.iter().any(|(_, r)| r.is_ok())
    {
        let path = opts.out_dir.join(outputs::KNOWN_HOSTS);
        if let Err(e) = crate::io::atomic::write_atomic(
            &path,
            text.as_bytes(),
            crate::io::atomic::Holds::Public,
        ) {
            return (results, Err(Error::output_io(&path, "cannot write", &e)));
        }
    }
    let any_baked = results
        .iter()
        .any(|(_, r)| matches!(r, Ok(Outcome::Baked(_))));
    // Nothing new, and SHA256SUMS says what the manifest says: done. (A bake
    // killed before it wrote them, or a full disk, leaves them to rewrite.)
    if !any_baked && manifest.sums_current(&opts.out_dir) {
        return (results, Ok(()));
    }
    // Tests: die where a kill between the renames and the manifest would.
    if std::env::var_os("PIPREP_FAILPOINT_AFTER_RENAME").is_some() {
        std::process::exit(137);
    }
    manifest.base = base.identity.clone();
    let mut saved = manifest.save(&opts.out_dir);
    if saved.is_ok() && opts.check_reproducible {
        saved =
            reproducible::check_reproducible(base, &todo, digest.as_ref(), &results, time, opts);
    }
    (results, saved)
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().expect("no worker panics").take()
}

/// Split `nodes` into as few groups of at most `width` as possible, of
/// near-equal size (8 → 4+4, 5 → 3+2).
fn groups(nodes: &[usize], width: usize) -> Vec<Vec<usize>> {
    let n = nodes.len().div_ceil(width).max(1);
    let (size, extra) = (nodes.len() / n, nodes.len() % n);
    let mut out = Vec::new();
    let mut rest = nodes;
    for g in 0..n {
        let (a, b) = rest.split_at(size + usize::from(g < extra));
        if !a.is_empty() {
            out.push(a.to_vec());
        }
        rest = b;
    }
    out
}

/// Work that runs on the shared workers once every node is prepared.
enum Task {
    /// Clone a node's image and apply its edit (no base digest: the image is
    /// read back for its sha256).
    Copy(usize),
    /// Write several nodes' images and their sha256 in one read of the base.
    Group(Vec<usize>),
}

/// Groups in flight at once: each holds a few MiB of buffers, and more
/// streams than this do not make a disk write faster.
const MAX_GROUPS: usize = 4;

/// Nodes per group and groups at once. Enough groups to keep every core
/// hashing (up to `MAX_GROUPS`), each as wide as the SHA-NI interleave at
/// most; `jobs` (`-j`) bounds the nodes in flight: narrower groups, fewer at
/// once.
fn group_shape(nodes: usize, cores: usize, jobs: Option<usize>) -> (usize, usize) {
    let in_flight = jobs.unwrap_or(usize::MAX).max(1);
    let width = nodes
        .div_ceil(cores.clamp(1, MAX_GROUPS))
        .clamp(1, digest::GROUP)
        .min(in_flight);
    (width, (in_flight / width).clamp(1, MAX_GROUPS))
}

fn bake_parallel(
    base: &BaseImage,
    todo: &[&NodePlan],
    digest: Option<&BaseDigest>,
    out_dir: &Path,
    time: fatfs::DateTime,
    opts: &Options,
) -> Vec<(String, Result<Baked>)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Prepare, finish and plain copies (no base digest): twice the cores, as
    // some wait for writeback while others compute.
    let workers = opts.jobs.unwrap_or(2 * cores).max(1);
    let mp = bars(opts.quiet);
    let target = Target::of_base(base, opts.init);
    let bar = |prefix: String| {
        mp.add(
            ProgressBar::new(base.len)
                .with_style(crate::progress::style())
                .with_prefix(prefix),
        )
    };
    let job = |i: usize| Job {
        base,
        target: &target,
        digest,
        plan: todo[i],
        out_dir,
        time,
        compress: opts.compress,
    };
    let named = |i: usize, e: Error| e.context(format!("node {}", todo[i].name));
    let index: Vec<usize> = (0..todo.len()).collect();

    let prepared = crate::io::pool::map(workers, &index, |&i| node::prepare(&job(i)));
    let ready: Vec<usize> = index
        .iter()
        .copied()
        .filter(|&i| prepared[i].is_ok())
        .collect();
    let (tasks, task_workers): (Vec<Task>, usize) = match digest {
        Some(_) => {
            let (width, at_once) = group_shape(ready.len(), cores, opts.jobs);
            let g = groups(&ready, width);
            (g.into_iter().map(Task::Group).collect(), at_once)
        }
        None => (ready.iter().map(|&i| Task::Copy(i)).collect(), workers),
    };
    let written: Vec<Mutex<Option<Result<node::SyncedImage>>>> =
        index.iter().map(|_| Mutex::new(None)).collect();
    // Per node: its image's sha256 when the pass over the base gave it.
    let hashed: Vec<Mutex<Option<String>>> = index.iter().map(|_| Mutex::new(None)).collect();
    let prep = |i: usize| {
        prepared[i]
            .as_ref()
            .expect("only prepared nodes have tasks")
    };
    crate::io::pool::map(task_workers, &tasks, |task| match task {
        Task::Copy(i) => {
            let pb = bar(todo[*i].name.clone());
            let r = node::write(&job(*i), prep(*i), &pb);
            pb.finish_and_clear();
            *written[*i].lock().expect("no worker panics") = Some(r);
        }
        Task::Group(g) => {
            let d = digest.expect("groups only with a base digest");
            let label = match g.as_slice() {
                [i] => todo[*i].name.clone(),
                _ => format!("{} nodes", g.len()),
            };
            let pb = bar(label);
            let preps: Vec<&node::Prepared> = g.iter().map(|&i| prep(i)).collect();
            let r = group::write(base, d, &preps, &pb);
            pb.finish_and_clear();
            for (&i, r) in g.iter().zip(r) {
                let w = r.map(|(w, sha)| {
                    *hashed[i].lock().expect("no worker panics") = Some(sha);
                    w
                });
                *written[i].lock().expect("no worker panics") = Some(w);
            }
        }
    });

    let parts: Vec<Mutex<Option<Result<node::Prepared>>>> =
        prepared.into_iter().map(|p| Mutex::new(Some(p))).collect();
    let done = crate::io::pool::map(workers, &index, |&i| {
        let p = take(&parts[i]).expect("each node finishes once")?;
        let w = take(&written[i]).expect("every prepared node was written")?;
        node::finish(&job(i), p, w, take(&hashed[i]))
    });
    done.into_iter()
        .enumerate()
        .map(|(i, r)| (todo[i].name.clone(), r.map_err(|e| named(i, e))))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_are_balanced_and_narrow() {
        let n = |k: usize| (0..k).collect::<Vec<_>>();
        let sizes = |k| {
            super::groups(&n(k), 4)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(4), [4]);
        assert_eq!(sizes(5), [3, 2]);
        assert_eq!(sizes(8), [4, 4]);
        assert_eq!(sizes(30), [4, 4, 4, 4, 4, 4, 3, 3]);
        assert_eq!(super::groups(&n(6), 4).concat(), n(6));
    }

    #[test]
    fn groups_keep_every_core_hashing_within_jobs() {
        use super::group_shape as g;
        assert_eq!(g(8, 2, None), (4, 4));
        assert_eq!(g(8, 4, None), (2, 4));
        assert_eq!(g(8, 64, None), (2, 4)); // at most MAX_GROUPS streams
        assert_eq!(g(3, 2, None), (2, 4));
        assert_eq!(g(1, 8, None), (1, 4));
        assert_eq!(g(30, 2, None), (4, 4));
        assert_eq!(g(0, 2, None), (1, 4));
        assert_eq!(g(8, 2, Some(1)), (1, 1));
        assert_eq!(g(8, 2, Some(4)), (4, 1));
        assert_eq!(g(8, 2, Some(6)), (4, 1));
        assert_eq!(g(8, 4, Some(6)), (2, 3));
        assert_eq!(g(8, 2, Some(0)), (1, 1));
    }
}

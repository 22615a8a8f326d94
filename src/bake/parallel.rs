//! Baking many nodes at once: prepare every node, write the images (in
//! groups that share one read of the base when a base digest exists, else
//! as plain copies), then finish each; results in node order.

use std::path::Path;

use indicatif::ProgressBar;

use super::digest::{self, BaseDigest};
use super::node::{self, Baked, Job};
use super::{Options, group};
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};
use crate::image::BaseImage;
use crate::render::Target;

/// A node's image once written, before it is finished.
struct Written {
    image: Result<node::SyncedImage>,
    /// Its sha256, when the pass over the base gave it.
    sha256: Option<String>,
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

pub fn bake_parallel(
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
    let mp = crate::reporter::multi();
    let target = Target::of_base(base, opts.init);
    let bar = |prefix: String| {
        mp.add(
            ProgressBar::new(base.len)
                .with_style(crate::reporter::style())
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

    // Rendering and checking each node comes before any byte is copied: say so.
    let spin = mp.add(crate::reporter::spinner(&format!(
        "preparing {}",
        names_label(todo.iter().map(|p| p.name.as_str()))
    )));
    let prepared = crate::io::pool::map(workers, &index, |&i| node::prepare(&job(i)));
    spin.finish_and_clear();
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
    let prep = |i: usize| {
        prepared[i]
            .as_ref()
            .expect("only prepared nodes have tasks")
    };
    // Each task's nodes: (index, written image, its sha256 when the pass
    // over the base gave it).
    let per_task = crate::io::pool::map(task_workers, &tasks, |task| match task {
        Task::Copy(i) => {
            let pb = bar(todo[*i].name.clone());
            let r = node::write(&job(*i), prep(*i), &pb);
            pb.finish_and_clear();
            vec![(*i, r, None)]
        }
        Task::Group(g) => {
            let d = digest.expect("groups only with a base digest");
            let label = match g.as_slice() {
                [i] => todo[*i].name.clone(),
                _ => names_label(g.iter().map(|&i| todo[i].name.as_str())),
            };
            let pb = bar(label);
            let preps: Vec<&node::Prepared> = g.iter().map(|&i| prep(i)).collect();
            let r = group::write(base, d, &preps, &pb);
            pb.finish_and_clear();
            g.iter()
                .zip(r)
                .map(|(&i, r)| match r {
                    Ok((w, sha)) => (i, Ok(w), Some(sha)),
                    Err(e) => (i, Err(e), None),
                })
                .collect()
        }
    });
    let mut written: Vec<Option<Written>> = index.iter().map(|_| None).collect();
    for (i, image, sha256) in per_task.into_iter().flatten() {
        written[i] = Some(Written { image, sha256 });
    }
    let finishing: Vec<_> = prepared.into_iter().zip(written).enumerate().collect();
    let done = crate::io::pool::map_owned(workers, finishing, |(i, (p, w))| {
        let p = p?;
        let w = w.expect("every prepared node was written");
        node::finish(&job(i), p, w.image?, w.sha256)
    });
    done.into_iter()
        .enumerate()
        .map(|(i, r)| (todo[i].name.clone(), r.map_err(|e| named(i, e))))
        .collect()
}

/// `cp-1, worker-1, worker-2`, or the first three and how many more.
fn names_label<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    match all.len() {
        0..=3 => all.join(", "),
        n => format!("{} and {} more", all[..3].join(", "), n - 3),
    }
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

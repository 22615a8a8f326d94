//! `piprep flash`: images or nodes onto cards, checked before and after.

use std::path::{Path, PathBuf};

use super::{Ctx, load_base, load_plans};
use crate::bake;
use crate::cli::FlashArgs;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::host_keys::store::Missing;

/// The images `flash --node` should write: out/NODE.img, re-baked when
/// missing or when its stamp does not match the current plan and base.
fn node_images(ctx: &Ctx, args: &FlashArgs, nodes: &[String]) -> Result<Vec<PathBuf>> {
    let pins = super::pins_in(&args.out);
    let (cfg, plans) = load_plans(ctx, Missing::Make { pins: Some(&pins) })?;
    let selected = cfg.select(&plans, nodes, false)?;
    let base = load_base(ctx, Some(&cfg), args.image.as_deref())?;
    let opts = bake::Options {
        out_dir: args.out.clone(),
        force: false,
        quiet: ctx.quiet,
        compress: false,
        jobs: None,
        check_reproducible: false,
        cache_dir: ctx.cache_dir.clone(),
        init: cfg.init_mode(),
        known_hosts: Some(super::fleet::known_hosts_text(&plans)),
    };
    let (results, saved) = bake::run(&base, &selected, &opts);
    saved.map_err(|e| e.or_instead(super::bake::OUT_FIX))?;
    let mut paths = Vec::new();
    for (node, r) in results {
        match r.map_err(|e| {
            e.or_instead(super::bake::OUT_FIX)
                .context(format!("node {node}"))
        })? {
            bake::Outcome::Baked(b) => {
                if !ctx.quiet {
                    eprintln!("baked {node} -> {}", b.path.display());
                }
                paths.push(b.path);
            }
            bake::Outcome::UpToDate(p) => {
                if !ctx.quiet {
                    eprintln!("{} is up to date", p.display());
                }
                paths.push(p);
            }
        }
    }
    Ok(paths)
}

/// Files `flash` never overwrites without --force: the inventory's base
/// image, when the inventory names a local one.
fn keep_list(ctx: &Ctx) -> Vec<(PathBuf, String)> {
    let Ok(cfg) = Config::load(&ctx.config) else {
        return Vec::new();
    };
    match cfg.image_spec() {
        Ok(Some(crate::source::Spec::Path { path, .. })) => {
            vec![(path, format!("the base image of {}", cfg.path.display()))]
        }
        _ => Vec::new(),
    }
}

pub fn flash(ctx: &Ctx, args: &FlashArgs) -> Result<()> {
    use crate::flash::{destination, image};
    let (images, devices): (Vec<PathBuf>, &[PathBuf]) = if args.node.is_empty() {
        match args.paths.as_slice() {
            [img, devs @ ..] if !devs.is_empty() => (vec![img.clone()], devs),
            _ => {
                return Err(Error::config(
                    "give IMAGE and one or more DEVICEs, or --node NAME and a DEVICE per node",
                ));
            }
        }
    } else {
        (Vec::new(), args.paths.as_slice())
    };
    let mut nodes = Vec::new();
    for n in &args.node {
        if !nodes.contains(n) {
            nodes.push(n.clone());
        }
    }
    if !nodes.is_empty() && nodes.len() != devices.len() {
        return Err(Error::config(format!(
            "{} node(s) but {} device(s): give one DEVICE per --node, in the same order (`piprep flash --node A --node B /dev/sdX /dev/sdY`)",
            nodes.len(),
            devices.len()
        )));
    }
    if args.bmap.is_some() && nodes.len() > 1 {
        return Err(Error::config(
            "--bmap names one image's block map; with several --node, each image's own .bmap is used",
        ));
    }
    let system = crate::flash::device::SystemView {
        sysfs: args.sysfs.clone(),
        mountinfo: args.mountinfo.clone(),
    };
    let rules = destination::Rules {
        create: args.create,
        force: args.force,
        allow_non_removable: args.allow_non_removable,
        system: &system,
        keep: keep_list(ctx),
        cache_dir: ctx.cache_dir.clone(),
    };
    // Every target is checked before anything is baked or written: a typo
    // costs nothing.
    let targets: Vec<destination::Destination> = devices
        .iter()
        .map(|d| destination::classify(d, &rules))
        .collect::<Result<_>>()?;
    let images = if nodes.is_empty() {
        images
    } else {
        node_images(ctx, args, &nodes)?
    };
    let choice = |_: &Path| {
        if args.no_bmap {
            image::BmapChoice::None
        } else if let Some(b) = &args.bmap {
            image::BmapChoice::Path(b.clone())
        } else {
            image::BmapChoice::Beside
        }
    };
    let sources: Vec<image::Source> = images
        .iter()
        .map(|p| image::open(p, choice(p)))
        .collect::<Result<_>>()?;
    let device_refs: Vec<&Path> = devices.iter().map(PathBuf::as_path).collect();
    let image_refs: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    destination::check_distinct(&device_refs, &image_refs)?;
    // One image to every device, or each node's image to its own device.
    let mut jobs: Vec<crate::flash::Job> = Vec::new();
    let mut targets = targets.into_iter();
    for source in sources {
        let take = if images.len() == 1 { devices.len() } else { 1 };
        let ts: Vec<destination::Destination> = targets.by_ref().take(take).collect();
        for t in &ts {
            destination::check_fits(t, source.size)?;
        }
        jobs.push(crate::flash::Job {
            source,
            targets: ts,
        });
    }
    let disks: Vec<&destination::Destination> = jobs
        .iter()
        .flat_map(|j| j.targets.iter())
        .filter(|t| t.is_disk())
        .collect();
    destination::confirm(&disks, args.yes)?;
    let (outcomes, fatal) = crate::flash::run(&jobs, ctx.quiet);
    for o in &outcomes {
        match &o.result {
            Ok(w) if !ctx.quiet => eprintln!(
                "flashed {} -> {}: {} MiB in {} ranges{}, read back and verified (sha256) in {:.1} s",
                o.image.display(),
                o.target.display(),
                w.bytes >> 20,
                w.spans,
                if o.used_bmap { " (from the .bmap)" } else { "" },
                w.seconds
            ),
            Ok(_) => {}
            Err(e) if outcomes.len() > 1 => eprintln!("{}: FAILED: {e}", o.target.display()),
            Err(_) => {}
        }
    }
    crate::flash::verdict(&outcomes, fatal)
}

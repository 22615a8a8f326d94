//! `piprep flash`: images or nodes onto cards, checked before and after.

use std::path::{Path, PathBuf};

use super::bake::OUT_FIX;
use super::context::{Ctx, load_base, load_plans, pins_in};
use crate::bake;
use crate::cli::FlashArgs;
use crate::config::Config;
use crate::error::Result;
use crate::flash::plan::{self, Images};
use crate::flash::{Job, destination, image};
use crate::host_keys::store::Missing;
use crate::reporter::say;

pub fn flash(ctx: &Ctx, args: &FlashArgs) -> Result<()> {
    let pairing = plan::pair(&args.paths, &args.node, args.bmap.is_some())?;
    let devices = &pairing.devices;
    if let Images::Given(img) = &pairing.images {
        refuse_swapped(img, devices)?;
    }
    let system = crate::flash::device::SystemView {
        sysfs: args.system.sysfs.clone(),
        mountinfo: args.system.mountinfo.clone(),
    };
    let rules = destination::Rules {
        create: args.create,
        force: args.force,
        allow_non_removable: args.allow_non_removable,
        system: &system,
        keep: keep_list(ctx),
        cache_dir: ctx.cache_dir.clone(),
    };
    // Every target is checked before anything is baked or written.
    let targets: Vec<destination::Destination> = devices
        .iter()
        .map(|d| destination::classify(d, &rules))
        .collect::<Result<_>>()?;
    let images = match &pairing.images {
        Images::Given(p) => vec![p.clone()],
        Images::Nodes(nodes) => node_images(ctx, args, nodes)?,
    };
    let choice = plan::bmap_choice(args.no_bmap, args.bmap.as_deref());
    let sources: Vec<image::Source> = images
        .iter()
        .map(|p| image::open(p, choice.clone()))
        .collect::<Result<_>>()?;
    let device_refs: Vec<&Path> = devices.iter().map(PathBuf::as_path).collect();
    let image_refs: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    destination::check_distinct(&device_refs, &image_refs)?;
    let mut targets: Vec<Option<destination::Destination>> =
        targets.into_iter().map(Some).collect();
    let mut jobs: Vec<Job> = Vec::new();
    for (source, at) in sources
        .into_iter()
        .zip(plan::assign(images.len(), devices.len()))
    {
        let ts: Vec<destination::Destination> =
            at.into_iter().filter_map(|i| targets[i].take()).collect();
        for t in &ts {
            destination::check_fits(t, source.size)?;
        }
        jobs.push(Job {
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
    let (outcomes, fatal) = crate::flash::run(&jobs);
    for o in &outcomes {
        match &o.result {
            Ok(w) => say(format!(
                "flashed {} -> {}: {} in {} ranges{}, read back and verified (sha256) in {:.1} s",
                o.image.display(),
                o.target.display(),
                crate::image::human_size(w.bytes),
                w.spans,
                if o.used_bmap { " (from the .bmap)" } else { "" },
                w.seconds
            )),
            Err(e) if outcomes.len() > 1 => eprintln!("{}: FAILED: {e}", o.target.display()),
            Err(_) => {}
        }
    }
    crate::flash::verdict(&outcomes, fatal)
}

/// `flash /dev/sdX out/cp-1.img`: the device named first and an image second
/// is a swap, not an image to overwrite; say so before any other check.
fn refuse_swapped(image: &Path, devices: &[PathBuf]) -> Result<()> {
    use crate::source::content::{Content, classify_file};
    use std::os::unix::fs::FileTypeExt;
    let [device] = devices else {
        return Ok(());
    };
    let is_device = image.starts_with("/dev")
        || std::fs::metadata(image).is_ok_and(|m| m.file_type().is_block_device());
    let is_image = std::fs::metadata(device).is_ok_and(|m| m.is_file())
        && matches!(classify_file(device), Ok(Content::DiskImage | Content::Xz));
    if is_device && is_image {
        return Err(crate::error::Error::config(format!(
            "{} is a device and {} is an image: are IMAGE and DEVICE swapped? The image comes first: `piprep flash {} {}`; nothing was written",
            image.display(),
            device.display(),
            device.display(),
            image.display()
        )));
    }
    Ok(())
}

/// The images `flash --node` should write: out/NODE.img, re-baked when
/// missing or when its stamp does not match the current plan and base.
fn node_images(ctx: &Ctx, args: &FlashArgs, nodes: &[String]) -> Result<Vec<PathBuf>> {
    let out = ctx.out_dir(args.out.as_deref());
    let pins = pins_in(&out);
    let (cfg, plans) = load_plans(ctx, Missing::Make { pins: Some(&pins) })?;
    let selected = cfg.select(&plans, nodes, false)?;
    let base = load_base(ctx, Some(&cfg), args.image.as_deref())?;
    let report = bake::run(&base, &selected, &ctx.bake_options(&cfg, &plans, &out));
    report.saved.map_err(|e| e.or_instead(OUT_FIX))?;
    let mut paths = Vec::new();
    for n in report.nodes {
        let node = n.node;
        match n
            .outcome
            .map_err(|e| e.or_instead(OUT_FIX).context(format!("node {node}")))?
        {
            bake::Outcome::Baked(b) => {
                say(format!("baked {node} -> {}", b.path.display()));
                paths.push(b.path);
            }
            bake::Outcome::UpToDate(p) => {
                say(format!("{} is up to date", p.display()));
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

/// `piprep cards`: which card is which.
pub fn cards(args: &crate::cli::CardsArgs) -> Result<()> {
    let sys = crate::flash::device::SystemView {
        sysfs: args.system.sysfs.clone(),
        mountinfo: args.system.mountinfo.clone(),
    };
    let cards = crate::flash::cards::list(&sys, &args.dev_dir, args.all);
    if args.json {
        return super::context::print(
            &(serde_json::to_string_pretty(&cards).expect("json") + "\n"),
        );
    }
    if cards.is_empty() {
        say(if args.all {
            "no disks found"
        } else {
            "no removable disks found: insert a card (or pass --all to list fixed disks too)"
        });
        return Ok(());
    }
    super::context::print(&crate::flash::cards::table(&cards))
}

//! `piprep render`: what a node's card would get, printed or written as a tree.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use super::context::{Ctx, load_base, load_plans, pins_in};
use crate::cli::RenderArgs;
use crate::error::{Error, Result};
use crate::host_keys::store::Missing;
use crate::io::atomic::{Holds, write_atomic};
use crate::render::node::model::RootFile;
use crate::render::{self, Target};

pub fn render(ctx: &Ctx, args: &RenderArgs) -> Result<()> {
    // The pins of a bake into the default `out`, if there was one.
    let pins = pins_in(&ctx.out_dir(None));
    let (cfg, plans) = load_plans(ctx, Missing::Make { pins: Some(&pins) })?;
    let plan = cfg.select(&plans, std::slice::from_ref(&args.node), false)?[0];
    let target = match &args.image {
        Some(p) => Target::of_base(&load_base(ctx, Some(&cfg), Some(p))?, cfg.init_mode()),
        None => Target::without_image(cfg.init_mode()),
    };
    let r = render::render(plan, &target).map_err(Error::image)?;
    let cmdline_text = match &r.cmdline {
        Some(c) => c.clone(),
        None => format!(
            "<the image's own arguments> {}\n",
            r.cmdline_added.join(" ")
        ),
    };
    if let Some(dir) = &args.out {
        // Files here hold secrets (user-data, host keys): a directory of
        // piprep's own, 0700, which it may later replace.
        crate::io::owned::claim_dir(dir).map_err(|why| {
            Error::output(format!("render --out: {why}")).context(format!("node {}", plan.name))
        })?;
        let cmd_name = if r.cmdline.is_some() {
            "cmdline.txt"
        } else {
            "cmdline.txt.append"
        };
        let cmd_body = if r.cmdline.is_some() {
            cmdline_text.clone()
        } else {
            r.cmdline_added.join(" ") + "\n"
        };
        let mut all = vec![(cmd_name.to_string(), cmd_body.into_bytes(), Holds::Public)];
        if let (None, Some(block)) = (&r.cmdline, &r.config_added) {
            all.push((
                "config.txt.append".into(),
                block.clone().into_bytes(),
                Holds::Public,
            ));
        }
        all.extend(
            r.files
                .iter()
                .map(|f| (f.name.clone(), f.content.clone(), f.holds())),
        );
        for (name, content, holds) in all {
            let p = dir.join(&name);
            write_atomic(&p, &content, holds)
                .map_err(|e| Error::output_io(&p, "cannot write", &e))?;
        }
        let tree = dir.join("rootfs");
        write_tree(&tree, &r.rootfs)?;
        crate::reporter::say(format!(
            "wrote {} boot-partition files for node {} to {}, and the {} files its first boot installs under {}",
            r.files.len() + 1,
            plan.name,
            dir.display(),
            r.rootfs.len(),
            tree.display()
        ));
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let mut emit = || -> std::io::Result<()> {
        writeln!(
            out,
            "# node {} ({}, {}), profile {}, boot partition at {}",
            plan.name,
            plan.role.as_str(),
            plan.cidr_text(),
            plan.profile.name,
            target.boot_mount
        )?;
        writeln!(
            out,
            "# first-boot backend: {} ({})",
            target.backend.backend.name(),
            target.backend.reason
        )?;
        if let Some(k) = &plan.kubernetes {
            let k = render::stamp::kubernetes(k);
            writeln!(out, "# beyond the guide: {}", k.summary())?;
        }
        if let Some(line) = extras_summary(&plan.profile) {
            writeln!(out, "# profile {} adds: {line}", plan.profile.name)?;
        }
        writeln!(out, "==> cmdline.txt <==")?;
        write!(out, "{cmdline_text}")?;
        if let (None, Some(block)) = (&r.cmdline, &r.config_added) {
            writeln!(out, "\n==> config.txt <==")?;
            write!(out, "<the image's own settings>\n{block}")?;
        }
        for f in &r.files {
            writeln!(out, "\n==> {} <==", f.name)?;
            out.write_all(&f.printable())?;
        }
        Ok(())
    };
    emit().map_err(|e| Error::internal(format!("cannot write to stdout: {e}")))
}

/// The root-filesystem files as a tree under `tree` (`tree/etc/...`), with
/// their modes, so a node's content can be diffed. A tree from an earlier
/// render (in a directory piprep marked as its own) is replaced, so no file
/// of an older plan lingers.
fn write_tree(tree: &Path, files: &[RootFile]) -> Result<()> {
    if tree.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(tree).map_err(|e| Error::output_io(tree, "cannot replace", &e))?;
    }
    for f in files {
        // Absolute paths made relative; nothing may climb out of the tree.
        let rel: std::path::PathBuf = Path::new(&f.path)
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(Ok(n)),
                Component::RootDir => None,
                _ => Some(Err(())),
            })
            .collect::<std::result::Result<_, ()>>()
            .map_err(|_| Error::internal(format!("unsafe root-filesystem path {}", f.path)))?;
        let p = tree.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::output_io(parent, "cannot create", &e))?;
        }
        // Created with its mode (no window at 0644), then set exactly,
        // whatever the umask.
        let mode = u32::from_str_radix(&f.mode, 8).unwrap_or(0o644);
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode & 0o700)
                .open(&p)?;
            out.write_all(f.content.as_bytes())?;
            out.set_permissions(std::fs::Permissions::from_mode(mode))
        };
        write().map_err(|e| Error::output_io(&p, "cannot write", &e))?;
    }
    Ok(())
}

/// The profile's own additions in one line, so a review sees them before the scripts.
fn extras_summary(p: &crate::config::plan::ProfilePlan) -> Option<String> {
    let mut parts = Vec::new();
    if !p.packages.is_empty() {
        parts.push(format!("packages {}", p.packages.join(" ")));
    }
    if !p.files.is_empty() {
        let files: Vec<String> = p
            .files
            .iter()
            .map(|f| format!("{} ({} {})", f.path, f.mode, f.owner))
            .collect();
        parts.push(format!("files {}", files.join(", ")));
    }
    if !p.run.is_empty() {
        parts.push(format!(
            "{} command(s) run once after the packages",
            p.run.len()
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

//! `piprep render`: what a node's card would get, printed or written as a tree.

use std::io::Write;

use super::{Ctx, load_base, load_plans};
use crate::cli::RenderArgs;
use crate::error::{Error, Result};
use crate::render::{self, Target};

pub fn render(ctx: &Ctx, args: &RenderArgs) -> Result<()> {
    let quiet = ctx.quiet;
    let (cfg, plans) = load_plans(ctx)?;
    let plan = cfg.select(&plans, std::slice::from_ref(&args.node), false)?[0];
    let target = match &args.image {
        Some(p) => Target::of_base(&load_base(ctx, Some(&cfg), Some(p))?, cfg.init_mode()),
        None => Target::without_image(cfg.init_mode()),
    };
    let r = render::render(plan, &target).map_err(|m| Error::image(format!("cmdline.txt: {m}")))?;
    let cmdline_text = match &r.cmdline {
        Some(c) => c.clone(),
        None => format!(
            "<the image's own arguments> {}\n",
            r.cmdline_added.join(" ")
        ),
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::output_io(dir, "cannot create", &e))?;
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
        let mut all = vec![(cmd_name.to_string(), cmd_body.into_bytes())];
        all.extend(r.files.iter().map(|f| (f.name.clone(), f.content.clone())));
        for (name, content) in all {
            let p = dir.join(&name);
            std::fs::write(&p, content).map_err(|e| Error::output_io(&p, "cannot write", &e))?;
        }
        if !quiet {
            eprintln!(
                "wrote {} files for node {} to {}",
                r.files.len() + 1,
                plan.name,
                dir.display()
            );
        }
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let mut emit = || -> std::io::Result<()> {
        writeln!(
            out,
            "# node {} ({}, {}/{}), profile {}, boot partition at {}",
            plan.name,
            plan.role.as_str(),
            plan.address,
            plan.prefix,
            plan.profile.name,
            target.boot_mount
        )?;
        writeln!(
            out,
            "# first-boot backend: {} ({})",
            target.backend.0.name(),
            target.backend.1
        )?;
        writeln!(out, "==> cmdline.txt <==")?;
        write!(out, "{cmdline_text}")?;
        for f in &r.files {
            writeln!(out, "\n==> {} <==", f.name)?;
            out.write_all(&f.printable())?;
        }
        Ok(())
    };
    emit().map_err(|e| Error::internal(format!("cannot write to stdout: {e}")))
}

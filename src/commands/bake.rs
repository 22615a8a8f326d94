//! `piprep bake`: node images from the base, one per selected node.

use super::context::{Ctx, load_base, load_plans_noting, pins_in};
use crate::bake;
use crate::cli::{BakeArgs, Compression};
use crate::error::{Error, Result};
use crate::host_keys::store::Missing;
use crate::reporter::say;

/// The bake's own way around a full or read-only output filesystem.
pub const OUT_FIX: &str = "choose another --out directory";

pub fn bake(ctx: &Ctx, args: &BakeArgs) -> Result<()> {
    let out = ctx.out_dir(args.out.as_deref());
    let pins = pins_in(&out);
    let (cfg, plans, new_keys) = load_plans_noting(ctx, Missing::Make { pins: Some(&pins) })?;
    let chosen = cfg.select(&plans, &args.nodes, args.all)?;
    let base = load_base(ctx, Some(&cfg), args.image.as_deref())?;
    let opts = bake::Options {
        force: args.force,
        compress: args.compress == Some(Compression::Xz),
        jobs: args.jobs,
        check_reproducible: args.check_reproducible,
        ..ctx.bake_options(&cfg, &plans, &out)
    };
    let report = bake::run(&base, &chosen, &opts);
    // Every node's pinned host key, whichever nodes this bake made.
    let note = (!new_keys.is_empty() && report.any_image()).then(|| {
        format!(
            "new SSH host keys ({}), kept in {} and pinned in {}",
            new_keys.join(", "),
            crate::config::secrets::dir(&cfg).display(),
            out.join(bake::outputs::KNOWN_HOSTS).display()
        )
    });
    if let Some(path) = &args.timings {
        let t: serde_json::Map<String, serde_json::Value> = report
            .nodes
            .iter()
            .filter_map(|n| match &n.outcome {
                Ok(bake::Outcome::Baked(b)) => Some((
                    n.node.clone(),
                    serde_json::to_value(&b.timings).expect("json"),
                )),
                _ => None,
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&t).expect("json"))
            .map_err(|e| Error::output_io(path, "cannot write", &e))?;
    }
    report_bake(report)?;
    if let Some(n) = note {
        say(n);
    }
    Ok(())
}

/// Say what happened per node; the first error decides the exit code, the
/// others are printed too.
fn report_bake(report: bake::Report) -> Result<()> {
    let mut first_err: Option<Error> = None;
    for n in report.nodes {
        let name = n.node;
        match n.outcome {
            Ok(bake::Outcome::Baked(b)) => say(format!(
                "baked {name} -> {} in {:.0} ms ({:?}; FAT edit {:.1} ms)",
                b.path.display(),
                b.timings.total_ms,
                b.method,
                b.timings.fat_edit_ms
            )),
            Ok(bake::Outcome::UpToDate(p)) => say(format!(
                "{name}: {} is up to date (--force rebakes)",
                p.display()
            )),
            Err(e) => match (&first_err, e.or_instead(OUT_FIX)) {
                (Some(_), e) => eprintln!("piprep: error: {e}"),
                (None, e) => first_err = Some(e),
            },
        }
    }
    if let Err(e) = report.saved.map_err(|e| e.or_instead(OUT_FIX)) {
        match &first_err {
            Some(_) => eprintln!("piprep: error: {e}"),
            None => first_err = Some(e),
        }
    }
    first_err.map_or(Ok(()), Err)
}

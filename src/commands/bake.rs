//! `piprep bake`: node images from the base, one per selected node.

use super::{Ctx, load_base, load_plans_noting};
use crate::bake;
use crate::cli::BakeArgs;
use crate::error::{Error, Result};
use crate::host_keys::store::Missing;

/// The bake's own way around a full or read-only output filesystem.
pub const OUT_FIX: &str = "choose another --out directory";

pub fn bake(ctx: &Ctx, args: &BakeArgs) -> Result<()> {
    let quiet = ctx.quiet;
    let pins = super::pins_in(&args.out);
    let (cfg, plans, new_keys) = load_plans_noting(ctx, Missing::Make { pins: Some(&pins) })?;
    let chosen = cfg.select(&plans, &args.nodes, args.all)?;
    let base = load_base(ctx, Some(&cfg), args.image.as_deref())?;
    let opts = bake::Options {
        out_dir: args.out.clone(),
        force: args.force,
        quiet,
        compress: args.compress.is_some(),
        jobs: args.jobs,
        check_reproducible: args.check_reproducible,
        cache_dir: ctx.cache_dir.clone(),
        init: cfg.init_mode(),
        known_hosts: Some(super::fleet::known_hosts_text(&plans)),
    };
    let (results, saved) = bake::run(&base, &chosen, &opts);
    // Every node's pinned host key, whichever nodes this bake made.
    let note = (!new_keys.is_empty() && results.iter().any(|(_, r)| r.is_ok())).then(|| {
        format!(
            "new SSH host keys ({}), kept in {} and pinned in {}",
            new_keys.join(", "),
            crate::config::secrets::dir(&cfg).display(),
            args.out.join(bake::outputs::KNOWN_HOSTS).display()
        )
    });
    if let Some(path) = &args.timings {
        let t: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .filter_map(|(n, r)| match r {
                Ok(bake::Outcome::Baked(b)) => {
                    Some((n.clone(), serde_json::to_value(&b.timings).expect("json")))
                }
                _ => None,
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&t).expect("json"))
            .map_err(|e| Error::output_io(path, "cannot write", &e))?;
    }
    report_bake(results, saved, quiet)?;
    if let Some(n) = note.filter(|_| !quiet) {
        eprintln!("{n}");
    }
    Ok(())
}

/// Print what happened per node; the first error decides the exit code, the
/// others are printed too.
fn report_bake(
    results: Vec<(String, Result<bake::Outcome>)>,
    saved: Result<()>,
    quiet: bool,
) -> Result<()> {
    let mut first_err: Option<Error> = None;
    for (name, r) in results {
        match r {
            Ok(bake::Outcome::Baked(b)) if !quiet => eprintln!(
                "baked {name} -> {} in {:.0} ms ({:?}; FAT edit {:.1} ms)",
                b.path.display(),
                b.timings.total_ms,
                b.method,
                b.timings.fat_edit_ms
            ),
            Ok(bake::Outcome::UpToDate(p)) if !quiet => {
                eprintln!("{name}: {} is up to date (--force rebakes)", p.display())
            }
            Ok(_) => {}
            Err(e) => match (&first_err, e.or_instead(OUT_FIX)) {
                (Some(_), e) => eprintln!("piprep: error: {e}"),
                (None, e) => first_err = Some(e),
            },
        }
    }
    if let Err(e) = saved.map_err(|e| e.or_instead(OUT_FIX)) {
        match &first_err {
            Some(_) => eprintln!("piprep: error: {e}"),
            None => first_err = Some(e),
        }
    }
    first_err.map_or(Ok(()), Err)
}

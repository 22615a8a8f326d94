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
    let images: Vec<String> = report
        .nodes
        .iter()
        .filter(|n| n.outcome.is_ok())
        .map(|n| n.node.clone())
        .collect();
    report_bake(report)?;
    if let Some(n) = note {
        say(n);
    }
    if !images.is_empty() {
        let bootstrap = plans.iter().any(|p| p.bootstrap().is_some());
        say(next_steps(
            ctx,
            args.out.as_deref(),
            &out,
            &images,
            bootstrap,
        ));
    }
    Ok(())
}

/// What to do with the images: flash each to its card, pin the host keys,
/// watch the nodes come up. The commands carry `-c` and `--out` when this
/// bake was not run with the defaults, so they work as printed.
fn next_steps(
    ctx: &Ctx,
    out_flag: Option<&std::path::Path>,
    out: &std::path::Path,
    nodes: &[String],
    bootstrap: bool,
) -> String {
    use crate::render::shell::quote;
    let config = if ctx.config == std::path::Path::new("piprep.toml") {
        String::new()
    } else {
        format!(" -c {}", quote(&ctx.config.display().to_string()))
    };
    let out_arg = out_flag
        .map(|o| format!(" --out {}", quote(&o.display().to_string())))
        .unwrap_or_default();
    let first = nodes.first().map_or("NODE", String::as_str);
    let mut steps = vec![
        ("piprep cards".to_string(), "which disk is the card"),
        (
            format!("piprep{config} flash --node {first}{out_arg} /dev/sdX"),
            if nodes.len() > 1 {
                "one card per node, then the others"
            } else {
                "its card"
            },
        ),
        (
            format!("piprep{config} known-hosts --install"),
            "pin the nodes' SSH host keys",
        ),
        (
            format!("piprep{config} status --all --watch{out_arg}"),
            "after power-on: until every node is ready",
        ),
    ];
    if bootstrap {
        steps.push((
            format!("piprep{config} kubeconfig --merge"),
            "the cluster's kubeconfig, now",
        ));
    }
    let w = steps.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    let mut s = format!(
        "\n{} image(s) ready in {}: {}\nnext:",
        nodes.len(),
        out.display(),
        nodes
            .iter()
            .map(|n| format!("{n}.img"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (cmd, why) in steps {
        s += &format!("\n  {cmd:<w$}  # {why}");
    }
    s
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

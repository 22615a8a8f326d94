//! `piprep validate`: every finding of an inventory, as text or JSON.

use super::{Ctx, image_findings, open_base};
use crate::cli::ValidateArgs;
use crate::config::{Config, Finding};
use crate::error::{Error, Result};

/// The image checks, when the base image is at hand: `--image`, or `[image]`
/// when it is a local raw image or already cached (validate never downloads
/// or decompresses on its own). Says on stderr when they were skipped.
fn image_checks(ctx: &Ctx, cfg: &Config, args: &ValidateArgs) -> Result<Vec<Finding>> {
    if let Some(flag) = args.image.as_deref() {
        return Ok(image_findings(cfg, &open_base(ctx, Some(cfg), Some(flag))?));
    }
    let local = match cfg.image_spec() {
        Ok(Some(crate::source::Spec::Path { path, .. })) => {
            !crate::source::decompress::is_xz(&path).unwrap_or(true)
        }
        Ok(Some(_)) => true,
        _ => false,
    };
    let offline = Ctx {
        config: ctx.config.clone(),
        cache_dir: ctx.cache_dir.clone(),
        quiet: true,
        offline: true,
    };
    match local.then(|| open_base(&offline, Some(cfg), None)) {
        Some(Ok(base)) => Ok(image_findings(cfg, &base)),
        _ => {
            if !ctx.quiet && cfg.inventory.kubernetes.is_some() {
                eprintln!(
                    "note: the base image is not at hand, so its architecture was not checked; pass --image PATH, or run `piprep fetch` first"
                );
            }
            Ok(Vec::new())
        }
    }
}

pub fn validate(ctx: &Ctx, args: &ValidateArgs) -> Result<()> {
    let cfg = match Config::load_detailed(&ctx.config) {
        Ok(c) => c,
        Err(crate::config::Loaded::Config(e)) if args.json => {
            // Editors and CI read stdout: a file that does not parse is a
            // finding like any other.
            let doc = serde_json::json!({
                "config": ctx.config.display().to_string(),
                "nodes": [],
                "findings": [{
                    "severity": "error",
                    "at": { "file": e.file, "line": e.line },
                    "column": e.column,
                    "node": null,
                    "message": e.message,
                    "fix": e.fix,
                }],
                "ok": false,
            });
            println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
            return Err(e.into());
        }
        Err(crate::config::Loaded::Config(e)) => return Err(e.into()),
        Err(crate::config::Loaded::Other(e)) => return Err(e),
    };
    let mut v = cfg.validate();
    v.findings.extend(image_checks(ctx, &cfg, args)?);
    if args.json {
        let doc = serde_json::json!({
            "config": cfg.path.display().to_string(),
            "nodes": v.plans.iter().map(|p| &p.name).collect::<Vec<_>>(),
            "findings": v.findings,
            "ok": !v.has_errors(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    } else {
        for f in &v.findings {
            println!("{f}");
        }
        if !v.has_errors() {
            println!("{}: ok, {} nodes", cfg.path.display(), v.plans.len());
        }
    }
    if v.has_errors() {
        let n = v.errors().count();
        return Err(Error::config(format!(
            "{}: {n} error(s) found",
            cfg.path.display()
        )));
    }
    Ok(())
}

//! `piprep validate`: every finding of an inventory, as text or JSON.

use super::context::{Ctx, image_findings};
use crate::cli::ValidateArgs;
use crate::config::{Config, Finding};
use crate::error::{Error, Result};
use crate::image::BaseImage;
use crate::source::decompress::is_xz;
use crate::source::{Fetcher, Spec};

/// The image checks, when the base image is at hand: `--image`, or `[image]`
/// when it is a local raw image or already cached (validate never downloads,
/// decompresses or hashes an image on its own). Says on stderr when they were
/// skipped.
fn image_checks(ctx: &Ctx, cfg: &Config, args: &ValidateArgs) -> Result<Vec<Finding>> {
    let explicit = args.image.is_some();
    let spec = match args.image.as_deref() {
        Some(p) => Some(Spec::from_flag(p)),
        None => cfg.image_spec().ok().flatten(),
    };
    // Without --image, a missing [image] path is the next bake's failure:
    // say so now (a warning: `bake --image` may give the image instead).
    if !explicit
        && let Some(Spec::Path { path, .. }) = &spec
        && std::fs::metadata(path).is_err()
    {
        return Ok(vec![Finding {
            severity: crate::config::Severity::Warning,
            at: cfg.source.find("path"),
            node: None,
            message: format!("[image] path {} does not exist", path.display()),
            fix: "correct the path (relative to piprep.toml), use `url` or `os_list` so `piprep fetch` downloads it, or give the image to bake with --image".into(),
        }]);
    }
    let at_hand = match &spec {
        Some(Spec::Path { path, .. }) => explicit || !is_xz(path).unwrap_or(true),
        Some(_) => true,
        None => false,
    };
    let fetcher = Fetcher {
        offline: ctx.offline || !explicit,
        ..ctx.fetcher()
    };
    let opened = spec
        .filter(|_| at_hand)
        .map(|spec| fetcher.fetch(&spec).and_then(|b| BaseImage::open(&b.raw)));
    match opened {
        Some(Ok(base)) => Ok(image_findings(cfg, &base)),
        Some(Err(e)) if explicit => Err(e),
        _ => {
            if cfg.inventory.kubernetes.is_some() {
                crate::reporter::say(
                    "note: the base image is not at hand, so its architecture was not checked; pass --image PATH, or run `piprep fetch` first",
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

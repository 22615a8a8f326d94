//! `piprep validate`: every finding of an inventory, as text or JSON.

use super::Ctx;
use crate::cli::ValidateArgs;
use crate::config::Config;
use crate::error::{Error, Result};

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
    let v = cfg.validate();
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

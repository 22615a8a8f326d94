//! Command handlers: glue between the CLI and the stages, one file per
//! command. Here: what they share (options, loading plans, the base image,
//! printing).

mod bake;
mod docs;
mod fetch;
mod flash;
mod fleet;
mod inspect;
mod render;
mod report;
mod validate;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::plan::NodePlan;
use crate::config::{Config, Severity};
use crate::error::{Error, Result};
use crate::host_keys::store::Missing;
use crate::image::BaseImage;
use crate::source::cache::Cache;
use crate::source::{Fetcher, Identity, Spec, identity};

pub use bake::bake;
pub use docs::{completions, man};
pub use fetch::{cache, fetch};
pub use flash::flash;
pub use fleet::{export, known_hosts_cmd as known_hosts, rekey, status};
pub use inspect::inspect;
pub use render::render;
pub use report::report;
pub use validate::validate;

/// Options every command shares.
pub struct Ctx {
    pub config: PathBuf,
    pub cache_dir: PathBuf,
    pub quiet: bool,
    pub offline: bool,
}

impl Ctx {
    fn fetcher(&self) -> Fetcher {
        Fetcher {
            cache: Cache::new(&self.cache_dir),
            quiet: self.quiet,
            offline: self.offline,
        }
    }
}

fn warn_findings(findings: &[crate::config::Finding], quiet: bool) {
    if quiet {
        return;
    }
    for f in findings.iter().filter(|f| f.severity == Severity::Warning) {
        eprintln!("{f}");
    }
}

/// The inventory and every node's plan, its warnings printed once; the
/// host keys as `keys` says (only bake, render and rekey make them).
fn load_plans(ctx: &Ctx, keys: Missing) -> Result<(Config, Vec<NodePlan>)> {
    load_plans_noting(ctx, keys).map(|(cfg, plans, _)| (cfg, plans))
}

/// `load_plans`, with the host keys made now (`node: fingerprint`).
fn load_plans_noting(ctx: &Ctx, keys: Missing) -> Result<(Config, Vec<NodePlan>, Vec<String>)> {
    let cfg = Config::load(&ctx.config)?;
    let (mut plans, findings) = cfg.plans()?;
    warn_findings(&findings, ctx.quiet);
    crate::source::repo_key::resolve(&mut plans, &ctx.cache_dir, ctx.offline, ctx.quiet)?;
    let new = crate::host_keys::store::ensure(&cfg, &mut plans, keys)?;
    Ok((cfg, plans, new))
}

/// The known_hosts a bake into `out` wrote (empty when none): the pins that
/// new keys must not silently replace.
fn pins_in(out: &Path) -> String {
    crate::io::input::read_text(
        &out.join(crate::bake::outputs::KNOWN_HOSTS),
        crate::io::input::TEXT_CAP,
    )
    .unwrap_or_default()
}

/// The raw base image for a command: `--image` (URL or path) or `[image]`,
/// fetched into the cache when needed, opened, its identity completed, and
/// checked against what the inventory asks of it.
fn load_base(ctx: &Ctx, cfg: Option<&Config>, flag: Option<&Path>) -> Result<BaseImage> {
    let base = open_base(ctx, cfg, flag)?;
    if let Some(cfg) = cfg {
        let findings = image_findings(cfg, &base);
        warn_findings(&findings, ctx.quiet);
        let errors: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect();
        if !errors.is_empty() {
            return Err(Error::config(errors.join("\n")));
        }
    }
    Ok(base)
}

/// What the inventory asks of this base image (its architecture, for now).
fn image_findings(cfg: &Config, base: &BaseImage) -> Vec<crate::config::Finding> {
    crate::config::validate::image::check(
        cfg,
        &base.path.display().to_string(),
        base.facts.architecture.as_deref(),
    )
}

/// `load_base` without the inventory's checks.
fn open_base(ctx: &Ctx, cfg: Option<&Config>, flag: Option<&Path>) -> Result<BaseImage> {
    let spec = match (flag, cfg) {
        (Some(p), _) => Spec::from_flag(p),
        (None, Some(cfg)) => cfg.image_spec()?.ok_or_else(|| {
            Error::config(format!(
                "no base image: pass --image PATH|URL or add an [image] section to {}",
                cfg.path.display()
            ))
        })?,
        (None, None) => return Err(Error::config("no base image: pass --image PATH|URL")),
    };
    // Name where a local path came from: the same open error fits `--image`
    // and `[image] path` only with it.
    let origin = match (flag, cfg) {
        (Some(_), _) => "--image".to_string(),
        (None, Some(cfg)) => format!("[image] path in {}", cfg.path.display()),
        (None, None) => String::new(),
    };
    let fetched = ctx.fetcher().fetch(&spec).map_err(|e| match &spec {
        Spec::Path { .. } => e.context(&origin),
        _ => e,
    })?;
    let mut base = BaseImage::open(&fetched.raw)?;
    let raw_sha = match &fetched.identity.raw_sha256 {
        Some(s) => s.clone(),
        None => identity::image_sha256(
            &fetched.raw,
            &base.file,
            base.len,
            &ctx.cache_dir,
            ctx.quiet,
        )?,
    };
    base.identity = Identity {
        raw_sha256: Some(raw_sha),
        ..fetched.identity
    };
    Ok(base)
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::internal(format!("cannot write to stdout: {e}")))
}

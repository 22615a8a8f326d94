//! What the commands share: options, loading plans and the base image,
//! the bake options, printing.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::bake;
use crate::config::plan::NodePlan;
use crate::config::{Config, Severity};
use crate::error::{Error, Result};
use crate::host_keys::store::Missing;
use crate::image::BaseImage;
use crate::source::cache::Cache;
use crate::source::{Fetcher, Identity, Spec, identity};

/// An image that inspect and report can read at any offset: the file itself,
/// or for an .xz (told by content) a decompressed copy, private to this user
/// (a baked card holds secrets) and removed when the guard drops.
pub fn seekable(ctx: &Ctx, path: &Path) -> Result<(PathBuf, Option<crate::interrupt::TempPath>)> {
    use crate::source::content::{Content, classify_file};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    // Only a regular file can be an .xz to decompress; anything else (a card,
    // a FIFO, a directory) goes to the reader, which says what it is.
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if !regular || classify_file(path).ok() != Some(Content::Xz) {
        return Ok((path.to_path_buf(), None));
    }
    let dir = ctx.cache_dir.join("tmp");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::output_io(&dir, "cannot create", &e))?;
    // An older directory keeps its mode through create(): make it private.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::output_io(&dir, "cannot make private", &e))?;
    let tmp_path = dir.join(format!(".read-{}.img", std::process::id()));
    let guard = crate::interrupt::TempPath::new(tmp_path.clone());
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp_path)
        .map_err(|e| Error::output_io(&tmp_path, "cannot create", &e))?;
    crate::source::decompress::decompress(path, &out, &tmp_path, false)
        .map_err(|e| e.or_instead("pass --cache-dir DIR with room for the decompressed image"))?;
    Ok((tmp_path, Some(guard)))
}

/// Options every command shares.
pub struct Ctx {
    pub config: PathBuf,
    pub cache_dir: PathBuf,
    pub offline: bool,
}

impl Ctx {
    pub fn fetcher(&self) -> Fetcher {
        Fetcher {
            cache: Cache::new(&self.cache_dir),
            offline: self.offline,
        }
    }

    /// The output directory: `--out` as given, else `out/` beside the
    /// inventory, as every other path in it is (not the working directory's).
    pub fn out_dir(&self, flag: Option<&Path>) -> PathBuf {
        match flag {
            Some(dir) => dir.to_path_buf(),
            None => self.config.parent().unwrap_or(Path::new("")).join("out"),
        }
    }

    /// What every bake into `out` shares, whichever command asks for it:
    /// one image per node, nothing forced, compressed or checked twice.
    pub fn bake_options(&self, cfg: &Config, plans: &[NodePlan], out: &Path) -> bake::Options {
        bake::Options {
            out_dir: out.to_path_buf(),
            force: false,
            compress: false,
            jobs: None,
            check_reproducible: false,
            cache_dir: self.cache_dir.clone(),
            init: cfg.init_mode(),
            known_hosts: Some(crate::host_keys::known_hosts::file_text(plans)),
        }
    }
}

fn warn_findings(findings: &[crate::config::Finding]) {
    for f in findings.iter().filter(|f| f.severity == Severity::Warning) {
        crate::reporter::say(f);
    }
}

/// The inventory and every node's plan, its warnings printed once; the
/// host keys as `keys` says (only bake, render and rekey make them).
pub fn load_plans(ctx: &Ctx, keys: Missing) -> Result<(Config, Vec<NodePlan>)> {
    load_plans_noting(ctx, keys).map(|(cfg, plans, _)| (cfg, plans))
}

/// `load_plans`, with the host keys made now (`node: fingerprint`).
pub fn load_plans_noting(ctx: &Ctx, keys: Missing) -> Result<(Config, Vec<NodePlan>, Vec<String>)> {
    let cfg = Config::load(&ctx.config)?;
    let (mut plans, findings) = cfg.plans()?;
    warn_findings(&findings);
    crate::source::repo_key::resolve(&mut plans, &ctx.cache_dir, ctx.offline)?;
    crate::source::cni_manifest::resolve(&cfg, &mut plans, &ctx.cache_dir, ctx.offline)?;
    let made = crate::cluster_pki::store::ensure(&cfg, &mut plans, &keys)?;
    if made {
        crate::reporter::say(format!(
            "new cluster CAs, service-account key and bootstrap token, kept in {} (back it up: nodes flashed from them trust only them)",
            crate::config::secrets::dir(&cfg)
                .join(crate::cluster_pki::store::DIR)
                .display()
        ));
    }
    let new = crate::host_keys::store::ensure(&cfg, &mut plans, keys)?;
    Ok((cfg, plans, new))
}

/// The known_hosts a bake into `out` wrote (empty when none): the pins that
/// new keys must not silently replace.
pub fn pins_in(out: &Path) -> String {
    crate::io::input::read_text(
        &out.join(crate::bake::outputs::KNOWN_HOSTS),
        crate::io::input::TEXT_CAP,
    )
    .unwrap_or_default()
}

/// The raw base image for a command: `--image` (URL or path) or `[image]`,
/// fetched into the cache when needed, opened, its identity completed, and
/// checked against what the inventory asks of it.
pub fn load_base(ctx: &Ctx, cfg: Option<&Config>, flag: Option<&Path>) -> Result<BaseImage> {
    let base = open_base(ctx, cfg, flag)?;
    if let Some(cfg) = cfg {
        let findings = image_findings(cfg, &base);
        warn_findings(&findings);
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

/// What the inventory asks of this base image: its architecture, and the
/// time zones, locales and keyboard layouts it has.
pub fn image_findings(cfg: &Config, base: &BaseImage) -> Vec<crate::config::Finding> {
    let r = &base.facts.regional;
    crate::config::validate::image::check(
        cfg,
        &base.path.display().to_string(),
        base.facts.architecture.as_deref(),
        &crate::config::validate::image::Offered {
            zones: r.zones.as_ref(),
            locales: r.locales.as_ref(),
            keyboards: r.keyboards.as_ref(),
        },
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
        None => identity::image_sha256(&fetched.raw, &base.file, base.len, &ctx.cache_dir, true)?,
    };
    base.identity = Identity {
        raw_sha256: Some(raw_sha),
        ..fetched.identity
    };
    Ok(base)
}

/// `~/DIR/FILE` (the directory made 0700 if missing), for commands that
/// merge into a user's file; `flag` names the option that replaces it.
pub fn in_home(dir: &str, file: &str, flag: &str) -> Result<PathBuf> {
    let home = std::env::var_os("HOME").ok_or_else(|| {
        Error::config(format!(
            "HOME is not set; pass {flag} to name the file (~/{dir}/{file})"
        ))
    })?;
    let d = PathBuf::from(home).join(dir);
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .recursive(true)
        .create(&d)
        .map_err(|e| Error::output_io(&d, "cannot create", &e))?;
    Ok(d.join(file))
}

pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::internal(format!("cannot write to stdout: {e}")))
}

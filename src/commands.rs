//! Command handlers: glue between the CLI and the stages.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::bake;
use crate::cli::{
    BakeArgs, CacheArgs, CacheCommand, CompletionsArgs, FetchArgs, FlashArgs, InspectArgs,
    RenderArgs, ReportArgs, ValidateArgs,
};
use crate::config::{Config, Severity};
use crate::error::{Error, Kind, Result};
use crate::image::BaseImage;
use crate::render::{self, Target};
use crate::source::cache::Cache;
use crate::source::{Fetcher, Identity, Spec, identity};

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

/// The raw base image for a command: `--image` (URL or path) or `[image]`,
/// fetched into the cache when needed, opened, and its identity completed.
fn load_base(ctx: &Ctx, cfg: Option<&Config>, flag: Option<&Path>) -> Result<BaseImage> {
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
    let fetched = ctx.fetcher().fetch(&spec)?;
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

pub fn bake(ctx: &Ctx, args: &BakeArgs) -> Result<()> {
    let quiet = ctx.quiet;
    let cfg = Config::load(&ctx.config)?;
    let (plans, findings) = cfg.plans()?;
    warn_findings(&findings, quiet);
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
    };
    let (results, saved) = bake::run(&base, &chosen, &opts);
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
    report_bake(results, saved, quiet)
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
            Err(e) => match &first_err {
                Some(_) => eprintln!("piprep: error: {e}"),
                None => first_err = Some(e),
            },
        }
    }
    if let Err(e) = saved {
        match &first_err {
            Some(_) => eprintln!("piprep: error: {e}"),
            None => first_err = Some(e),
        }
    }
    first_err.map_or(Ok(()), Err)
}

pub fn render(ctx: &Ctx, args: &RenderArgs) -> Result<()> {
    let quiet = ctx.quiet;
    let cfg = Config::load(&ctx.config)?;
    let (plans, findings) = cfg.plans()?;
    warn_findings(&findings, quiet);
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

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::internal(format!("cannot write to stdout: {e}")))
}

pub fn inspect(args: &InspectArgs) -> Result<()> {
    let ins = crate::inspect::inspect(&args.image)?;
    if args.json {
        print(&(serde_json::to_string_pretty(&ins).expect("json") + "\n"))?;
    } else {
        print(&crate::inspect::render_text(&ins))?;
    }
    // Everything readable was shown; a problem still fails the command, so
    // scripts never take a damaged image for a good one.
    match ins.problems.first() {
        Some(p) => Err(Error::image(p.clone())),
        None => Ok(()),
    }
}

pub fn report(args: &ReportArgs) -> Result<()> {
    use crate::report::Outcome;
    let path = &args.image;
    let (file, size) = crate::io::open_readonly(path)?;
    let table = crate::image::table::read(&file, path, size)?;
    let boot = table.boot(path)?;
    let (_, mut contents) =
        crate::image::fat::read(&file, path, boot, &[crate::contract::REPORT_FILE])?;
    let Some(bytes) = contents.remove(0) else {
        return Err(Error::new(
            Kind::NoReport,
            format!(
                "{}: no first-boot report ({}) yet; boot the node with its network cable in, wait for it to settle (it reboots once or twice), then check again",
                path.display(),
                crate::contract::REPORT_FILE
            ),
        ));
    };
    let r = crate::report::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| {
        Error::image(format!(
            "{}: {}: {e}",
            path.display(),
            crate::contract::REPORT_FILE
        ))
    })?;
    if args.json {
        let doc = serde_json::json!({ "image": path.display().to_string(), "report": r, "failures": r.failures(), "ok": r.failures() == 0 });
        print(&(serde_json::to_string_pretty(&doc).expect("json") + "\n"))?;
    } else {
        let mut s = format!(
            "node {} — phase {}, written {}\n",
            r.node.as_deref().unwrap_or("?"),
            r.phase.as_deref().unwrap_or("?"),
            r.generated.as_deref().unwrap_or("?")
        );
        let w = r
            .items
            .iter()
            .map(|i| i.check.len())
            .max()
            .unwrap_or(5)
            .max(5);
        s += &format!(
            "{:<4}  {:<w$}  {:<30}  {}\n",
            "", "check", "observed", "expected"
        );
        for i in &r.items {
            let mark = match i.result {
                Outcome::Pass => "PASS",
                Outcome::Warn => "WARN",
                Outcome::Fail => "FAIL",
            };
            s += &format!(
                "{mark:<4}  {:<w$}  {:<30}  {}\n",
                i.check, i.observed, i.expected
            );
        }
        print(&s)?;
    }
    let failures = r.failures();
    if failures > 0 {
        let pending = if r.phase.as_deref() == Some("first-boot-hook") {
            "; this report is from the first-boot hook, before the networked setup ran: boot the node with network and check again"
        } else {
            ""
        };
        return Err(Error::new(
            Kind::ChecksFailed,
            format!(
                "{}: {failures} of {} checks failed{pending}",
                path.display(),
                r.items.len()
            ),
        ));
    }
    Ok(())
}

/// The images `flash --node` should write: out/NODE.img, re-baked when
/// missing or when its stamp does not match the current plan and base.
fn node_images(ctx: &Ctx, args: &FlashArgs, nodes: &[String]) -> Result<Vec<PathBuf>> {
    let cfg = Config::load(&ctx.config)?;
    let (plans, findings) = cfg.plans()?;
    warn_findings(&findings, ctx.quiet);
    let selected = cfg.select(&plans, nodes, false)?;
    let base = load_base(ctx, Some(&cfg), args.image.as_deref())?;
    let opts = bake::Options {
        out_dir: args.out.clone(),
        force: false,
        quiet: ctx.quiet,
        compress: false,
        jobs: None,
        check_reproducible: false,
        cache_dir: ctx.cache_dir.clone(),
        init: cfg.init_mode(),
    };
    let (results, saved) = bake::run(&base, &selected, &opts);
    saved?;
    let mut paths = Vec::new();
    for (node, r) in results {
        match r.map_err(|e| e.context(format!("node {node}")))? {
            bake::Outcome::Baked(b) => {
                if !ctx.quiet {
                    eprintln!("baked {node} -> {}", b.path.display());
                }
                paths.push(b.path);
            }
            bake::Outcome::UpToDate(p) => {
                if !ctx.quiet {
                    eprintln!("{} is up to date", p.display());
                }
                paths.push(p);
            }
        }
    }
    Ok(paths)
}

/// Files `flash` never overwrites without --force: the inventory's base
/// image, when the inventory names a local one.
fn keep_list(ctx: &Ctx) -> Vec<(PathBuf, String)> {
    let Ok(cfg) = Config::load(&ctx.config) else {
        return Vec::new();
    };
    match cfg.image_spec() {
        Ok(Some(crate::source::Spec::Path { path, .. })) => {
            vec![(path, format!("the base image of {}", cfg.path.display()))]
        }
        _ => Vec::new(),
    }
}

pub fn flash(ctx: &Ctx, args: &FlashArgs) -> Result<()> {
    use crate::flash::{destination, image};
    let (images, devices): (Vec<PathBuf>, &[PathBuf]) = if args.node.is_empty() {
        match args.paths.as_slice() {
            [img, devs @ ..] if !devs.is_empty() => (vec![img.clone()], devs),
            _ => {
                return Err(Error::config(
                    "give IMAGE and one or more DEVICEs, or --node NAME and a DEVICE per node",
                ));
            }
        }
    } else {
        (Vec::new(), args.paths.as_slice())
    };
    let mut nodes = Vec::new();
    for n in &args.node {
        if !nodes.contains(n) {
            nodes.push(n.clone());
        }
    }
    if !nodes.is_empty() && nodes.len() != devices.len() {
        return Err(Error::config(format!(
            "{} node(s) but {} device(s): give one DEVICE per --node, in the same order (`piprep flash --node A --node B /dev/sdX /dev/sdY`)",
            nodes.len(),
            devices.len()
        )));
    }
    if args.bmap.is_some() && nodes.len() > 1 {
        return Err(Error::config(
            "--bmap names one image's block map; with several --node, each image's own .bmap is used",
        ));
    }
    let system = crate::flash::device::SystemView {
        sysfs: args.sysfs.clone(),
        mountinfo: args.mountinfo.clone(),
    };
    let rules = destination::Rules {
        create: args.create,
        force: args.force,
        allow_non_removable: args.allow_non_removable,
        system: &system,
        keep: keep_list(ctx),
        cache_dir: ctx.cache_dir.clone(),
    };
    // Every target is checked before anything is baked or written: a typo
    // costs nothing.
    let targets: Vec<destination::Destination> = devices
        .iter()
        .map(|d| destination::classify(d, &rules))
        .collect::<Result<_>>()?;
    let images = if nodes.is_empty() {
        images
    } else {
        node_images(ctx, args, &nodes)?
    };
    let choice = |_: &Path| {
        if args.no_bmap {
            image::BmapChoice::None
        } else if let Some(b) = &args.bmap {
            image::BmapChoice::Path(b.clone())
        } else {
            image::BmapChoice::Beside
        }
    };
    let sources: Vec<image::Source> = images
        .iter()
        .map(|p| image::open(p, choice(p)))
        .collect::<Result<_>>()?;
    let device_refs: Vec<&Path> = devices.iter().map(PathBuf::as_path).collect();
    let image_refs: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    destination::check_distinct(&device_refs, &image_refs)?;
    // One image to every device, or each node's image to its own device.
    let mut jobs: Vec<crate::flash::Job> = Vec::new();
    let mut targets = targets.into_iter();
    for source in sources {
        let take = if images.len() == 1 { devices.len() } else { 1 };
        let ts: Vec<destination::Destination> = targets.by_ref().take(take).collect();
        for t in &ts {
            destination::check_fits(t, source.size)?;
        }
        jobs.push(crate::flash::Job {
            source,
            targets: ts,
        });
    }
    let disks: Vec<&destination::Destination> = jobs
        .iter()
        .flat_map(|j| j.targets.iter())
        .filter(|t| t.is_disk())
        .collect();
    destination::confirm(&disks, args.yes)?;
    let (outcomes, fatal) = crate::flash::run(&jobs, ctx.quiet);
    for o in &outcomes {
        match &o.result {
            Ok(w) if !ctx.quiet => eprintln!(
                "flashed {} -> {}: {} MiB in {} ranges{}, read back and verified (sha256) in {:.1} s",
                o.image.display(),
                o.target.display(),
                w.bytes >> 20,
                w.spans,
                if o.used_bmap { " (from the .bmap)" } else { "" },
                w.seconds
            ),
            Ok(_) => {}
            Err(e) if outcomes.len() > 1 => eprintln!("{}: FAILED: {e}", o.target.display()),
            Err(_) => {}
        }
    }
    crate::flash::verdict(&outcomes, fatal)
}

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "piprep", &mut std::io::stdout());
    Ok(())
}

pub fn man() -> Result<()> {
    use clap::CommandFactory;
    let cmd = crate::cli::Cli::command();
    clap_mangen::Man::new(cmd)
        .render(&mut std::io::stdout())
        .map_err(|e| Error::internal(format!("cannot write the man page: {e}")))
}

pub fn fetch(ctx: &Ctx, args: &FetchArgs) -> Result<()> {
    let spec = match &args.image {
        Some(p) => Spec::from_flag(p),
        None => {
            let cfg = Config::load(&ctx.config)?;
            cfg.image_spec()?.ok_or_else(|| {
                Error::config(format!(
                    "no [image] section in {}; pass --image URL|PATH",
                    cfg.path.display()
                ))
            })?
        }
    };
    let base = ctx.fetcher().fetch(&spec)?;
    print(&format!("{}\n", base.raw.display()))
}

pub fn cache(ctx: &Ctx, args: &CacheArgs) -> Result<()> {
    let cache = Cache::new(&ctx.cache_dir);
    match &args.command {
        CacheCommand::List => {
            let (images, partial) = cache.list();
            let mut s = format!("cache: {}\n", ctx.cache_dir.display());
            if images.is_empty() && partial.is_empty() {
                s += "  (empty)\n";
            }
            for l in &images {
                let (m, len, alloc) = (&l.meta, l.len, l.allocated);
                s += &format!(
                    "  {}  {:>7} MiB on disk ({} MiB raw)  {}  {}\n",
                    &m.sha256[..16],
                    alloc >> 20,
                    len >> 20,
                    m.release_date.as_deref().unwrap_or("-"),
                    m.name
                        .as_deref()
                        .or(m.url.as_deref())
                        .unwrap_or("(local file)")
                );
            }
            for (p, len) in &partial {
                s += &format!("  partial download {} ({} MiB)\n", p.display(), len >> 20);
            }
            print(&s)
        }
        CacheCommand::Clean { images, partial } => {
            // `clean` frees everything; `clean --partial` only partial
            // downloads; `clean SHA…` those images (and partials with --partial).
            let which = match (images.is_empty(), *partial) {
                (true, true) => crate::source::cache::Clean::PartialOnly,
                (true, false) => crate::source::cache::Clean::Everything,
                (false, p) => crate::source::cache::Clean::Images {
                    prefixes: images.clone(),
                    partials: p,
                },
            };
            let freed = cache.clean(&which, ctx.quiet)?;
            print(&format!("freed {} MiB\n", freed >> 20))
        }
    }
}

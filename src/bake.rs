//! Bake: the one place where config, render and image meet. For each node:
//! render its boot files, clone the base into a hidden temporary file next to
//! the output, apply the FAT edits in place, fsync, then rename into place.

use std::fs::{File, OpenOptions};
use std::io::IsTerminal;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::plan::NodePlan;
use crate::error::{Error, Result};
use crate::image::{BaseImage, clone, fat};
use crate::render::{self, Target};

pub struct Options {
    pub out_dir: PathBuf,
    pub force: bool,
    pub quiet: bool,
}

pub struct Baked {
    pub node: String,
    pub path: PathBuf,
    pub method: clone::Method,
    pub elapsed: Duration,
}

/// Deletes the temporary output unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// FAT timestamps: SOURCE_DATE_EPOCH when set, else the base image's own
/// cmdline.txt time, so the same inputs give the same bytes.
fn fat_time(base: &BaseImage) -> Result<fatfs::DateTime> {
    if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs: i64 = s.trim().parse().map_err(|_| {
            Error::config(format!(
                "SOURCE_DATE_EPOCH=`{s}` is not a number of seconds"
            ))
        })?;
        return Ok(fat::fat_time_from_unix(secs));
    }
    Ok(base
        .boot_view
        .entry("cmdline.txt")
        .map(|e| e.modified)
        .unwrap_or_else(|| fat::fat_time_from_unix(1_577_836_800)))
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn progress_bar(quiet: bool, len: u64, node: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_prefix(node.to_string());
    pb
}

/// Bake one node. The base is only ever read.
pub fn bake_node(base: &BaseImage, plan: &NodePlan, opts: &Options) -> Result<Baked> {
    let started = Instant::now();
    let target = Target {
        boot_mount: base.facts.boot_mount.clone(),
        cmdline: Some(base.cmdline.clone()),
        base: Some(base.identity.clone()),
    };
    let rendered = render::render(plan, &target)
        .map_err(|m| Error::image(format!("{}: cmdline.txt: {m}", base.path.display())))?;
    let cmdline = rendered
        .cmdline
        .clone()
        .expect("rendered with the image's cmdline");
    let mut files: Vec<(&str, &[u8])> = vec![("cmdline.txt", cmdline.as_bytes())];
    files.extend(
        rendered
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.content.as_slice())),
    );
    fat::check_space(&base.boot_view, &base.path, &base.boot, &files)?;
    let time = fat_time(base)?;

    let out = opts.out_dir.join(format!("{}.img", plan.name));
    if same_file(&out, &base.path) {
        return Err(Error::output(format!(
            "{} is the input image; choose another --out directory (piprep never modifies its input)",
            out.display()
        )));
    }
    if out.exists() && !opts.force {
        return Err(Error::output(format!(
            "{} already exists; pass --force to replace it",
            out.display()
        )));
    }
    let mut tmp = TempFile {
        path: opts
            .out_dir
            .join(format!(".{}.img.{}.partial", plan.name, std::process::id())),
        keep: false,
    };
    let dst = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp.path)
        .map_err(|e| Error::output_io(&tmp.path, "cannot create", &e))?;

    let pb = progress_bar(opts.quiet, base.len, &plan.name);
    let method = clone::clone(&base.file, &dst, base.len, &mut |n| pb.set_position(n))
        .map_err(|e| Error::output_io(&tmp.path, "cannot copy the base image into", &e))?;
    pb.finish_and_clear();

    fat::write(&dst, &tmp.path, &base.boot, &files, time)?;
    dst.sync_all()
        .map_err(|e| Error::output_io(&tmp.path, "cannot sync", &e))?;
    drop(dst);
    std::fs::rename(&tmp.path, &out)
        .map_err(|e| Error::output_io(&out, "cannot rename into", &e))?;
    tmp.keep = true;
    if let Ok(dir) = File::open(&opts.out_dir) {
        let _ = dir.sync_all();
    }
    Ok(Baked {
        node: plan.name.clone(),
        path: out,
        method,
        elapsed: started.elapsed(),
    })
}

/// Bake several nodes from one base; a failing node does not stop the others.
pub fn bake(base: &BaseImage, plans: &[&NodePlan], opts: &Options) -> Vec<Result<Baked>> {
    plans
        .iter()
        .map(|p| bake_node(base, p, opts).map_err(|e| e.context(format!("node {}", p.name))))
        .collect()
}

/// Create the output directory, with a clear error when that is impossible.
pub fn prepare_out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::output_io(dir, "cannot create output directory", &e))
}

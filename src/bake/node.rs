//! Baking one node, in steps that `bake` schedules: `prepare` renders its boot
//! files and computes the FAT edit and block map against the read-only base;
//! the image is then written into a hidden temporary file beside the output,
//! with a group of nodes (`group`, the usual case: the sha256 comes from the
//! same pass) or alone by `write` (clone, then the edit); `finish` writes the
//! .bmap (and .xz) and renames everything into place.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

use super::digest::{self, BaseDigest};
use super::outputs::{ManifestEntry, Xz};
use crate::bmap;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};
use crate::image::{BaseImage, clone, fat};
use crate::interrupt::TempPath;
use crate::render::{self, Target};

/// Per-phase wall times, for `--timings` and the benchmark. A group's pass
/// writes and hashes at once: its whole time is in `clone_ms`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub render_ms: f64,
    pub fat_edit_ms: f64,
    pub clone_ms: f64,
    pub digest_ms: f64,
    pub compress_ms: f64,
    pub total_ms: f64,
}

pub struct Baked {
    pub path: PathBuf,
    pub method: clone::Method,
    pub entry: ManifestEntry,
    pub timings: Timings,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub struct Job<'a> {
    pub base: &'a BaseImage,
    pub target: &'a Target,
    pub digest: Option<&'a BaseDigest>,
    pub plan: &'a NodePlan,
    /// Where the files go (the out dir, or a scratch dir for reproducibility checks).
    pub out_dir: &'a Path,
    /// Timestamp for every FAT entry written.
    pub time: fatfs::DateTime,
    pub compress: bool,
}

fn tmp_name(dir: &Path, file: &str) -> PathBuf {
    crate::io::atomic::temp_beside(&dir.join(file))
}

/// A node rendered and its FAT edit computed; nothing written yet. Owns the
/// name of its temporary image, removed on drop unless renamed into place.
pub struct Prepared {
    name: String,
    out: PathBuf,
    tmp: PathBuf,
    /// Removed on drop or on a signal unless renamed into place.
    temps: Vec<TempPath>,
    pub pages: Vec<(u64, Vec<u8>)>,
    /// The block map, when the base digest gives it without reading the image.
    ranges: Option<Vec<bmap::Range>>,
    boot_files: Vec<String>,
    started: Instant,
    timings: Timings,
}

/// Render the node and compute its FAT edit and block map against the base.
pub fn prepare(job: &Job) -> Result<Prepared> {
    let started = Instant::now();
    let (base, plan) = (job.base, job.plan);
    let mut t = Timings::default();
    let rendered = render::render(plan, job.target)
        .map_err(|m| Error::image(format!("{}: {m}", base.path.display())))?;
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
    t.render_ms = ms(started);

    let name = format!("{}.img", plan.name);
    let out = job.out_dir.join(&name);
    if crate::image::same_file(&out, &base.path) {
        return Err(Error::output(format!(
            "{} is the input image; choose another --out directory (piprep never modifies its input)",
            out.display()
        )));
    }

    let t0 = Instant::now();
    let pages = fat::edit_pages(&base.file, &base.path, &base.boot, &files, job.time)?;
    t.fat_edit_ms = ms(t0);
    let t0 = Instant::now();
    let ranges = match job.digest {
        Some(d) => Some(
            d.node_map(&base.file, &pages)
                .map_err(|e| Error::image_io(&base.path, "cannot read", &e))?,
        ),
        None => None,
    };
    t.digest_ms = ms(t0);
    let tmp = tmp_name(job.out_dir, &name);
    let mut boot_files: Vec<String> = vec!["cmdline.txt".into()];
    boot_files.extend(rendered.files.iter().map(|f| f.name.clone()));
    Ok(Prepared {
        name,
        out,
        temps: vec![TempPath::new(tmp.clone())],
        tmp,
        pages,
        ranges,
        boot_files,
        started,
        timings: t,
    })
}

/// A node's temporary image, complete and synced.
pub struct SyncedImage {
    file: File,
    method: clone::Method,
    ms: f64,
}

impl SyncedImage {
    /// `file` was written by `method` in `ms` milliseconds.
    pub fn new(file: File, method: clone::Method, ms: f64) -> Self {
        SyncedImage { file, method, ms }
    }
}

/// Create the node's (empty) temporary image: 0600, for it carries the
/// node's private host key and password hash.
pub fn create(p: &Prepared) -> Result<File> {
    crate::io::atomic::create_new(&p.tmp, crate::io::atomic::Holds::Secret)
        .map_err(|e| Error::output_io(&p.tmp, "cannot create", &e))
}

impl Prepared {
    /// The temporary image being written.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// The block map computed from the base digest, if there is one.
    pub fn map(&self) -> Option<&[bmap::Range]> {
        self.ranges.as_deref()
    }
}

/// Clone the base into the temporary image (skipping the pages the edit
/// replaces, so no byte is written twice), write the edit, and sync.
pub fn write(job: &Job, p: &Prepared, progress: &ProgressBar) -> Result<SyncedImage> {
    let base = job.base;
    let t0 = Instant::now();
    let dst = create(p)?;
    let skip: Vec<(u64, u64)> = p
        .pages
        .iter()
        .map(|(o, d)| (*o, *o + d.len() as u64))
        .collect();
    progress.set_length(base.len);
    let method = clone::clone(&base.file, &dst, base.len, &skip, &mut |n| {
        progress.set_position(n)
    })
    .map_err(|e| Error::output_io(&p.tmp, "cannot copy the base image into", &e))?;
    for (off, data) in &p.pages {
        dst.write_all_at(data, *off)
            .map_err(|e| Error::output_io(&p.tmp, "cannot write", &e))?;
    }
    dst.sync_all()
        .map_err(|e| Error::output_io(&p.tmp, "cannot sync", &e))?;
    Ok(SyncedImage {
        file: dst,
        method,
        ms: ms(t0),
    })
}

/// Write the .bmap (and .xz), then rename everything into place. `sha` is
/// the image's sha256 when the pass that wrote it computed it (its time is in
/// `clone_ms`); otherwise the image is read back.
pub fn finish(job: &Job, mut p: Prepared, w: SyncedImage, sha: Option<String>) -> Result<Baked> {
    let (base, plan) = (job.base, job.plan);
    let SyncedImage {
        file: dst,
        method,
        ms: clone_ms,
    } = w;
    p.timings.clone_ms = clone_ms;
    let (sha, ranges) = match (sha, p.ranges.take()) {
        (Some(s), Some(r)) => (s, r),
        // Partitions off block boundaries: digest the finished image itself.
        _ => {
            let t0 = Instant::now();
            let r = digest::full(&dst, base.len)
                .map_err(|e| Error::output_io(&p.tmp, "cannot read back", &e))?;
            p.timings.digest_ms += ms(t0);
            r
        }
    };
    let name = &p.name;
    let bmap_name = format!("{name}.bmap");
    let bmap_tmp = tmp_name(job.out_dir, &bmap_name);
    p.temps.push(TempPath::new(bmap_tmp.clone()));
    crate::io::atomic::write_synced(
        &bmap_tmp,
        bmap::to_xml(base.len, digest::BLOCK, &ranges).as_bytes(),
        crate::io::atomic::Holds::Public,
    )
    .map_err(|e| Error::output_io(&bmap_tmp, "cannot write", &e))?;

    let mut xz = None;
    if job.compress {
        let t0 = Instant::now();
        let xz_name = format!("{name}.xz");
        let xz_tmp = tmp_name(job.out_dir, &xz_name);
        p.temps.push(TempPath::new(xz_tmp.clone()));
        let sha = super::compress::xz(&dst, base.len, &xz_tmp)?;
        xz = Some((xz_name, xz_tmp, sha));
        p.timings.compress_ms = ms(t0);
    }
    drop(dst);
    base.check_unchanged()?;
    // The .bmap and .xz first, the image last: an image never sits beside a
    // stale map.
    let rename = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(|e| Error::output_io(to, "cannot rename into", &e))
    };
    rename(&bmap_tmp, &job.out_dir.join(&bmap_name))?;
    if let Some((xz_name, xz_tmp, _)) = &xz {
        rename(xz_tmp, &job.out_dir.join(xz_name))?;
    }
    rename(&p.tmp, &p.out)?;
    for t in p.temps.drain(..) {
        t.persist();
    }
    crate::io::atomic::sync_parent(&p.out);
    p.timings.total_ms = ms(p.started);
    let entry = ManifestEntry {
        role: plan.role.as_str().into(),
        ip: plan.cidr_text(),
        profile: plan.profile.name.clone(),
        config_hash: plan.config_hash(),
        piprep_version: env!("CARGO_PKG_VERSION").into(),
        base_sha256: base.identity.raw_sha256.clone().unwrap_or_default(),
        image: name.clone(),
        size: base.len,
        sha256: sha,
        bmap: bmap_name,
        xz: xz.map(|(file, _, sha256)| Xz { file, sha256 }),
        boot_files: p.boot_files,
        kubernetes: plan
            .kubernetes
            .as_ref()
            .map(crate::render::stamp::kubernetes),
    };
    Ok(Baked {
        path: p.out,
        method,
        entry,
        timings: p.timings,
    })
}

//! Baking one node: render its boot files, compute the FAT edit against the
//! read-only base, clone the base into a hidden temporary file beside the
//! output (skipping the pages the edit replaces, so no byte is written twice),
//! write the edit, digest, and rename the image, its .bmap and .xz into place.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

use super::digest::{self, BaseDigest};
use super::outputs::{NodeEntry, Xz};
use crate::bmap;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};
use crate::image::{BaseImage, clone, fat};
use crate::render::{self, Target};

/// Per-phase wall times, for `--timings` and the benchmark.
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
    pub entry: NodeEntry,
    pub timings: Timings,
}

/// Removes temporary outputs unless they were renamed into place.
struct Temps(Vec<PathBuf>);
impl Drop for Temps {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
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
    pub progress: &'a ProgressBar,
}

fn tmp_name(dir: &Path, file: &str) -> PathBuf {
    dir.join(format!(".{file}.{}.partial", std::process::id()))
}

pub fn bake_node(job: &Job) -> Result<Baked> {
    let started = Instant::now();
    let (base, plan) = (job.base, job.plan);
    let mut t = Timings::default();
    let rendered = render::render(plan, job.target)
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

    let mut temps = Temps(Vec::new());
    let tmp = tmp_name(job.out_dir, &name);
    temps.0.push(tmp.clone());
    let dst = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(|e| Error::output_io(&tmp, "cannot create", &e))?;
    let skip: Vec<(u64, u64)> = pages
        .iter()
        .map(|(o, d)| (*o, *o + d.len() as u64))
        .collect();
    job.progress.set_length(base.len);
    // The FAT partition's part of the digest needs only the base and the
    // edit; the rest is hashed as it is copied, so every byte is read once.
    let t0 = Instant::now();
    let prepared = match job.digest {
        Some(d) => Some(
            d.node(&base.file, &pages)
                .map_err(|e| Error::image_io(&base.path, "cannot read", &e))?,
        ),
        None => None,
    };
    let mut digest_ms = ms(t0);
    let t0 = Instant::now();
    let (mut suffix, ranges) = match prepared {
        Some((s, r)) => (Some(s), r),
        None => (None, Vec::new()),
    };
    let mut feed = |off: u64, data: &[u8]| {
        if let Some(s) = suffix.as_mut() {
            s.feed(off, data);
        }
    };
    let tap: Option<clone::Tap> = if job.digest.is_some() {
        Some(&mut feed)
    } else {
        None
    };
    let method = clone::clone(
        &base.file,
        &dst,
        base.len,
        &skip,
        &mut |n| job.progress.set_position(n),
        tap,
    )
    .map_err(|e| Error::output_io(&tmp, "cannot copy the base image into", &e))?;
    for (off, data) in &pages {
        dst.write_all_at(data, *off)
            .map_err(|e| Error::output_io(&tmp, "cannot write", &e))?;
    }
    t.clone_ms = ms(t0);
    let t0 = Instant::now();
    let (sha, ranges) = match suffix {
        Some(s) => (
            s.finish(&base.file)
                .map_err(|e| Error::image_io(&base.path, "cannot read", &e))?,
            ranges,
        ),
        // Partitions off block boundaries: digest the finished image itself.
        None => digest::full(&dst, base.len)
            .map_err(|e| Error::output_io(&tmp, "cannot read back", &e))?,
    };
    digest_ms += ms(t0);
    t.digest_ms = digest_ms;

    let bmap_name = format!("{name}.bmap");
    let bmap_tmp = tmp_name(job.out_dir, &bmap_name);
    temps.0.push(bmap_tmp.clone());
    std::fs::write(&bmap_tmp, bmap::to_xml(base.len, digest::BLOCK, &ranges))
        .map_err(|e| Error::output_io(&bmap_tmp, "cannot write", &e))?;

    let mut xz = None;
    if job.compress {
        let t0 = Instant::now();
        let xz_name = format!("{name}.xz");
        let xz_tmp = tmp_name(job.out_dir, &xz_name);
        temps.0.push(xz_tmp.clone());
        let sha = super::compress::xz(&dst, base.len, &xz_tmp)?;
        xz = Some((xz_name, xz_tmp, sha));
        t.compress_ms = ms(t0);
    }

    dst.sync_all()
        .map_err(|e| Error::output_io(&tmp, "cannot sync", &e))?;
    drop(dst);
    // The .bmap and .xz first, the image last: an image never sits beside a
    // stale map.
    let rename = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(|e| Error::output_io(to, "cannot rename into", &e))
    };
    rename(&bmap_tmp, &job.out_dir.join(&bmap_name))?;
    if let Some((xz_name, xz_tmp, _)) = &xz {
        rename(xz_tmp, &job.out_dir.join(xz_name))?;
    }
    rename(&tmp, &out)?;
    temps.0.clear();
    if let Ok(d) = File::open(job.out_dir) {
        let _ = d.sync_all();
    }
    t.total_ms = ms(started);
    let mut boot_files: Vec<String> = vec!["cmdline.txt".into()];
    boot_files.extend(rendered.files.iter().map(|f| f.name.clone()));
    let entry = NodeEntry {
        role: plan.role.as_str().into(),
        ip: format!("{}/{}", plan.address, plan.prefix),
        profile: plan.profile.name.clone(),
        config_hash: plan.config_hash(),
        piprep_version: env!("CARGO_PKG_VERSION").into(),
        base_sha256: base.identity.raw_sha256.clone().unwrap_or_default(),
        image: name,
        size: base.len,
        sha256: sha,
        bmap: bmap_name,
        xz: xz.map(|(file, _, sha256)| Xz { file, sha256 }),
        boot_files,
    };
    Ok(Baked {
        path: out,
        method,
        entry,
        timings: t,
    })
}

//! Writing a group of prepared nodes in one pass over the base: reflinked
//! clones plus their edits where the filesystem shares extents (then only the
//! edits are written), else the fan-out writer. Either way the pass gives each
//! image's sha256.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use indicatif::ProgressBar;

use super::digest::BaseDigest;
use super::fanout::{self, Output};
use super::node::{self, Prepared, Written};
use crate::error::{Error, Result};
use crate::image::BaseImage;
use crate::image::clone::{self, Method};

/// Create, fill and sync every node's temporary image; per node, the written
/// image and its sha256. `preps` must come from a base with a digest.
pub fn write(
    base: &BaseImage,
    d: &BaseDigest,
    preps: &[&Prepared],
    progress: &ProgressBar,
) -> Vec<Result<(Written, String)>> {
    let t0 = Instant::now();
    let files: Vec<Result<File>> = preps.iter().map(|p| node::create(p)).collect();
    let live: Vec<usize> = (0..preps.len()).filter(|&i| files[i].is_ok()).collect();
    let (method, outcome) = {
        let file = |i: usize| files[i].as_ref().expect("live nodes have files");
        let reflinked = live
            .first()
            .is_some_and(|&i| clone::reflink(&base.file, file(i)).is_ok());
        if reflinked {
            (
                Method::Reflink,
                reflink_rest(base, d, preps, &live, &file, progress),
            )
        } else {
            let outs: Vec<Output> = live
                .iter()
                .map(|&i| Output {
                    file: file(i),
                    path: preps[i].tmp(),
                    pages: &preps[i].pages,
                    map: preps[i].map().expect("grouped nodes have a block map"),
                })
                .collect();
            let r = fanout::write_group(d, &base.file, &outs, &|n| progress.set_position(n));
            (Method::SparseCopy, r)
        }
    };
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut per: Vec<Option<io::Result<String>>> = (0..preps.len()).map(|_| None).collect();
    match outcome {
        Ok(v) => {
            for (&i, r) in live.iter().zip(v) {
                per[i] = Some(r);
            }
        }
        Err(e) => {
            return files
                .into_iter()
                .map(|f| f.and(Err(Error::image_io(&base.path, "cannot read", &e))))
                .collect();
        }
    }
    files
        .into_iter()
        .zip(per)
        .zip(preps)
        .map(|((f, r), p)| {
            let f = f?;
            let sha = r
                .expect("every live node has an outcome")
                .map_err(|e| Error::output_io(p.tmp(), "cannot copy the base image into", &e))?;
            Ok((Written::new(f, method, ms), sha))
        })
        .collect()
}

/// The first live node is reflinked already: reflink the others, write every
/// node's edit, sync, and hash all of them in one read of the base.
fn reflink_rest<'a>(
    base: &BaseImage,
    d: &BaseDigest,
    preps: &[&Prepared],
    live: &[usize],
    file: &dyn Fn(usize) -> &'a File,
    progress: &ProgressBar,
) -> io::Result<Vec<io::Result<String>>> {
    let edits: Vec<io::Result<()>> = live
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            if n > 0 {
                clone::reflink(&base.file, file(i))?;
            }
            for (off, data) in &preps[i].pages {
                file(i).write_all_at(data, *off)?;
            }
            file(i).sync_all()
        })
        .collect();
    let pages: Vec<&[(u64, Vec<u8>)]> = live.iter().map(|&i| preps[i].pages.as_slice()).collect();
    let shas = d.images_sha256_only(&base.file, &pages, &mut |n| progress.set_position(n))?;
    Ok(edits
        .into_iter()
        .zip(shas)
        .map(|(e, s)| e.map(|()| s))
        .collect())
}

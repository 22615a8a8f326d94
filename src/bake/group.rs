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
use super::node::{self, Prepared, SyncedImage};
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
) -> Vec<Result<(SyncedImage, String)>> {
    let t0 = Instant::now();
    let files: Vec<Result<File>> = preps.iter().map(|p| node::create(p)).collect();
    let live: Vec<usize> = (0..preps.len()).filter(|&i| files[i].is_ok()).collect();
    let (method, outcome) = {
        let file = |i: usize| files[i].as_ref().expect("live nodes have files");
        let reflinked = live
            .first()
            .is_some_and(|&i| clone::reflink(&base.file, file(i)).is_ok());
        if reflinked {
            let outs: Vec<Cloned<'_>> = live
                .iter()
                .map(|&i| (file(i), preps[i].pages.as_slice()))
                .collect();
            let r = edit_clones(d, &base.file, &outs, &clone::reflink, progress);
            (Method::Reflink, r)
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
            Ok((SyncedImage::new(f, method, ms), sha))
        })
        .collect()
}

/// A node's cloned image and the edit to write over it.
type Cloned<'a> = (&'a File, &'a [(u64, Vec<u8>)]);

/// Each output but the first (already done) is shared from `base` by `share`
/// (a reflink); then every node's edit is written over its clone and synced,
/// and all of them are hashed in one read of the base.
fn edit_clones(
    d: &BaseDigest,
    base: &File,
    outs: &[Cloned],
    share: &dyn Fn(&File, &File) -> io::Result<()>,
    progress: &ProgressBar,
) -> io::Result<Vec<io::Result<String>>> {
    let edits: Vec<io::Result<()>> = outs
        .iter()
        .enumerate()
        .map(|(n, (f, pages))| {
            if n > 0 {
                share(base, f)?;
            }
            for (off, data) in *pages {
                f.write_all_at(data, *off)?;
            }
            f.sync_all()
        })
        .collect();
    let pages: Vec<&[(u64, Vec<u8>)]> = outs.iter().map(|(_, p)| *p).collect();
    let shas = d.images_sha256_only(base, &pages, &mut |n| progress.set_position(n))?;
    Ok(edits
        .into_iter()
        .zip(shas)
        .map(|(e, s)| e.map(|()| s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::{Read, Seek, Write};

    /// What a reflink gives: `dst` holds `src`'s bytes.
    fn copy_all(src: &File, dst: &File) -> io::Result<()> {
        let (mut s, mut d) = (src, dst);
        s.rewind()?;
        let mut v = Vec::new();
        s.read_to_end(&mut v)?;
        d.write_all(&v)
    }

    #[test]
    fn clones_get_their_edits_and_checksums() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let len = 3 << 20;
        let fat = (4 * 4096, 4 * 4096 + (1 << 20));
        let bp = dir.join("base");
        let b = File::create(&bp).unwrap();
        b.set_len(len).unwrap();
        b.write_all_at(&[5; 3000], 100).unwrap();
        b.write_all_at(&[6; 3000], fat.1 + 4096).unwrap();
        let b = File::open(&bp).unwrap();
        let d = BaseDigest::new(&b, len, fat, 512, &dir.join("memo")).unwrap();
        let edits: Vec<Vec<(u64, Vec<u8>)>> = vec![
            vec![(fat.0 + 8192, vec![1; 700])],
            vec![(fat.0, vec![2; 512]), (fat.1 - 4096, vec![3; 4096])],
        ];
        let files: Vec<File> = (0..2)
            .map(|i| {
                File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(dir.join(format!("n{i}")))
                    .unwrap()
            })
            .collect();
        copy_all(&b, &files[0]).unwrap(); // the caller's first reflink
        let outs: Vec<Cloned<'_>> = files
            .iter()
            .zip(&edits)
            .map(|(f, e)| (f, e.as_slice()))
            .collect();
        let got = edit_clones(&d, &b, &outs, &copy_all, &ProgressBar::hidden()).unwrap();
        let base_bytes = std::fs::read(&bp).unwrap();
        for (i, e) in edits.iter().enumerate() {
            let mut want = base_bytes.clone();
            for (o, data) in e {
                want[*o as usize..*o as usize + data.len()].copy_from_slice(data);
            }
            assert!(std::fs::read(dir.join(format!("n{i}"))).unwrap() == want);
            assert_eq!(
                got[i].as_ref().unwrap(),
                &hex::encode(Sha256::digest(&want))
            );
        }
        // A clone that cannot be shared fails its node alone.
        let fail = |_: &File, _: &File| Err(io::Error::other("no reflink"));
        let got = edit_clones(&d, &b, &outs, &fail, &ProgressBar::hidden()).unwrap();
        assert!(got[0].is_ok() && got[1].is_err());
    }
}

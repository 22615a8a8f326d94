//! Writing a group of node images from one read of the base, when the
//! filesystem cannot share extents (no reflink).
//!
//! One thread reads each chunk of the base once and advances every node's
//! sha256 over it (`BaseDigest::images_sha256`); one writer thread per node
//! puts the chunk, with the node's edit applied where it falls, into its image.
//! Only the ranges of each node's block map are written, so holes stay holes,
//! and they are written with O_DIRECT: no kernel copy into the page cache and
//! no write-back, which is where a copy_file_range per node spent its time
//! (8 s of system time for 8 nodes on the benchmark VM; now under 1 s).

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, mpsc};

use super::chunk::{Chunk, overlay};
use super::digest::{BLOCK, BaseDigest};
use crate::bmap::Range;
use crate::io::aligned::{AlignedBuf, DirectWriter};
use crate::io::extents::read_sparse;

/// 1 MiB: 1, 2 and 4 MiB wrote equally fast on the benchmark VM, and memory
/// is what chunks cost: a group holds `DEPTH` + 1 of them, plus one scratch
/// chunk per node while the FAT partition's edits go by (peak RSS of an
/// 8-node bake: 25 MiB with 1 MiB chunks, 39 MiB with 2 MiB).
const CHUNK: usize = 1 << 20;
/// Chunks queued for the writers while the reader hashes the next one.
const DEPTH: usize = 3;

/// One node image to write: the open (empty) output, the edit applied over
/// the base, and the block map saying which byte ranges hold data.
pub struct Output<'a> {
    pub file: &'a File,
    pub path: &'a Path,
    pub pages: &'a [(u64, Vec<u8>)],
    pub map: &'a [Range],
}

/// Per node: the image's sha256, or why writing it failed.
pub type SyncedImage = Vec<io::Result<String>>;

/// Write every output (synced) and return their sha256 values. A read error of
/// the base fails the whole group; a write error fails its node alone.
/// `progress` gets the image offset every writer has passed.
pub fn write_group(
    d: &BaseDigest,
    base: &File,
    outs: &[Output],
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<SyncedImage> {
    if outs.is_empty() {
        return Ok(Vec::new());
    }
    let (recycle, recycled) = mpsc::channel::<Chunk>();
    let (shas, results) = std::thread::scope(|s| {
        // One writer per node, so each image has a write in flight.
        let (queues, writers): (Vec<_>, Vec<_>) = outs
            .iter()
            .map(|o| {
                let (tx, rx) = mpsc::sync_channel::<Arc<Chunk>>(DEPTH);
                let recycle = recycle.clone();
                let w = s.spawn(move || {
                    let mut sink = Sink::new(o, d.len);
                    for c in rx {
                        sink.put(&c);
                        // The last writer done with a chunk hands it back.
                        if let Some(c) = Arc::into_inner(c) {
                            let _ = recycle.send(c); // the reader may be done
                        }
                    }
                    sink.close()
                });
                (tx, w)
            })
            .unzip();
        drop(recycle);
        let mut made = 0;
        let mut next = || -> io::Result<Chunk> {
            if let Ok(c) = recycled.try_recv() {
                progress(c.pos + c.len as u64);
                return Ok(c);
            }
            if made <= DEPTH {
                made += 1;
                return Ok(Chunk::new(CHUNK));
            }
            let c = recycled
                .recv()
                .map_err(|_| io::Error::other("image writer stopped"))?;
            progress(c.pos + c.len as u64);
            Ok(c)
        };
        let send = |c: Chunk| {
            // Every writer gets a handle and the reader keeps none, so the
            // last writer's `Arc::into_inner` gets the chunk back.
            let c = Arc::new(c);
            let stopped = |_| io::Error::other("image writer stopped");
            if let Some((last, rest)) = queues.split_last() {
                for q in rest {
                    q.send(c.clone()).map_err(stopped)?;
                }
                last.send(c).map_err(stopped)?;
            }
            Ok::<(), io::Error>(())
        };
        let shas = (|| {
            // Before the FAT partition every node has the base's bytes.
            let mut pos = 0;
            while pos < d.fat.0 {
                let mut c = next()?;
                (c.pos, c.len) = (pos, (d.fat.0 - pos).min(CHUNK as u64) as usize);
                read_sparse(base, pos, &mut c.base[..c.len], BLOCK)?;
                pos += c.len as u64;
                send(c)?;
            }
            let pages: Vec<&[(u64, Vec<u8>)]> = outs.iter().map(|o| o.pages).collect();
            let first = next()?;
            d.images_sha256(base, &pages, first, &mut |c| {
                send(c)?;
                next()
            })
        })();
        drop(queues);
        let results: Vec<io::Result<()>> = writers
            .into_iter()
            .map(|w| w.join().expect("image writers do not panic"))
            .collect();
        if shas.is_ok() {
            progress(d.len);
        }
        (shas, results)
    });
    let shas = shas?;
    Ok(results
        .into_iter()
        .zip(shas)
        .map(|(r, sha)| r.map(|()| sha))
        .collect())
}

/// One node image being written: its data ranges in bytes, how far the
/// chunks have got through them, and its edit.
struct Sink<'a> {
    out: DirectWriter<'a>,
    extents: Vec<(u64, u64)>,
    next: usize,
    pages: &'a [(u64, Vec<u8>)],
    /// The node's version of an edited chunk; freed past the last edit.
    edited: Option<AlignedBuf>,
    state: io::Result<()>,
}

impl<'a> Sink<'a> {
    fn new(o: &Output<'a>, len: u64) -> Self {
        let extents = o
            .map
            .iter()
            .map(|r| (r.first * BLOCK, ((r.last + 1) * BLOCK).min(len)))
            .collect();
        Sink {
            out: DirectWriter::new(o.file, o.path),
            extents,
            next: 0,
            pages: o.pages,
            edited: None,
            state: o.file.set_len(len),
        }
    }

    /// Write this node's bytes of chunk `c` that fall in its data ranges.
    fn put(&mut self, c: &Chunk) {
        if self.state.is_err() {
            return;
        }
        let (pos, end) = (c.pos, c.pos + c.len as u64);
        let touches = |(o, d): &(u64, Vec<u8>)| *o < end && o + d.len() as u64 > pos;
        let bytes: &[u8] = if self.pages.iter().any(touches) {
            let buf = self
                .edited
                .get_or_insert_with(|| AlignedBuf::new(c.base.len()));
            let mine = &mut buf[..c.len];
            mine.copy_from_slice(c.bytes());
            overlay(self.pages, pos, mine);
            mine
        } else {
            if self.pages.iter().all(|(o, d)| o + d.len() as u64 <= pos) {
                self.edited = None;
            }
            c.bytes()
        };
        while let Some(&(a, b)) = self.extents.get(self.next) {
            if a >= end {
                break;
            }
            let (s, e) = (a.max(pos), b.min(end));
            if s < e
                && let Err(err) = self
                    .out
                    .write_at(&bytes[(s - pos) as usize..(e - pos) as usize], s)
            {
                self.state = Err(err);
                return;
            }
            if b > end {
                break;
            }
            self.next += 1;
        }
    }

    fn close(self) -> io::Result<()> {
        self.state?;
        self.out.file().sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::{FileExt, MetadataExt};

    #[test]
    fn writes_each_image_once_from_one_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let bp = dir.join("base");
        // Odd length, FAT partition not on a chunk boundary, data on both
        // sides of it and a hole of several chunks.
        let len = 5 * CHUNK as u64 + 3 * BLOCK + 100;
        let fat = (3 * BLOCK, 3 * BLOCK + CHUNK as u64 + 8 * BLOCK);
        let b = File::create(&bp).unwrap();
        b.set_len(len).unwrap();
        b.write_all_at(&[1; 700], 0).unwrap();
        b.write_all_at(&[2; 5000], fat.0 + 10).unwrap();
        b.write_all_at(&[3; 9000], fat.1 + BLOCK).unwrap();
        b.write_all_at(&[4; 50], len - 50).unwrap();
        let b = File::open(&bp).unwrap();
        let d = BaseDigest::new(&b, len, fat, 512, &dir.join("memo.json")).unwrap();
        let nodes: Vec<Vec<(u64, Vec<u8>)>> = vec![
            vec![(fat.0 + 2 * BLOCK, vec![9; 3000])],
            vec![],
            vec![(fat.0 + CHUNK as u64 - 100, vec![8; 200])],
        ];
        let paths: Vec<_> = (0..nodes.len())
            .map(|i| dir.join(format!("n{i}")))
            .collect();
        let files: Vec<File> = paths
            .iter()
            .map(|p| {
                File::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(p)
                    .unwrap()
            })
            .collect();
        let maps: Vec<Vec<Range>> = nodes.iter().map(|n| d.node_map(&b, n).unwrap()).collect();
        let outs: Vec<Output> = (0..nodes.len())
            .map(|i| Output {
                file: &files[i],
                path: &paths[i],
                pages: &nodes[i],
                map: &maps[i],
            })
            .collect();
        let reached = std::sync::atomic::AtomicU64::new(0);
        let got = write_group(&d, &b, &outs, &|n| {
            reached.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(reached.into_inner(), len);
        let base_bytes = std::fs::read(&bp).unwrap();
        for (i, pages) in nodes.iter().enumerate() {
            let mut want = base_bytes.clone();
            for (o, data) in pages {
                want[*o as usize..*o as usize + data.len()].copy_from_slice(data);
            }
            let have = std::fs::read(&paths[i]).unwrap();
            assert!(have == want, "node {i} bytes");
            let sha = got[i].as_ref().unwrap();
            assert_eq!(*sha, hex::encode(Sha256::digest(&want)), "node {i} sha256");
            // Holes stay holes: a few blocks of data, not 10 MiB.
            assert!(files[i].metadata().unwrap().blocks() * 512 < 1 << 20);
        }
        // No outputs: nothing to do, and no wait for writers that never ran.
        assert!(write_group(&d, &b, &[], &|_| ()).unwrap().is_empty());

        // A node whose writes fail (a read-only handle) fails alone.
        let bad = File::open(&paths[0]).unwrap();
        let fresh = dir.join("fresh");
        let good = File::create(&fresh).unwrap();
        let got = write_group(
            &d,
            &b,
            &[
                Output {
                    file: &bad,
                    path: &paths[0],
                    pages: &nodes[0],
                    map: &maps[0],
                },
                Output {
                    file: &good,
                    path: &fresh,
                    pages: &nodes[1],
                    map: &maps[1],
                },
            ],
            &|_| (),
        )
        .unwrap();
        assert!(got[0].is_err());
        assert_eq!(
            got[1].as_ref().unwrap(),
            &hex::encode(Sha256::digest(std::fs::read(&fresh).unwrap()))
        );
        assert_eq!(std::fs::read(&fresh).unwrap(), base_bytes);
    }
}

//! A piece of the base image as it streams through a bake, and a node's own
//! changed pages laid over it.

use crate::io::aligned::AlignedBuf;

/// A piece of the base image: `len` bytes at `pos`.
pub struct Chunk {
    pub pos: u64,
    pub len: usize,
    pub base: AlignedBuf,
}

impl Chunk {
    /// An empty chunk holding up to `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Chunk {
            pos: 0,
            len: 0,
            base: AlignedBuf::new(cap),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.base[..self.len]
    }
}

/// Apply the parts of `pages` that fall in `buf` (which holds bytes at `off`).
pub fn overlay(pages: &[(u64, Vec<u8>)], off: u64, buf: &mut [u8]) {
    let end = off + buf.len() as u64;
    for (o, d) in pages {
        let (a, b) = ((*o).max(off), (o + d.len() as u64).min(end));
        if a < b {
            buf[(a - off) as usize..(b - off) as usize]
                .copy_from_slice(&d[(a - o) as usize..(b - o) as usize]);
        }
    }
}

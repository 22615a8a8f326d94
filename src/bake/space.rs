//! Whether the output filesystem holds the images a bake will write, counted
//! in allocated bytes (images are sparse) before anything is written, so a
//! nearly full disk bakes the nodes that fit instead of failing every one.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::image::BaseImage;

/// Filesystems whose clones share extents: an image costs only its edits.
const REFLINK: &[i64] = &[0x9123_683e /* btrfs */, 0x5846_5342 /* xfs */];

/// About what one node's outputs take: the base's data, its FAT edit and
/// .bmap (a few MiB), and with --compress an .xz of at most half the data.
pub fn per_node(base: &BaseImage, compress: bool) -> u64 {
    let data = base.allocated();
    data + (4 << 20) + if compress { data / 2 } else { 0 }
}

/// Free bytes in `dir`, and whether a clone of `base` there would share its
/// extents. None when the filesystem cannot tell.
pub fn free(dir: &Path, base: &BaseImage) -> Option<(u64, bool)> {
    let st = rustix::fs::statvfs(dir).ok()?;
    let free = st.f_bavail * st.f_frsize;
    let fs = rustix::fs::statfs(dir).ok()?;
    let same_dev = match (std::fs::metadata(dir), base.file.metadata()) {
        (Ok(d), Ok(b)) => d.dev() == b.dev(),
        _ => false,
    };
    let shares = same_dev && REFLINK.contains(&(fs.f_type as i64));
    Some((free, shares))
}

/// How many of `nodes` images fit.
pub fn fitting(free: u64, shares: bool, per_node: u64, nodes: usize) -> usize {
    if shares {
        return nodes;
    }
    ((free / per_node.max(1)) as usize).min(nodes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_whole_images() {
        use super::fitting;
        assert_eq!(fitting(10 << 30, false, 3 << 30, 8), 3);
        assert_eq!(fitting(1 << 30, false, 3 << 30, 8), 0);
        assert_eq!(fitting(100 << 30, false, 3 << 30, 8), 8);
        assert_eq!(fitting(0, true, 3 << 30, 8), 8);
    }
}

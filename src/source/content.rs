//! What a file is, told by its first bytes, never by its name: fetch, bake,
//! inspect and flash all refuse what is neither a disk image nor an .xz of one
//! with the same words.

use std::os::unix::fs::FileExt;
use std::path::Path;

use super::xz_stream::XZ_MAGIC;

/// What the first KiB of a file says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    DiskImage,
    Xz,
    /// A format users hand to flashers that piprep does not decode.
    Other(&'static str),
    Unknown,
}

/// A partition table: the MBR signature (a GPT disk has a protective MBR too)
/// or a GPT header in sector 1.
pub fn has_partition_table(first: &[u8]) -> bool {
    (first.len() >= 512 && first[510] == 0x55 && first[511] == 0xAA)
        || first.get(512..520) == Some(b"EFI PART")
}

pub fn classify(head: &[u8]) -> Content {
    if head.starts_with(&XZ_MAGIC) {
        Content::Xz
    } else if has_partition_table(head) {
        Content::DiskImage
    } else if head.starts_with(&[0x1F, 0x8B]) {
        Content::Other("gzip")
    } else if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Content::Other("zstd")
    } else if head.starts_with(b"BZh") {
        Content::Other("bzip2")
    } else if head.starts_with(b"PK\x03\x04") {
        Content::Other("zip")
    } else {
        Content::Unknown
    }
}

/// The first KiB of `path` (less for a shorter file).
pub fn head(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len().min(1024) as usize;
    let mut head = vec![0u8; len];
    f.read_exact_at(&mut head, 0)?;
    Ok(head)
}

pub fn classify_file(path: &Path) -> std::io::Result<Content> {
    Ok(classify(&head(path)?))
}

/// Why a file of this content cannot be used, with the fix; `None` for a disk
/// image or an .xz.
pub fn refusal(c: Content) -> Option<String> {
    match c {
        Content::DiskImage | Content::Xz => None,
        Content::Other(f) => Some(format!(
            "a {f} file; piprep reads raw images and .img.xz: decompress it first (or recompress it with xz)"
        )),
        Content::Unknown => {
            Some("not a disk image (no partition table) nor an .xz of one".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_content() {
        let mut mbr = vec![0u8; 1024];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        assert_eq!(classify(&mbr), Content::DiskImage);
        let mut gpt = vec![0u8; 1024];
        gpt[512..520].copy_from_slice(b"EFI PART");
        assert_eq!(classify(&gpt), Content::DiskImage);
        assert_eq!(classify(&[0u8; 1024]), Content::Unknown);
        assert!(!has_partition_table(&[0x55, 0xAA]));
        assert_eq!(classify(&[0x1F, 0x8B, 8]), Content::Other("gzip"));
        assert_eq!(classify(&[0x28, 0xB5, 0x2F, 0xFD]), Content::Other("zstd"));
        assert_eq!(classify(b"BZh9"), Content::Other("bzip2"));
        assert_eq!(classify(&XZ_MAGIC), Content::Xz);
        assert!(refusal(Content::Other("gzip")).unwrap().contains("gzip"));
        assert!(refusal(Content::Xz).is_none());
    }
}

//! Block-parallel .xz decoding. An .xz stream's index gives every block's
//! compressed and uncompressed size, so each block can be decoded on its own
//! and written straight to its offset in the output, on every core. liblzma's
//! threaded decoder instead hands all output back through one thread, in
//! order, which on two cores is no faster than one thread.
//!
//! Only the common layout is taken this way: one stream, no stream padding,
//! blocks filtered by LZMA2 alone, a CRC32, CRC64, SHA-256 or no check.
//! [`layout`] returns None for anything else (and for damage it notices), and
//! the caller uses the stream decoder, which reports damage in its own words.
//! Every block's header CRC32, sizes, padding and check are verified here.

use std::fs::File;
use std::os::unix::fs::FileExt;

use liblzma::stream::{Action, Filters, Status, Stream};
use sha2::{Digest, Sha256};

const MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const FOOTER_MAGIC: [u8; 2] = [b'Y', b'Z'];
const LZMA2: u64 = 0x21;
/// Compressed bytes fed to the decoder per call.
const IN_CHUNK: usize = 1 << 20;

fn crc32(b: &[u8]) -> u32 {
    // SAFETY: liblzma reads exactly `len` bytes from a valid slice.
    unsafe { liblzma_sys::lzma_crc32(b.as_ptr(), b.len(), 0) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Offset of the block header in the .xz file.
    pub at: u64,
    pub unpadded: u64,
    /// Offset and size of its output in the raw image.
    pub out: u64,
    pub size: u64,
}

#[derive(Debug)]
pub struct Layout {
    check: u8,
    pub blocks: Vec<Block>,
    /// Size of the raw image.
    pub size: u64,
}

fn check_len(check: u8) -> Option<u64> {
    match check {
        0 => Some(0),
        1 => Some(4),
        4 => Some(8),
        10 => Some(32),
        _ => None,
    }
}

/// xz's variable-length integer at `b[*pos..]`.
fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..9 {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn read_at(f: &File, off: u64, len: u64) -> Option<Vec<u8>> {
    let mut b = vec![0u8; usize::try_from(len).ok()?];
    f.read_exact_at(&mut b, off).ok()?;
    Some(b)
}

/// The blocks of `f` (`len` bytes), when it has the layout this module decodes.
pub fn layout(f: &File, len: u64) -> Option<Layout> {
    if len < 24 {
        return None;
    }
    let head = read_at(f, 0, 12)?;
    let foot = read_at(f, len - 12, 12)?;
    if head[..6] != MAGIC || foot[10..] != FOOTER_MAGIC || head[6..8] != foot[8..10] {
        return None;
    }
    if crc32(&head[6..8]).to_le_bytes() != head[8..12]
        || crc32(&foot[4..10]).to_le_bytes() != foot[..4]
    {
        return None;
    }
    let check = head[7];
    if head[6] != 0 {
        return None;
    }
    let check_size = check_len(check)?;
    let index_len = (u64::from(u32::from_le_bytes(foot[4..8].try_into().ok()?)) + 1) * 4;
    let index_at = len.checked_sub(12 + index_len)?;
    let index = read_at(f, index_at, index_len)?;
    let body = index_len as usize - 4;
    if index[0] != 0 || crc32(&index[..body]).to_le_bytes() != index[body..] {
        return None;
    }
    let mut pos = 1;
    let count = varint(&index, &mut pos)?;
    let mut blocks = Vec::new();
    let (mut at, mut out) = (12u64, 0u64);
    for _ in 0..count {
        let unpadded = varint(&index, &mut pos)?;
        let size = varint(&index, &mut pos)?;
        if pos > body || unpadded <= check_size {
            return None;
        }
        blocks.push(Block {
            at,
            unpadded,
            out,
            size,
        });
        at = at.checked_add(unpadded.div_ceil(4) * 4)?;
        out = out.checked_add(size)?;
    }
    if at != index_at || index[pos..body].iter().any(|&b| b != 0) {
        return None;
    }
    Some(Layout {
        check,
        blocks,
        size: out,
    })
}

/// What a decoded block's bytes go through, in order within the block.
enum Check {
    None,
    Crc32(u32),
    /// crc64fast (PCLMULQDQ): the statically built liblzma's CRC64 is a
    /// table walk that took a third of the decoding time.
    Crc64(Box<crc64fast::Digest>),
    Sha256(Box<Sha256>),
}

impl Check {
    fn new(kind: u8) -> Self {
        match kind {
            1 => Check::Crc32(0),
            4 => Check::Crc64(Box::default()),
            10 => Check::Sha256(Box::default()),
            _ => Check::None,
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Check::None => {}
            // SAFETY: liblzma reads exactly `len` bytes from a valid slice.
            Check::Crc32(c) => *c = unsafe { liblzma_sys::lzma_crc32(b.as_ptr(), b.len(), *c) },
            Check::Crc64(c) => c.write(b),
            Check::Sha256(h) => h.update(b),
        }
    }
    fn value(self) -> Vec<u8> {
        match self {
            Check::None => Vec::new(),
            Check::Crc32(c) => c.to_le_bytes().to_vec(),
            Check::Crc64(c) => c.sum64().to_le_bytes().to_vec(),
            Check::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// The decoder for the block at `b`, and where its compressed data starts and ends.
fn open_block(f: &File, b: &Block, check_size: u64) -> Result<(Stream, u64, u64), String> {
    let first = read_at(f, b.at, 1).ok_or("cannot read the block header")?[0];
    if first == 0 {
        return Err("an index where a block header belongs".into());
    }
    let hlen = (u64::from(first) + 1) * 4;
    let h = read_at(f, b.at, hlen).ok_or("truncated block header")?;
    let body = hlen as usize - 4;
    if crc32(&h[..body]).to_le_bytes() != h[body..] {
        return Err("block header CRC32 mismatch".into());
    }
    let flags = h[1];
    if flags & 0x3C != 0 || flags & 0x03 != 0 {
        return Err("block uses filters other than LZMA2".into());
    }
    let mut pos = 2;
    let data_len = b
        .unpadded
        .checked_sub(hlen + check_size)
        .ok_or("block smaller than its header")?;
    if flags & 0x40 != 0 && varint(&h, &mut pos) != Some(data_len) {
        return Err("block compressed size disagrees with the index".into());
    }
    if flags & 0x80 != 0 && varint(&h, &mut pos) != Some(b.size) {
        return Err("block uncompressed size disagrees with the index".into());
    }
    if varint(&h, &mut pos) != Some(LZMA2) || varint(&h, &mut pos) != Some(1) {
        return Err("block uses filters other than LZMA2".into());
    }
    let props = *h.get(pos).ok_or("truncated block header")?;
    if h[pos + 1..body].iter().any(|&x| x != 0) {
        return Err("block header padding is not zero".into());
    }
    let mut filters = Filters::new();
    filters
        .lzma2_properties(&[props])
        .map_err(|e| format!("bad LZMA2 properties: {e}"))?;
    let stream =
        Stream::new_raw_decoder(&filters).map_err(|e| format!("cannot start the decoder: {e}"))?;
    Ok((stream, b.at + hlen, b.at + hlen + data_len))
}

/// Where decoded output goes: (raw offset, buffer, bytes filled) in; an
/// empty buffer to fill next out. Buffers change hands instead of being
/// copied, so one writer thread can take them from every decoder.
pub type Sink<'a> = &'a (dyn Fn(u64, Vec<u8>, usize) -> std::io::Result<Vec<u8>> + Sync);

/// Decode block `b` of `f`, handing its output to `out` in order, in full
/// buffers (but the last).
fn decode_block(
    f: &File,
    layout: &Layout,
    b: &Block,
    out: Sink,
    consumed: &dyn Fn(u64),
) -> Result<(), String> {
    let check_size = check_len(layout.check).expect("layout checked the check type");
    let (mut stream, mut pos, end) = open_block(f, b, check_size)?;
    let mut check = Check::new(layout.check);
    let mut input = vec![0u8; IN_CHUNK];
    let mut output = out(b.out, Vec::new(), 0).map_err(|e| format!("cannot write: {e}"))?;
    let (mut have, mut used, mut filled) = (0usize, 0usize, 0usize);
    let (mut produced, mut start) = (0u64, b.out);
    loop {
        if used == have && pos < end {
            have = (end - pos).min(IN_CHUNK as u64) as usize;
            f.read_exact_at(&mut input[..have], pos)
                .map_err(|e| format!("cannot read: {e}"))?;
            pos += have as u64;
            used = 0;
            consumed(have as u64);
        }
        let (in0, out0) = (stream.total_in(), stream.total_out());
        let status = stream
            .process(&input[used..have], &mut output[filled..], Action::Run)
            .map_err(|e| format!("corrupt data: {e}"))?;
        used += (stream.total_in() - in0) as usize;
        let n = (stream.total_out() - out0) as usize;
        filled += n;
        produced += n as u64;
        if produced > b.size {
            return Err("more data than the index says".into());
        }
        let ended = matches!(status, Status::StreamEnd);
        if filled == output.len() || (ended && filled > 0) {
            check.update(&output[..filled]);
            output = out(start, output, filled).map_err(|e| format!("cannot write: {e}"))?;
            start += filled as u64;
            filled = 0;
        }
        if ended {
            break;
        }
        if n == 0 && used == have && pos == end {
            return Err("truncated block".into());
        }
    }
    if produced != b.size || used != have || pos != end {
        return Err("block sizes disagree with the index".into());
    }
    let pad = b.unpadded.div_ceil(4) * 4 - b.unpadded;
    let tail = read_at(f, end, pad + check_size).ok_or("truncated block")?;
    if tail[..pad as usize].iter().any(|&x| x != 0) {
        return Err("block padding is not zero".into());
    }
    if tail[pad as usize..] != check.value() {
        return Err("integrity check (CRC/SHA-256) mismatch".into());
    }
    Ok(())
}

/// Decode every block of `f` on `threads` threads; `out` gets each piece with
/// its offset (from several threads at once), and `done` each block's index
/// after its last piece. The first error names its block.
pub fn decode_all(
    f: &File,
    layout: &Layout,
    threads: usize,
    out: Sink,
    consumed: &(dyn Fn(u64) + Sync),
    done: &(dyn Fn(usize) + Sync),
) -> Result<(), String> {
    let r = crate::io::pool::try_each::<String>(threads, layout.blocks.len(), |i| {
        decode_block(f, layout, &layout.blocks[i], out, consumed)?;
        done(i);
        Ok(())
    });
    match r.err() {
        Some((i, e)) => Err(format!(
            "block {} of {} (raw offset {}): {e}",
            i + 1,
            layout.blocks.len(),
            layout.blocks[i].out
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sample(dir: &std::path::Path, args: &[&str]) -> (Vec<u8>, File, u64) {
        // Zero runs, text-like runs and noise, ~5 MiB.
        let mut raw = vec![0u8; 5 << 20];
        let mut x = 1u32;
        for (i, b) in raw.iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = match (i >> 16) % 3 {
                0 => 0,
                1 => b"piprep "[i % 7],
                _ => x as u8,
            };
        }
        let p = dir.join("raw");
        std::fs::write(&p, &raw).unwrap();
        let o = Command::new("xz")
            .args(args)
            .args(["-c", "-k"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(o.status.success());
        let xp = dir.join(format!("x{}", args.join("")));
        std::fs::write(&xp, &o.stdout).unwrap();
        (raw, File::open(&xp).unwrap(), o.stdout.len() as u64)
    }

    fn decode(f: &File, l: &Layout) -> Result<Vec<u8>, String> {
        let buf = std::sync::Mutex::new(vec![0u8; l.size as usize]);
        decode_all(
            f,
            l,
            3,
            &|o, d, n| {
                buf.lock().unwrap()[o as usize..o as usize + n].copy_from_slice(&d[..n]);
                // Small buffers, so blocks span several.
                Ok(vec![0u8; 100_000])
            },
            &|_| (),
            &|_| (),
        )?;
        Ok(buf.into_inner().unwrap())
    }

    #[test]
    fn decodes_every_check_type_and_rejects_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        for check in ["none", "crc32", "crc64", "sha256"] {
            let c = format!("--check={check}");
            let (raw, f, len) = sample(&dir, &["-T2", "-1", "--block-size=1MiB", &c]);
            let l = layout(&f, len).expect("multi-block layout");
            assert_eq!(l.blocks.len(), 5, "{check}");
            assert_eq!(l.size, raw.len() as u64);
            assert!(decode(&f, &l).unwrap() == raw, "{check}");
            if check == "none" {
                continue; // nothing in the file can tell a flipped byte
            }
            // A flipped byte inside block 3's compressed data is caught.
            let mut bytes = std::fs::read(dir.join(format!("x-T2-1--block-size=1MiB{c}"))).unwrap();
            let b = l.blocks[2];
            bytes[(b.at + 40) as usize] ^= 0x55;
            let bad = dir.join("bad");
            std::fs::write(&bad, &bytes).unwrap();
            let bf = File::open(&bad).unwrap();
            let e = decode(&bf, &layout(&bf, len).unwrap()).unwrap_err();
            assert!(e.starts_with("block 3 of 5"), "{check}: {e}");
        }
        // One stream, one block: still a layout (the caller decides).
        let (_, f, len) = sample(&dir, &["-0"]);
        assert_eq!(layout(&f, len).unwrap().blocks.len(), 1);
        // A truncated file, or one with trailing padding, is not this layout.
        let (_, f, len) = sample(&dir, &["-T2", "--block-size=1MiB"]);
        assert!(layout(&f, len - 1).is_none());
    }
}

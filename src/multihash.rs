//! SHA-256 of several messages that share most of their bytes.
//!
//! The node images of a fleet are one base image with small, different FAT
//! edits, so their checksums are SHA-256 runs over the same gigabytes. The
//! message schedule of a block depends only on the block, and one SHA-256
//! chain is bound by the latency of its round instructions; so advancing up
//! to four states over the same block at once (SHA-NI, interleaved) costs
//! about half as much per image as hashing each image on its own. Without
//! SHA-NI every state is compressed by itself with the `sha2` crate.

use sha2::block_api::compress256;

pub type State = [u32; 8];

/// The SHA-256 initial state.
pub const IV: State = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Advance every state in `states` over the same `data` (whole 64-byte blocks).
pub fn compress_shared(states: &mut [State], data: &[u8]) {
    let (blocks, rest) = data.as_chunks::<64>();
    assert!(rest.is_empty(), "whole blocks only");
    #[cfg(target_arch = "x86_64")]
    if states.len() > 1 && x86::available() {
        for group in states.chunks_mut(4) {
            // SAFETY: the CPU has the features these functions are compiled for.
            unsafe {
                match group.len() {
                    4 => x86::compress::<4>(group.try_into().expect("4"), blocks),
                    3 => x86::compress::<3>(group.try_into().expect("3"), blocks),
                    2 => x86::compress::<2>(group.try_into().expect("2"), blocks),
                    _ => compress256(&mut group[0], blocks),
                }
            }
        }
        return;
    }
    for s in states {
        compress256(s, blocks);
    }
}

/// Finish a state that has taken `done` bytes (whole blocks) with the
/// message's last `tail` bytes (fewer than 64).
pub fn finish(mut state: State, done: u64, tail: &[u8]) -> [u8; 32] {
    assert!(done.is_multiple_of(64) && tail.len() < 64);
    let bits = (done + tail.len() as u64) * 8;
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    // Room for the 0x80 byte and the 8-byte length decides one or two blocks.
    let n = if tail.len() < 56 { 64 } else { 128 };
    last[n - 8..n].copy_from_slice(&bits.to_be_bytes());
    compress256(&mut state, last[..n].as_chunks::<64>().0);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::State;

    pub fn available() -> bool {
        is_x86_feature_detected!("sha")
            && is_x86_feature_detected!("sse4.1")
            && is_x86_feature_detected!("ssse3")
    }

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// N chains over the same blocks. The schedule and round constants are
    /// computed once per block; the N chains' round instructions interleave.
    /// Register layout as in Intel's SHA extensions paper (ABEF / CDGH).
    #[target_feature(enable = "sha,sse4.1,ssse3")]
    pub unsafe fn compress<const N: usize>(states: &mut [State; N], blocks: &[[u8; 64]]) {
        let mask = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
        let mut abef = [_mm_setzero_si128(); N];
        let mut cdgh = [_mm_setzero_si128(); N];
        for j in 0..N {
            let p = states[j].as_ptr().cast::<__m128i>();
            // SAFETY: a State is 32 bytes; unaligned loads.
            let (dcba, hgfe) = unsafe { (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1))) };
            let cdab = _mm_shuffle_epi32(dcba, 0xB1);
            let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
            abef[j] = _mm_alignr_epi8(cdab, efgh, 8);
            cdgh[j] = _mm_blend_epi16(efgh, cdab, 0xF0);
        }
        for block in blocks {
            let (save_abef, save_cdgh) = (abef, cdgh);
            let p = block.as_ptr().cast::<__m128i>();
            // SAFETY: a block is 64 bytes; unaligned loads.
            let mut w: [__m128i; 4] = std::array::from_fn(|i| {
                _mm_shuffle_epi8(unsafe { _mm_loadu_si128(p.add(i)) }, mask)
            });
            for r in 0..16 {
                if r >= 4 {
                    let i = r % 4;
                    let t = _mm_add_epi32(
                        _mm_sha256msg1_epu32(w[i], w[(i + 1) % 4]),
                        _mm_alignr_epi8(w[(i + 3) % 4], w[(i + 2) % 4], 4),
                    );
                    w[i] = _mm_sha256msg2_epu32(t, w[(i + 3) % 4]);
                }
                // SAFETY: 4 * r + 3 < 64.
                let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * r).cast()) };
                let lo = _mm_add_epi32(w[r % 4], k);
                let hi = _mm_shuffle_epi32(lo, 0x0E);
                for j in 0..N {
                    cdgh[j] = _mm_sha256rnds2_epu32(cdgh[j], abef[j], lo);
                }
                for j in 0..N {
                    abef[j] = _mm_sha256rnds2_epu32(abef[j], cdgh[j], hi);
                }
            }
            for j in 0..N {
                abef[j] = _mm_add_epi32(abef[j], save_abef[j]);
                cdgh[j] = _mm_add_epi32(cdgh[j], save_cdgh[j]);
            }
        }
        for j in 0..N {
            let feba = _mm_shuffle_epi32(abef[j], 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh[j], 0xB1);
            let p = states[j].as_mut_ptr().cast::<__m128i>();
            // SAFETY: a State is 32 bytes; unaligned stores.
            unsafe {
                _mm_storeu_si128(p, _mm_blend_epi16(feba, dchg, 0xF0));
                _mm_storeu_si128(p.add(1), _mm_alignr_epi8(dchg, feba, 8));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn bytes(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    /// Every group size (1..=9 states, so 4+4+1, 4+3, …) and message length
    /// around the padding edges gives the sha2 crate's digest.
    #[test]
    fn equals_sha2_for_every_group_size_and_tail() {
        for n in 1..=9 {
            for len in [
                0usize,
                1,
                55,
                56,
                63,
                64,
                119,
                120,
                127,
                128,
                4096 + 17,
                70_000,
            ] {
                let msgs: Vec<Vec<u8>> = (0..n).map(|i| bytes(len, i as u32 + 1)).collect();
                // Shared prefix: each state starts from its own message's
                // first block; the shared part is message 0's body.
                let whole = len / 64 * 64;
                let mut states = vec![IV; n];
                let shared = &msgs[0][..whole];
                compress_shared(&mut states, shared);
                for (i, s) in states.iter().enumerate() {
                    let mut expect = shared.to_vec();
                    expect.extend_from_slice(&msgs[i][whole..]);
                    assert_eq!(
                        finish(*s, whole as u64, &msgs[i][whole..]),
                        <[u8; 32]>::from(Sha256::digest(&expect)),
                        "n={n} len={len} state={i}"
                    );
                }
            }
        }
    }

    /// States that already differ stay independent over shared data.
    #[test]
    fn different_states_advance_independently() {
        let heads: Vec<Vec<u8>> = (0..5).map(|i| bytes(128, 100 + i)).collect();
        let body = bytes(64 * 1000, 7);
        let mut states: Vec<State> = heads
            .iter()
            .map(|h| {
                let mut s = IV;
                compress256(&mut s, h.as_chunks::<64>().0);
                s
            })
            .collect();
        compress_shared(&mut states, &body);
        for (h, s) in heads.iter().zip(&states) {
            let mut m = h.clone();
            m.extend_from_slice(&body);
            assert_eq!(
                finish(*s, m.len() as u64, &[]),
                <[u8; 32]>::from(Sha256::digest(&m))
            );
        }
    }
}

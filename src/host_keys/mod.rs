//! The nodes' SSH host keys: made and kept at bake time (`store`), and the
//! fleet's `known_hosts` (`known_hosts`), so the first SSH to a new or
//! re-flashed node is verified, not trusted on first use.

pub mod known_hosts;
pub mod store;

use std::io::Read;

use crate::error::{Error, Result};

/// `N` bytes from the kernel's random source (key seeds, known_hosts salts).
pub fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::internal(format!("cannot read /dev/urandom: {e}")))?;
    Ok(b)
}

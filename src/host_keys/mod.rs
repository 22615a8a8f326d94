//! The nodes' SSH host keys: made and kept at bake time (`store`), and the
//! fleet's `known_hosts` (`known_hosts`), so the first SSH to a new or
//! re-flashed node is verified, not trusted on first use.

pub mod known_hosts;
pub mod store;

//! What a newcomer trips over (#30): paths that follow the inventory, usage
//! and refusals that name the fix, commands that accept what bake accepts.

mod compressed;
mod dhcp;
mod messages;
mod paths;

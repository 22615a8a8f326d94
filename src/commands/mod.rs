//! Command handlers: glue between the CLI and the stages, one file per
//! command; what they share is in `context`.

mod bake;
mod context;
mod docs;
mod fetch;
mod flash;
mod fleet;
mod init;
mod inspect;
mod kubeconfig;
mod render;
mod report;
mod validate;

pub use bake::bake;
pub use docs::{completions, man, nodes};
pub use fetch::{cache, fetch};
pub use flash::{cards, flash};
pub use fleet::{export, known_hosts_cmd as known_hosts, rekey, status};
pub use init::init;
pub use inspect::inspect;
pub use kubeconfig::kubeconfig;
pub use render::render;
pub use report::report;
pub use validate::validate;

pub use context::Ctx;

//! Each backend's share of the boot partition behind one signature: the
//! files it writes and the command-line tokens it owns.

use super::node::model::NodeSetup;
use super::{Backend, BootFile, cloudinit, firstboot};
use crate::config::plan::NodePlan;

/// What a backend puts on the boot partition for one node.
#[derive(Debug, Clone, Default)]
pub struct BackendBoot {
    pub files: Vec<BootFile>,
    /// Arguments kept on every boot, after the profile's.
    pub permanent: Vec<String>,
    /// The one-shot hook's arguments (removed by the first boot).
    pub hook: Vec<String>,
    /// piprep's arguments the image must not keep (the other backend's).
    pub stale: Vec<String>,
}

/// A backend's boot-partition content: `(plan, setup, boot mount) → BackendBoot`.
pub type Writer = fn(&NodePlan, &NodeSetup, &str) -> BackendBoot;

pub fn writer(backend: Backend) -> Writer {
    match backend {
        Backend::Firstrun => firstboot::boot,
        Backend::CloudInit => cloudinit::boot,
    }
}

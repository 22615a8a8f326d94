//! Each backend's share of the boot partition behind one signature: the
//! files it writes and the command-line tokens it owns.

use super::boot_file::BackendBoot;
use super::node::model::NodeSetup;
use super::{Backend, cloudinit, firstboot};
use crate::config::plan::NodePlan;

/// A backend's boot-partition content: `(plan, setup, boot mount) → BackendBoot`.
pub type Writer = fn(&NodePlan, &NodeSetup, &str) -> BackendBoot;

pub fn writer(backend: Backend) -> Writer {
    match backend {
        Backend::Firstrun => firstboot::boot,
        Backend::CloudInit => cloudinit::boot,
    }
}

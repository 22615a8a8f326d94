//! The node's identity and SSH: its address, the user's authorized keys,
//! and the public halves of its pinned host keys (the private ones travel as
//! secrets: the hook's boot-partition files, cloud-init's ssh_keys).

use super::model::{Check, Part, RootFile};
use crate::config::plan::NodePlan;

pub fn part(plan: &NodePlan) -> Part {
    Part {
        files: plan
            .host_keys
            .iter()
            .map(|k| {
                RootFile::root(
                    format!("{}.pub", k.path()),
                    "0644",
                    format!("{}\n", k.public),
                )
            })
            .collect(),
        checks: vec![
            Check::Address {
                address: plan.cidr_text(),
                interface: plan.interface.clone(),
            },
            Check::AuthorizedKeys(plan.user.ssh_authorized_keys.len()),
            Check::HostKeys(
                plan.host_keys
                    .iter()
                    .map(|k| format!("{} {}", k.kind, k.public_key()))
                    .collect(),
            ),
        ],
        ..Part::default()
    }
}

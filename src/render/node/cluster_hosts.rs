//! Every node by name in /etc/hosts: setup.sh keeps the block (render::hosts)
//! in place on every boot; the checklist finds its entries.

use super::model::{Check, Part};
use crate::config::plan::NodePlan;

pub fn part(plan: &NodePlan) -> Part {
    Part {
        checks: vec![Check::Hosts(
            plan.cluster_hosts
                .iter()
                .map(|(n, a)| format!("{a}\t{n}"))
                .collect(),
        )],
        ..Part::default()
    }
}

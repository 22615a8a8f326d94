//! The fleet after the bake: inventories for the tools that come next
//! (`export`), the cluster's /etc/hosts block every node gets, and the view
//! of every node over SSH with its pinned host key (`status`).

pub mod export;
pub mod kubeconfig;
pub mod quote;
pub mod status;
pub mod status_table;
pub mod watch;

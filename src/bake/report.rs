//! What a bake is asked to do, and what it did, per node.

use std::path::PathBuf;

use super::node::Baked;
use crate::config::inventory::InitMode;
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct Options {
    pub out_dir: PathBuf,
    pub force: bool,
    pub compress: bool,
    pub jobs: Option<usize>,
    pub check_reproducible: bool,
    pub cache_dir: PathBuf,
    pub init: InitMode,
    /// The fleet's known_hosts, written into the output directory under its
    /// lock once any node has an image.
    pub known_hosts: Option<String>,
}

pub enum Outcome {
    Baked(Box<Baked>),
    UpToDate(PathBuf),
}

/// One node's part of a bake.
pub struct NodeResult {
    pub node: String,
    pub outcome: Result<Outcome>,
}

/// What a bake did: each node's outcome, and whether the manifest,
/// SHA256SUMS and known_hosts were saved (an error of its own).
pub struct Report {
    pub nodes: Vec<NodeResult>,
    pub saved: Result<()>,
}

pub(super) fn push(results: &mut Vec<NodeResult>, node: &str, outcome: Result<Outcome>) {
    results.push(NodeResult {
        node: node.to_string(),
        outcome,
    })
}

impl Report {
    pub(super) fn failed(nodes: Vec<NodeResult>, e: Error) -> Report {
        Report {
            nodes,
            saved: Err(e),
        }
    }

    /// Some node has an image (baked now, or already up to date).
    pub fn any_image(&self) -> bool {
        self.nodes.iter().any(|n| n.outcome.is_ok())
    }
}

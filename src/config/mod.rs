//! Configuration: the inventory plus profiles, validated into one NodePlan per
//! node. Pure apart from reading the config files themselves.

pub mod inventory;
pub mod net;
pub mod plan;
pub mod profile;
pub mod source;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use inventory::Inventory;
use plan::NodePlan;
use profile::ProfileStore;
use source::SourceFile;
pub use validate::{Finding, Severity, Validated};

pub struct Config {
    pub path: PathBuf,
    /// Directory holding piprep.toml; relative paths resolve from here.
    pub dir: PathBuf,
    pub source: SourceFile,
    pub inventory: Inventory,
    pub profiles: ProfileStore,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let source = SourceFile::read(path)?;
        let inventory: Inventory = source.parse()?;
        let dir = source::base_dir(path);
        let profiles = ProfileStore::load(Some(&dir.join("profiles")))?;
        Ok(Config {
            path: path.to_path_buf(),
            dir,
            source,
            inventory,
            profiles,
        })
    }

    pub fn validate(&self) -> Validated {
        validate::validate(self)
    }

    /// Validate, failing with every error finding (one per line) when any exists.
    pub fn plans(&self) -> Result<(Vec<NodePlan>, Vec<Finding>)> {
        let v = self.validate();
        if v.has_errors() {
            let lines: Vec<String> = v.errors().map(|f| f.to_string()).collect();
            return Err(Error::config(lines.join("\n")));
        }
        Ok((v.plans, v.findings))
    }

    /// Pick the named nodes (or all), in inventory order, or say which exist.
    pub fn select<'p>(
        &self,
        plans: &'p [NodePlan],
        names: &[String],
        all: bool,
    ) -> Result<Vec<&'p NodePlan>> {
        if all {
            return Ok(plans.iter().collect());
        }
        if names.is_empty() {
            return Err(Error::config(
                "no node chosen; pass --node NAME (repeatable) or --all",
            ));
        }
        names
            .iter()
            .map(|n| {
                plans.iter().find(|p| &p.name == n).ok_or_else(|| {
                    let known: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
                    Error::config(format!(
                        "unknown node `{n}` in {}; known nodes: {}",
                        self.path.display(),
                        known.join(", ")
                    ))
                })
            })
            .collect()
    }

    /// The base image from `[image] path`, relative to the inventory's directory.
    pub fn image_path(&self) -> Option<PathBuf> {
        let p = self.inventory.image.as_ref()?.path.as_ref()?;
        Some(self.dir.join(p.get_ref()))
    }
}

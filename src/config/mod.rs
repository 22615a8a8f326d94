//! Configuration: the inventory plus profiles, validated into one NodePlan per
//! node. Pure apart from reading the config files themselves.

pub mod bootstrap;
pub mod closest;
pub mod cmdline;
pub mod cni_fit;
mod finding;
pub mod grammar;
pub mod image_spec;
pub mod inventory;
pub mod kubernetes;
pub mod net;
pub mod plan;
pub mod profile;
pub mod profile_extras;
pub mod profile_store;
pub mod reach;
pub mod secrets;
pub mod starter;
pub mod toml_file;
pub mod validate;
pub mod wifi;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use finding::{Finding, Severity};
use image_spec::Spec;
use inventory::Inventory;
use plan::NodePlan;
pub use profile_store::ProfileStore;
use toml_file::{Location, SourceFile};

/// Why an inventory could not be loaded.
pub enum Loaded {
    Config(toml_file::LoadError),
    Other(Error),
}

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
        Self::load_detailed(path).map_err(|e| match e {
            Loaded::Config(e) => e.into(),
            Loaded::Other(e) => e,
        })
    }

    /// `load`, with a parse or read failure of the inventory kept apart (for
    /// `validate --json`, which reports it as a finding).
    pub fn load_detailed(path: &Path) -> std::result::Result<Self, Loaded> {
        let source = SourceFile::read_detailed(path).map_err(Loaded::Config)?;
        let inventory: Inventory = source.parse_detailed().map_err(Loaded::Config)?;
        let dir = toml_file::base_dir(path);
        let profiles = ProfileStore::load(Some(&dir.join("profiles"))).map_err(Loaded::Other)?;
        Ok(Config {
            path: path.to_path_buf(),
            dir,
            source,
            inventory,
            profiles,
        })
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
        // A node named twice is baked once.
        let mut unique: Vec<&String> = Vec::new();
        for n in names {
            if !unique.contains(&n) {
                unique.push(n);
            }
        }
        unique
            .into_iter()
            .map(|n| {
                plans.iter().find(|p| p.name == *n).ok_or_else(|| {
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

    /// The base image source from `[image]`; None when there is no `[image]`.
    /// An incomplete or ambiguous section is a finding with file:line and a fix.
    pub fn image_spec_checked(
        &self,
    ) -> std::result::Result<Option<Spec>, (Location, String, &'static str)> {
        let Some(img) = &self.inventory.image else {
            return Ok(None);
        };
        let at = |s: &toml::Spanned<String>| self.source.at(s.span().start);
        let forms = [img.path.is_some(), img.url.is_some(), img.os_list.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if forms == 0 && img.sha256.is_none() && img.sha256_url.is_none() && img.name.is_none() {
            return Ok(None); // only `init` is set
        }
        if forms != 1 {
            let first = img
                .path
                .as_ref()
                .or(img.url.as_ref())
                .or(img.os_list.as_ref())
                .or(img.name.as_ref());
            let loc = first.map(at).unwrap_or_else(|| self.source.find("[image]"));
            return Err((
                loc,
                "[image] needs exactly one source".into(),
                "use one of `path`, `url` (with `sha256` or `sha256_url`) or `os_list` (with `name`)",
            ));
        }
        if let Some(s) = &img.sha256 {
            let ok = s.get_ref().len() == 64 && s.get_ref().chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err((
                    at(s),
                    format!(
                        "sha256 `{}` is not a sha256 digest (64 hex digits)",
                        s.get_ref()
                            .chars()
                            .take(70)
                            .collect::<String>()
                            .escape_debug()
                    ),
                    "paste the whole digest, as `sha256sum FILE` prints it",
                ));
            }
            if img.os_list.is_some() {
                return Err((
                    at(s),
                    "`sha256` does not apply to `os_list`: the OS list gives the checksum".into(),
                    "remove `sha256`",
                ));
            }
        }
        if let Some(p) = &img.path {
            return Ok(Some(Spec::Path {
                path: self.dir.join(p.get_ref()),
                sha256: img.sha256.as_ref().map(|s| s.get_ref().clone()),
            }));
        }
        if let Some(u) = &img.url {
            if img.sha256.is_none() && img.sha256_url.is_none() {
                return Err((
                    at(u),
                    "`url` has no checksum, so the download could not be verified".into(),
                    "add `sha256 = \"…\"` or `sha256_url = \"<url>.sha256\"`",
                ));
            }
            return Ok(Some(Spec::Url {
                url: u.get_ref().clone(),
                sha256: img.sha256.as_ref().map(|s| s.get_ref().clone()),
                sha256_url: img.sha256_url.as_ref().map(|s| s.get_ref().clone()),
            }));
        }
        let list = img.os_list.as_ref().expect("one form is present");
        let Some(name) = img.name.as_ref() else {
            return Err((
                at(list),
                "`os_list` without `name`".into(),
                "add `name = \"Raspberry Pi OS Lite (64-bit)\"` (the entry's name in the list)",
            ));
        };
        let l = list.get_ref();
        let list = if l.starts_with("http://") || l.starts_with("https://") {
            l.clone()
        } else {
            self.dir.join(l).display().to_string()
        };
        Ok(Some(Spec::OsList {
            list,
            name: name.get_ref().clone(),
        }))
    }

    /// `[image] init`, default auto.
    pub fn init_mode(&self) -> inventory::InitMode {
        self.inventory
            .image
            .as_ref()
            .and_then(|i| i.init.as_ref())
            .map(|i| *i.get_ref())
            .unwrap_or_default()
    }

    pub fn image_spec(&self) -> Result<Option<Spec>> {
        self.image_spec_checked()
            .map_err(|(at, msg, fix)| Error::config(format!("{at}: {msg}; fix: {fix}")))
    }
}

//! Where profiles come from: the ones built into the binary, and a
//! `profiles/` directory beside the inventory that adds or overrides them;
//! `resolve` follows a profile's `extends` chain.

use std::collections::BTreeMap;
use std::path::Path;

use super::profile::{Profile, ProfileLayer};
use super::toml_file::SourceFile;
use crate::error::{Error, Result};

/// Profiles compiled into the binary, so `profile = "k8s-node"` works anywhere.
const BUILTIN: &[(&str, &str)] = &[("k8s-node", include_str!("../../profiles/k8s-node.toml"))];

/// Where profiles come from: the built-in set plus an optional local directory.
pub struct ProfileStore {
    files: BTreeMap<String, SourceFile>,
}

impl ProfileStore {
    /// Built-in profiles, overridden or extended by `dir/*.toml` when `dir` exists.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut files: BTreeMap<String, SourceFile> = BUILTIN
            .iter()
            .map(|(n, t)| (n.to_string(), SourceFile::builtin(n, t)))
            .collect();
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| Error::config(format!("cannot list {}: {e}", dir.display())))?;
            let mut paths: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.insert(name, SourceFile::read(&path)?);
            }
        }
        Ok(ProfileStore { files })
    }

    pub fn names(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// Resolve `name` with its `extends` chain.
    pub fn resolve(&self, name: &str) -> Result<Profile> {
        let mut chain: Vec<(&SourceFile, ProfileLayer)> = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next {
            let src = self.files.get(&n).ok_or_else(|| {
                Error::config(format!(
                    "unknown profile `{n}`; known profiles: {}",
                    self.names().join(", ")
                ))
            })?;
            if chain.iter().any(|(s, _)| s.name == src.name) {
                return Err(Error::config(format!(
                    "profile `{name}` extends itself through `{n}`; break the cycle"
                )));
            }
            let layer: ProfileLayer = src.parse()?;
            next = layer.extends.clone();
            if let Some(parent) = &next
                && !self.contains(parent)
            {
                return Err(Error::config(format!(
                    "{}: `extends = \"{parent}\"` names no profile; known profiles: {}",
                    src.find("extends"),
                    self.names().join(", ")
                )));
            }
            chain.push((src, layer));
        }
        let mut profile = Profile::empty(name);
        for (src, layer) in chain.into_iter().rev() {
            profile.apply(layer, src)?;
        }
        profile.name = name.to_string();
        Ok(profile)
    }
}

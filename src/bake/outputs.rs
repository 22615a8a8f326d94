//! What a bake leaves next to the images: `manifest.json` (what each image is)
//! and `SHA256SUMS` (in `sha256sum -c` format). Both are rewritten atomically
//! and deterministically (sorted by node), so reproducible bakes give
//! identical files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::source::Identity;

pub const MANIFEST: &str = "manifest.json";
/// The manifest's format tag.
const FORMAT: &str = "piprep-manifest/1";
pub const SUMS: &str = "SHA256SUMS";
/// Every node's pinned SSH host key, for ssh and `piprep status`.
pub const KNOWN_HOSTS: &str = "known_hosts";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Xz {
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestEntry {
    pub role: String,
    pub ip: String,
    pub profile: String,
    pub config_hash: String,
    pub piprep_version: String,
    /// sha256 of the raw base image this node was baked from.
    pub base_sha256: String,
    pub image: String,
    pub size: u64,
    pub sha256: String,
    pub bmap: String,
    pub xz: Option<Xz>,
    pub boot_files: Vec<String>,
    /// `[kubernetes]` as baked (the repository key's sha256 among it).
    #[serde(default)]
    pub kubernetes: Option<crate::contract::StampKubernetes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub piprep_version: String,
    /// The base image of the latest bake.
    pub base: Identity,
    pub nodes: BTreeMap<String, ManifestEntry>,
}

impl Manifest {
    /// The manifest in `dir`, or an empty one (also when it is not
    /// piprep's: `foreign_outputs` refuses to replace such a file).
    pub fn load(dir: &Path) -> Manifest {
        Manifest::read(dir).unwrap_or_else(|| Manifest {
            format: FORMAT.into(),
            piprep_version: env!("CARGO_PKG_VERSION").into(),
            base: Identity::default(),
            nodes: BTreeMap::new(),
        })
    }

    /// piprep's manifest in `dir`, if there is one.
    pub fn read(dir: &Path) -> Option<Manifest> {
        crate::io::input::read_text(&dir.join(MANIFEST), crate::io::input::TEXT_CAP)
            .ok()
            .and_then(|t| serde_json::from_str::<Manifest>(&t).ok())
            .filter(|m| m.format.starts_with("piprep-manifest/"))
    }

    /// Take `nodes` out of manifest.json and SHA256SUMS before their images
    /// are replaced, so that at every moment of a bake (killed or not)
    /// `sha256sum -c SHA256SUMS` passes: it never lists an image that is
    /// being replaced. No-op when none of them is listed.
    pub fn retract(&mut self, dir: &Path, nodes: &[&str]) -> Result<()> {
        let before = self.nodes.len();
        self.nodes.retain(|n, _| !nodes.contains(&n.as_str()));
        if self.nodes.len() == before {
            return Ok(());
        }
        self.save(dir)
    }

    /// Drop entries whose image is gone, then write manifest and SHA256SUMS.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        self.nodes.retain(|_, e| dir.join(&e.image).exists());
        self.piprep_version = env!("CARGO_PKG_VERSION").into();
        write_atomic(
            &dir.join(MANIFEST),
            &(serde_json::to_string_pretty(self).expect("json") + "\n"),
        )?;
        write_atomic(&dir.join(SUMS), &self.sums())
    }

    /// SHA256SUMS for the entries, in `sha256sum -c` format.
    fn sums(&self) -> String {
        let mut sums = String::new();
        for e in self.nodes.values() {
            sums += &format!("{}  {}\n", e.sha256, e.image);
            if let Some(x) = &e.xz {
                sums += &format!("{}  {}\n", x.sha256, x.file);
            }
        }
        sums
    }

    /// Whether manifest.json and SHA256SUMS on disk are exactly this.
    pub fn sums_current(&self, dir: &Path) -> bool {
        let on_disk = std::fs::read_to_string(dir.join(SUMS)).ok();
        if self.nodes.is_empty() && on_disk.is_none() {
            return true; // nothing was ever baked here
        }
        let listed = Manifest::load(dir) == *self;
        listed && on_disk.as_deref() == Some(self.sums().as_str())
    }
}

/// Replace `path` atomically (see `io::atomic`), as an output error.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    crate::io::atomic::write_atomic(path, text.as_bytes(), crate::io::atomic::Holds::Public)
        .map_err(|e| Error::output_io(path, "cannot write", &e))
}

//! Where the nodes' SSH host keys are kept (`[secrets] dir`, default
//! `.piprep/secrets` beside the inventory), and what validation says about
//! the files there. Making and reading the keys is `host_keys::store`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Config;

/// The host key types piprep makes.
pub const KINDS: &[&str] = &["ed25519"];
pub const DEFAULT_DIR: &str = ".piprep/secrets";

/// The secrets directory of `cfg`: `[secrets] dir`, else `.piprep/secrets`,
/// relative to the inventory.
pub fn dir(cfg: &Config) -> PathBuf {
    let rel = cfg
        .inventory
        .secrets
        .as_ref()
        .and_then(|s| s.dir.as_ref())
        .map_or(DEFAULT_DIR, |d| d.get_ref().as_str());
    cfg.dir.join(rel)
}

pub fn key_file(dir: &Path, node: &str, kind: &str) -> PathBuf {
    dir.join(node).join(format!("ssh_host_{kind}_key"))
}

/// Problems with the stored keys that validation reports: files that are
/// missing beside others, unreadable, or readable by group or others.
pub fn problems(dir: &Path, node: &str) -> Vec<(PathBuf, String, String)> {
    let node_dir = dir.join(node);
    let mut out = Vec::new();
    let Ok(md) = std::fs::metadata(&node_dir) else {
        return out; // nothing yet: the first bake makes the keys
    };
    if md.permissions().mode() & 0o077 != 0 {
        out.push((
            node_dir.clone(),
            format!(
                "is accessible to group or others (mode {:o})",
                md.permissions().mode() & 0o777
            ),
            format!("chmod 700 {}", node_dir.display()),
        ));
    }
    for kind in KINDS {
        let path = key_file(dir, node, kind);
        match std::fs::metadata(&path) {
            Err(_) => out.push((
                path.clone(),
                "is missing, so the node would get new keys and a new identity".into(),
                format!("restore it from a backup, or run `piprep rekey {node}` to make new keys on purpose"),
            )),
            Ok(m) if m.permissions().mode() & 0o077 != 0 => out.push((
                path.clone(),
                format!("is readable by group or others (mode {:o})", m.permissions().mode() & 0o777),
                format!("chmod 600 {}", path.display()),
            )),
            Ok(_) => {}
        }
    }
    out
}

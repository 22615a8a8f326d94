//! Where the nodes' SSH host keys are kept (`[secrets] dir`, default
//! `.piprep/secrets` beside the inventory), and what validation says about
//! whether a directory there can be trusted. Making, reading and checking the
//! keys is `host_keys::store`.

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

/// Why the secrets directory `dir`, or one of its node directories, cannot
/// be trusted to hold private keys: not a real directory of this user's
/// with no access for group or others. (None: absent, or private.)
pub fn untrusted_dir(dir: &Path) -> Option<(String, String)> {
    let m = std::fs::symlink_metadata(dir).ok()?;
    if !m.file_type().is_symlink() && !m.is_dir() {
        return Some((
            "is not a directory".into(),
            "move it away; piprep keeps the nodes' keys in a directory there".into(),
        ));
    }
    let why = crate::io::input::not_private(&m)?;
    let fix = if m.file_type().is_symlink() {
        "replace the link with a directory of your own (mv the target's keys into it), mode 700"
            .into()
    } else if why.starts_with("belongs to") {
        "copy the keys into a directory of your own, mode 700, and point [secrets] dir at it".into()
    } else {
        format!("chmod 700 {}", dir.display())
    };
    Some((why, fix))
}

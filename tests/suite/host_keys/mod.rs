//! The fleet's identity and view: per-node SSH host keys made at bake time
//! and kept (reuse, rekey, modes, validation), out/known_hosts and its merge
//! into a user's file (checked with ssh-keygen), the secrets' removal from
//! the boot partition, the exports, and `status` for a node that cannot be
//! reached. The end-to-end test logs in with the pinned key.

mod fleet;
mod keys;
mod scrubbing;

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn known_hosts(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("out/known_hosts")).unwrap()
}

fn pub_key(dir: &Path, node: &str) -> String {
    let p = dir.join(format!(".piprep/secrets/{node}/ssh_host_ed25519_key.pub"));
    let t = std::fs::read_to_string(p).unwrap();
    t.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// A rendered node's file, as `render --out` writes it.
fn rendered(dir: &Path, inventory: &str, path: &str) -> String {
    let out = dir.join("r");
    if !out.exists() {
        let o = piprep(
            &data(),
            &[
                "-c",
                inventory,
                "render",
                "-n",
                "cp-1",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    std::fs::read_to_string(out.join(path.trim_start_matches('/'))).unwrap()
}

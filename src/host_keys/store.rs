//! The secrets directory beside the inventory: one directory per node with
//! its SSH host keys (`.piprep/secrets/NODE/ssh_host_ed25519_key` and
//! `.pub`). Keys are made once, on the first bake, and reused, so bakes stay
//! reproducible and a re-flashed node keeps its identity; `rekey` replaces
//! them on purpose. Directories are 0700, files 0600, and a `.gitignore`
//! keeps the whole directory out of version control.

use std::path::{Path, PathBuf};

use ssh_key::private::{Ed25519Keypair, PrivateKey};
use ssh_key::{LineEnding, PublicKey};

use crate::config::Config;
use crate::config::plan::{HostKey, NodePlan};
use crate::config::secrets::{KINDS, key_file, untrusted_dir};
use crate::error::{Error, Result};

/// A new key pair for `node`, from the kernel's random source.
fn generate(node: &str, kind: &str) -> Result<HostKey> {
    debug_assert_eq!(kind, "ed25519");
    let mut seed = super::random::<32>()?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    key.set_comment(format!("root@{node}"));
    to_host_key(kind, &key)
}

fn to_host_key(kind: &str, key: &PrivateKey) -> Result<HostKey> {
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| Error::internal(format!("cannot encode a host key: {e}")))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| Error::internal(format!("cannot encode a host key: {e}")))?;
    Ok(HostKey {
        kind: kind.into(),
        public,
        private: private.to_string(),
    })
}

/// The largest key file piprep reads.
const KEY_CAP: u64 = 64 << 10;

/// The stored key of `kind` for `node`, checked: in private directories, a
/// regular file (never followed through a link) of this user's readable by
/// them only, a private key of that type, and its `.pub` (if any) its own.
pub fn load(dir: &Path, node: &str, kind: &str) -> Result<Option<HostKey>> {
    let path = key_file(dir, node, kind);
    check_key(dir, node, kind).map_err(|(at, why, fix)| {
        Error::config(format!(
            "node {node}: {} {why}; fix: {fix}",
            at.unwrap_or(path).display()
        ))
    })
}

/// A problem found: (the path if not the key file, why, fix).
type KeyProblem = (Option<std::path::PathBuf>, String, String);

/// `load`'s checks; problems as (where, why, fix), for validation too.
pub fn check_key(
    dir: &Path,
    node: &str,
    kind: &str,
) -> std::result::Result<Option<HostKey>, KeyProblem> {
    let node_dir = dir.join(node);
    for d in [dir, node_dir.as_path()] {
        if let Some((why, fix)) = crate::config::secrets::untrusted_dir(d) {
            return Err((Some(d.to_path_buf()), why, fix));
        }
    }
    let path = key_file(dir, node, kind);
    let restore = format!(
        "restore it from a backup, or run `piprep rekey {node}` for new keys (the node's identity changes)"
    );
    let text = match crate::io::input::read_private(&path, KEY_CAP) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e)
            if e.kind() == std::io::ErrorKind::InvalidInput && e.to_string().contains("mode") =>
        {
            return Err((None, e.to_string(), format!("chmod 600 {}", path.display())));
        }
        Err(e) => return Err((None, format!("cannot be read as a host key: {e}"), restore)),
    };
    let key = PrivateKey::from_openssh(&text).map_err(|e| {
        (
            None,
            format!("is not an OpenSSH private key ({e})"),
            restore.clone(),
        )
    })?;
    if key.algorithm().as_str() != format!("ssh-{kind}") || key.is_encrypted() {
        return Err((None, format!("is not an unencrypted {kind} key"), restore));
    }
    let host = to_host_key(kind, &key).map_err(|e| (None, e.message, restore.clone()))?;
    let pub_path = path.with_extension("pub");
    match crate::io::input::read_private(&pub_path, KEY_CAP) {
        Ok(p) => {
            let stored = PublicKey::from_openssh(p.trim()).map_err(|e| {
                (
                    None,
                    format!("has a .pub that is not a public key ({e})"),
                    restore.clone(),
                )
            })?;
            if stored.key_data() != key.public_key().key_data() {
                return Err((None, "has a .pub of another key".into(), restore));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err((Some(pub_path), format!("cannot be read: {e}"), restore)),
    }
    Ok(Some(host))
}

/// Write `keys` as `node`'s whole key set, all at once (see
/// `secrets_dir::replace`).
fn save(dir: &Path, node: &str, keys: &[HostKey]) -> Result<()> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for key in keys {
        let name = format!("ssh_host_{}_key", key.kind);
        files.push((name.clone(), key.private.clone().into_bytes()));
        files.push((
            format!("{name}.pub"),
            format!("{}\n", key.public).into_bytes(),
        ));
    }
    crate::secrets_dir::replace(dir, node, &files)
}

/// What a command may do about a node without stored keys.
pub enum Missing<'a> {
    /// Make them (bake, render), unless this known_hosts text (the bake's
    /// `out/known_hosts`) already pins the node: its keys were lost, and new
    /// ones would lock the user out of cards already flashed.
    Make { pins: Option<&'a str> },
    /// Refuse (known-hosts): only bake, render and rekey make keys.
    Refuse,
    /// Leave them unread (status, export): the command needs no keys.
    Skip,
}

/// Give every plan its host keys: stored ones, or (see `Missing`) new ones
/// made and stored now. Returns `node: fingerprint` of each new key, for
/// the bake to tell.
pub fn ensure(cfg: &Config, plans: &mut [NodePlan], missing: Missing) -> Result<Vec<String>> {
    let mut new = Vec::new();
    let dir = crate::config::secrets::dir(cfg);
    let _lock = match missing {
        Missing::Make { .. } => Some(crate::secrets_dir::lock(&dir)?),
        Missing::Refuse => None,
        Missing::Skip => return Ok(new),
    };
    for plan in plans.iter_mut() {
        let stored: Vec<Option<HostKey>> = KINDS
            .iter()
            .map(|kind| load(&dir, &plan.name, kind))
            .collect::<Result<_>>()?;
        if stored.iter().all(Option::is_some) {
            plan.host_keys = stored.into_iter().flatten().collect();
            continue;
        }
        let pinned = |pins: &str| super::known_hosts::pins(pins, &plan.host_names());
        match missing {
            Missing::Refuse => {
                return Err(Error::config(format!(
                    "node {}: no SSH host key in {} (a fresh clone?), and only `piprep bake`, `render` and `rekey` make keys; fix: restore {} from where the cards were baked, or bake the node (new cards, new identity)",
                    plan.name,
                    dir.display(),
                    dir.display()
                )));
            }
            Missing::Make { pins: Some(p) } if pinned(p) => {
                return Err(Error::config(format!(
                    "node {}: its SSH host key is gone from {}, but the fleet's known_hosts pins it, so its cards have that key; fix: restore {} from a backup, or run `piprep rekey {}` to make new keys on purpose (then re-flash the node)",
                    plan.name,
                    dir.display(),
                    dir.display(),
                    plan.name
                )));
            }
            Missing::Make { .. } | Missing::Skip => {}
        }
        let keys = KINDS
            .iter()
            .map(|kind| generate(&plan.name, kind))
            .collect::<Result<Vec<_>>>()?;
        save(&dir, &plan.name, &keys)?;
        new.extend(
            keys.iter()
                .map(|k| format!("{}: {}", plan.name, fingerprint(k))),
        );
        plan.host_keys = keys;
    }
    Ok(new)
}

/// Replace `node`'s keys with new ones, all at once; returns them.
pub fn rekey(cfg: &Config, node: &str) -> Result<Vec<HostKey>> {
    let dir = crate::config::secrets::dir(cfg);
    let _lock = crate::secrets_dir::lock(&dir)?;
    let keys = KINDS
        .iter()
        .map(|kind| generate(node, kind))
        .collect::<Result<Vec<_>>>()?;
    save(&dir, node, &keys)?;
    Ok(keys)
}

/// `SHA256:…`, as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &HostKey) -> String {
    PublicKey::from_openssh(&key.public)
        .map(|k| k.fingerprint(Default::default()).to_string())
        .unwrap_or_default()
}

/// Problems with the stored keys that validation reports: directories and
/// key files that are not private, key files missing beside others or not
/// the pair they claim to be.
pub fn problems(dir: &Path, node: &str) -> Vec<(PathBuf, String, String)> {
    let node_dir = dir.join(node);
    let mut out = Vec::new();
    for d in [dir, node_dir.as_path()] {
        if let Some((why, fix)) = untrusted_dir(d) {
            out.push((d.to_path_buf(), why, fix));
            return out;
        }
    }
    if std::fs::symlink_metadata(&node_dir).is_err() {
        return out; // nothing yet: the first bake makes the keys
    }
    for kind in KINDS {
        let path = key_file(dir, node, kind);
        if std::fs::symlink_metadata(&path).is_err() {
            out.push((
                path.clone(),
                "is missing, so the node would get new keys and a new identity".into(),
                format!("restore it from a backup, or run `piprep rekey {node}` to make new keys on purpose"),
            ));
            continue;
        }
        if let Err((at, why, fix)) = check_key(dir, node, kind) {
            out.push((at.unwrap_or(path), why, fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_keys_parse_back_and_are_their_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let k = generate("cp-1", "ed25519").unwrap();
        assert!(k.public.starts_with("ssh-ed25519 AAAA") && k.public.ends_with(" root@cp-1"));
        assert!(
            k.private
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n")
        );
        save(dir.path(), "cp-1", std::slice::from_ref(&k)).unwrap();
        let back = load(dir.path(), "cp-1", "ed25519").unwrap().unwrap();
        assert_eq!(back, k);
        let f = key_file(dir.path(), "cp-1", "ed25519");
        for p in [f.clone(), f.with_extension("pub")] {
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let d = std::fs::metadata(dir.path().join("cp-1")).unwrap();
        assert_eq!(d.permissions().mode() & 0o777, 0o700);
        assert!(problems(dir.path(), "cp-1").is_empty());
        // Another node's .pub beside this key is refused.
        let other = generate("cp-2", "ed25519").unwrap();
        std::fs::write(f.with_extension("pub"), &other.public).unwrap();
        assert!(
            load(dir.path(), "cp-1", "ed25519")
                .unwrap_err()
                .message
                .contains("a .pub of another key")
        );
        // A world-readable key is a problem with its fix.
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let p = problems(dir.path(), "cp-1");
        assert_eq!(p.len(), 1);
        assert!(p[0].2.starts_with("chmod 600 "));
        std::fs::remove_file(&f).unwrap();
        assert!(problems(dir.path(), "cp-1")[0].1.contains("is missing"));
        assert!(problems(dir.path(), "nobody").is_empty());
    }

    #[test]
    fn two_keys_differ() {
        let a = generate("n", "ed25519").unwrap();
        let b = generate("n", "ed25519").unwrap();
        assert_ne!(a.public, b.public);
    }
}

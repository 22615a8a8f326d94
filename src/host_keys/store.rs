//! The secrets directory beside the inventory: one directory per node with
//! its SSH host keys (`.piprep/secrets/NODE/ssh_host_ed25519_key` and
//! `.pub`). Keys are made once, on the first bake, and reused, so bakes stay
//! reproducible and a re-flashed node keeps its identity; `rekey` replaces
//! them on purpose. Directories are 0700, files 0600, and a `.gitignore`
//! keeps the whole directory out of version control.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use ssh_key::private::{Ed25519Keypair, PrivateKey};
use ssh_key::{LineEnding, PublicKey};

use crate::config::Config;
use crate::config::plan::{HostKey, NodePlan};
use crate::config::secrets::{KINDS, key_file};
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

/// The stored key of `kind` for `node`, checked: readable by its owner
/// only, a private key of that type, and its `.pub` (if any) its own.
pub fn load(dir: &Path, node: &str, kind: &str) -> Result<Option<HostKey>> {
    let path = key_file(dir, node, kind);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::config(format!(
                "node {node}: cannot read its SSH host key {}: {e}; fix: restore it, or run `piprep rekey {node}` for new keys",
                path.display()
            )));
        }
    };
    let bad = |why: String| {
        Error::config(format!(
            "node {node}: {} {why}; fix: restore it from a backup, or run `piprep rekey {node}` for new keys (the node's identity changes)",
            path.display()
        ))
    };
    let key = PrivateKey::from_openssh(&text)
        .map_err(|e| bad(format!("is not an OpenSSH private key ({e})")))?;
    if key.algorithm().as_str() != format!("ssh-{kind}") || key.is_encrypted() {
        return Err(bad(format!("is not an unencrypted {kind} key")));
    }
    let host = to_host_key(kind, &key)?;
    let pub_path = path.with_extension("pub");
    if let Ok(p) = std::fs::read_to_string(&pub_path) {
        let stored = PublicKey::from_openssh(p.trim())
            .map_err(|e| bad(format!("has a .pub that is not a public key ({e})")))?;
        if stored.key_data() != key.public_key().key_data() {
            return Err(bad("has a .pub of another key".into()));
        }
    }
    Ok(Some(host))
}

/// Directory 0700 with a `.gitignore` of everything.
fn prepare(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::output_io(dir, "cannot create", &e))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        crate::io::atomic::write_atomic(
            &ignore,
            b"# SSH host keys of the nodes (piprep): never commit them.\n*\n",
        )
        .map_err(|e| Error::output_io(&ignore, "cannot write", &e))?;
    }
    Ok(())
}

/// Held while keys are looked up or made: a flock on the secrets directory,
/// so that two bakes at once never make two different keys for a node.
struct StoreLock(#[allow(dead_code)] std::fs::File);

fn lock(dir: &Path) -> Result<StoreLock> {
    use rustix::fs::{FlockOperation, flock};
    prepare(dir)?;
    let f = std::fs::File::open(dir).map_err(|e| Error::output_io(dir, "cannot open", &e))?;
    flock(&f, FlockOperation::LockExclusive)
        .map_err(|e| Error::output(format!("cannot lock {}: {e}", dir.display())))?;
    Ok(StoreLock(f))
}

/// Write `key` for `node`: the private key and its `.pub`, both 0600.
fn save(dir: &Path, node: &str, key: &HostKey) -> Result<()> {
    prepare(dir)?;
    let node_dir = dir.join(node);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&node_dir)
        .map_err(|e| Error::output_io(&node_dir, "cannot create", &e))?;
    let path = key_file(dir, node, &key.kind);
    for (p, body) in [
        (path.with_extension("pub"), format!("{}\n", key.public)),
        (path.clone(), key.private.clone()),
    ] {
        let tmp = crate::io::atomic::temp_beside(&p);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            std::io::Write::write_all(&mut f, body.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &p)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::output_io(&p, "cannot write", &e)
        })?;
    }
    crate::io::atomic::sync_parent(&path);
    Ok(())
}

/// Give every plan its host keys: stored ones, or new ones made and stored
/// now. Returns `node: fingerprint` of each new key, for the bake to tell.
pub fn ensure(cfg: &Config, plans: &mut [NodePlan]) -> Result<Vec<String>> {
    let mut new = Vec::new();
    let dir = crate::config::secrets::dir(cfg);
    let _lock = lock(&dir)?;
    for plan in plans.iter_mut() {
        let mut keys = Vec::new();
        for kind in KINDS {
            let key = match load(&dir, &plan.name, kind)? {
                Some(k) => k,
                None => {
                    let k = generate(&plan.name, kind)?;
                    save(&dir, &plan.name, &k)?;
                    new.push(format!("{}: {}", plan.name, fingerprint(&k)));
                    k
                }
            };
            keys.push(key);
        }
        plan.host_keys = keys;
    }
    Ok(new)
}

/// Replace `node`'s keys with new ones; returns them.
pub fn rekey(cfg: &Config, node: &str) -> Result<Vec<HostKey>> {
    let dir = crate::config::secrets::dir(cfg);
    let _lock = lock(&dir)?;
    KINDS
        .iter()
        .map(|kind| {
            let k = generate(node, kind)?;
            save(&dir, node, &k)?;
            Ok(k)
        })
        .collect()
}

/// `SHA256:…`, as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &HostKey) -> String {
    PublicKey::from_openssh(&key.public)
        .map(|k| k.fingerprint(Default::default()).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secrets::problems;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_keys_parse_back_and_are_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let k = generate("cp-1", "ed25519").unwrap();
        assert!(k.public.starts_with("ssh-ed25519 AAAA") && k.public.ends_with(" root@cp-1"));
        assert!(
            k.private
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n")
        );
        save(dir.path(), "cp-1", &k).unwrap();
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

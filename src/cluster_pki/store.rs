//! The cluster's secrets in the secrets directory, as kubeadm lays them out:
//! `cluster/pki/{ca,front-proxy-ca,etcd/ca}.{crt,key}`, `cluster/pki/sa.{key,pub}`
//! and `cluster/token`. Made once, on the first bake with `bootstrap = true`,
//! and reused so images stay byte-reproducible; `rekey --cluster` replaces
//! them. The same rules as the host keys: 0700 directories, 0600 files of
//! this user's, never followed through a link, replaced all at once.

use std::path::{Path, PathBuf};

use super::{CAS, assemble, cert_spki, is_token, key_spki, make};
use crate::config::Config;
use crate::config::bootstrap::{BootstrapRole, CaPair, ClusterSecrets};
use crate::config::plan::NodePlan;
use crate::config::secrets::untrusted_dir;
use crate::error::{Error, Result};
use crate::host_keys::store::Missing;

/// The secrets directory's entry for the cluster.
pub const DIR: &str = "cluster";
const CAP: u64 = 64 << 10;

/// A problem with the stored secrets: (path, why, fix).
pub type Problem = (PathBuf, String, String);

const RESTORE: &str = "restore the secrets directory's cluster/ from a backup, or run `piprep rekey --cluster` to make new ones (then re-flash every node)";

fn contents(s: &ClusterSecrets) -> Vec<(String, Vec<u8>)> {
    let pairs = [&s.ca, &s.front_proxy_ca, &s.etcd_ca];
    let mut v: Vec<(String, Vec<u8>)> = CAS
        .iter()
        .zip(pairs)
        .flat_map(|((stem, _), p)| {
            [
                (format!("pki/{stem}.crt"), p.cert.clone().into_bytes()),
                (format!("pki/{stem}.key"), p.key.clone().into_bytes()),
            ]
        })
        .collect();
    v.push(("pki/sa.key".into(), s.sa_key.clone().into_bytes()));
    v.push(("pki/sa.pub".into(), s.sa_pub.clone().into_bytes()));
    v.push(("token".into(), format!("{}\n", s.token).into_bytes()));
    v
}

/// The stored secrets, checked; None when there are none yet.
pub fn load(secrets: &Path) -> std::result::Result<Option<ClusterSecrets>, Problem> {
    let root = secrets.join(DIR);
    for d in [
        secrets.to_path_buf(),
        root.clone(),
        root.join("pki"),
        root.join("pki/etcd"),
    ] {
        if let Some((why, fix)) = untrusted_dir(&d) {
            return Err((d, why, fix));
        }
    }
    if std::fs::symlink_metadata(&root).is_err() {
        return Ok(None);
    }
    let read = |rel: &str| -> std::result::Result<String, Problem> {
        let path = root.join(rel);
        crate::io::input::read_private(&path, CAP).map_err(|e| {
            let fix =
                if e.kind() == std::io::ErrorKind::InvalidInput && e.to_string().contains("mode") {
                    format!("chmod 600 {}", path.display())
                } else {
                    RESTORE.to_string()
                };
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "is missing, so the cluster's secrets are incomplete".to_string()
            } else {
                e.to_string()
            };
            (path.clone(), why, fix)
        })
    };
    let mut pairs = Vec::new();
    for (stem, _) in CAS {
        let cert = read(&format!("pki/{stem}.crt"))?;
        let key = read(&format!("pki/{stem}.key"))?;
        let at = root.join(format!("pki/{stem}.crt"));
        let c = cert_spki(&cert).map_err(|why| (at.clone(), why, RESTORE.into()))?;
        let k = key_spki(&key)
            .map_err(|why| (root.join(format!("pki/{stem}.key")), why, RESTORE.into()))?;
        if c != k {
            return Err((
                at,
                format!("is not the certificate of pki/{stem}.key beside it"),
                RESTORE.into(),
            ));
        }
        if !is_ca(&cert) {
            return Err((at, "is not a CA certificate".into(), RESTORE.into()));
        }
        pairs.push(CaPair { cert, key });
    }
    let (sa_key, sa_pub) = (read("pki/sa.key")?, read("pki/sa.pub")?);
    let sa_at = root.join("pki/sa.pub");
    let derived =
        key_spki(&sa_key).map_err(|why| (root.join("pki/sa.key"), why, RESTORE.into()))?;
    if public_pem_der(&sa_pub).as_deref() != Some(derived.as_slice()) {
        return Err((
            sa_at,
            "is not the public half of pki/sa.key".into(),
            RESTORE.into(),
        ));
    }
    let token = read("token")?.trim().to_string();
    if !is_token(&token) {
        return Err((
            root.join("token"),
            "is not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})".into(),
            RESTORE.into(),
        ));
    }
    let [ca, front_proxy_ca, etcd_ca]: [CaPair; 3] = pairs.try_into().expect("three CAs");
    assemble(ca, front_proxy_ca, etcd_ca, sa_pub, sa_key, token)
        .map(Some)
        .map_err(|e| (root.join("pki/ca.crt"), e.message, RESTORE.into()))
}

fn is_ca(pem: &str) -> bool {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .ok()
        .and_then(|(_, p)| p.parse_x509().ok().map(|c| c.is_ca()))
        .unwrap_or(false)
}

/// The DER of a `PUBLIC KEY` PEM block.
fn public_pem_der(pem: &str) -> Option<Vec<u8>> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    (p.label == "PUBLIC KEY").then_some(p.contents)
}

/// Validation's view: problems with the stored set, if any.
pub fn problems(secrets: &Path) -> Vec<Problem> {
    load(secrets).err().into_iter().collect()
}

fn error((path, why, fix): Problem) -> Error {
    Error::config(format!("{} {why}; fix: {fix}", path.display()))
}

/// What a node's plan carries: a worker never the CAs' or the
/// service-account's private keys.
fn for_role(s: &ClusterSecrets, role: BootstrapRole) -> ClusterSecrets {
    let mut s = s.clone();
    if role == BootstrapRole::Worker {
        for p in [&mut s.ca, &mut s.front_proxy_ca, &mut s.etcd_ca] {
            p.key.clear();
        }
        s.sa_key.clear();
    }
    s
}

/// Give every plan of a bootstrapping cluster its secrets: the stored ones
/// or, when `missing` allows, new ones made and kept now. Returns whether
/// they were made now.
pub fn ensure(cfg: &Config, plans: &mut [NodePlan], missing: &Missing) -> Result<bool> {
    if !plans.iter().any(|p| p.bootstrap().is_some()) {
        return Ok(false);
    }
    let dir = crate::config::secrets::dir(cfg);
    let (secrets, made) = match missing {
        // known-hosts, status and export need no cluster secrets.
        Missing::Skip | Missing::Refuse => return Ok(false),
        Missing::Make { .. } => {
            let _lock = crate::secrets_dir::lock(&dir)?;
            match load(&dir).map_err(error)? {
                Some(s) => (Some(s), false),
                None => {
                    let s = make()?;
                    crate::secrets_dir::replace(&dir, DIR, &contents(&s))?;
                    (Some(s), true)
                }
            }
        }
    };
    let Some(secrets) = secrets else {
        return Err(Error::config(format!(
            "the cluster's CAs and token are not in {} (a fresh clone?), and only `piprep bake`, `render` and `rekey --cluster` make them; fix: {RESTORE}",
            dir.join(DIR).display()
        )));
    };
    for p in plans.iter_mut() {
        if let Some(role) = p.bootstrap_role() {
            p.cluster_secrets = Some(for_role(&secrets, role));
        }
    }
    Ok(made)
}

/// The stored secrets, for commands that sign with the CA (kubeconfig).
pub fn require(cfg: &Config) -> Result<ClusterSecrets> {
    let dir = crate::config::secrets::dir(cfg);
    load(&dir).map_err(error)?.ok_or_else(|| {
        Error::config(format!(
            "the cluster's CA is not in {} yet; fix: run `piprep bake` first (it makes the cluster's secrets), or restore them from a backup",
            dir.join(DIR).display()
        ))
    })
}

/// Replace the cluster's secrets with new ones, all at once.
pub fn rekey(cfg: &Config) -> Result<ClusterSecrets> {
    let dir = crate::config::secrets::dir(cfg);
    let _lock = crate::secrets_dir::lock(&dir)?;
    let s = make()?;
    crate::secrets_dir::replace(&dir, DIR, &contents(&s))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Every file of the set, relative to `cluster/`.
    fn files() -> Vec<String> {
        let mut v: Vec<String> = CAS
            .iter()
            .flat_map(|(stem, _)| [format!("pki/{stem}.crt"), format!("pki/{stem}.key")])
            .collect();
        v.extend(["pki/sa.key".into(), "pki/sa.pub".into(), "token".into()]);
        v
    }

    #[test]
    fn kept_secrets_read_back_and_mismatches_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("secrets");
        assert_eq!(load(&dir).unwrap(), None);
        let s = make().unwrap();
        crate::secrets_dir::replace(&dir, DIR, &contents(&s)).unwrap();
        assert_eq!(load(&dir).unwrap().unwrap(), s);
        for rel in files() {
            let m = std::fs::metadata(dir.join(DIR).join(&rel)).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{rel}");
        }
        // Another cluster's CA certificate beside this key.
        let other = make().unwrap();
        std::fs::write(dir.join("cluster/pki/ca.crt"), &other.ca.cert).unwrap();
        let (at, why, _) = load(&dir).unwrap_err();
        assert!(
            at.ends_with("pki/ca.crt") && why.contains("not the certificate"),
            "{why}"
        );
        std::fs::write(dir.join("cluster/pki/ca.crt"), &s.ca.cert).unwrap();
        std::fs::write(dir.join("cluster/pki/sa.pub"), &other.sa_pub).unwrap();
        assert!(load(&dir).unwrap_err().1.contains("public half"));
        std::fs::write(dir.join("cluster/pki/sa.pub"), &s.sa_pub).unwrap();
        std::fs::write(dir.join("cluster/token"), "abc.def\n").unwrap();
        assert!(load(&dir).unwrap_err().1.contains("not a bootstrap token"));
        std::fs::remove_file(dir.join("cluster/token")).unwrap();
        assert!(load(&dir).unwrap_err().1.contains("is missing"));
    }

    #[test]
    fn workers_never_carry_private_keys() {
        let s = make().unwrap();
        let w = for_role(&s, BootstrapRole::Worker);
        assert!(w.ca.key.is_empty() && w.etcd_ca.key.is_empty() && w.sa_key.is_empty());
        assert_eq!(w.ca_cert_hash, s.ca_cert_hash);
        assert_eq!(for_role(&s, BootstrapRole::ControlPlane), s);
    }
}

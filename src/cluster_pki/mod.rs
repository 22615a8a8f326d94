//! The cluster's secrets for `bootstrap = true`, made before any node boots:
//! the cluster CA, the front-proxy CA, the etcd CA (ECDSA P-256, as kubeadm
//! lays them out under /etc/kubernetes/pki), the service-account key pair and
//! one bootstrap token; the discovery hash that pins the CA; and client
//! certificates for the laptop's kubeconfig. Kept by `store`.

pub mod store;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::config::bootstrap::{CaPair, ClusterSecrets};
use crate::error::{Error, Result};

/// The CAs' notBefore. A Pi without a clock boots at its image's build date
/// (weeks or months back) and kubeadm checks the CA before the clock is
/// synced; every Raspberry Pi OS image that runs Kubernetes 1.31 (Bookworm
/// and later) was built after this date.
pub const CA_NOT_BEFORE: (i32, u8, u8) = (2020, 1, 1);
/// kubeadm's own CA lifetime.
const CA_YEARS: i64 = 10;
/// The kubeconfig client certificate's lifetime (kubeadm's for admin.conf).
const CLIENT_DAYS: i64 = 365;
/// The group kubeadm binds to `cluster-admin` (never `system:masters`,
/// which no RBAC rule can take away).
pub const ADMIN_GROUP: &str = "kubeadm:cluster-admins";

/// The CAs by file stem (as under /etc/kubernetes/pki) and common name.
pub const CAS: [(&str, &str); 3] = [
    ("ca", "kubernetes"),
    ("front-proxy-ca", "front-proxy-ca"),
    ("etcd/ca", "etcd-ca"),
];

fn err(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::internal(format!("cannot make {what}: {e}"))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn serial() -> Result<SerialNumber> {
    let mut b = crate::host_keys::random::<16>()?;
    b[0] &= 0x7f; // a positive INTEGER
    b[0] |= 0x40; // and always 16 bytes long
    Ok(SerialNumber::from_slice(&b))
}

fn name(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

/// A self-signed CA as kubeadm makes one: CA:TRUE, keyCertSign, digitalSignature,
/// keyEncipherment.
fn make_ca(cn: &str) -> Result<CaPair> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err("a CA key"))?;
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn, None);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    let (y, m, d) = CA_NOT_BEFORE;
    p.not_before = rcgen::date_time_ymd(y, m, d);
    p.not_after = now() + Duration::days(365 * CA_YEARS);
    p.serial_number = Some(serial()?);
    let cert = p.self_signed(&key).map_err(err("a CA certificate"))?;
    Ok(CaPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// `[a-z0-9]{len}` from the kernel's random source, without modulo bias.
fn token_part(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    while out.len() < len {
        for b in crate::host_keys::random::<32>()? {
            // 252 = 7 * 36: bytes above it would favour the first letters.
            if b < 252 && out.len() < len {
                out.push(ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// Whether `t` is a bootstrap token: `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn is_token(t: &str) -> bool {
    let ok = |s: &str, n| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    t.split_once('.')
        .is_some_and(|(id, secret)| ok(id, 6) && ok(secret, 16))
}

/// New secrets for a cluster.
pub fn make() -> Result<ClusterSecrets> {
    let [ca, front_proxy_ca, etcd_ca] = CAS.map(|(_, cn)| make_ca(cn));
    let sa =
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err("the service-account key"))?;
    let token = format!("{}.{}", token_part(6)?, token_part(16)?);
    assemble(
        ca?,
        front_proxy_ca?,
        etcd_ca?,
        sa.public_key_pem(),
        sa.serialize_pem(),
        token,
    )
}

/// The secrets from their parts, with the public digests computed.
pub fn assemble(
    ca: CaPair,
    front_proxy_ca: CaPair,
    etcd_ca: CaPair,
    sa_pub: String,
    sa_key: String,
    token: String,
) -> Result<ClusterSecrets> {
    Ok(ClusterSecrets {
        ca_cert_hash: discovery_hash(&ca.cert).map_err(Error::config)?,
        token_id: token.split('.').next().unwrap_or_default().to_string(),
        ca,
        front_proxy_ca,
        etcd_ca,
        sa_pub,
        sa_key,
        token,
    })
}

/// The SubjectPublicKeyInfo (DER) of a PEM certificate.
pub fn cert_spki(pem: &str) -> std::result::Result<Vec<u8>, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("is not a PEM certificate ({e})"))?;
    let cert = p
        .parse_x509()
        .map_err(|e| format!("is not an X.509 certificate ({e})"))?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}

/// kubeadm's `caCertHashes` entry for a CA: `sha256:` and the hex SHA-256 of
/// its SubjectPublicKeyInfo.
pub fn discovery_hash(ca_pem: &str) -> std::result::Result<String, String> {
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(cert_spki(ca_pem)?))
    ))
}

/// The SubjectPublicKeyInfo (DER) of a PEM private key.
pub fn key_spki(key_pem: &str) -> std::result::Result<Vec<u8>, String> {
    use rcgen::PublicKeyData;
    let k = KeyPair::from_pem(key_pem).map_err(|e| format!("is not a PEM private key ({e})"))?;
    Ok(k.subject_public_key_info())
}

/// A client certificate and its new key, signed by `ca`: CN `user`, O
/// `group`, clientAuth, valid from a day back (clock skew) for a year.
pub fn sign_client(ca: &CaPair, user: &str, group: &str) -> Result<(String, String)> {
    let ca_key = KeyPair::from_pem(&ca.key)
        .map_err(|e| Error::config(format!("the cluster CA key cannot be read: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, ca_key)
        .map_err(|e| Error::config(format!("the cluster CA certificate cannot be read: {e}")))?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err("a client key"))?;
    let mut p = CertificateParams::default();
    p.distinguished_name = name(user, Some(group));
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(CLIENT_DAYS);
    p.serial_number = Some(serial()?);
    let cert = p
        .signed_by(&key, &issuer)
        .map_err(err("a client certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_kubeadms_shape() {
        for _ in 0..20 {
            let s = make().unwrap();
            assert!(is_token(&s.token), "{}", s.token);
            assert_eq!(s.token_id, &s.token[..6]);
        }
        assert!(!is_token("abcdef.0123456789abcdeF"));
        assert!(!is_token("abcdef0123456789abcdef"));
        assert!(!is_token("abcde.0123456789abcdefg"));
    }

    #[test]
    fn keys_match_their_certificates_and_differ() {
        let a = make().unwrap();
        let b = make().unwrap();
        assert_eq!(cert_spki(&a.ca.cert).unwrap(), key_spki(&a.ca.key).unwrap());
        assert_ne!(a.ca_cert_hash, b.ca_cert_hash);
        assert!(a.ca_cert_hash.starts_with("sha256:") && a.ca_cert_hash.len() == 71);
        let (cert, key) = sign_client(&a.ca, "piprep-admin", ADMIN_GROUP).unwrap();
        assert_eq!(cert_spki(&cert).unwrap(), key_spki(&key).unwrap());
        assert!(sign_client(&a.ca, "x", "y").is_ok());
    }
}

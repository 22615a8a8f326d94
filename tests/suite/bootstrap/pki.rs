//! The cluster's PKI as openssl sees it, and as another user cannot.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn openssl(args: &[&str], file: &Path) -> String {
    run(Command::new("openssl").args(args).arg(file))
}

/// Seconds since the epoch of an openssl date (`notBefore=Jan  1 00:00:00 2020 GMT`).
fn epoch(openssl_line: &str) -> i64 {
    let date = openssl_line.split_once('=').unwrap().1.trim();
    run(Command::new("date").args(["-u", "-d", date, "+%s"]))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn cas_service_account_key_and_discovery_hash_hold_for_openssl() {
    let dir = inventory("pki", |t| t);
    let init = render(&dir, "cp-1", &[]);
    let pki = cluster_dir(&dir).join("pki");
    for stem in ["ca", "front-proxy-ca", "etcd/ca"] {
        let crt = pki.join(format!("{stem}.crt"));
        // Self-signed CA: verifies against itself.
        let v = openssl(&["verify", "-CAfile", crt.to_str().unwrap()], &crt);
        assert!(v.trim().ends_with(": OK"), "{stem}: {v}");
        let ext = openssl(
            &["x509", "-noout", "-ext", "basicConstraints,keyUsage", "-in"],
            &crt,
        );
        assert!(ext.contains("CA:TRUE"), "{stem}: {ext}");
        assert!(ext.contains("Certificate Sign"), "{stem}: {ext}");
        let text = openssl(&["x509", "-noout", "-text", "-in"], &crt);
        assert!(text.contains("ASN1 OID: prime256v1"), "{stem}: not P-256");
        // Its key is the certificate's.
        let from_cert = openssl(&["x509", "-noout", "-pubkey", "-in"], &crt);
        let from_key = openssl(
            &["pkey", "-pubout", "-in"],
            &pki.join(format!("{stem}.key")),
        );
        assert_eq!(from_cert, from_key, "{stem}");
        // Valid from before any base image that runs Kubernetes 1.31 was
        // built (Raspberry Pi OS Bookworm, 2023-10-10) for years to come.
        let dates = openssl(&["x509", "-noout", "-startdate", "-enddate", "-in"], &crt);
        let mut lines = dates.lines();
        let (start, end) = (epoch(lines.next().unwrap()), epoch(lines.next().unwrap()));
        let bookworm = epoch("x=2023-10-10T00:00:00Z");
        let now = epoch("x=now");
        assert!(start <= bookworm, "{stem} starts too late: {dates}");
        assert!(end > now + 9 * 365 * 86400, "{stem} ends too soon: {dates}");
    }
    let sa_pub = openssl(&["pkey", "-pubout", "-in"], &pki.join("sa.key"));
    assert_eq!(sa_pub, std::fs::read_to_string(pki.join("sa.pub")).unwrap());
    // The discovery hash every JoinConfiguration pins, recomputed by openssl.
    let spki = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform DER | sha256sum",
            pki.join("ca.crt").display()
        ))
        .output()
        .unwrap();
    let want = format!(
        "sha256:{}",
        stdout(&spki).split_whitespace().next().unwrap()
    );
    for node in ["cp-1", "cp-2", "worker-1"] {
        let out = if node == "cp-1" {
            init.clone()
        } else {
            render(&dir, node, &[])
        };
        let join = yaml_docs(&out.join("piprep-k8s-join.yaml"));
        let hashes = &join[0]["discovery"]["bootstrapToken"]["caCertHashes"];
        assert_eq!(hashes, &serde_json::json!([want]), "{node}");
    }
    // Kept like the host keys: 0700 and 0600, unreadable for another user.
    let token = cluster_dir(&dir).join("token");
    for p in ["", "pki", "pki/etcd"] {
        let m = std::fs::metadata(cluster_dir(&dir).join(p)).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700, "{p}");
    }
    for p in [token.clone(), pki.join("ca.key"), pki.join("etcd/ca.key")] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", p.display());
    }
    if unsafe { libc::geteuid() } == 0 {
        let o = Command::new("runuser")
            .args(["-u", "nobody", "--", "cat"])
            .arg(&token)
            .output()
            .unwrap();
        assert!(!o.status.success(), "nobody read the token");
    }
}

#[test]
fn later_bakes_reuse_the_secrets_and_rekey_replaces_them() {
    let dir = inventory("reuse", |t| t);
    let a = render(&dir, "worker-1", &[]);
    let first = std::fs::read(a.join("piprep-k8s-join.yaml")).unwrap();
    std::fs::remove_dir_all(&a).unwrap();
    let b = render(&dir, "worker-1", &[]);
    assert_eq!(
        first,
        std::fs::read(b.join("piprep-k8s-join.yaml")).unwrap()
    );
    let o = piprep(&dir, &["rekey", "--cluster"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("every node must be baked and flashed again"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&b).unwrap();
    let c = render(&dir, "worker-1", &[]);
    assert_ne!(
        first,
        std::fs::read(c.join("piprep-k8s-join.yaml")).unwrap()
    );
    // Without bootstrap there is nothing of the cluster's to replace.
    let off = inventory("reuse-off", |t| t.replace("bootstrap = true\n", ""));
    let o = piprep(&off, &["rekey", "--cluster"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no `bootstrap = true`"),
        "{}",
        stderr(&o)
    );
    assert!(!cluster_dir(&off).exists());
}

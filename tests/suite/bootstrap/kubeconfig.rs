//! `piprep kubeconfig`: read by a real kubectl, its client certificate
//! verified with openssl, merged without losing anything.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    require_tool("kubectl");
    run(Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", kubeconfig.parent().unwrap())
        .args(args))
}

#[test]
fn kubectl_reads_it_and_openssl_verifies_its_client_certificate() {
    let dir = inventory("kubeconfig", |t| t);
    // Before any bake there is no CA to sign with: a clear refusal.
    let o = piprep(&dir, &["kubeconfig", "--out", "k"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("run `piprep bake` first"),
        "{}",
        stderr(&o)
    );
    render(&dir, "worker-1", &[]);
    let o = piprep(&dir, &["kubeconfig", "--out", "homelab.kubeconfig"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kc = dir.join("homelab.kubeconfig");
    let mode = std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let view = kubectl(
        &kc,
        &[
            "config",
            "view",
            "-o",
            "jsonpath={.clusters[0].cluster.server} {.current-context} {.contexts[0].context.user}",
        ],
    );
    assert_eq!(
        view,
        "https://k8s-api.lan:6443 piprep-admin@homelab piprep-admin@homelab"
    );
    // The client certificate, extracted by kubectl, against the kept CA.
    let b64 = kubectl(
        &kc,
        &[
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[0].user.client-certificate-data}",
        ],
    );
    let cert = dir.join("client.crt");
    let pem = run(Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s '{b64}' | base64 -d")));
    std::fs::write(&cert, pem).unwrap();
    let ca = cluster_dir(&dir).join("pki/ca.crt");
    let v = run(Command::new("openssl")
        .args(["verify", "-CAfile", ca.to_str().unwrap()])
        .arg(&cert));
    assert!(v.trim().ends_with(": OK"), "{v}");
    let subject = run(Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "extendedKeyUsage",
            "-in",
        ])
        .arg(&cert));
    assert!(subject.contains("O = kubeadm:cluster-admins"), "{subject}");
    assert!(subject.contains("CN = piprep-admin"), "{subject}");
    assert!(!subject.contains("system:masters"), "{subject}");
    assert!(
        subject.contains("TLS Web Client Authentication"),
        "{subject}"
    );
    // The CA in the kubeconfig is the cluster's.
    let ca_b64 = kubectl(
        &kc,
        &[
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
        ],
    );
    let ca_pem = run(Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s '{ca_b64}' | base64 -d")));
    assert_eq!(ca_pem, std::fs::read_to_string(&ca).unwrap());
}

#[test]
fn merge_keeps_every_other_context() {
    let dir = inventory("kubeconfig-merge", |t| t);
    render(&dir, "worker-1", &[]);
    let kc = dir.join("config");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: work\n  cluster:\n    server: https://work.example:6443\nusers:\n- name: me@work\n  user:\n    token: abc\ncontexts:\n- name: me@work\n  context:\n    cluster: work\n    user: me@work\ncurrent-context: me@work\n",
    )
    .unwrap();
    std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o644)).unwrap();
    for _ in 0..2 {
        let o = piprep(&dir, &["kubeconfig", "--merge", "--out", "config"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let contexts = kubectl(&kc, &["config", "get-contexts", "-o", "name"]);
    let mut names: Vec<&str> = contexts.lines().collect();
    names.sort();
    assert_eq!(names, ["me@work", "piprep-admin@homelab"]);
    assert_eq!(
        kubectl(&kc, &["config", "current-context"]).trim(),
        "piprep-admin@homelab"
    );
    let token = kubectl(
        &kc,
        &[
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[?(@.name==\"me@work\")].user.token}",
        ],
    );
    assert_eq!(token, "abc");
    let mode = std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a kubeconfig with client keys must be private");
    // Something that is not a kubeconfig is refused, not replaced.
    std::fs::write(&kc, "- just\n- a list\n").unwrap();
    let o = piprep(&dir, &["kubeconfig", "--merge", "--out", "config"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is not a kubeconfig"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&kc).unwrap(), "- just\n- a list\n");
}

//! Each refusal of `bootstrap = true`, with file:line and a fix.

use super::*;

/// The line of bootstrap.toml that starts with `key =` (or is `key`).
fn line_of(key: &str) -> usize {
    let t = std::fs::read_to_string(root().join("tests/data/bootstrap.toml")).unwrap();
    t.lines()
        .position(|l| l.starts_with(&format!("{key} =")) || l == key)
        .unwrap()
        + 1
}

fn validate(name: &str, edit: impl Fn(String) -> String) -> (Option<i32>, String) {
    let dir = inventory(&format!("refuse-{name}"), edit);
    let o = piprep(&dir, &["validate"]);
    (o.status.code(), format!("{}{}", stdout(&o), stderr(&o)))
}

fn refused(name: &str, edit: impl Fn(String) -> String, line: usize, needle: &str) {
    let (code, text) = validate(name, edit);
    assert_eq!(code, Some(2), "{name}: {text}");
    assert!(
        text.contains(&format!("piprep.toml:{line}:")),
        "{name}: no line {line} in {text}"
    );
    assert!(text.contains("fix: "), "{name}: {text}");
    assert!(
        text.contains(needle),
        "{name}: expected {needle:?} in {text}"
    );
    assert!(!text.contains("panicked"), "{name}: {text}");
}

#[test]
fn every_bootstrap_rule_refuses_with_its_line_and_fix() {
    let flag = line_of("bootstrap");
    refused(
        "old-version",
        |t| t.replace("version = \"1.34\"", "version = \"1.30\""),
        flag,
        "Kubernetes 1.30 does not read",
    );
    refused(
        "no-endpoint",
        |t| t.replace("control_plane_endpoint = \"k8s-api.lan\"\n", ""),
        flag - 1,
        "bootstrap with 2 control planes needs control_plane_endpoint",
    );
    refused(
        "no-control-plane",
        |t| {
            t.replace("control_plane_endpoint = \"k8s-api.lan\"\n", "")
                .replace("role = \"control-plane\"", "role = \"worker\"")
        },
        flag - 1,
        "no node has role \"control-plane\"",
    );
    let init_line = line_of("bootstrap") + 1;
    refused(
        "init-worker",
        |t| {
            t.replace(
                "bootstrap = true",
                "bootstrap = true\ninit_node = \"worker-1\"",
            )
        },
        init_line,
        "init_node `worker-1` is a worker",
    );
    refused(
        "init-unknown",
        |t| t.replace("bootstrap = true", "bootstrap = true\ninit_node = \"cp-9\""),
        init_line,
        "init_node `cp-9` is not a node of the inventory",
    );
    refused(
        "manifest-missing",
        |t| t.replace("\"kube-flannel-test.yml\"", "\"nowhere.yaml\""),
        line_of("cni_manifest"),
        "is neither an http(s) URL nor a file",
    );
    refused(
        "node-named-cluster",
        |t| t.replace("name = \"worker-1\"", "name = \"cluster\""),
        line_of("name = \"worker-1\""),
        "would share the secrets directory's entry",
    );
    // Without bootstrap, nothing of it is required; init_node only warns.
    let (code, text) = validate("off", |t| {
        t.replace("bootstrap = true", "init_node = \"cp-1\"")
    });
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("has no effect without bootstrap = true"),
        "{text}"
    );
}

#[test]
fn a_ca_that_does_not_match_its_key_is_refused() {
    let dir = inventory("mismatch", |t| t);
    render(&dir, "worker-1", &[]);
    let pki = cluster_dir(&dir).join("pki");
    // Another cluster's CA certificate beside this key.
    let other = inventory("mismatch-other", |t| t);
    render(&other, "worker-1", &[]);
    std::fs::copy(cluster_dir(&other).join("pki/ca.crt"), pki.join("ca.crt")).unwrap();
    let o = piprep(&dir, &["validate"]);
    let text = stderr(&o) + &stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("ca.crt is not the certificate of pki/ca.key"),
        "{text}"
    );
    assert!(text.contains("piprep.toml:3:"), "{text}");
    assert!(text.contains("rekey --cluster"), "{text}");
    let o = piprep(&dir, &["render", "--node", "cp-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

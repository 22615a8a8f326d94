//! What validation refuses or warns about in [kubernetes].

use super::*;

#[test]
fn pod_and_service_ranges_must_not_overlap_anything() {
    let pods = line_of("pod_cidr");
    let services = line_of("service_cidr");
    refused(
        "pods-services",
        |t| t.replace("\"10.96.0.0/12\"", "\"10.244.128.0/20\""),
        services,
        &["pod_cidr 10.244.0.0/16 and service_cidr 10.244.128.0/20 overlap"],
    );
    refused(
        "pods-subnet",
        |t| t.replace("\"10.244.0.0/16\"", "\"10.0.0.0/8\""),
        pods,
        &["pod_cidr 10.0.0.0/8 overlaps the node subnet 10.1.1.0/24"],
    );
    refused(
        "services-subnet",
        |t| t.replace("\"10.96.0.0/12\"", "\"10.1.0.0/16\""),
        services,
        &["service_cidr 10.1.0.0/16 overlaps the node subnet"],
    );
    refused(
        "pods-dns",
        |t| {
            t.replace(
                "dns = [\"10.1.1.1\"]",
                "dns = [\"10.1.1.1\", \"10.244.0.53\"]",
            )
        },
        pods,
        &["contains the DNS server 10.244.0.53"],
    );
    refused(
        "not-a-cidr",
        |t| t.replace("\"10.244.0.0/16\"", "\"10.244.0.1/16\""),
        pods,
        &["has host bits set"],
    );
}

#[test]
fn unknown_cni_runtime_and_version_formats_are_refused() {
    let v = line_of("version");
    for (bad, why) in [
        ("1.34.1", "is not a minor version"),
        ("v1.34", "is not a minor version"),
        ("1.x", "is not a minor version"),
        ("1.23", "has no pkgs.k8s.io repository"),
    ] {
        refused(
            &format!("version-{bad}"),
            |t| t.replace("version = \"1.34\"", &format!("version = \"{bad}\"")),
            v,
            &[why],
        );
    }
    refused(
        "cni",
        |t| t.replace("cni = \"flannel\"", "cni = \"weave\""),
        line_of("cni"),
        &[
            "cni `weave` is not one piprep knows",
            "flannel, calico, cilium, none",
        ],
    );
    refused(
        "runtime",
        |t| t.replace("runtime = \"containerd\"", "runtime = \"cri-o\""),
        line_of("runtime"),
        &["runtime `cri-o` is not supported"],
    );
}

#[test]
fn repository_and_key_mistakes_are_refused() {
    let key = line_of("repository_key");
    refused(
        "repository-url",
        |t| {
            t.replace(
                "repository_key =",
                "repository = \"ftp://mirror/x\"\nrepository_key =",
            )
        },
        key,
        &["repository `ftp://mirror/x` is not an http:// or https:// URL"],
    );
    refused(
        "repository-injection",
        |t| {
            t.replace(
                "repository_key =",
                "repository = \"https://m.example/deb/ /\\ndeb http://evil/\"\nrepository_key =",
            )
        },
        key,
        &["which an apt source line cannot carry"],
    );
    refused(
        "plain-http-key",
        |t| {
            t.replace(
                "repository_key = \"kubernetes-test-key.asc\"",
                "repository = \"http://mirror.example/core:/stable:/v1.34/deb/\"",
            )
        },
        key,
        &["Release.key would arrive unauthenticated"],
    );
    refused(
        "missing-key",
        |t| t.replace("kubernetes-test-key.asc", "nowhere.asc"),
        key,
        &["cannot read repository_key", "nowhere.asc"],
    );
    refused(
        "not-a-key",
        |t| t.replace("kubernetes-test-key.asc", "piprep.toml"),
        key,
        &["is not an OpenPGP public key"],
    );
    refused(
        "endpoint",
        |t| {
            t.replace(
                "repository_key =",
                "control_plane_endpoint = \"k8s api:6443\"\nrepository_key =",
            )
        },
        key,
        &["control_plane_endpoint `k8s api:6443`"],
    );
    refused(
        "sandbox-image",
        |t| {
            t.replace(
                "repository_key =",
                "sandbox_image = \"pause\\\"; x\"\nrepository_key =",
            )
        },
        key,
        &["sandbox_image", "is not an image reference"],
    );
}

#[test]
fn warnings_for_two_control_planes_and_other_assumptions() {
    let dir = inventory("warn-two-cps", |t| {
        t.replace("role = \"worker\"", "role = \"control-plane\"")
            .replace("\"10.244.0.0/16\"", "\"10.42.0.0/16\"")
            .replace("version = \"1.34\"", "version = \"1.99\"")
    });
    let o = piprep(&dir, &["validate"]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(
        text.contains("warning: two control planes without control_plane_endpoint"),
        "{text}"
    );
    assert!(text.contains("quorum needs three"), "{text}");
    assert!(
        text.contains("flannel's manifest assumes the pod network 10.244.0.0/16"),
        "{text}"
    );
    assert!(
        text.contains("does not know which pause image kubeadm 1.99 expects"),
        "{text}"
    );
    // A single control plane: no warning about etcd.
    let dir = inventory("warn-one-cp", |t| t);
    let o = piprep(&dir, &["validate"]);
    assert!(o.status.success());
    // (The inventory's image is a placeholder: only that is warned about.)
    assert!(
        !stdout(&o)
            .lines()
            .any(|l| l.contains("warning") && !l.contains("[image] path")),
        "{}",
        stdout(&o)
    );
}

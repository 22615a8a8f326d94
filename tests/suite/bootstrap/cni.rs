//! The CNI manifest: fitted to the pod range on the init node only, recorded
//! in the stamp, fetched once over HTTP and cached by sha256.

use super::*;
use crate::support::http::Server;

#[test]
fn the_init_node_gets_the_manifest_fitted_to_the_pod_range() {
    let dir = inventory("cni-file", |t| {
        t.replace("\"10.244.0.0/16\"", "\"10.42.0.0/16\"")
    });
    let src = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
    let init = render(&dir, "cp-1", &[]);
    let fitted =
        std::fs::read_to_string(init.join("rootfs/var/lib/piprep/kubernetes/cni.yaml")).unwrap();
    // Only the pod range changed, and YAML still reads it.
    assert_eq!(
        fitted,
        src.replace(
            "\"Network\": \"10.244.0.0/16\"",
            "\"Network\": \"10.42.0.0/16\""
        )
    );
    assert_ne!(fitted, src);
    let docs = yaml_docs(&init.join("rootfs/var/lib/piprep/kubernetes/cni.yaml"));
    let net: serde_json::Value =
        serde_json::from_str(docs[1]["data"]["net-conf.json"].as_str().unwrap()).unwrap();
    assert_eq!(net["Network"], "10.42.0.0/16");
    let script =
        std::fs::read_to_string(init.join("rootfs/usr/local/lib/piprep/kubeadm.sh")).unwrap();
    assert!(
        script.contains("\nCNI=/var/lib/piprep/kubernetes/cni.yaml\n"),
        "{script}"
    );
    // The stamp names it with the sha256 of the file as read.
    let stamp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(init.join("piprep-stamp.json")).unwrap())
            .unwrap();
    assert_eq!(stamp["kubernetes"]["cni_manifest"], MANIFEST);
    assert_eq!(
        stamp["kubernetes"]["cni_manifest_sha256"],
        sha256_file(&dir.join(MANIFEST))
    );
    assert_eq!(stamp["kubernetes"]["bootstrap"], "init");
    for node in ["cp-2", "worker-1"] {
        let out = render(&dir, node, &[]);
        assert!(
            !out.join("rootfs/var/lib/piprep/kubernetes/cni.yaml")
                .exists(),
            "{node}"
        );
    }
    // A manifest piprep cannot fit is refused, naming it.
    std::fs::write(dir.join(MANIFEST), "kind: ConfigMap\n").unwrap();
    let o = piprep(&dir, &["render", "--node", "cp-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has no net-conf.json"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_manifest_url_is_fetched_once_then_cached_offline_included() {
    let server = Server::start();
    server.add(
        "kube-flannel.yml",
        std::fs::read(data().join(MANIFEST)).unwrap(),
    );
    let url = server.url("/f/kube-flannel.yml");
    let dir = inventory("cni-url", |t| {
        t.replace("\"kube-flannel-test.yml\"", &format!("\"{url}\""))
    });
    let cache = dir.join("cache");
    let run = |args: &[&str]| {
        let mut a = vec!["--cache-dir", cache.to_str().unwrap()];
        a.extend(args);
        piprep(&dir, &a)
    };
    let o = run(&["--offline", "render", "--node", "cp-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not in the cache and --offline forbids fetching it"),
        "{}",
        stderr(&o)
    );
    let o = run(&["render", "--node", "cp-1", "--out", "r1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("fetched the CNI manifest"),
        "{}",
        stderr(&o)
    );
    let sha = sha256_file(&data().join(MANIFEST));
    assert!(cache.join(format!("manifests/{sha}.yaml")).exists());
    for args in [
        &["render", "--node", "cp-1", "--out", "r2"][..],
        &["--offline", "render", "--node", "cp-1", "--out", "r3"],
    ] {
        let o = run(args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    let a = std::fs::read(dir.join("r1/rootfs/var/lib/piprep/kubernetes/cni.yaml")).unwrap();
    let b = std::fs::read(dir.join("r3/rootfs/var/lib/piprep/kubernetes/cni.yaml")).unwrap();
    assert_eq!(a, b);
}

//! The packages: the release key fetched and cached, and the checklist of runtime, packages and holds.

use super::*;

#[test]
fn the_release_key_is_fetched_once_over_http_then_cached_by_sha256() {
    let key = std::fs::read(data().join(KEY)).unwrap();
    let server = Server::start();
    server.add("core:/stable:/v1.34/deb/Release.key", key.clone());
    let repo = server.url("/f/core:/stable:/v1.34/deb/");
    let dir = inventory("fetch", |t| {
        t.replace(
            "repository_key = \"kubernetes-test-key.asc\"",
            &format!("repository = \"{repo}\""),
        )
    });
    let cache = dir.join("cache");
    let with_cache = |args: &[&str]| {
        let mut a = vec!["--cache-dir", cache.to_str().unwrap()];
        a.extend(args);
        piprep(&dir, &a)
    };
    // --offline with nothing cached: a config error that says how to fix it.
    let o = with_cache(&["--offline", "render", "--node", "cp-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not in the cache and --offline forbids fetching it"));

    let o = with_cache(&["render", "--node", "cp-1", "--out", "r1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("fetched the Kubernetes repository key"),
        "{}",
        stderr(&o)
    );
    let installed =
        std::fs::read_to_string(dir.join("r1/rootfs/etc/apt/keyrings/piprep-kubernetes.asc"))
            .unwrap();
    assert_eq!(installed.as_bytes(), &key[..]);
    let sha = sha256_file(&data().join(KEY));
    assert!(cache.join(format!("keys/{sha}.key")).exists());
    let requests = server.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(requests, 1);
    let list = std::fs::read_to_string(
        dir.join("r1/rootfs/etc/apt/sources.list.d/piprep-kubernetes.list"),
    )
    .unwrap();
    assert!(
        list.contains(&format!(
            "deb [signed-by=/etc/apt/keyrings/piprep-kubernetes.asc] {repo} /"
        )),
        "{list}"
    );

    // Later runs use the cache, online or not, and render the same.
    for args in [
        &["render", "--node", "cp-1", "--out", "r2"][..],
        &["--offline", "render", "--node", "cp-1", "--out", "r3"],
    ] {
        let o = with_cache(args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    // `cache clean` drops the key: the next run fetches it again.
    assert!(with_cache(&["cache", "clean"]).status.success());
    assert!(!cache.join("keys").exists());
    let o = with_cache(&["render", "--node", "cp-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
    for r in ["r2", "r3"] {
        let again = std::fs::read_to_string(
            dir.join(r)
                .join("rootfs/etc/apt/keyrings/piprep-kubernetes.asc"),
        )
        .unwrap();
        assert_eq!(again, installed);
    }

    let render_cp = |dir: &Path| {
        piprep(
            dir,
            &[
                "--cache-dir",
                cache.to_str().unwrap(),
                "render",
                "--node",
                "cp-1",
            ],
        )
    };
    // A repository whose Release.key is not a key (an HTML error page) is
    // refused, and nothing is cached for it.
    server.add(
        "core:/stable:/v1.35/deb/Release.key",
        b"<html>not found</html>".to_vec(),
    );
    let bad = server.url("/f/core:/stable:/v1.35/deb/");
    let dir2 = inventory("fetch-bad", |t| {
        t.replace("version = \"1.34\"", "version = \"1.35\"")
            .replace(
                "repository_key = \"kubernetes-test-key.asc\"",
                &format!("repository = \"{bad}\""),
            )
    });
    let o = render_cp(&dir2);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not an OpenPGP public key"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("fix: "), "{}", stderr(&o));
    let keys: Vec<_> = std::fs::read_dir(cache.join("keys")).unwrap().collect();
    assert_eq!(keys.len(), 2, "one key and its URL index");
    // A repository that does not answer: one line, exit 3, no panic.
    let gone = server.url("/nothing/here/");
    let dir3 = inventory("fetch-404", |t| {
        t.replace(
            "repository_key = \"kubernetes-test-key.asc\"",
            &format!("repository = \"{gone}\""),
        )
    });
    let o = render_cp(&dir3);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("HTTP 404"), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn the_checklist_verifies_runtime_packages_holds_and_network_manager() {
    let rows = kube_rows("healthy", true);
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "containerd.active",
            "containerd.cgroup_driver",
            "containerd.cri",
            "crictl.info",
            "kubernetes.kubeadm",
            "kubernetes.kubeadm.held",
            "kubernetes.kubelet",
            "kubernetes.kubelet.held",
            "kubernetes.kubectl",
            "kubernetes.kubectl.held",
            "kubelet.enabled",
            "networkmanager.unmanaged",
        ]
    );
    assert!(rows.iter().all(|r| r[3] == "pass"), "{rows:?}");

    let rows = kube_rows("broken", false);
    let get = |n: &str| rows.iter().find(|r| r[0] == n).unwrap().clone();
    for n in [
        "containerd.active",
        "containerd.cgroup_driver",
        "containerd.cri",
        "kubernetes.kubectl",
        "kubernetes.kubectl.held",
        "kubelet.enabled",
        "networkmanager.unmanaged",
    ] {
        assert_eq!(get(n)[3], "fail", "{n}: {rows:?}");
    }
    assert_eq!(get("kubernetes.kubectl")[2], "1.35.0-1.1");
    assert_eq!(get("kubernetes.kubeadm")[3], "pass");
    // crictl comes with kubeadm's cri-tools; without it, a warning.
    assert_eq!(
        get("crictl.info")[2..],
        ["crictl not installed".to_string(), "warn".into()]
    );
}

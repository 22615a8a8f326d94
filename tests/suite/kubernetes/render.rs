//! What [kubernetes] renders: goldens per CNI, nothing without it, both backends, inspect.

use super::*;

#[test]
fn golden_render_for_control_plane_and_worker_with_each_cni() {
    for cni in ["flannel", "calico", "cilium", "none"] {
        let dir = inventory(&format!("golden-{cni}"), |t| {
            t.replace("cni = \"flannel\"", &format!("cni = \"{cni}\""))
        });
        let mut views = Vec::new();
        for node in ["cp-1", "worker-1"] {
            let out = dir.join(format!("render-{node}"));
            let o = piprep(
                &dir,
                &["render", "--node", node, "--out", out.to_str().unwrap()],
            );
            assert!(o.status.success(), "{cni} {node}: {}", stderr(&o));
            let view = kubernetes_view(&out.join("rootfs"));
            // The routed rules that keep `default deny routed` on for the rest.
            assert!(view.contains("ufw route allow from 10.244.0.0/16 to any"));
            assert!(view.contains("ufw route allow from 10.1.1.0/24 to 10.244.0.0/16"));
            assert!(view.contains("ufw route allow from 10.1.1.0/24 to 10.96.0.0/12"));
            assert!(view.contains("ufw default deny routed"));
            assert!(view.contains("SystemdCgroup = true"));
            assert!(view.contains("sandbox_image = \"registry.k8s.io/pause:3.10.1\""));
            let vxlan = view.contains("port 8472");
            assert_eq!(vxlan, cni == "flannel" || cni == "cilium", "{cni}");
            assert_eq!(view.contains("port 179 "), cni == "calico", "{cni}");
            assert_eq!(view.contains("port 4240 "), cni == "cilium", "{cni}");
            golden_in("kubernetes", &format!("{cni}-{node}.txt"), &view);
            views.push(view);
        }
        // Workers get the same pod network; only the profile's control-plane
        // rules (API server, etcd, scheduler, controller manager) differ.
        let only = |v: &str| -> Vec<String> {
            v.lines()
                .filter(|l| {
                    l.contains("route allow") || l.contains("8472") || l.contains("30000:32767")
                })
                .map(str::to_string)
                .collect()
        };
        assert_eq!(only(&views[0]), only(&views[1]), "{cni}");
    }
}

#[test]
fn without_the_section_nothing_of_it_is_rendered() {
    let dir = scratch("k8s-absent");
    let o = piprep(
        &data(),
        &[
            "render",
            "--node",
            "cp-1",
            "--out",
            dir.join("r").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let tree = dir.join("r/rootfs");
    for f in [
        "etc/containerd",
        "etc/crictl.yaml",
        "etc/apt",
        "etc/NetworkManager",
    ] {
        assert!(!tree.join(f).exists(), "{f} rendered without [kubernetes]");
    }
    let setup = std::fs::read_to_string(tree.join("usr/local/lib/piprep/setup.sh")).unwrap();
    assert!(!setup.contains("ufw route"));
    assert!(setup.contains("pkgs='chrony ufw'"));
    let check = std::fs::read_to_string(tree.join("usr/local/lib/piprep/check.sh")).unwrap();
    assert!(check.contains("\nKUBERNETES=no\n"));
}

#[test]
fn render_and_inspect_name_it_and_both_backends_carry_it() {
    let dir = inventory("backends", |t| t);
    let o = piprep(&dir, &["render", "--node", "cp-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("# beyond the guide: Kubernetes 1.34 (containerd, cni flannel, pods 10.244.0.0/16, services 10.96.0.0/12)"),
        "{}",
        stdout(&o)
    );
    // firstrun: the hook installs every file.
    let files = embedded_files(&stdout(&o));
    let has = |files: &[(String, String)], p: &str| files.iter().any(|(f, _)| f == p);
    for p in [
        "/etc/containerd/config.toml",
        "/etc/apt/keyrings/piprep-kubernetes.asc",
        "/etc/NetworkManager/conf.d/90-piprep-cni.conf",
    ] {
        assert!(has(&files, p), "firstrun lacks {p}");
    }
    // cloud-init: a baked image's user-data writes the same files; inspect
    // names the section.
    let image = fixture("trixie", &["--cloud-init"]);
    let o = piprep(
        &dir,
        &[
            "bake",
            "-n",
            "cp-1",
            "--image",
            image.to_str().unwrap(),
            "--out",
            "out",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let img = dir.join("out/cp-1.img");
    let parts = partitions(&img);
    let ud = mtype(&img, parts[0], "user-data").expect("user-data");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&ud).unwrap();
    let paths: Vec<&str> = doc["write_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for p in [
        "/etc/containerd/config.toml",
        "/etc/crictl.yaml",
        "/etc/apt/keyrings/piprep-kubernetes.asc",
        "/etc/apt/sources.list.d/piprep-kubernetes.list",
        "/etc/apt/preferences.d/piprep-kubernetes",
        "/etc/NetworkManager/conf.d/90-piprep-cni.conf",
    ] {
        assert!(paths.contains(&p), "cloud-init lacks {p}: {paths:?}");
    }
    let o = piprep(&dir, &["inspect", img.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("beyond the guide: Kubernetes 1.34 (containerd, cni flannel"),
        "{}",
        stdout(&o)
    );
    // The manifest records the key it was baked with.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/manifest.json")).unwrap())
            .unwrap();
    let k = &m["nodes"]["cp-1"]["kubernetes"];
    assert_eq!(
        k["key_sha256"].as_str().unwrap(),
        sha256_file(&dir.join(KEY))
    );
    assert_eq!(k["key_origin"], KEY);
}

//! `[kubernetes]`: golden renders per CNI for a control plane and a worker,
//! one refusal per validation rule, the repository key fetched over HTTP on
//! 127.0.0.1 and cached, both backends carrying it, and its checklist items
//! run for real against stub tools. Regenerate goldens with UPDATE_GOLDEN=1.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::http::Server;
use crate::support::*;

const KEY: &str = "kubernetes-test-key.asc";

/// A scratch directory holding tests/data/kubernetes.toml (with `edit`
/// applied) and the test key.
fn inventory(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = scratch(&format!("k8s-{name}"));
    let data = data();
    let text = std::fs::read_to_string(data.join("kubernetes.toml")).unwrap();
    std::fs::write(dir.join("piprep.toml"), edit(text)).unwrap();
    std::fs::copy(data.join(KEY), dir.join(KEY)).unwrap();
    dir
}

/// The part of a rendered tree `[kubernetes]` decides: its files, the
/// firewall function and the checklist's values.
fn kubernetes_view(tree: &Path) -> String {
    let read = |p: &str| std::fs::read_to_string(tree.join(p.trim_start_matches('/'))).unwrap();
    let mut s = String::new();
    for f in [
        "/etc/containerd/config.toml",
        "/etc/crictl.yaml",
        "/etc/apt/sources.list.d/piprep-kubernetes.list",
        "/etc/apt/preferences.d/piprep-kubernetes",
        "/etc/NetworkManager/conf.d/90-piprep-cni.conf",
    ] {
        s += &format!("==> {f} <==\n{}", read(f));
    }
    let setup = read("/usr/local/lib/piprep/setup.sh");
    let fw = setup
        .split_once("configure_firewall() {")
        .unwrap()
        .1
        .split_once("\n}\n")
        .unwrap()
        .0;
    let commands: Vec<&str> = fw
        .lines()
        .filter(|l| l.trim_start().starts_with("ufw "))
        .map(str::trim)
        .collect();
    s += &format!("==> firewall commands <==\n{}\n", commands.join("\n"));
    let check = read("/usr/local/lib/piprep/check.sh");
    let values: Vec<&str> = check
        .lines()
        .filter(|l| l.starts_with("KUBE") || l.starts_with("NM_UNMANAGED="))
        .collect();
    s += &format!("==> checklist values <==\n{}\n", values.join("\n"));
    s
}

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

/// Validation refuses `edit` of the good inventory on `line` with `needles`.
fn refused(name: &str, edit: impl Fn(String) -> String, line: usize, needles: &[&str]) {
    let dir = inventory(&format!("refuse-{name}"), edit);
    let o = piprep(&dir, &["validate"]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{name}: {text}");
    assert!(
        text.contains(&format!("piprep.toml:{line}:")),
        "{name}: no line {line} in {text}"
    );
    assert!(text.contains("fix: "), "{name}: {text}");
    for n in needles {
        assert!(text.contains(n), "{name}: expected {n:?} in {text}");
    }
    assert!(!text.contains("panicked"));
}

/// The inventory line that starts with `key =`.
fn line_of(key: &str) -> usize {
    let t = std::fs::read_to_string(root().join("tests/data/kubernetes.toml")).unwrap();
    t.lines()
        .position(|l| l.starts_with(&format!("{key} =")))
        .unwrap()
        + 1
}

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
    assert!(!stdout(&o).contains("warning"), "{}", stdout(&o));
}

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

fn stub(bin: &Path, name: &str, body: &str) {
    let p = bin.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The checklist's kubernetes rows on a node the stubs describe.
fn kube_rows(name: &str, healthy: bool) -> Vec<Vec<String>> {
    let dir = inventory(&format!("check-{name}"), |t| t);
    let o = piprep(&dir, &["render", "--node", "cp-1", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = dir.join("r/rootfs/usr/local/lib/piprep/check.sh");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let unmanaged = "interface-name:cni0;interface-name:flannel*;interface-name:cali*;interface-name:tunl*;interface-name:vxlan*;interface-name:cilium*;interface-name:lxc*;interface-name:veth*";
    let (state, cgroup, cri, kubectl, holds, nm) = if healthy {
        (
            "active",
            "true",
            "ok",
            "1.34.1-1.1",
            "kubeadm\nkubectl\nkubelet",
            unmanaged,
        )
    } else {
        (
            "failed",
            "false",
            "error",
            "1.35.0-1.1",
            "kubeadm\nkubelet",
            "interface-name:cni0",
        )
    };
    stub(
        &bin,
        "systemctl",
        &format!(
            "case \"$1 $2\" in\n\"is-active containerd.service\") echo {state} ;;\n\"is-enabled kubelet.service\") echo {} ;;\n*) echo unknown ;;\nesac",
            if healthy { "enabled" } else { "disabled" }
        ),
    );
    stub(
        &bin,
        "containerd",
        &format!(
            "[ \"$1 $2\" = 'config dump' ] && printf 'version = 2\\n  [plugins.x.options]\\n    SystemdCgroup = {cgroup}\\n'"
        ),
    );
    stub(
        &bin,
        "ctr",
        &format!(
            "printf 'TYPE ID PLATFORMS STATUS\\nio.containerd.grpc.v1 cri linux/arm64/v8 {cri}\\n'"
        ),
    );
    if healthy {
        stub(&bin, "crictl", "[ \"$1\" = info ]");
    }
    stub(
        &bin,
        "dpkg-query",
        &format!("case \"$4\" in kubectl) printf '{kubectl}' ;; *) printf '1.34.1-1.1' ;; esac"),
    );
    stub(
        &bin,
        "apt-mark",
        &format!("[ \"$1\" = showhold ] && printf '{holds}\\n'"),
    );
    stub(
        &bin,
        "NetworkManager",
        &format!("printf '[keyfile]\\nunmanaged-devices={nm}\\n'"),
    );
    let report = dir.join("report.txt");
    std::process::Command::new("sh")
        .arg(&script)
        .arg("test")
        .env("PIPREP_ROOT", dir.join("root"))
        .env("PIPREP_REPORT", &report)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&report).unwrap();
    let names = [
        "containerd.",
        "crictl.",
        "kubernetes.",
        "kubelet.",
        "networkmanager.",
    ];
    text.lines()
        .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
        .filter(|r| names.iter().any(|n| r[0].starts_with(n)))
        .collect()
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

//! `piprep render`: golden files for a control-plane and a worker node, and the
//! agreement between render and bake. Regenerate goldens with UPDATE_GOLDEN=1.

use std::path::Path;

use crate::support::*;

#[test]
fn render_matches_golden_for_control_plane_and_worker() {
    let data = data();
    for node in ["cp-1", "worker-1"] {
        let o = piprep(&data, &["render", "--node", node]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("==> piprep-secrets.txt <==\n<redacted>\n"),
            "secret not redacted"
        );
        assert!(
            !out.contains("$6$AbCd"),
            "the password hash leaked into render output"
        );
        golden_in("", &format!("render-{node}.txt"), &out);
    }
}

#[test]
fn roles_differ_only_where_kubernetes_says() {
    let data = data();
    let cp = stdout(&piprep(&data, &["render", "--node", "cp-1"]));
    let w = stdout(&piprep(&data, &["render", "--node", "worker-1"]));
    // Both: SSH, kubelet, outbound API server, DNS/NTP/HTTP/HTTPS.
    for s in [
        "port 22 comment",
        "to any port 10250",
        "to 10.1.1.0/24 port 6443",
        "port 53 comment",
        "port 123 comment",
    ] {
        assert!(cp.contains(s) && w.contains(s), "{s}");
    }
    // Control plane only: serving the API server, etcd, scheduler, controller manager.
    for s in [
        "from 10.1.1.0/24 to any port 6443",
        "port 2379:2380",
        "port 10251",
        "port 10252",
        "port 10257",
        "port 10259",
    ] {
        assert!(cp.contains(s), "cp lacks {s}");
        assert!(!w.contains(s), "worker has {s}");
    }
}

#[test]
fn render_out_writes_what_bake_writes() {
    let dir = scratch("render-vs-bake");
    let base = fixture("bookworm", &[]);
    write_inventory(&dir, &base, "");
    let o = piprep(
        &dir,
        &[
            "render",
            "--node",
            "cp-1",
            "--image",
            base.to_str().unwrap(),
            "--out",
            "rendered",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(piprep(&dir, &["bake", "-n", "cp-1", "-q"]).status.success());
    let boot = partitions(&base)[0];
    let img = dir.join("out/cp-1.img");
    // The boot partition's files; `rootfs` is the tree the first boot installs.
    assert!(dir.join("rendered/.piprep-owned").is_file());
    let names: Vec<String> = dir_names(&dir.join("rendered"))
        .into_iter()
        .filter(|n| n != "rootfs")
        .collect();
    assert_eq!(
        names,
        [
            "cmdline.txt",
            "piprep-run.sh",
            "piprep-secrets.txt",
            "piprep-ssh_host_ed25519_key",
            "piprep-stamp.json"
        ]
    );
    // Secrets written by render --out are for their owner only.
    use std::os::unix::fs::PermissionsExt;
    for n in ["piprep-secrets.txt", "piprep-ssh_host_ed25519_key"] {
        let m = std::fs::metadata(dir.join("rendered").join(n)).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{n}");
    }
    for n in names {
        let rendered = std::fs::read_to_string(dir.join("rendered").join(&n)).unwrap();
        assert_eq!(
            mtype(&img, boot, &n).as_deref(),
            Some(rendered.as_str()),
            "{n} differs between render and bake"
        );
    }
}

/// Every file under `dir`, relative, with its mode and content.
fn tree(dir: &Path) -> Vec<(String, u32, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
                out.push((rel, mode, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// `render --out` writes the root-filesystem files as a tree; both backends
/// install the same tree (cloud-init's user-data carries exactly it), and a
/// later render with another plan leaves none of the earlier files behind.
#[test]
fn render_out_writes_the_tree_the_first_boot_installs() {
    let dir = scratch("render-rootfs");
    let data = data();
    for inv in ["piprep.toml", "cloud-init.toml"] {
        std::fs::copy(data.join(inv), dir.join(inv)).unwrap();
    }
    let render = |inv: &str, out: &str| {
        let o = piprep(&dir, &["-c", inv, "render", "-n", "cp-1", "--out", out]);
        assert!(o.status.success(), "{}", stderr(&o));
        tree(&dir.join(out).join("rootfs"))
    };
    let fr = render("piprep.toml", "fr");
    let names: Vec<&str> = fr.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "etc/chrony/sources.d/piprep.sources",
            "etc/modules-load.d/k8s.conf",
            "etc/ssh/ssh_host_ed25519_key.pub",
            "etc/sysctl.d/k8s.conf",
            "etc/systemd/system/piprep-setup.service",
            "etc/systemd/timesyncd.conf.d/piprep.conf",
            "usr/local/lib/piprep/check.sh",
            "usr/local/lib/piprep/prepare.sh",
            "usr/local/lib/piprep/setup.sh",
        ]
    );
    let get =
        |t: &[(String, u32, String)], n: &str| t.iter().find(|(p, _, _)| p == n).cloned().unwrap();
    // The cluster's servers reach systemd-timesyncd too, which keeps the
    // clock until apt has installed chrony.
    assert_eq!(
        get(&fr, "etc/systemd/timesyncd.conf.d/piprep.conf").2,
        "# Time sources from piprep.toml [cluster] ntp\n[Time]\nNTP=pool.ntp.org\n"
    );
    // The guide's files, byte for byte.
    assert_eq!(
        get(&fr, "etc/modules-load.d/k8s.conf").2,
        "overlay\nbr_netfilter\n"
    );
    assert_eq!(
        get(&fr, "etc/sysctl.d/k8s.conf").2,
        "net.bridge.bridge-nf-call-iptables  = 1\nnet.ipv4.ip_forward                 = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n"
    );
    for (n, mode, body) in &fr {
        let script = n.ends_with(".sh");
        assert_eq!(*mode, if script { 0o755 } else { 0o644 }, "{n}");
        if script {
            let st = std::process::Command::new("sh")
                .arg("-n")
                .arg(dir.join("fr/rootfs").join(n))
                .status()
                .unwrap();
            assert!(st.success(), "{n} is not valid sh");
            assert!(body.starts_with("#!/bin/sh\n"), "{n}");
        }
    }
    // cloud-init: the tree is what user-data's write_files holds.
    let ci = render("cloud-init.toml", "ci");
    let ud: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("ci/user-data")).unwrap())
            .unwrap();
    let mut carried: Vec<(String, u32, String)> = ud["write_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches('/')
                    .to_string(),
                u32::from_str_radix(f["permissions"].as_str().unwrap(), 8).unwrap(),
                f["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    carried.sort();
    assert_eq!(ci, carried);
    // Same node, other backend: the same tree but for the backend the report names.
    assert_eq!(ci.len(), fr.len());
    for (a, b) in fr.iter().zip(&ci) {
        assert_eq!((&a.0, a.1), (&b.0, b.1));
        if a.0.ends_with("check.sh") {
            assert_eq!(
                a.2.replace("BACKEND=firstrun", "BACKEND=cloud-init"),
                b.2,
                "check.sh differs beyond its backend"
            );
        } else {
            assert_eq!(a.2, b.2, "{} differs between backends", a.0);
        }
    }
    // No NTP servers any more: a new render into the same directory drops
    // the chrony sources file rather than keeping the old one.
    let text = std::fs::read_to_string(dir.join("piprep.toml")).unwrap();
    let re = text
        .lines()
        .map(|l| {
            if l.starts_with("ntp =") {
                "ntp = []"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("piprep.toml"), re).unwrap();
    let again = render("piprep.toml", "fr");
    assert_eq!(again.len(), fr.len() - 2);
    assert!(
        again
            .iter()
            .all(|(n, _, _)| n != "etc/chrony/sources.d/piprep.sources"
                && n != "etc/systemd/timesyncd.conf.d/piprep.conf")
    );
}

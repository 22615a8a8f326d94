//! `[kubernetes]`: golden renders per CNI for a control plane and a worker,
//! one refusal per validation rule, the repository key fetched over HTTP on
//! 127.0.0.1 and cached, both backends carrying it, and its checklist items
//! run for real against stub tools. Regenerate goldens with UPDATE_GOLDEN=1.

mod packages;
mod render;
mod validation;

use crate::support::http::Server;
use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

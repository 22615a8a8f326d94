//! `[kubernetes] bootstrap = true`: the cluster's PKI checked with openssl,
//! kubeadm's configuration parsed back with a YAML parser (and goldens for an
//! init node, a second control plane and a worker in both backends), no CA
//! key on a worker's card, `piprep kubeconfig` read by kubectl, each
//! validation rule, and piprep-kubeadm's guard run against stub tools.
//! Regenerate goldens with UPDATE_GOLDEN=1.

mod cni;
mod configs;
mod guard;
mod kubeconfig;
mod pki;
mod validation;

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY: &str = "kubernetes-test-key.asc";
const MANIFEST: &str = "kube-flannel-test.yml";

/// A scratch directory with tests/data/bootstrap.toml (`edit` applied) and
/// the repository key.
fn inventory(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = scratch(&format!("bootstrap-{name}"));
    let data = data();
    let text = std::fs::read_to_string(data.join("bootstrap.toml")).unwrap();
    std::fs::write(dir.join("piprep.toml"), edit(text)).unwrap();
    std::fs::copy(data.join(KEY), dir.join(KEY)).unwrap();
    std::fs::copy(data.join(MANIFEST), dir.join(MANIFEST)).unwrap();
    dir
}

/// `piprep render --node NODE --out DIR/render-NODE` (and the backend's
/// flag), asserting success; returns the output directory.
fn render(dir: &Path, node: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(format!("render-{node}{}", extra.join("")));
    let mut args = vec!["render", "--node", node, "--out", out.to_str().unwrap()];
    args.extend(extra);
    let o = piprep(dir, &args);
    assert!(o.status.success(), "render {node}: {}", stderr(&o));
    out
}

/// The cluster's kept secrets directory.
fn cluster_dir(dir: &Path) -> PathBuf {
    dir.join(".piprep/secrets/cluster")
}

/// Run a command, asserting success; its stdout.
fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
    stdout(&o)
}

/// YAML documents as JSON, parsed by PyYAML (not piprep's emitter's crate).
fn yaml_docs(path: &Path) -> Vec<serde_json::Value> {
    let script =
        "import json,sys,yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let out = run(Command::new("python3").args(["-c", script]).arg(path));
    serde_json::from_str(&out).unwrap()
}

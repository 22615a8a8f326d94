//! piprep-kubeadm run for real against stub tools: the init node never
//! initialises a second cluster, joins wait for the API, and a node baked
//! for another cluster reports that it is.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn stub(bin: &Path, name: &str, body: &str) {
    let p = bin.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A node's sandbox: its rendered kubeadm.sh, what the first boot placed
/// (KEPT), empty kube and etcd directories, and stubs that log every call.
struct Node {
    root: PathBuf,
    script: PathBuf,
}

impl Node {
    fn new(dir: &Path, node: &str, answering: &[&str], join_output: &str) -> Node {
        let out = render(dir, node, &[]);
        let root = dir.join(format!("sandbox-{node}-{}", answering.len()));
        let kept = root.join("kept");
        std::fs::create_dir_all(&kept).unwrap();
        for f in dir_names(&out)
            .into_iter()
            .filter(|n| n.starts_with("piprep-k8s-"))
        {
            let rel = f.trim_start_matches("piprep-k8s-");
            let rel = match rel.strip_prefix("pki-") {
                Some(r) => format!("pki/{}", r.replacen("etcd-", "etcd/", 1)),
                None => rel.to_string(),
            };
            let dst = kept.join(rel);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(out.join(&f), dst).unwrap();
        }
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = root.join("calls");
        std::fs::write(root.join("answering"), answering.join("\n") + "\n").unwrap();
        std::fs::write(root.join("join-output"), join_output).unwrap();
        stub(
            &bin,
            "kubeadm",
            &format!(
                "echo \"kubeadm $*\" >>{log}\ncase \"$1\" in\nversion) echo v1.34.1 ;;\ninit) cp \"$3\" {root}/init-config-used; echo \"kubeadm join k8s-api.lan:6443 --token $(grep -o '[a-z0-9]\\{{6\\}}[.][a-z0-9]\\{{16\\}}' \"$3\" | head -n 1)\" ;;\njoin) o=$(cat {root}/join-output); [ -z \"$o\" ] || {{ echo \"$o\"; exit 1; }} ;;\nesac",
                log = log.display(),
                root = root.display()
            ),
        );
        // The API answers from the Nth probe on (`HOST:PORT N` lines).
        stub(
            &bin,
            "curl",
            &format!(
                "for a; do url=$a; done\nhp=${{url#https://}}; hp=${{hp%%/*}}\necho \"curl $hp\" >>{log}\nn=$(grep -c \"^curl $hp\\$\" {log})\nwhile read -r h from; do [ \"$h\" = \"$hp\" ] && [ \"$n\" -ge \"${{from:-1}}\" ] && exit 0; done <{root}/answering\nexit 7",
                log = log.display(),
                root = root.display()
            ),
        );
        stub(&bin, "systemctl", "exit 0");
        stub(&bin, "chronyc", "echo 'Leap status     : Normal'");
        stub(
            &bin,
            "kubectl",
            &format!("echo \"kubectl $*\" >>{}", log.display()),
        );
        // Waits are instant; after 40 of them the run is stopped (a join
        // that can never succeed retries for ever).
        stub(
            &bin,
            "sleep",
            &format!(
                "echo sleep >>{log}\n[ \"$(grep -c '^sleep$' {log})\" -lt 40 ] || kill -TERM $PPID",
                log = log.display()
            ),
        );
        Node {
            script: out.join("rootfs/usr/local/lib/piprep/kubeadm.sh"),
            root,
        }
    }

    fn run(&self) -> String {
        let r = &self.root;
        let o = Command::new("timeout")
            .arg("60")
            .arg("sh")
            .arg(&self.script)
            .env("PIPREP_STUBS", r.join("bin"))
            .env("PIPREP_KEPT", r.join("kept"))
            .env("PIPREP_PKI", r.join("pki"))
            .env("PIPREP_KUBE_DIR", r.join("kube"))
            .env("PIPREP_ETCD_DIR", r.join("etcd"))
            .env("PIPREP_RUN_DIR", r.join("run"))
            .output()
            .unwrap();
        format!("{}{}", stdout(&o), stderr(&o))
    }

    fn calls(&self, prefix: &str) -> Vec<String> {
        std::fs::read_to_string(self.root.join("calls"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    fn state(&self) -> String {
        std::fs::read_to_string(self.root.join("kept/state")).unwrap_or_default()
    }
}

#[test]
fn the_init_node_initialises_once_when_nothing_answers() {
    let dir = inventory("guard-init", |t| t);
    let n = Node::new(&dir, "cp-1", &[], "");
    let out = n.run();
    let kubeadm = n.calls("kubeadm ");
    // kubeadm's output reaches the journal without the token it prints.
    let token = std::fs::read_to_string(cluster_dir(&dir).join("token")).unwrap();
    assert!(out.contains("--token <token>"), "{out}");
    assert!(!out.contains(token.trim()), "{out}");
    assert!(
        kubeadm
            .iter()
            .any(|c| c.starts_with("kubeadm init --config ")),
        "{kubeadm:?}\n{out}"
    );
    assert!(!kubeadm.iter().any(|c| c.contains(" join ")), "{kubeadm:?}");
    // It asked both other control plane and the endpoint first.
    let asked = n.calls("curl ");
    for p in ["curl 10.1.1.12:6443", "curl k8s-api.lan:6443"] {
        assert!(asked.iter().any(|c| c == p), "{asked:?}");
    }
    // kubeadm's own version closes the ClusterConfiguration; the CAs placed.
    let used = std::fs::read_to_string(n.root.join("init-config-used")).unwrap();
    assert!(used.ends_with("kubernetesVersion: \"v1.34.1\"\n"), "{used}");
    assert!(n.root.join("pki/ca.key").is_file() && n.root.join("pki/etcd/ca.crt").is_file());
    let mode = std::fs::metadata(n.root.join("pki/ca.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        n.state()
            .starts_with("done initialised the cluster (v1.34.1)"),
        "{}",
        n.state()
    );
    assert!(n.root.join("kept/done").exists());
    // Done is done: a later boot calls kubeadm no more.
    let before = n.calls("kubeadm ").len();
    n.run();
    assert_eq!(n.calls("kubeadm ").len(), before);
}

#[test]
fn the_init_node_joins_when_another_control_plane_answers() {
    let dir = inventory("guard-peer", |t| t);
    let n = Node::new(&dir, "cp-1", &["10.1.1.12:6443", "k8s-api.lan:6443"], "");
    n.run();
    let kubeadm = n.calls("kubeadm ");
    assert!(!kubeadm.iter().any(|c| c.contains(" init")), "{kubeadm:?}");
    assert!(
        kubeadm
            .iter()
            .any(|c| c.starts_with("kubeadm join --config ")),
        "{kubeadm:?}"
    );
    assert!(
        n.state()
            .starts_with("done joined the cluster at k8s-api.lan:6443 as a control-plane"),
        "{}",
        n.state()
    );
}

#[test]
fn the_init_node_never_initialises_over_a_cluster_it_holds() {
    let dir = inventory("guard-holds", |t| t);
    let n = Node::new(&dir, "cp-1", &["127.0.0.1:6443 3"], "");
    std::fs::create_dir_all(n.root.join("etcd/member")).unwrap();
    n.run();
    let kubeadm = n.calls("kubeadm ");
    assert!(
        !kubeadm
            .iter()
            .any(|c| c.contains(" init") || c.contains(" join")),
        "{kubeadm:?}"
    );
    assert_eq!(n.calls("curl 127.0.0.1:6443").len(), 3);
    assert!(
        n.state()
            .starts_with("done initialised the cluster (on an earlier boot)"),
        "{}",
        n.state()
    );
}

#[test]
fn a_worker_waits_for_the_api_then_joins() {
    let dir = inventory("guard-worker", |t| t);
    let n = Node::new(&dir, "worker-1", &["k8s-api.lan:6443 4"], "");
    n.run();
    assert_eq!(n.calls("curl k8s-api.lan:6443").len(), 4);
    let kubeadm = n.calls("kubeadm ");
    assert_eq!(kubeadm.len(), 1, "{kubeadm:?}");
    assert!(kubeadm[0].starts_with("kubeadm join --config "));
    assert!(
        n.state()
            .starts_with("done joined the cluster at k8s-api.lan:6443 as a worker"),
        "{}",
        n.state()
    );
    // A worker never holds the cluster's keys.
    assert!(!n.root.join("pki/ca.key").exists());
}

#[test]
fn a_worker_baked_for_another_cluster_says_so_and_never_joins() {
    let dir = inventory("guard-other", |t| t);
    let n = Node::new(
        &dir,
        "worker-1",
        &["k8s-api.lan:6443"],
        "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"sha256:0000\" are pinned",
    );
    n.run();
    assert!(n.calls("kubeadm join").len() >= 2, "it retries");
    assert!(
        n.calls("kubeadm reset -f").len() >= 2,
        "it resets between attempts"
    );
    assert!(
        n.state().starts_with(
            "failed the cluster at k8s-api.lan:6443 is not the one this node was baked for"
        ),
        "{}",
        n.state()
    );
    assert!(!n.root.join("kept/done").exists());
}

//! `bootstrap = true` as node content: the cluster's secrets this node's
//! role may hold (placed from the boot partition), kubeadm's configuration,
//! and piprep-kubeadm, the unit that runs `kubeadm init` or `join` on every
//! boot until the node is part of the cluster. Workers get the token and the
//! CA's hash, never a private key of the cluster.

use super::model::{Check, OnChange, Part, PlacedSecret, RootFile, Service};
use crate::cluster_pki::CAS;
use crate::config::bootstrap::{BootstrapRole, ClusterSecrets};
use crate::config::plan::NodePlan;
use crate::render::kubeadm;
use crate::render::shell::{fill, quote};

/// Root-only: what the first boot placed, and this unit's state.
pub const KEPT: &str = "/var/lib/piprep/kubernetes";
pub const SCRIPT_PATH: &str = "/usr/local/lib/piprep/kubeadm.sh";
pub const UNIT: &str = "piprep-kubeadm.service";
pub const UNIT_PATH: &str = "/etc/systemd/system/piprep-kubeadm.service";
/// The prefix of every cluster secret's name on the boot partition.
pub const BOOT_PREFIX: &str = crate::contract::CLUSTER_SECRET_PREFIX;

const SCRIPT: &str = include_str!("../templates/kubeadm.sh");
const UNIT_FILE: &str = include_str!("../templates/piprep-kubeadm.service");

/// A secret at `KEPT/rel`, carried as `piprep-k8s-REL` (slashes as dashes).
fn placed(rel: &str, content: &str) -> PlacedSecret {
    PlacedSecret {
        boot_name: format!("{BOOT_PREFIX}{}", rel.replace('/', "-")),
        dest: format!("{KEPT}/{rel}"),
        content: content.to_string(),
    }
}

/// What the node's role may hold, as (path under KEPT, content).
fn secrets(role: BootstrapRole, s: &ClusterSecrets, plan: &NodePlan) -> Vec<PlacedSecret> {
    let b = plan.bootstrap().expect("a role implies bootstrap");
    let mut v = Vec::new();
    if role != BootstrapRole::Worker {
        let pairs = [&s.ca, &s.front_proxy_ca, &s.etcd_ca];
        for ((stem, _), p) in CAS.iter().zip(pairs) {
            v.push(placed(&format!("pki/{stem}.crt"), &p.cert));
            v.push(placed(&format!("pki/{stem}.key"), &p.key));
        }
        v.push(placed("pki/sa.key", &s.sa_key));
        v.push(placed("pki/sa.pub", &s.sa_pub));
    }
    if role == BootstrapRole::Init {
        v.push(placed("init.yaml", &kubeadm::init_config(plan, b, s)));
    }
    v.push(placed(
        "join.yaml",
        &kubeadm::join_config(plan, b, s, role != BootstrapRole::Worker),
    ));
    v
}

/// Nothing without `bootstrap = true` (or before the secrets are loaded).
pub fn part(plan: &NodePlan) -> Part {
    let (Some(role), Some(s), Some(b)) = (
        plan.bootstrap_role(),
        plan.cluster_secrets.as_ref(),
        plan.bootstrap(),
    ) else {
        return Part::default();
    };
    // The init node asks every other control plane before it initialises.
    let peers: Vec<String> = b
        .control_planes
        .iter()
        .filter(|(n, _)| *n != plan.name)
        .map(|(_, a)| format!("{a}:{}", crate::config::bootstrap::API_PORT))
        .chain(b.endpoint.as_ref().map(|_| b.api_endpoint()))
        .collect();
    let cni = b.cni.as_ref().filter(|_| role == BootstrapRole::Init);
    let cni_path = format!("{KEPT}/cni.yaml");
    let mut v = super::scripts::common(plan, &["SHELL_LIB", "NODE_Q", "VERSION", "HASH"]);
    v.extend([
        ("ROLE", role.as_str().to_string()),
        ("ENDPOINT_Q", quote(&b.api_endpoint())),
        ("PEERS_Q", quote(&peers.join(" "))),
        ("KEPT_Q", quote(KEPT)),
        ("CNI_Q", quote(if cni.is_some() { &cni_path } else { "" })),
        ("CLOCK_LIB", super::scripts::clock_lib()),
    ]);
    let mut files = vec![
        RootFile::root(SCRIPT_PATH, "0755", fill(SCRIPT, &v)),
        RootFile::root(UNIT_PATH, "0644", UNIT_FILE.to_string()),
    ];
    if let Some(m) = cni {
        files.push(RootFile::root(cni_path, "0644", m.fitted.clone()));
    }
    Part {
        files,
        // The API probe before each attempt.
        packages: vec!["curl".into()],
        services: vec![Service {
            unit: UNIT,
            enable: true,
            on_change: OnChange::Restart,
            config: vec![SCRIPT_PATH],
        }],
        checks: vec![Check::Bootstrap(role.as_str())],
        secrets: secrets(role, s, plan),
        ..Part::default()
    }
}

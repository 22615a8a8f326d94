//! `[kubernetes] bootstrap = true`: what the cluster needs to form itself,
//! checked once: a kubeadm that reads `v1beta4`, a control plane to init on,
//! an endpoint when there are several, and a secrets directory without a
//! node that would share the cluster's.

use std::net::Ipv4Addr;

use toml::Spanned;

use super::checker::Checker;
use crate::config::Severity;
use crate::config::bootstrap::BootstrapPlan;
use crate::config::inventory::KubernetesSection;
use crate::config::kubernetes::Cni;
use crate::config::profile::Role;

/// The first minor whose kubeadm reads `kubeadm.k8s.io/v1beta4`.
pub const FIRST_BOOTSTRAP_MINOR: u32 = 31;
/// The secrets directory's entry for the cluster's secrets.
pub const CLUSTER_DIR: &str = "cluster";

/// None without `bootstrap = true`, or when it cannot be planned (the
/// findings say why).
pub fn check(
    c: &mut Checker,
    section: &Spanned<KubernetesSection>,
    minor: Option<u32>,
    cni: Option<Cni>,
) -> Option<BootstrapPlan> {
    let k = section.get_ref();
    let flag = k.bootstrap.as_ref().filter(|b| *b.get_ref());
    let Some(flag) = flag else {
        for (key, at) in [
            ("init_node", k.init_node.as_ref().map(|s| c.at(s))),
            ("cni_manifest", k.cni_manifest.as_ref().map(|s| c.at(s))),
        ] {
            if let Some(at) = at {
                c.push(
                    Severity::Warning,
                    at,
                    None,
                    format!("[kubernetes] {key} has no effect without bootstrap = true"),
                    "set bootstrap = true in [kubernetes], or remove it",
                );
            }
        }
        return None;
    };
    let before = c.errors();
    let at = c.at(flag);
    if let Some(m) = minor.filter(|m| *m < FIRST_BOOTSTRAP_MINOR) {
        c.error(
            at.clone(),
            None,
            format!("bootstrap needs kubeadm's v1beta4 configuration, which Kubernetes 1.{m} does not read (1.{FIRST_BOOTSTRAP_MINOR} and newer do)"),
            &format!("set [kubernetes] version to \"1.{FIRST_BOOTSTRAP_MINOR}\" or newer, or remove bootstrap"),
        );
    }
    let nodes = &c.cfg.inventory.nodes;
    // A control plane's address is in every certificate and every join: the
    // router's choice cannot be baked in.
    for n in nodes.iter().map(|n| n.get_ref()) {
        if *n.role.get_ref() == Role::ControlPlane && n.ip.get_ref() == "dhcp" {
            let at = c.at(&n.ip);
            c.error(
                at,
                Some(n.name.get_ref()),
                "a control plane with ip = \"dhcp\" cannot form the cluster: its address goes into the API server's certificate and every node's join".into(),
                "give control planes static addresses (the one the router reserves for them), or remove bootstrap",
            );
        }
    }
    let control_planes: Vec<(String, Ipv4Addr)> = nodes
        .iter()
        .map(|n| n.get_ref())
        .filter(|n| *n.role.get_ref() == Role::ControlPlane)
        .filter_map(|n| Some((n.name.get_ref().clone(), n.ip.get_ref().parse().ok()?)))
        .collect();
    if let Some(n) = nodes
        .iter()
        .find(|n| n.get_ref().name.get_ref() == CLUSTER_DIR)
    {
        let at = c.at(&n.get_ref().name);
        c.error(
            at,
            Some(CLUSTER_DIR),
            format!("a node named `{CLUSTER_DIR}` would share the secrets directory's entry for the cluster's CAs and token"),
            "give the node another name",
        );
    }
    if control_planes.is_empty() {
        c.error(
            at.clone(),
            None,
            "bootstrap needs a control plane to run `kubeadm init` on, and no node has role \"control-plane\"".into(),
            "set role = \"control-plane\" on at least one node",
        );
    }
    if control_planes.len() > 1 && k.control_plane_endpoint.is_none() {
        c.error(
            at.clone(),
            None,
            format!("bootstrap with {} control planes needs control_plane_endpoint: the others join through it, and every certificate names it", control_planes.len()),
            "set control_plane_endpoint in [kubernetes] to the load-balanced address in front of the API servers, or keep one control plane",
        );
    }
    let init_node = match &k.init_node {
        Some(n) => {
            let name = n.get_ref();
            let entry = nodes.iter().find(|e| e.get_ref().name.get_ref() == name);
            let at = c.at(n);
            match entry.map(|e| *e.get_ref().role.get_ref()) {
                Some(Role::ControlPlane) => Some(name.clone()),
                Some(_) => {
                    c.error(
                        at,
                        Some(name),
                        format!("[kubernetes] init_node `{name}` is a worker; `kubeadm init` makes a control plane"),
                        "name a node with role = \"control-plane\", or remove init_node (the first control plane is the default)",
                    );
                    None
                }
                None => {
                    c.error(
                        at,
                        None,
                        format!(
                            "[kubernetes] init_node `{}` is not a node of the inventory",
                            name.escape_debug()
                        ),
                        &format!(
                            "use one of the control planes: {}",
                            control_planes
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    None
                }
            }
        }
        None => control_planes.first().map(|(n, _)| n.clone()),
    };
    if let Some(m) = &k.cni_manifest {
        manifest_source(c, m);
    } else if let Some(cni @ (Cni::Cilium | Cni::None)) = cni {
        c.push(
            Severity::Warning,
            at,
            None,
            format!("cni = \"{}\" without cni_manifest: the cluster forms, but its nodes stay NotReady until a pod network is applied", cni.as_str()),
            "set cni_manifest in [kubernetes] to the plugin's manifest (URL or file)",
        );
    }
    if c.errors() != before {
        return None;
    }
    Some(BootstrapPlan {
        init_node: init_node?,
        endpoint: k
            .control_plane_endpoint
            .as_ref()
            .map(|e| e.get_ref().clone()),
        control_planes,
        cni_origin: k
            .cni_manifest
            .as_ref()
            .map(|m| m.get_ref().clone())
            .or_else(|| {
                cni.and_then(crate::config::cni_fit::default_url)
                    .map(str::to_string)
            }),
        cni: None,
    })
}

/// `cni_manifest`: an http(s) URL, or a file beside the inventory.
fn manifest_source(c: &mut Checker, m: &Spanned<String>) {
    let s = m.get_ref();
    if s.starts_with("https://") || s.starts_with("http://") {
        return;
    }
    let path = c.cfg.dir.join(s);
    if !path.is_file() {
        let at = c.at(m);
        c.error(
            at,
            None,
            format!(
                "[kubernetes] cni_manifest {} is neither an http(s) URL nor a file",
                path.display()
            ),
            "give the manifest's URL, or the path of a copy (relative to piprep.toml)",
        );
    }
}

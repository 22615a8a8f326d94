//! Validation: every mistake we can catch without an image, each reported with
//! `file:line`, the node, and a fix. The cluster, the user and each profile
//! are checked once; each node is checked against them, and a plan is built
//! only for input that passed.

mod bootstrap;
mod checker;
mod cluster;
mod firewall;
pub mod image;
mod interface;
pub use interface::is_wireless;
mod kubernetes;
mod kubernetes_packages;
mod node;
mod profile;
mod profile_extras;
mod regional;
mod user;
mod wifi;

use std::collections::HashMap;

use toml::Spanned;

use super::Config;
use super::finding::{Finding, Severity, Validated};
use super::kubernetes::KubernetesPlan;
use super::plan::{NodePlan, ProfilePlan, RegionalPlan};
use super::profile::{Profile, Role};
use crate::error::{Error, Result};
use checker::Checker;

/// Validation's part of `Config`: here, so that the inventory's loading
/// does not depend on its checks.
impl Config {
    pub fn validate(&self) -> Validated {
        validate(self)
    }

    /// Validate, failing with every error finding (one per line) when any exists.
    pub fn plans(&self) -> Result<(Vec<NodePlan>, Vec<Finding>)> {
        let v = self.validate();
        if v.has_errors() {
            let lines: Vec<String> = v.errors().map(|f| f.to_string()).collect();
            return Err(Error::config(lines.join("\n")));
        }
        Ok((v.plans, v.findings))
    }
}

/// A node's plan from its checked parts; `None` while a part it needs is
/// missing (its finding is already recorded).
fn build_plan(
    cluster: &cluster::Cluster,
    node: &node::Node,
    user: Option<&crate::config::plan::UserPlan>,
    profile_src: &Profile,
    role: Role,
    kubernetes: Option<&KubernetesPlan>,
) -> Option<NodePlan> {
    let (net, gateway, user) = (cluster.subnet?, cluster.gateway?, user?.clone());
    let mut profile = ProfilePlan::for_role(profile_src, role, &net.to_string());
    // Kubernetes' container images may assume 4K pages; the Pi 5's default
    // kernel has 16K ones. The profile's own setting wins.
    profile.pi5_4k_kernel = profile_src.pi5_4k_kernel.unwrap_or(kubernetes.is_some());
    Some(NodePlan {
        cluster: cluster.name.clone(),
        name: node.name.clone(),
        role,
        address: node.ip,
        prefix: net.prefix,
        subnet: net.to_string(),
        gateway,
        dns: cluster.dns.clone(),
        ntp: cluster.ntp.clone(),
        interface: node.interface.clone(),
        user,
        profile,
        kubernetes: kubernetes.cloned(),
        cluster_hosts: Vec::new(),
        host_keys: Vec::new(),
        cluster_secrets: None,
        wifi: None,
        regional: RegionalPlan::default(),
    })
}

/// Cluster, image and user checks once, each profile once however many nodes
/// use it, then every node's own checks and plan.
pub fn validate(cfg: &Config) -> Validated {
    let mut c = Checker {
        cfg,
        out: Vec::new(),
    };
    let inv = &cfg.inventory;
    let cluster = cluster::check(&mut c);
    if let Err((at, msg, fix)) = cfg.image_spec_checked() {
        c.error(at, None, msg, fix);
    }
    let user = user::check(&mut c);
    let kubernetes = kubernetes::check(&mut c, &cluster);
    let cluster_regional = regional::cluster(&mut c, &inv.cluster);
    let cluster_wifi = inv.wifi.as_ref().map(|w| wifi::check(&mut c, w, None));
    // Each profile is resolved and checked once, however many nodes use it.
    let mut profiles: HashMap<String, Option<Profile>> = HashMap::new();
    let mut profile_for = |c: &mut Checker, name: &Spanned<String>, node: Option<&str>| {
        profiles
            .entry(name.get_ref().clone())
            .or_insert_with(|| profile::check(c, name, node))
            .clone()
    };
    profile_for(&mut c, &inv.cluster.profile, None);

    if inv.nodes.is_empty() {
        let at = cfg.source.at(cfg.source.text.len());
        c.error(
            at,
            None,
            "the inventory has no [[node]] entries".into(),
            "add a [[node]] table with name, ip and role",
        );
    }
    let mut seen = node::Seen::default();
    let mut plans = Vec::new();
    let secrets = super::secrets::dir(cfg);
    for entry in &inv.nodes {
        let n = entry.get_ref();
        let name = n.name.get_ref().as_str();
        let node = node::check(&mut c, n, &cluster, &mut seen);
        let node_regional = regional::node(&mut c, n, &cluster_regional);
        let node_wifi = match &n.wifi {
            Some(w) => Some(wifi::check(&mut c, w, Some(name))),
            None => cluster_wifi.clone(),
        };
        for (path, why, fix) in crate::host_keys::store::problems(&secrets, name) {
            let at = c.at(&n.name);
            c.error(
                at,
                Some(name),
                format!("SSH host key store {} {why}", path.display()),
                &fix,
            );
        }
        let profile = profile_for(
            &mut c,
            n.profile.as_ref().unwrap_or(&inv.cluster.profile),
            Some(name),
        );
        let (Some(node), Some(profile)) = (node, profile) else {
            continue;
        };
        let role = *n.role.get_ref();
        let rules = firewall::check(&mut c, &profile, role, &node, &cluster);
        if rules
            && let Some(plan) = build_plan(
                &cluster,
                &node,
                user.as_ref(),
                &profile,
                role,
                kubernetes.as_ref().and_then(|k| k.as_ref()),
            )
        {
            plans.push(NodePlan {
                wifi: node_wifi.flatten(),
                regional: node_regional,
                ..plan
            });
        }
    }
    if !inv.nodes.is_empty()
        && !inv
            .nodes
            .iter()
            .any(|n| *n.get_ref().role.get_ref() == Role::ControlPlane)
    {
        let at = c.at(&inv.nodes[0].get_ref().role);
        c.push(
            Severity::Warning,
            at,
            None,
            "no node has role \"control-plane\", so `kubeadm init` has nowhere to run".into(),
            "set role = \"control-plane\" on at least one node",
        );
    }

    if kubernetes
        .as_ref()
        .and_then(|k| k.as_ref())
        .is_some_and(|k| k.bootstrap.is_some())
    {
        let at = c.at(&inv.cluster.name);
        for (path, why, fix) in crate::cluster_pki::store::problems(&secrets) {
            c.error(
                at.clone(),
                None,
                format!("cluster secrets store {} {why}", path.display()),
                &fix,
            );
        }
    }

    // Each node knows every other by name (its /etc/hosts block); a DHCP
    // node's name is the router's DNS to answer.
    let hosts: Vec<(String, std::net::Ipv4Addr)> = plans
        .iter()
        .filter_map(|p| Some((p.name.clone(), p.address?)))
        .collect();
    for p in plans.iter_mut() {
        p.cluster_hosts = hosts.clone();
    }
    let findings = c.out;
    let has_errors = findings.iter().any(|f| f.severity == Severity::Error);
    Validated {
        plans: if has_errors { Vec::new() } else { plans },
        findings,
    }
}

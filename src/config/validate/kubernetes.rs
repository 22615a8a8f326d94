//! `[kubernetes]`: its version, runtime, pod network and repository, against
//! the cluster's network; checked once for every node.

use std::net::{IpAddr, Ipv4Addr};

use toml::Spanned;

use super::checker::Checker;
use super::cluster::Cluster;
use super::kubernetes_packages as packages;
use crate::config::Severity;
use crate::config::grammar;
use crate::config::inventory::KubernetesSection;
use crate::config::kubernetes::{self as k8s, CNIS, Cni, FIRST_MINOR, KubernetesPlan, RUNTIMES};
use crate::config::net::Ipv4Net;
use crate::config::profile::Role;

/// None when there is no `[kubernetes]` (Some(None) when it has errors).
pub fn check(c: &mut Checker, cl: &Cluster) -> Option<Option<KubernetesPlan>> {
    let section = c.cfg.inventory.kubernetes.as_ref()?;
    let k = section.get_ref();
    let before = c.errors();
    let minor = version(c, &k.version);
    let runtime = k
        .runtime
        .as_ref()
        .map_or("containerd", |r| r.get_ref().as_str());
    if !RUNTIMES.contains(&runtime) {
        let at = c.at(k
            .runtime
            .as_ref()
            .expect("a runtime other than the default was written"));
        c.error(
            at,
            None,
            format!(
                "[kubernetes] runtime `{}` is not supported",
                runtime.escape_debug()
            ),
            "use runtime = \"containerd\" (the only runtime for now)",
        );
    }
    let cni = Cni::parse(k.cni.get_ref());
    if cni.is_none() {
        let at = c.at(&k.cni);
        c.error(
            at,
            None,
            format!(
                "[kubernetes] cni `{}` is not one piprep knows",
                k.cni.get_ref().escape_debug()
            ),
            &format!(
                "use one of {} (none: open no plugin ports)",
                CNIS.join(", ")
            ),
        );
    }
    let pods = range(c, &k.pod_cidr, "pod_cidr", "10.244.0.0/16");
    let default_services = Spanned::new(0..0, k8s::DEFAULT_SERVICE_CIDR.to_string());
    let services_at = k.service_cidr.as_ref().unwrap_or(&default_services);
    let services = range(c, services_at, "service_cidr", k8s::DEFAULT_SERVICE_CIDR);
    overlaps(c, k, cl, pods, services);
    // With bootstrap, piprep fits the manifest to the range itself.
    let fitted = k.bootstrap.as_ref().is_some_and(|b| *b.get_ref());
    if let (Some(Cni::Flannel), Some(p)) = (cni, pods)
        && p.to_string() != "10.244.0.0/16"
        && !fitted
    {
        let at = c.at(&k.pod_cidr);
        c.push(
            Severity::Warning,
            at,
            None,
            format!("flannel's manifest assumes the pod network 10.244.0.0/16, not {p}"),
            "set \"Network\" in kube-flannel.yml's net-conf.json to the same range",
        );
    }
    let repository = packages::repository(c, k, minor);
    let key = repository.as_ref().and_then(|r| packages::key(c, k, r));
    let sandbox_image = packages::sandbox_image(c, k, minor);
    let endpoint = endpoint(c, k, pods, services);
    control_planes(c, section, k);
    let bootstrap = super::bootstrap::check(c, section, minor, cni);
    if c.errors() != before {
        return Some(None);
    }
    Some(Some(KubernetesPlan {
        version: format!("1.{}", minor?),
        runtime: runtime.to_string(),
        cni: cni?,
        pod_cidr: pods?.to_string(),
        service_cidr: services?.to_string(),
        repository: repository?,
        key: key?,
        sandbox_image: sandbox_image?,
        control_plane_endpoint: endpoint,
        bootstrap,
    }))
}

/// The minor number of `1.NN`.
fn version(c: &mut Checker, v: &Spanned<String>) -> Option<u32> {
    let s = v.get_ref();
    let minor = s
        .strip_prefix("1.")
        .filter(|m| !m.is_empty() && m.len() <= 3 && m.chars().all(|ch| ch.is_ascii_digit()))
        .and_then(|m| m.parse::<u32>().ok());
    let at = c.at(v);
    match minor {
        Some(m) if m >= FIRST_MINOR => Some(m),
        Some(m) => {
            c.error(
                at,
                None,
                format!("[kubernetes] version 1.{m} has no pkgs.k8s.io repository (they start at 1.{FIRST_MINOR})"),
                "use a supported minor version, such as \"1.34\"",
            );
            None
        }
        None => {
            c.error(
                at,
                None,
                format!("[kubernetes] version `{}` is not a minor version", s.escape_debug()),
                "write MAJOR.MINOR without a patch level or `v`, such as \"1.34\"; apt pins the newest patch of it",
            );
            None
        }
    }
}

fn range(c: &mut Checker, v: &Spanned<String>, key: &str, example: &str) -> Option<Ipv4Net> {
    match v.get_ref().parse::<Ipv4Net>() {
        Ok(n) => Some(n),
        Err(e) => {
            let at = c.at(v);
            c.error(
                at,
                None,
                format!("[kubernetes] {key} {e}"),
                &format!("write the range as a CIDR network, such as \"{example}\""),
            );
            None
        }
    }
}

/// Pod and Service ranges must be the cluster's own: apart from each other,
/// the node subnet, and the gateway and resolvers (which pods would no
/// longer reach).
fn overlaps(
    c: &mut Checker,
    k: &KubernetesSection,
    cl: &Cluster,
    pods: Option<Ipv4Net>,
    services: Option<Ipv4Net>,
) {
    let at_of = |c: &Checker, which: &str| match which {
        "pod_cidr" => c.at(&k.pod_cidr),
        _ => k
            .service_cidr
            .as_ref()
            .map(|s| c.at(s))
            .unwrap_or_else(|| c.at(&k.pod_cidr)),
    };
    if let (Some(p), Some(s)) = (pods, services)
        && p.intersect(s).is_some()
    {
        let at = at_of(c, "service_cidr");
        c.error(
            at,
            None,
            format!("[kubernetes] pod_cidr {p} and service_cidr {s} overlap"),
            "give pods and Services separate ranges, such as 10.244.0.0/16 and 10.96.0.0/12",
        );
    }
    let mut hosts: Vec<(String, Ipv4Addr)> = Vec::new();
    if let Some(g) = cl.gateway {
        hosts.push(("the gateway".into(), g));
    }
    for d in &cl.dns {
        if let Ok(IpAddr::V4(ip)) = d.parse::<IpAddr>() {
            hosts.push((format!("the DNS server {ip}"), ip));
        }
    }
    for (which, net) in [("pod_cidr", pods), ("service_cidr", services)] {
        let Some(net) = net else { continue };
        if let Some(subnet) = cl.subnet.filter(|s| s.intersect(net).is_some()) {
            let at = at_of(c, which);
            c.error(
                at,
                None,
                format!("[kubernetes] {which} {net} overlaps the node subnet {subnet}, so nodes and pods would share addresses"),
                "choose a range outside the cluster subnet (and outside your home network)",
            );
        }
        for (what, ip) in &hosts {
            if net.contains(*ip) && !cl.subnet.is_some_and(|s| s.contains(*ip)) {
                let at = at_of(c, which);
                c.error(
                    at,
                    None,
                    format!("[kubernetes] {which} {net} contains {what}, which pods could no longer reach"),
                    "choose a range that leaves out the gateway and the resolvers in [cluster]",
                );
            }
        }
    }
}

fn endpoint(
    c: &mut Checker,
    k: &KubernetesSection,
    pods: Option<Ipv4Net>,
    services: Option<Ipv4Net>,
) -> Option<String> {
    let e = k.control_plane_endpoint.as_ref()?;
    let s = e.get_ref();
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s.as_str(), None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let problem = grammar::host_problem(host)
        .or_else(|| (!port_ok).then(|| "has a port that is not 1 to 65535".to_string()));
    let at = c.at(e);
    if let Some(why) = problem {
        c.error(
            at,
            None,
            format!("[kubernetes] control_plane_endpoint `{}` {why}", s.escape_debug()),
            "write HOST or HOST:PORT of the load balancer in front of the API servers, such as \"k8s-api.lan:6443\"",
        );
        return None;
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>()
        && [pods, services].iter().flatten().any(|n| n.contains(ip))
    {
        c.error(
            at,
            None,
            format!("[kubernetes] control_plane_endpoint {ip} is inside the pod or Service range"),
            "use an address on the node network",
        );
        return None;
    }
    Some(s.clone())
}

/// etcd keeps quorum with a majority: two members stop when either does.
fn control_planes(c: &mut Checker, section: &Spanned<KubernetesSection>, k: &KubernetesSection) {
    let n = c
        .cfg
        .inventory
        .nodes
        .iter()
        .filter(|n| *n.get_ref().role.get_ref() == Role::ControlPlane)
        .count();
    let at = c.cfg.source.at(section.span().start);
    if n == 2 && k.control_plane_endpoint.is_none() {
        c.push(
            Severity::Warning,
            at,
            None,
            "two control planes without control_plane_endpoint: kubeadm needs a load-balanced endpoint to join the second, and etcd with two members stops when either does (quorum needs three)".into(),
            "add a third control plane and set control_plane_endpoint to a load-balanced address, or keep one control plane",
        );
    } else if n == 2 {
        c.push(
            Severity::Warning,
            at,
            None,
            "two control planes: etcd with two members stops when either does (quorum needs three)"
                .into(),
            "add a third control plane, or keep one",
        );
    } else if n > 2 && k.control_plane_endpoint.is_none() {
        c.push(
            Severity::Warning,
            at,
            None,
            format!("{n} control planes without control_plane_endpoint: kubeadm joins more than one only behind a load-balanced endpoint"),
            "set control_plane_endpoint in [kubernetes] to the load balancer's address",
        );
    }
}

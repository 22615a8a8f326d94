//! `[kubernetes]`: its version, runtime, pod network and repository, against
//! the cluster's network; checked once for every node.

use std::net::{IpAddr, Ipv4Addr};

use toml::Spanned;

use super::cluster::Cluster;
use super::{Checker, Severity};
use crate::config::grammar;
use crate::config::inventory::KubernetesSection;
use crate::config::kubernetes::{
    self as k8s, CNIS, Cni, FIRST_MINOR, KubernetesPlan, NEWEST_PAUSE, RUNTIMES, RepoKey,
};
use crate::config::net::Ipv4Net;
use crate::config::profile::Role;

/// The largest key file read (real repository keys are a few KiB).
const KEY_CAP: u64 = 64 << 10;

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
    if let (Some(Cni::Flannel), Some(p)) = (cni, pods)
        && p.to_string() != "10.244.0.0/16"
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
    let repository = repository(c, k, minor);
    let key = repository.as_ref().and_then(|r| key(c, k, r));
    let sandbox_image = sandbox_image(c, k, minor);
    let endpoint = endpoint(c, k, pods, services);
    control_planes(c, section, k);
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

/// Characters a repository URL may have: it goes into an apt sources line.
fn url_problem(s: &str) -> Option<String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let Some(rest) = rest.filter(|r| !r.is_empty() && !r.starts_with('/')) else {
        return Some("is not an http:// or https:// URL".into());
    };
    if s.len() > 512 {
        return Some("is longer than 512 characters".into());
    }
    rest.chars()
        .find(|ch| !(ch.is_ascii_alphanumeric() || "-._~:/%+,=@".contains(*ch)))
        .map(|ch| {
            format!(
                "contains `{}`, which an apt source line cannot carry",
                ch.escape_debug()
            )
        })
}

fn repository(c: &mut Checker, k: &KubernetesSection, minor: Option<u32>) -> Option<String> {
    let Some(r) = &k.repository else {
        return minor.map(|m| k8s::default_repository(&format!("1.{m}")));
    };
    if let Some(why) = url_problem(r.get_ref()) {
        let at = c.at(r);
        c.error(
            at,
            None,
            format!("[kubernetes] repository `{}` {why}", r.get_ref().escape_debug()),
            "give the URL of a mirror laid out as pkgs.k8s.io, such as \"https://mirror.example/core:/stable:/v1.34/deb/\"",
        );
        return None;
    }
    let mut url = r.get_ref().clone();
    if !url.ends_with('/') {
        url.push('/');
    }
    Some(url)
}

/// The key: a local file read now, or the repository's Release.key, which
/// the bake fetches. A key fetched over plain http could be anyone's.
fn key(c: &mut Checker, k: &KubernetesSection, repository: &str) -> Option<RepoKey> {
    let Some(file) = &k.repository_key else {
        let url = format!("{repository}Release.key");
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| url.starts_with(&format!("{p}/")) || url.starts_with(&format!("{p}:")));
        if url.starts_with("http://") && !loopback {
            let at = c.at(k
                .repository
                .as_ref()
                .expect("the default repository is https"));
            c.error(
                at,
                None,
                "[kubernetes] the repository is plain http, so its Release.key would arrive unauthenticated".into(),
                "use an https:// repository, or set repository_key = \"FILE\" to a key you checked",
            );
            return None;
        }
        return Some(RepoKey {
            origin: url,
            from_url: true,
            sha256: None,
            armored: None,
        });
    };
    let path = c.cfg.dir.join(file.get_ref());
    let at = c.at(file);
    let problem = match crate::io::input::read(&path, KEY_CAP) {
        Err(e) => format!("cannot read repository_key {}: {e}", path.display()),
        Ok(b) => {
            let mut key = RepoKey {
                origin: file.get_ref().clone(),
                from_url: false,
                sha256: None,
                armored: None,
            };
            match key.set(&b) {
                Ok(()) => return Some(key),
                Err(why) => format!("repository_key {} {why}", path.display()),
            }
        }
    };
    c.error(
        at,
        None,
        problem,
        "point repository_key at the repository's OpenPGP key (its Release.key), relative to piprep.toml",
    );
    None
}

fn sandbox_image(c: &mut Checker, k: &KubernetesSection, minor: Option<u32>) -> Option<String> {
    if let Some(img) = &k.sandbox_image {
        let s = img.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 255
            && s.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "./:_-@".contains(ch));
        if !ok {
            let at = c.at(img);
            c.error(
                at,
                None,
                format!("[kubernetes] sandbox_image `{}` is not an image reference", s.escape_debug()),
                "write it as `kubeadm config images list` prints the pause image, such as \"registry.k8s.io/pause:3.10.1\"",
            );
            return None;
        }
        return Some(s.clone());
    }
    let m = minor?;
    let pause = k8s::pause_version(m).unwrap_or_else(|| {
        let at = c.at(&k.version);
        c.push(
            Severity::Warning,
            at,
            None,
            format!("piprep does not know which pause image kubeadm 1.{m} expects; it assumes {NEWEST_PAUSE}"),
            "set sandbox_image in [kubernetes] to the pause image `kubeadm config images list` prints",
        );
        NEWEST_PAUSE
    });
    Some(format!("registry.k8s.io/pause:{pause}"))
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

//! `[cluster]`: its name, network and time servers.

use std::net::{IpAddr, Ipv4Addr};

use super::checker::Checker;
use crate::config::grammar;
use crate::config::net::Ipv4Net;

/// What the node checks and plans need from `[cluster]`; None where the
/// value was refused.
pub struct Cluster {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<String>,
    pub ntp: Vec<String>,
    pub interface: String,
}

pub fn check(c: &mut Checker) -> Cluster {
    let cl = &c.cfg.inventory.cluster;
    if let Some(p) = grammar::name_problem(cl.name.get_ref()) {
        let at = c.at(&cl.name);
        c.error(
            at,
            None,
            format!("cluster name `{}` {p}", cl.name.get_ref().escape_debug()),
            "use letters, digits, '.', '_' and '-', such as \"homelab\"",
        );
    }
    let subnet = match cl.subnet.get_ref().parse::<Ipv4Net>() {
        Ok(n) => Some(n),
        Err(e) => {
            let at = c.at(&cl.subnet);
            c.error(
                at,
                None,
                format!("cluster subnet {e}"),
                "set `subnet` to a CIDR network such as \"10.1.1.0/24\"",
            );
            None
        }
    };
    let gateway = match cl.gateway.get_ref().parse::<Ipv4Addr>() {
        Ok(g) => {
            if let Some(net) = subnet.filter(|n| !n.contains(g)) {
                let at = c.at(&cl.gateway);
                c.error(
                    at,
                    None,
                    format!("gateway {g} is outside the cluster subnet {net}"),
                    "use the router address inside `subnet`",
                );
            }
            Some(g)
        }
        Err(_) => {
            let at = c.at(&cl.gateway);
            c.error(
                at,
                None,
                format!(
                    "gateway `{}` is not an IPv4 address",
                    cl.gateway.get_ref().escape_debug()
                ),
                "write it like \"10.1.1.1\"",
            );
            None
        }
    };
    for d in cl.dns.get_ref() {
        if d.parse::<IpAddr>().is_err() {
            let at = c.at(&cl.dns);
            c.error(
                at,
                None,
                format!("dns server `{}` is not an IP address", d.escape_debug()),
                "list resolver addresses, such as [\"10.1.1.1\"]",
            );
        }
    }
    if cl.dns.get_ref().is_empty() {
        let at = c.at(&cl.dns);
        c.error(
            at,
            None,
            "`dns` is empty, so the node could not resolve names".into(),
            "list at least one resolver, such as [\"10.1.1.1\"]",
        );
    }
    let ntp: Vec<String> = cl
        .ntp
        .as_ref()
        .map(|n| n.get_ref().clone())
        .unwrap_or_default();
    if let Some(n) = &cl.ntp {
        for s in n.get_ref() {
            if let Some(p) = grammar::host_problem(s) {
                let at = c.at(n);
                c.error(
                    at,
                    None,
                    format!("ntp server `{}` {p}", s.escape_debug()),
                    "list host names or addresses, such as [\"pool.ntp.org\"]",
                );
            }
        }
    }
    if let Some(i) = &cl.interface {
        super::interface::check_interface(c, i, None, c.cfg.inventory.wifi.is_some());
    }
    Cluster {
        name: cl.name.get_ref().clone(),
        subnet,
        gateway,
        dns: cl.dns.get_ref().clone(),
        ntp,
        interface: cl
            .interface
            .as_ref()
            .map(|i| i.get_ref().clone())
            .unwrap_or_else(|| "eth0".into()),
    }
}

//! One `[[node]]`: its name, address and interface, against the cluster and
//! the nodes before it.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::checker::Checker;
use super::cluster::Cluster;
use crate::config::inventory::NodeEntry;
use crate::config::net::hostname_problem;

/// A node that passed its own checks.
pub struct Node {
    pub name: String,
    /// None with `ip = "dhcp"`.
    pub ip: Option<Ipv4Addr>,
    pub interface: String,
}

/// Names and addresses taken by the nodes checked so far, with their lines.
#[derive(Default)]
pub struct Seen {
    names: HashMap<String, usize>,
    ips: HashMap<Ipv4Addr, (String, usize)>,
}

pub fn check(c: &mut Checker, n: &NodeEntry, cl: &Cluster, seen: &mut Seen) -> Option<Node> {
    let name = n.name.get_ref().clone();
    let node = Some(name.as_str());
    let before = c.errors();
    if let Some(p) = hostname_problem(&name) {
        let at = c.at(&n.name);
        c.error(
            at,
            node,
            format!(
                "node name `{}` is not a valid host name (RFC 1123): it {p}",
                name.escape_debug()
            ),
            &format!(
                "use lowercase letters, digits and hyphens, such as \"{}\"",
                suggest_hostname(&name)
            ),
        );
    }
    let line = c.at(&n.name).line;
    if let Some(first) = seen.names.get(&name) {
        let at = c.at(&n.name);
        c.error(
            at,
            node,
            format!("node name `{name}` is already used on line {first}"),
            "give every node its own name",
        );
    } else {
        seen.names.insert(name.clone(), line);
    }
    // `ip = "dhcp"`: the router hands the address out (reserved there).
    let dhcp = n.ip.get_ref() == "dhcp";
    let ip = match n.ip.get_ref().parse::<Ipv4Addr>() {
        Ok(ip) => Some(ip),
        Err(_) if dhcp => None,
        Err(_) => {
            let at = c.at(&n.ip);
            c.error(
                at,
                node,
                format!(
                    "ip `{}` is not an IPv4 address",
                    n.ip.get_ref().escape_debug()
                ),
                "write it like \"10.1.1.11\", or \"dhcp\" for an address the router hands out",
            );
            None
        }
    };
    if let Some(ip) = ip {
        check_address(c, n, ip, cl, seen);
    }
    let interface = match &n.interface {
        Some(i) => {
            let wifi = n.wifi.is_some() || c.cfg.inventory.wifi.is_some();
            super::interface::check_interface(c, i, node, wifi);
            i.get_ref().clone()
        }
        None => cl.interface.clone(),
    };
    (c.errors() == before).then(|| Node {
        name,
        ip: if dhcp {
            None
        } else {
            Some(ip.expect("no error, so the address parsed"))
        },
        interface,
    })
}

fn check_address(c: &mut Checker, n: &NodeEntry, ip: Ipv4Addr, cl: &Cluster, seen: &mut Seen) {
    let name = n.name.get_ref().as_str();
    let node = Some(name);
    let at = c.at(&n.ip);
    if let Some(net) = cl.subnet {
        if !net.contains(ip) {
            c.error(
                at.clone(),
                node,
                format!("ip {ip} is outside the cluster subnet {net}"),
                "pick an address inside `subnet`, or widen `subnet`",
            );
        } else if ip == net.network || (net.prefix < 31 && ip == net.broadcast()) {
            let what = if ip == net.network {
                "network"
            } else {
                "broadcast"
            };
            c.error(
                at.clone(),
                node,
                format!("ip {ip} is the subnet's {what} address"),
                "pick a host address inside `subnet`",
            );
        }
    }
    if Some(ip) == cl.gateway {
        c.error(
            at.clone(),
            node,
            format!("ip {ip} is the gateway's address"),
            "pick an address the router does not use",
        );
    }
    if let Some((other, line)) = seen.ips.get(&ip) {
        c.error(
            at,
            node,
            format!("ip {ip} is already used by node {other} (line {line})"),
            "give every node its own address",
        );
    } else {
        seen.ips.insert(ip, (name.to_string(), at.line));
    }
}

/// `Worker_2` → `worker-2`: the name as a host name, for the fix.
fn suggest_hostname(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() {
        "cp-1".into()
    } else {
        s.into()
    }
}

//! A node's firewall, with its role's rules: it must keep SSH reachable (or
//! the node is lost) and let DNS and NTP out (or chrony and apt fail).

use std::net::Ipv4Addr;

use super::checker::Checker;
use super::cluster::Cluster;
use super::node::Node;
use crate::config::net::Ipv4Net;
use crate::config::profile::{Direction, Profile, Proto, Role, TimeDaemon};
use crate::config::reach::{Flow, passes};

/// False when the rule set would cut the node off.
pub fn check(c: &mut Checker, p: &Profile, role: Role, node: &Node, cl: &Cluster) -> bool {
    let fw = &p.firewall;
    let Some(subnet) = cl.subnet.filter(|_| fw.enable) else {
        return true;
    };
    let rules: Vec<_> = fw
        .rules
        .iter()
        .filter(|r| r.spec.applies_to(role))
        .map(|r| r.spec.for_node(&subnet.to_string()))
        .collect();
    let flow = |dir, port, proto, peers| Flow {
        dir,
        port,
        proto,
        // A DHCP node's address is the router's to give: only rules that
        // hold for any address count for it.
        node: node.ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
        peers,
    };
    let before = c.errors();
    let name = Some(node.name.as_str());
    if !passes(
        &rules,
        fw.default_incoming,
        &flow(Direction::In, 22, Proto::Tcp, Ipv4Net::ALL),
    ) {
        // Point at the first rule about SSH, else at the default.
        let at = fw
            .rules
            .iter()
            .find(|r| r.spec.direction == Direction::In && r.spec.covers_port(22, Proto::Tcp))
            .map(|r| r.at.clone())
            .unwrap_or_else(|| p.locate("default_incoming"));
        c.error(
            at,
            name,
            format!(
                "profile {}: the firewall would block SSH (22/tcp) from every address for a {} node at {}, and the node would be unreachable",
                p.name,
                role.as_str(),
                node.ip.map_or_else(|| "a DHCP address".into(), |a| a.to_string())
            ),
            "allow 22/tcp inbound from your network (a [[firewall.rule]] with direction = \"in\", port = \"22\", proto = \"tcp\", from = \"{subnet}\" or \"any\") before any rule that denies it",
        );
    }
    let dns: Vec<Ipv4Addr> = cl.dns.iter().filter_map(|d| d.parse().ok()).collect();
    for server in &dns {
        if !passes(
            &rules,
            fw.default_outgoing,
            &flow(Direction::Out, 53, Proto::Udp, Ipv4Net::host(*server)),
        ) {
            c.error(
                p.locate("default_outgoing"),
                name,
                format!(
                    "profile {}: the firewall blocks outgoing DNS (53/udp) to {server}, so chrony and apt cannot resolve servers",
                    p.name
                ),
                "add an outgoing rule for port 53 to the resolvers",
            );
        }
    }
    if p.time_daemon == TimeDaemon::Chrony {
        // Servers given by address are checked each; names could be anywhere.
        let peers: Vec<Ipv4Net> =
            if cl.ntp.iter().all(|s| s.parse::<Ipv4Addr>().is_ok()) && !cl.ntp.is_empty() {
                cl.ntp
                    .iter()
                    .filter_map(|s| s.parse().ok())
                    .map(Ipv4Net::host)
                    .collect()
            } else {
                vec![Ipv4Net::ALL]
            };
        for peers in peers {
            if !passes(
                &rules,
                fw.default_outgoing,
                &flow(Direction::Out, 123, Proto::Udp, peers),
            ) {
                c.error(
                    p.locate("default_outgoing"),
                    name,
                    format!(
                        "profile {}: the firewall blocks outgoing NTP (123/udp) to {peers}, so chrony can never synchronise",
                        p.name
                    ),
                    "add an outgoing rule for port 123 proto udp",
                );
            }
        }
    }
    c.errors() == before
}

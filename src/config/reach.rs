//! Whether a node's firewall lets a kind of IPv4 traffic through for at least
//! one peer: ufw applies the first rule that matches a packet, else the
//! default policy. Validation uses it to refuse rule sets that lock SSH out or
//! cut DNS and NTP, without refusing ones that merely narrow them.

use std::net::{IpAddr, Ipv4Addr};

use super::net::Ipv4Net;
use super::profile::{Action, Direction, Policy, Proto, RuleSpec};

/// Traffic to ask about: `dir` seen from the node at `node`, to or from any
/// address of `peers`.
pub struct Flow {
    pub dir: Direction,
    pub port: u16,
    pub proto: Proto,
    pub node: Ipv4Addr,
    pub peers: Ipv4Net,
}

/// A rule's address as an IPv4 block: `any`, an address or a CIDR; None for
/// IPv6 (it never matches IPv4 traffic) or anything unparsable.
fn block(s: &str) -> Option<Ipv4Net> {
    if s == "any" {
        return Some(Ipv4Net::ALL);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => Some(Ipv4Net::host(v4)),
            IpAddr::V6(_) => None,
        };
    }
    // A CIDR with host bits set still matches its network in ufw.
    let (addr, len) = s.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = len.parse().ok().filter(|p| *p <= 32)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Some(Ipv4Net {
        network: Ipv4Addr::from(u32::from(addr) & mask),
        prefix,
    })
}

/// Source addresses no packet from a client on the network ever carries:
/// "this network" (0/8, with 0.0.0.0), loopback, multicast, the reserved
/// block with the broadcast address, and the node's own address.
fn never_clients(node: Ipv4Addr) -> Vec<Ipv4Net> {
    let net = |a: [u8; 4], prefix| Ipv4Net {
        network: Ipv4Addr::from(a),
        prefix,
    };
    vec![
        net([0, 0, 0, 0], 8),
        net([127, 0, 0, 0], 8),
        net([224, 0, 0, 0], 4),
        net([240, 0, 0, 0], 4),
        Ipv4Net::host(node),
    ]
}

/// Whether `f` gets through for at least one of its peers; for incoming
/// traffic, one that can really be a client.
pub fn passes(rules: &[RuleSpec], default: Policy, f: &Flow) -> bool {
    // Peers already decided by an earlier rule, allowed or not, and (for
    // incoming traffic) the ones that can never send it.
    let mut decided: Vec<Ipv4Net> = match f.dir {
        Direction::In => never_clients(f.node),
        _ => Vec::new(),
    };
    for r in rules {
        if r.direction != f.dir || !r.covers_port(f.port, f.proto) {
            continue;
        }
        let (node_side, peer_side) = match f.dir {
            Direction::In => (&r.to, &r.from),
            Direction::Out => (&r.from, &r.to),
            // Never the node's own traffic.
            Direction::Routed => continue,
        };
        if !block(node_side).is_some_and(|n| n.contains(f.node)) {
            continue;
        }
        let Some(p) = block(peer_side).and_then(|p| p.intersect(f.peers)) else {
            continue;
        };
        if matches!(r.action, Action::Allow | Action::Limit) && !p.covered_by(&decided) {
            return true;
        }
        decided.push(p);
    }
    default == Policy::Allow && !f.peers.covered_by(&decided)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: Action, from: &str, to: &str, port: &str) -> RuleSpec {
        RuleSpec {
            direction: Direction::In,
            action,
            port: Some(port.into()),
            proto: Some(Proto::Tcp),
            from: from.into(),
            to: to.into(),
            comment: None,
            roles: None,
        }
    }

    fn ssh(rules: &[RuleSpec], default: Policy) -> bool {
        passes(
            rules,
            default,
            &Flow {
                dir: Direction::In,
                port: 22,
                proto: Proto::Tcp,
                node: "10.1.1.11".parse().unwrap(),
                peers: Ipv4Net::ALL,
            },
        )
    }

    #[test]
    fn ssh_reachability() {
        use Action::*;
        let d = Policy::Deny;
        assert!(ssh(&[rule(Allow, "any", "any", "22")], d));
        assert!(ssh(&[rule(Allow, "10.1.1.0/24", "any", "22")], d));
        assert!(ssh(&[rule(Limit, "any", "10.1.1.11", "22")], d));
        assert!(!ssh(&[], d));
        assert!(ssh(&[], Policy::Allow));
        // Open only on loopback: not reachable from the network.
        assert!(!ssh(&[rule(Allow, "any", "127.0.0.1", "22")], d));
        // Only from addresses no client has: loopback, this network,
        // multicast, reserved and broadcast, the node itself.
        for from in [
            "127.0.0.1",
            "0.0.0.0",
            "224.0.0.0/4",
            "239.1.2.3",
            "240.0.0.0/4",
            "255.255.255.255",
            "10.1.1.11",
        ] {
            assert!(!ssh(&[rule(Allow, from, "any", "22")], d), "{from}");
        }
        // ... but a block around the node holds other clients.
        assert!(ssh(&[rule(Allow, "10.1.1.11/31", "any", "22")], d));
        // IPv6 only.
        assert!(!ssh(&[rule(Allow, "fd00::/8", "any", "22")], d));
        // One source denied, the rest allowed.
        assert!(ssh(
            &[
                rule(Deny, "10.1.1.66", "any", "22"),
                rule(Allow, "any", "any", "22")
            ],
            d
        ));
        // Everything denied first.
        assert!(!ssh(
            &[
                rule(Deny, "any", "any", "22"),
                rule(Allow, "any", "any", "22")
            ],
            d
        ));
        // The subnet denied in two halves before it is allowed.
        assert!(!ssh(
            &[
                rule(Deny, "10.1.1.0/25", "any", "22"),
                rule(Deny, "10.1.1.128/25", "any", "22"),
                rule(Allow, "10.1.1.0/24", "any", "22")
            ],
            d
        ));
        // A deny elsewhere leaves default allow in force for the rest.
        assert!(ssh(
            &[rule(Deny, "10.1.1.0/24", "any", "22")],
            Policy::Allow
        ));
        assert!(!ssh(&[rule(Deny, "any", "any", "22")], Policy::Allow));
        // Other ports do not matter.
        assert!(!ssh(&[rule(Allow, "any", "any", "2222")], d));
    }
}

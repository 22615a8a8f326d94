//! IPv4 networks and RFC 1123 host names: the small amount of address logic the
//! inventory needs, kept free of I/O so it is trivially testable.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }
    /// Every address: `any`, or 0.0.0.0/0.
    pub const ALL: Ipv4Net = Ipv4Net {
        network: Ipv4Addr::UNSPECIFIED,
        prefix: 0,
    };
    /// A single address as a /32.
    pub fn host(ip: Ipv4Addr) -> Self {
        Ipv4Net {
            network: ip,
            prefix: 32,
        }
    }
    /// Whether every address of `other` is in `self`.
    pub fn contains_net(self, other: Ipv4Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }
    /// The addresses in both, if any (CIDR blocks are nested or disjoint).
    pub fn intersect(self, other: Ipv4Net) -> Option<Ipv4Net> {
        if self.contains_net(other) {
            Some(other)
        } else if other.contains_net(self) {
            Some(self)
        } else {
            None
        }
    }
    /// The two halves of a block one bit longer; None for a single address.
    pub fn halves(self) -> Option<(Ipv4Net, Ipv4Net)> {
        (self.prefix < 32).then(|| {
            let prefix = self.prefix + 1;
            let hi = u32::from(self.network) | (1 << (32 - prefix));
            (
                Ipv4Net {
                    network: self.network,
                    prefix,
                },
                Ipv4Net {
                    network: Ipv4Addr::from(hi),
                    prefix,
                },
            )
        })
    }
    /// Whether the blocks in `cover` together hold every address of `self`.
    pub fn covered_by(self, cover: &[Ipv4Net]) -> bool {
        let touching: Vec<Ipv4Net> = cover
            .iter()
            .copied()
            .filter(|c| c.intersect(self).is_some())
            .collect();
        if touching.is_empty() {
            return false;
        }
        if touching.iter().any(|c| c.contains_net(self)) {
            return true;
        }
        // Every touching block lies strictly inside: split until each half is
        // covered or escapes (at most 32 levels).
        match self.halves() {
            Some((a, b)) => a.covered_by(&touching) && b.covered_by(&touching),
            None => false,
        }
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = s.split_once('/').ok_or_else(|| {
            format!(
                "`{}` is not a CIDR network; write it like 10.1.1.0/24",
                s.escape_debug()
            )
        })?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("`{}` is not an IPv4 address", addr.escape_debug()))?;
        let prefix: u8 = len.parse().ok().filter(|p| *p <= 32).ok_or_else(|| {
            format!(
                "`/{}` is not a prefix length from 0 to 32",
                len.escape_debug()
            )
        })?;
        let net = Ipv4Net {
            network: addr,
            prefix,
        };
        let masked = Ipv4Addr::from(u32::from(addr) & net.mask());
        if masked != addr {
            return Err(format!(
                "`{s}` has host bits set; the network is {masked}/{prefix}"
            ));
        }
        Ok(net)
    }
}

/// RFC 1123 host name label rules, as systemd-hostnamed and Kubernetes node names
/// want them: lowercase letters, digits and inner hyphens, at most 63 characters.
pub fn hostname_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > 63 {
        return Some(format!(
            "is {} characters long; the limit is 63",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!("contains `{c}`"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("starts or ends with a hyphen".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_membership() {
        let net: Ipv4Net = "10.1.1.0/24".parse().unwrap();
        assert!(net.contains("10.1.1.11".parse().unwrap()));
        assert!(!net.contains("10.1.2.11".parse().unwrap()));
        assert_eq!(net.broadcast(), Ipv4Addr::new(10, 1, 1, 255));
        let all: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.168.1.1".parse().unwrap()));
    }

    #[test]
    fn blocks_nest_and_cover() {
        let n = |s: &str| s.parse::<Ipv4Net>().unwrap();
        assert!(n("10.0.0.0/8").contains_net(n("10.1.1.0/24")));
        assert!(!n("10.1.1.0/24").contains_net(n("10.0.0.0/8")));
        assert_eq!(
            n("10.1.1.0/24").intersect(n("10.0.0.0/8")),
            Some(n("10.1.1.0/24"))
        );
        assert_eq!(n("10.1.1.0/24").intersect(n("10.1.2.0/24")), None);
        let sub = n("10.1.1.0/24");
        assert!(sub.covered_by(&[n("10.1.1.0/25"), n("10.1.1.128/25")]));
        assert!(!sub.covered_by(&[n("10.1.1.0/25"), n("10.1.1.128/26")]));
        assert!(!sub.covered_by(&[Ipv4Net::host("10.1.1.5".parse().unwrap())]));
        assert!(sub.covered_by(&[Ipv4Net::ALL]));
        assert!(!Ipv4Net::ALL.covered_by(&[n("10.0.0.0/8")]));
    }

    #[test]
    fn rejects_bad_cidrs() {
        assert!("10.1.1.0".parse::<Ipv4Net>().unwrap_err().contains("CIDR"));
        assert!(
            "10.1.1.5/24"
                .parse::<Ipv4Net>()
                .unwrap_err()
                .contains("10.1.1.0/24")
        );
        assert!("10.1.1.0/33".parse::<Ipv4Net>().is_err());
        assert!("10.1.300.0/24".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn hostnames_follow_rfc1123() {
        assert_eq!(hostname_problem("cp-1"), None);
        assert!(hostname_problem("CP-1").is_some());
        assert!(hostname_problem("cp_1").is_some());
        assert!(hostname_problem("-cp").is_some());
        assert!(hostname_problem(&"a".repeat(64)).is_some());
        assert!(hostname_problem("").is_some());
    }
}

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
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR network; write it like 10.1.1.0/24"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("`{addr}` in `{s}` is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`/{len}` in `{s}` is not a prefix length from 0 to 32"))?;
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
        return Some(format!(
            "contains `{c}`; use lowercase letters, digits and hyphens"
        ));
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

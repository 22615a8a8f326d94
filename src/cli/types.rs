//! Argument values with their own types, checked where they are parsed:
//! a bad value is a usage error (exit 2) before any command runs.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportKind {
    Ansible,
    Hosts,
}

/// `export ansible --layout`: whose group names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportLayout {
    /// `control_plane`, `worker`, and `kubernetes` of both.
    Piprep,
    /// Kubespray's: `kube_control_plane`, `etcd`, `kube_node`, `k8s_cluster`.
    Kubespray,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Ini,
    Yaml,
}

/// `--compress`: the formats a baked image is also written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Xz,
}

/// `--address NODE=HOST[:PORT]`: reach a node somewhere else than its
/// inventory address (a port forward, a jump host's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    pub node: String,
    pub host: String,
    pub port: Option<u16>,
}

impl FromStr for NodeAddress {
    type Err = String;

    fn from_str(m: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{}` is not NODE=HOST[:PORT]; write it like cp-1=127.0.0.1:2222",
                m.escape_debug()
            )
        };
        let (node, target) = m.split_once('=').ok_or_else(bad)?;
        let (host, port) = match target.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => (
                h.trim_matches(['[', ']']).to_string(),
                Some(p.parse::<u16>().map_err(|_| bad())?),
            ),
            _ => (target.to_string(), None),
        };
        // A host starting with `-` would reach ssh as an option.
        if node.is_empty() || host.is_empty() || host.starts_with('-') {
            return Err(bad());
        }
        Ok(NodeAddress {
            node: node.to_string(),
            host,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_parse_or_name_the_form() {
        let a: NodeAddress = "cp-1=127.0.0.1:2222".parse().unwrap();
        assert_eq!(
            (a.node.as_str(), a.host.as_str(), a.port),
            ("cp-1", "127.0.0.1", Some(2222))
        );
        let v6: NodeAddress = "w=[::1]:22".parse().unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(22)));
        let bare: NodeAddress = "w=::1".parse().unwrap();
        assert_eq!((bare.host.as_str(), bare.port), ("::1", None));
        let named: NodeAddress = "w=pi.lan".parse().unwrap();
        assert_eq!((named.host.as_str(), named.port), ("pi.lan", None));
        for bad in [
            "cp-1",
            "=h",
            "cp-1=",
            "cp-1=-oProxyCommand=x",
            "cp-1=h:99999",
            "cp-1=h:x",
        ] {
            let e = bad.parse::<NodeAddress>().unwrap_err();
            assert!(e.contains("is not NODE=HOST[:PORT]"), "{bad}: {e}");
        }
    }
}

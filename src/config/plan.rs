//! NodePlan: everything one node's first boot needs, as plain data. The render
//! stage turns it into files; its hash identifies the node's configuration.

use std::net::Ipv4Addr;

use indexmap::IndexMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::bootstrap::{BootstrapPlan, BootstrapRole, ClusterSecrets};
use super::inventory::Regional;
use super::kubernetes::KubernetesPlan;
use super::profile::{Policy, Profile, Proto, Role, RuleSpec, TimeDaemon};
use super::profile_extras::ProfileFile;
use super::wifi::WifiPlan;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodePlan {
    pub cluster: String,
    pub name: String,
    pub role: Role,
    /// The static address; None with `ip = "dhcp"`.
    pub address: Option<Ipv4Addr>,
    pub prefix: u8,
    pub subnet: String,
    pub gateway: Ipv4Addr,
    pub dns: Vec<String>,
    pub ntp: Vec<String>,
    pub interface: String,
    pub user: UserPlan,
    pub profile: ProfilePlan,
    /// `[kubernetes]`, when the inventory has one.
    pub kubernetes: Option<KubernetesPlan>,
    /// Every node of the cluster (name, address), for the /etc/hosts block
    /// each node gets.
    pub cluster_hosts: Vec<(String, Ipv4Addr)>,
    /// The node's own SSH host keys, kept in the secrets directory; empty
    /// until loaded (the image's keys are then made on the node).
    pub host_keys: Vec<HostKey>,
    /// The cluster's CAs, keys and token with `bootstrap = true`, once
    /// loaded from the secrets directory (only their public digests are
    /// serialised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_secrets: Option<ClusterSecrets>,
    /// The Wi-Fi network the node joins (its PSK only as a digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wifi: Option<WifiPlan>,
    /// Time zone, locale and keyboard layout, where the inventory sets them.
    #[serde(skip_serializing_if = "RegionalPlan::is_empty")]
    pub regional: RegionalPlan,
}

/// Time zone, locale and console keyboard layout; None leaves the image's.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RegionalPlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyboard: Option<String>,
}

impl RegionalPlan {
    pub fn is_empty(&self) -> bool {
        self.timezone.is_none() && self.locale.is_none() && self.keyboard.is_none()
    }
    pub fn get_mut(&mut self, r: Regional) -> &mut Option<String> {
        match r {
            Regional::Timezone => &mut self.timezone,
            Regional::Locale => &mut self.locale,
            Regional::Keyboard => &mut self.keyboard,
        }
    }
}

/// One SSH host key of a node. The public half is part of the plan (and its
/// hash); the private half is a secret, never serialised or printed.
#[derive(Clone, Serialize, PartialEq)]
pub struct HostKey {
    /// `ed25519`: the file is /etc/ssh/ssh_host_ed25519_key.
    pub kind: String,
    /// `ssh-ed25519 AAAA… root@NODE`.
    pub public: String,
    #[serde(skip)]
    pub private: String,
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostKey")
            .field("kind", &self.kind)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl HostKey {
    /// `/etc/ssh/ssh_host_KIND_key`.
    pub fn path(&self) -> String {
        format!("/etc/ssh/ssh_host_{}_key", self.kind)
    }
    /// The `TYPE BASE64` of the public key, without its comment.
    pub fn public_key(&self) -> String {
        self.public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserPlan {
    pub name: String,
    pub ssh_authorized_keys: Vec<String>,
    /// SHA-512 (or other crypt) hash; a secret, never logged or printed.
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProfilePlan {
    pub name: String,
    pub conf_name: String,
    pub modules: Vec<String>,
    pub cmdline: Vec<String>,
    pub sysctl: IndexMap<String, String>,
    pub swap_disable: bool,
    pub time_daemon: TimeDaemon,
    pub firewall: FirewallPlan,
    /// A Pi 5 boots the 4K-page kernel (config.txt `[pi5] kernel=kernel8.img`).
    pub pi5_4k_kernel: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ProfileFile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub run: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FirewallPlan {
    pub enable: bool,
    pub default_incoming: Policy,
    pub default_outgoing: Policy,
    pub default_routed: Policy,
    pub logging: String,
    /// Rules for this node's role, with `{subnet}` substituted.
    pub rules: Vec<RuleSpec>,
}

impl NodePlan {
    /// The address as written in piprep.toml: `10.1.1.11`, or `dhcp`.
    pub fn address_text(&self) -> String {
        self.address
            .map_or_else(|| "dhcp".into(), |a| a.to_string())
    }

    /// The names known_hosts pins the node's keys under: its name, and its
    /// static address when it has one.
    pub fn host_names(&self) -> Vec<String> {
        let mut v = vec![self.name.clone()];
        v.extend(self.address.map(|a| a.to_string()));
        v
    }

    /// `10.1.1.11/24`, or `dhcp`.
    pub fn cidr_text(&self) -> String {
        self.address
            .map_or_else(|| "dhcp".into(), |a| format!("{a}/{}", self.prefix))
    }

    /// Where ssh and Ansible reach the node: its static address, or with
    /// DHCP its name (which the router's DNS resolves).
    pub fn reach(&self) -> String {
        self.address
            .map_or_else(|| self.name.clone(), |a| a.to_string())
    }

    /// `[kubernetes]`'s bootstrap, when the cluster forms itself.
    pub fn bootstrap(&self) -> Option<&BootstrapPlan> {
        self.kubernetes.as_ref()?.bootstrap.as_ref()
    }

    /// What this node does to form the cluster, with `bootstrap = true`.
    pub fn bootstrap_role(&self) -> Option<BootstrapRole> {
        let b = self.bootstrap()?;
        Some(if b.init_node == self.name {
            BootstrapRole::Init
        } else if self.role == Role::ControlPlane {
            BootstrapRole::ControlPlane
        } else {
            BootstrapRole::Worker
        })
    }

    /// sha256 over the piprep version and the plan: equal hashes mean equal
    /// first-boot behaviour, so it keys reproducible IDs and incremental bakes.
    pub fn config_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(&self.hashed()).expect("a plan always serialises"));
        hex::encode(h.finalize())
    }

    /// The plan as hashed: with the node's whole rule set, the pod network's
    /// rules (which the node setup adds after the profile's) included, so the
    /// hash follows every rule the node gets.
    fn hashed(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("a plan always serialises");
        if let Some(k) = self
            .kubernetes
            .as_ref()
            .filter(|_| self.profile.firewall.enable)
        {
            let extra = k.firewall_rules(&self.subnet);
            if let Some(rules) = v["profile"]["firewall"]["rules"].as_array_mut() {
                rules.extend(
                    extra
                        .iter()
                        .map(|r| serde_json::to_value(r).expect("a rule serialises")),
                );
            }
        }
        v
    }

    /// Derive a stable RFC 4122-shaped UUID from the plan and a purpose label,
    /// so generated IDs are reproducible instead of random.
    pub fn derived_uuid(&self, purpose: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.config_hash().as_bytes());
        h.update(purpose.as_bytes());
        let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 bytes");
        b[6] = (b[6] & 0x0f) | 0x50; // version 5 (name-based, SHA)
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        let x = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &x[0..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..32]
        )
    }
}

impl ProfilePlan {
    /// The profile as one node of `role` in `subnet` gets it: its role's
    /// rules, with `{subnet}` substituted.
    pub fn for_role(p: &Profile, role: Role, subnet: &str) -> ProfilePlan {
        let fw = &p.firewall;
        ProfilePlan {
            name: p.name.clone(),
            conf_name: p.conf_name.clone(),
            modules: p.modules.clone(),
            cmdline: p.cmdline.clone(),
            sysctl: p.sysctl.clone(),
            swap_disable: p.swap_disable,
            time_daemon: p.time_daemon,
            pi5_4k_kernel: p.pi5_4k_kernel.unwrap_or(false),
            packages: p.packages.clone(),
            files: p.files.clone(),
            run: p.run.clone(),
            firewall: FirewallPlan {
                enable: fw.enable,
                default_incoming: fw.default_incoming,
                default_outgoing: fw.default_outgoing,
                default_routed: fw.default_routed,
                logging: fw.logging.clone(),
                rules: fw
                    .rules
                    .iter()
                    .filter(|r| r.spec.applies_to(role))
                    .map(|r| r.spec.for_node(subnet))
                    .collect(),
            },
        }
    }
}

impl RuleSpec {
    /// Substitute `{subnet}` and drop the role filter (already applied).
    pub fn for_node(&self, subnet: &str) -> RuleSpec {
        RuleSpec {
            from: self.from.replace("{subnet}", subnet),
            to: self.to.replace("{subnet}", subnet),
            roles: None,
            ..self.clone()
        }
    }

    pub fn applies_to(&self, role: Role) -> bool {
        self.roles.as_ref().is_none_or(|r| r.contains(&role))
    }

    /// True when the rule matches traffic of `proto` to `port` from/to anywhere.
    pub fn covers_port(&self, port: u16, proto: Proto) -> bool {
        if self.proto.is_some_and(|p| p != proto) {
            return false;
        }
        match &self.port {
            None => true,
            Some(spec) => spec.split(',').any(|part| match part.split_once(':') {
                Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
                    (Ok(a), Ok(b)) => (a..=b).contains(&port),
                    _ => false,
                },
                None => part.parse::<u16>() == Ok(port),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::{Action, Direction};

    fn rule(port: Option<&str>, proto: Option<Proto>) -> RuleSpec {
        RuleSpec {
            direction: Direction::In,
            action: Action::Allow,
            port: port.map(str::to_string),
            proto,
            from: "any".into(),
            to: "any".into(),
            comment: None,
            roles: None,
        }
    }

    #[test]
    fn port_coverage() {
        assert!(rule(Some("22"), Some(Proto::Tcp)).covers_port(22, Proto::Tcp));
        assert!(!rule(Some("22"), Some(Proto::Udp)).covers_port(22, Proto::Tcp));
        assert!(rule(Some("20:30"), None).covers_port(22, Proto::Tcp));
        assert!(rule(Some("80,22"), Some(Proto::Tcp)).covers_port(22, Proto::Tcp));
        assert!(!rule(Some("2222"), None).covers_port(22, Proto::Tcp));
        assert!(rule(None, None).covers_port(22, Proto::Tcp));
    }
}

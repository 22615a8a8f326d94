//! `[kubernetes]` as a plan: the runtime, the pinned packages and their
//! repository key, and the pod network, for every node alike. Pure: the key's
//! bytes are read by validation (a local file) or fetched by the bake.

use base64ct::Encoding;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::profile::{Action, Direction, Proto, RuleSpec};

/// The lowest minor version pkgs.k8s.io has a repository for.
pub const FIRST_MINOR: u32 = 24;
/// The container network plugins piprep opens the firewall for.
pub const CNIS: &[&str] = &["flannel", "calico", "cilium", "none"];
pub const RUNTIMES: &[&str] = &["containerd"];
/// What kubeadm installs, pinned to the minor version and held.
pub const PACKAGES: [&str; 3] = ["kubeadm", "kubelet", "kubectl"];
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// Interfaces container networks create, which NetworkManager must leave alone.
pub const CNI_INTERFACES: &[&str] = &[
    "cni0", "flannel*", "cali*", "tunl*", "vxlan*", "cilium*", "lxc*", "veth*",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cni {
    Flannel,
    Calico,
    Cilium,
    None,
}

impl Cni {
    pub fn parse(s: &str) -> Option<Cni> {
        Some(match s {
            "flannel" => Cni::Flannel,
            "calico" => Cni::Calico,
            "cilium" => Cni::Cilium,
            "none" => Cni::None,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Cni::Flannel => "flannel",
            Cni::Calico => "calico",
            Cni::Cilium => "cilium",
            Cni::None => "none",
        }
    }
    /// Ports the plugin's agents use between nodes, with why.
    fn ports(self) -> &'static [(&'static str, Proto, &'static str)] {
        match self {
            Cni::Flannel => &[("8472", Proto::Udp, "flannel VXLAN between nodes")],
            Cni::Calico => &[
                ("179", Proto::Tcp, "Calico BGP between nodes"),
                ("4789", Proto::Udp, "Calico VXLAN between nodes"),
                (
                    "5473",
                    Proto::Tcp,
                    "Calico Typha (agents to their datastore cache)",
                ),
            ],
            Cni::Cilium => &[
                ("8472", Proto::Udp, "Cilium VXLAN between nodes"),
                ("4240", Proto::Tcp, "Cilium health checks between nodes"),
            ],
            Cni::None => &[],
        }
    }
}

/// The pause image kubeadm of `minor` expects (its `kubeadm config images
/// list`); None for a version newer than this table.
pub fn pause_version(minor: u32) -> Option<&'static str> {
    Some(match minor {
        24 => "3.7",
        25 => "3.8",
        26..=30 => "3.9",
        31..=33 => "3.10",
        34 | 35 => "3.10.1",
        _ => return None,
    })
}
/// The newest pause version in the table, assumed for newer minors.
pub const NEWEST_PAUSE: &str = "3.10.1";

/// The repository of a minor version on pkgs.k8s.io.
pub fn default_repository(version: &str) -> String {
    format!("https://pkgs.k8s.io/core:/stable:/v{version}/deb/")
}

/// The repository's signing key: where it comes from and, once read, its bytes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RepoKey {
    /// `repository_key` as written, or the URL of the repository's Release.key.
    pub origin: String,
    pub from_url: bool,
    /// sha256 of the key as read (binary or armored); None until fetched.
    pub sha256: Option<String>,
    /// The key, ASCII-armored, as installed on the node.
    #[serde(skip)]
    pub armored: Option<String>,
}

impl RepoKey {
    /// Record the key's bytes: armored as given, or armored from binary.
    pub fn set(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.armored = Some(armor(bytes)?);
        self.sha256 = Some(hex::encode(Sha256::digest(bytes)));
        Ok(())
    }
}

const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// An OpenPGP public key as apt's `signed-by` reads a `.asc` file, or why
/// the bytes are not one.
pub fn armor(bytes: &[u8]) -> Result<String, String> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Some(start) = text.find(BEGIN)
    {
        let end = text[start..]
            .find(END)
            .ok_or("has no `-----END PGP PUBLIC KEY BLOCK-----` line")?;
        let block = &text[start..start + end + END.len()];
        if block.lines().any(|l| l.len() > 200) {
            return Err("has lines too long for an armored key".into());
        }
        return Ok(format!("{block}\n"));
    }
    // A binary key starts with a public-key packet (tag 6), old or new format.
    let tag = match bytes.first() {
        Some(b) if b & 0xC0 == 0xC0 => b & 0x3F,
        Some(b) if b & 0x80 == 0x80 => (b >> 2) & 0x0F,
        _ => 0,
    };
    if tag != 6 {
        return Err(
            "is not an OpenPGP public key (neither armored nor a binary key packet)".into(),
        );
    }
    let body = base64ct::Base64::encode_string(bytes);
    let mut out = format!("{BEGIN}\n\n");
    for chunk in body.as_bytes().chunks(64) {
        out += std::str::from_utf8(chunk).expect("base64 is ASCII");
        out.push('\n');
    }
    let crc = crc24(bytes).to_be_bytes();
    out += &format!("={}\n{END}\n", base64ct::Base64::encode_string(&crc[1..]));
    Ok(out)
}

/// The armor checksum (RFC 4880, 6.1).
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xB7_04CE;
    for b in data {
        crc ^= (*b as u32) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x100_0000 != 0 {
                crc ^= 0x186_4CFB;
            }
        }
    }
    crc & 0xFF_FFFF
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KubernetesPlan {
    /// Minor version, `1.34`.
    pub version: String,
    pub runtime: String,
    pub cni: Cni,
    pub pod_cidr: String,
    pub service_cidr: String,
    /// The apt repository, ending in `/` (a flat repository: suite `/`).
    pub repository: String,
    pub key: RepoKey,
    pub sandbox_image: String,
    pub control_plane_endpoint: Option<String>,
    /// `bootstrap = true`: the cluster forms itself on first boot. Absent
    /// from the serialised plan otherwise, so such plans hash as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<super::bootstrap::BootstrapPlan>,
}

fn rule(
    direction: Direction,
    from: &str,
    to: &str,
    port: Option<&str>,
    proto: Option<Proto>,
    comment: &str,
) -> RuleSpec {
    RuleSpec {
        direction,
        action: Action::Allow,
        port: port.map(str::to_string),
        proto,
        from: from.into(),
        to: to.into(),
        comment: Some(comment.into()),
        roles: None,
    }
}

impl KubernetesPlan {
    /// The firewall rules a pod network needs on every node in `subnet`,
    /// after the profile's: the plugin's ports, NodePorts, the
    /// host's traffic with its pods, and routed rules for the pod and
    /// Service ranges, so that `default deny routed` holds for the rest.
    pub fn firewall_rules(&self, subnet: &str) -> Vec<RuleSpec> {
        let (pods, services) = (self.pod_cidr.as_str(), self.service_cidr.as_str());
        let mut v = Vec::new();
        for (port, proto, why) in self.cni.ports() {
            v.push(rule(
                Direction::In,
                subnet,
                "any",
                Some(port),
                Some(*proto),
                why,
            ));
            v.push(rule(
                Direction::Out,
                "any",
                subnet,
                Some(port),
                Some(*proto),
                why,
            ));
        }
        v.extend([
            rule(
                Direction::In,
                subnet,
                "any",
                Some("30000:32767"),
                Some(Proto::Tcp),
                "Kubernetes NodePort Services from the node network",
            ),
            rule(
                Direction::In,
                pods,
                "any",
                None,
                None,
                "Pods to this node: the API server through the kubernetes Service, the kubelet",
            ),
            rule(
                Direction::Out,
                "any",
                pods,
                None,
                None,
                "This node to its pods: kubelet probes, API server to webhooks",
            ),
            rule(
                Direction::Routed,
                pods,
                "any",
                None,
                None,
                "Pod traffic: between pods on the bridge, to other nodes and out",
            ),
            rule(
                Direction::Routed,
                subnet,
                pods,
                None,
                None,
                "Node network to pods: NodePorts after the kube-proxy DNAT, other nodes",
            ),
            rule(
                Direction::Routed,
                subnet,
                services,
                None,
                None,
                "Node network to Service addresses routed through this node",
            ),
        ]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_keys_are_armored_with_their_checksum() {
        // RFC 4880's CRC-24 of "123456789" is 0x21CF02.
        assert_eq!(crc24(b"123456789"), 0x21CF02);
        let key = [0x99u8, 0x00, 0x03, 0x04, 0x01, 0x02];
        let a = armor(&key).unwrap();
        assert!(a.starts_with(BEGIN) && a.trim_end().ends_with(END), "{a}");
        assert!(a.contains("\nmQADBAEC\n="), "{a}");
        let again = armor(a.as_bytes()).unwrap();
        assert_eq!(again, a);
        assert!(armor(b"hello").is_err());
        assert!(armor(format!("{BEGIN}\nabc\n").as_bytes()).is_err());
    }

    #[test]
    fn pause_images_follow_kubeadm() {
        assert_eq!(pause_version(34), Some("3.10.1"));
        assert_eq!(pause_version(30), Some("3.9"));
        assert_eq!(pause_version(99), None);
    }
}

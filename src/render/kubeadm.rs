//! kubeadm's configuration files (`kubeadm.k8s.io/v1beta4`) for a cluster
//! that forms itself: the init node's InitConfiguration, ClusterConfiguration
//! and KubeletConfiguration, and each joining node's JoinConfiguration. Every
//! value goes through the YAML emitter, quoted: no inventory string becomes
//! structure. They hold the bootstrap token, so they travel as secrets.

use serde::Serialize;

use crate::config::bootstrap::{API_PORT, BootstrapPlan, ClusterSecrets};
use crate::config::plan::NodePlan;

pub const API_VERSION: &str = "kubeadm.k8s.io/v1beta4";
pub const CRI_SOCKET: &str = "unix:///run/containerd/containerd.sock";
/// The token's groups and usages, as `kubeadm token create` gives them.
const TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeRegistration {
    name: String,
    cri_socket: &'static str,
    kubelet_extra_args: Vec<Arg>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiEndpoint {
    advertise_address: String,
    bind_port: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Token {
    token: String,
    description: &'static str,
    /// "0s": the token never expires, so a card flashed in a year still joins;
    /// `piprep rekey --cluster` replaces it.
    ttl: &'static str,
    usages: [&'static str; 2],
    groups: [&'static str; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InitConfiguration {
    api_version: &'static str,
    kind: &'static str,
    bootstrap_tokens: Vec<Token>,
    node_registration: NodeRegistration,
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: ApiEndpoint,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Networking {
    pod_subnet: String,
    service_subnet: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiServer {
    #[serde(rename = "certSANs")]
    cert_sans: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterConfiguration {
    api_version: &'static str,
    kind: &'static str,
    cluster_name: String,
    control_plane_endpoint: String,
    /// The CAs piprep made are ECDSA P-256; kubeadm's own keys follow.
    encryption_algorithm: &'static str,
    certificates_dir: &'static str,
    networking: Networking,
    api_server: ApiServer,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KubeletConfiguration {
    api_version: &'static str,
    kind: &'static str,
    cgroup_driver: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BootstrapTokenDiscovery {
    #[serde(rename = "apiServerEndpoint")]
    api_server_endpoint: String,
    token: String,
    ca_cert_hashes: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Discovery {
    bootstrap_token: BootstrapTokenDiscovery,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JoinControlPlane {
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: ApiEndpoint,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Timeouts {
    /// Discovery waits for the API; a slow Pi's first boot takes minutes.
    discovery: &'static str,
    tls_bootstrap: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JoinConfiguration {
    api_version: &'static str,
    kind: &'static str,
    discovery: Discovery,
    node_registration: NodeRegistration,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_plane: Option<JoinControlPlane>,
    timeouts: Timeouts,
}

fn registration(plan: &NodePlan) -> NodeRegistration {
    NodeRegistration {
        name: plan.name.clone(),
        cri_socket: CRI_SOCKET,
        // The node's inventory address, whichever interface routes first
        // (a DHCP worker's is the one its default route has).
        kubelet_extra_args: plan
            .address
            .map(|a| Arg {
                name: "node-ip",
                value: a.to_string(),
            })
            .into_iter()
            .collect(),
    }
}

fn own_endpoint(plan: &NodePlan) -> ApiEndpoint {
    ApiEndpoint {
        // Validation refuses DHCP for control planes when the cluster forms itself.
        advertise_address: plan.reach(),
        bind_port: API_PORT,
    }
}

/// Names and addresses the API server's certificate holds: every control
/// plane's, and the endpoint's host.
pub fn cert_sans(b: &BootstrapPlan) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for (name, addr) in &b.control_planes {
        v.push(name.clone());
        v.push(addr.to_string());
    }
    v.push(b.endpoint_host());
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

fn documents(docs: &[String]) -> String {
    docs.join("---\n")
}

/// The init node's configuration: ClusterConfiguration last, so that the
/// first boot can append the kubeadm's own `kubernetesVersion` to it.
pub fn init_config(plan: &NodePlan, b: &BootstrapPlan, s: &ClusterSecrets) -> String {
    let k = plan
        .kubernetes
        .as_ref()
        .expect("bootstrap implies [kubernetes]");
    let init = InitConfiguration {
        api_version: API_VERSION,
        kind: "InitConfiguration",
        bootstrap_tokens: vec![Token {
            token: s.token.clone(),
            description: "piprep: the cluster's bootstrap token",
            ttl: "0s",
            usages: ["signing", "authentication"],
            groups: [TOKEN_GROUP],
        }],
        node_registration: registration(plan),
        local_api_endpoint: own_endpoint(plan),
    };
    let kubelet = KubeletConfiguration {
        api_version: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        cgroup_driver: "systemd",
    };
    let cluster = ClusterConfiguration {
        api_version: API_VERSION,
        kind: "ClusterConfiguration",
        cluster_name: plan.cluster.clone(),
        control_plane_endpoint: b.api_endpoint(),
        encryption_algorithm: "ECDSA-P256",
        certificates_dir: "/etc/kubernetes/pki",
        networking: Networking {
            pod_subnet: k.pod_cidr.clone(),
            service_subnet: k.service_cidr.clone(),
        },
        api_server: ApiServer {
            cert_sans: cert_sans(b),
        },
    };
    use super::yaml::to_string;
    documents(&[to_string(&init), to_string(&kubelet), to_string(&cluster)])
}

/// A joining node's configuration: token discovery pinned to the CA's hash,
/// and for a control plane its own API endpoint (the CAs are placed, so no
/// certificate key is needed).
pub fn join_config(
    plan: &NodePlan,
    b: &BootstrapPlan,
    s: &ClusterSecrets,
    control_plane: bool,
) -> String {
    let join = JoinConfiguration {
        api_version: API_VERSION,
        kind: "JoinConfiguration",
        discovery: Discovery {
            bootstrap_token: BootstrapTokenDiscovery {
                api_server_endpoint: b.api_endpoint(),
                token: s.token.clone(),
                ca_cert_hashes: vec![s.ca_cert_hash.clone()],
            },
        },
        node_registration: registration(plan),
        control_plane: control_plane.then(|| JoinControlPlane {
            local_api_endpoint: own_endpoint(plan),
        }),
        timeouts: Timeouts {
            discovery: "15m0s",
            tls_bootstrap: "15m0s",
        },
    };
    super::yaml::to_string(&join)
}

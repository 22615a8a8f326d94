//! `[kubernetes] bootstrap = true` as a plan: who runs `kubeadm init`, where
//! the API answers, and the cluster's secrets as the nodes receive them.
//! Pure data: the secrets are made and kept by `cluster_pki`.

use std::net::Ipv4Addr;

use serde::Serialize;

/// The port kubeadm's API servers listen on.
pub const API_PORT: u16 = 6443;

/// How the cluster forms itself, the same for every node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BootstrapPlan {
    /// The control plane that runs `kubeadm init`.
    pub init_node: String,
    /// `control_plane_endpoint` as written, if any.
    pub endpoint: Option<String>,
    /// Every control plane (name, address), in inventory order.
    pub control_planes: Vec<(String, Ipv4Addr)>,
    /// Where the CNI manifest comes from (`cni_manifest`, or the pinned
    /// default for flannel and Calico): a URL, or a file beside the inventory.
    pub cni_origin: Option<String>,
    /// The CNI manifest the init node applies, once fetched or read.
    pub cni: Option<CniManifest>,
}

/// A CNI manifest: where it came from, its sha256 as fetched, and the text
/// fitted to the pod range (what the init node applies).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CniManifest {
    pub origin: String,
    pub sha256: String,
    #[serde(skip)]
    pub fitted: String,
}

impl BootstrapPlan {
    /// `HOST:PORT` the nodes and kubeconfigs reach the API at: the endpoint
    /// (port 6443 unless written), else the init node's address.
    pub fn api_endpoint(&self) -> String {
        match &self.endpoint {
            Some(e) if has_port(e) => e.clone(),
            Some(e) => format!("{e}:{API_PORT}"),
            None => {
                let addr = self
                    .control_planes
                    .iter()
                    .find(|(n, _)| *n == self.init_node)
                    .map(|(_, a)| a.to_string())
                    .unwrap_or_default();
                format!("{addr}:{API_PORT}")
            }
        }
    }

    /// The endpoint's host, without its port.
    pub fn endpoint_host(&self) -> String {
        let e = self.api_endpoint();
        e.rsplit_once(':').map_or(e.clone(), |(h, _)| h.to_string())
    }
}

fn has_port(e: &str) -> bool {
    e.rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// A CA as kubeadm keeps it: `NAME.crt` and `NAME.key`, PEM.
#[derive(Clone, PartialEq)]
pub struct CaPair {
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for CaPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaPair").finish_non_exhaustive()
    }
}

/// What kubeadm needs to form the cluster without a person: its CAs, the
/// service-account key pair and one bootstrap token, made once by piprep.
/// Only the CA's discovery hash and the token's id are part of the plan
/// (and its hash); the rest is secret, never serialised or printed.
#[derive(Clone, PartialEq, Serialize)]
pub struct ClusterSecrets {
    /// `sha256:HEX` of the cluster CA's SubjectPublicKeyInfo (kubeadm's
    /// `caCertHashes`).
    pub ca_cert_hash: String,
    /// The token's public half (`[a-z0-9]{6}`).
    pub token_id: String,
    #[serde(skip)]
    pub ca: CaPair,
    #[serde(skip)]
    pub front_proxy_ca: CaPair,
    #[serde(skip)]
    pub etcd_ca: CaPair,
    /// `sa.pub` (PEM public key) and `sa.key`.
    #[serde(skip)]
    pub sa_pub: String,
    #[serde(skip)]
    pub sa_key: String,
    /// `ID.SECRET`.
    #[serde(skip)]
    pub token: String,
}

impl std::fmt::Debug for ClusterSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSecrets")
            .field("ca_cert_hash", &self.ca_cert_hash)
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

/// What a node does on its first boot to form the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapRole {
    /// `kubeadm init` (or join, if a cluster already answers).
    Init,
    /// `kubeadm join --control-plane`, with the CAs placed.
    ControlPlane,
    /// `kubeadm join` with token discovery; no CA key.
    Worker,
}

impl BootstrapRole {
    pub fn as_str(self) -> &'static str {
        match self {
            BootstrapRole::Init => "init",
            BootstrapRole::ControlPlane => "control-plane",
            BootstrapRole::Worker => "worker",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(endpoint: Option<&str>) -> BootstrapPlan {
        BootstrapPlan {
            init_node: "cp-2".into(),
            endpoint: endpoint.map(str::to_string),
            control_planes: vec![
                ("cp-1".into(), Ipv4Addr::new(10, 1, 1, 11)),
                ("cp-2".into(), Ipv4Addr::new(10, 1, 1, 12)),
            ],
            cni_origin: None,
            cni: None,
        }
    }

    #[test]
    fn endpoint_defaults() {
        assert_eq!(plan(None).api_endpoint(), "10.1.1.12:6443");
        assert_eq!(plan(Some("k8s.lan")).api_endpoint(), "k8s.lan:6443");
        assert_eq!(plan(Some("k8s.lan:8443")).api_endpoint(), "k8s.lan:8443");
        assert_eq!(plan(Some("k8s.lan:8443")).endpoint_host(), "k8s.lan");
    }
}

//! `[kubernetes]` as node content: containerd's and crictl's configuration,
//! the apt source, key and pin of the kube packages, NetworkManager's hands
//! off the CNI interfaces, the services, the held packages and the pod
//! network's firewall rules. The node setup adds these once, for both
//! backends.

use super::model::{Check, KubernetesCheck, OnChange, Part, RootFile, Service};
use crate::config::kubernetes::{CNI_INTERFACES, KubernetesPlan, PACKAGES};
use crate::config::plan::NodePlan;
use crate::render::shell::fill;

pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";
pub const CRICTL_CONFIG: &str = "/etc/crictl.yaml";
/// `.asc`: apt reads an armored key in `signed-by` by its extension.
pub const KEYRING: &str = "/etc/apt/keyrings/piprep-kubernetes.asc";
pub const SOURCES: &str = "/etc/apt/sources.list.d/piprep-kubernetes.list";
pub const PIN: &str = "/etc/apt/preferences.d/piprep-kubernetes";
pub const NM_CONF: &str = "/etc/NetworkManager/conf.d/90-piprep-cni.conf";

const CONTAINERD: &str = include_str!("../templates/containerd-config.toml");
const CRICTL: &str = include_str!("../templates/crictl.yaml");
const PIN_FILE: &str = include_str!("../templates/kubernetes-pin");
const NM: &str = include_str!("../templates/nm-cni.conf");

/// NetworkManager's `unmanaged-devices` value.
pub fn unmanaged_devices() -> String {
    CNI_INTERFACES
        .iter()
        .map(|i| format!("interface-name:{i}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The apt source line: a flat repository (suite `/`), as pkgs.k8s.io is.
pub fn source_line(k: &KubernetesPlan) -> String {
    format!(
        "# Kubernetes {} packages (written by piprep)\ndeb [signed-by={KEYRING}] {} /\n",
        k.version, k.repository
    )
}

/// Nothing without `[kubernetes]`.
pub fn part(plan: &NodePlan) -> Part {
    let Some(k) = &plan.kubernetes else {
        return Part::default();
    };
    Part {
        files: files(k)
            .unwrap_or_default()
            .into_iter()
            .map(|(path, content)| RootFile::root(path, "0644", content))
            .collect(),
        packages: packages(k).into_iter().map(String::from).collect(),
        held: PACKAGES.to_vec(),
        services: services(),
        // They follow the profile's: they only allow.
        firewall_rules: if plan.profile.firewall.enable {
            k.firewall_rules(&plan.subnet)
        } else {
            Vec::new()
        },
        checks: vec![Check::Kubernetes(check(k))],
        ..Part::default()
    }
}

/// (path, content) of every file, in install order; None while the
/// repository key has not been read or fetched.
fn files(k: &KubernetesPlan) -> Option<Vec<(&'static str, String)>> {
    let key = k.key.armored.clone()?;
    let v = |name, value: &str| (name, value.to_string());
    Some(vec![
        (
            CONTAINERD_CONFIG,
            fill(
                CONTAINERD,
                &[
                    v("VERSION", &k.version),
                    v("SANDBOX_IMAGE", &k.sandbox_image),
                ],
            ),
        ),
        (CRICTL_CONFIG, CRICTL.to_string()),
        (KEYRING, key),
        (SOURCES, source_line(k)),
        (
            PIN,
            fill(
                PIN_FILE,
                &[v("VERSION", &k.version), v("PACKAGES", &PACKAGES.join(" "))],
            ),
        ),
        (NM_CONF, fill(NM, &[v("UNMANAGED", &unmanaged_devices())])),
    ])
}

/// Packages the networked step installs: the runtime from the OS, the kube
/// packages from the pinned repository.
fn packages(k: &KubernetesPlan) -> Vec<&'static str> {
    // containerd is the only runtime validation lets through.
    debug_assert_eq!(k.runtime, "containerd");
    let mut p = vec!["containerd"];
    p.extend(PACKAGES);
    p
}

/// What the checklist verifies for `[kubernetes]`.
fn check(k: &KubernetesPlan) -> KubernetesCheck {
    KubernetesCheck {
        version: k.version.clone(),
        packages: PACKAGES.to_vec(),
        unmanaged: unmanaged_devices(),
    }
}

/// The services the node must run: containerd (restarted when its
/// configuration changes), the kubelet (which waits for `kubeadm init` or
/// `join`), and NetworkManager reloaded for the CNI interfaces.
fn services() -> Vec<Service> {
    vec![
        Service {
            unit: "containerd.service",
            enable: true,
            on_change: OnChange::Restart,
            config: vec![CONTAINERD_CONFIG],
        },
        Service {
            unit: "kubelet.service",
            enable: true,
            on_change: OnChange::Restart,
            config: vec![],
        },
        Service {
            unit: "NetworkManager.service",
            enable: false,
            on_change: OnChange::Reload,
            config: vec![NM_CONF],
        },
    ]
}

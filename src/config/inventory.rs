//! The cluster inventory, `piprep.toml`, as written by the user. Values keep
//! their spans so validation can point at `file:line`.

use serde::Deserialize;
use toml::Spanned;

use super::profile::Role;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub cluster: Cluster,
    pub image: Option<ImageSection>,
    pub user: Option<Spanned<UserSection>>,
    /// Beyond the guide: container runtime, kube packages, pod network.
    pub kubernetes: Option<Spanned<KubernetesSection>>,
    /// Where the nodes' SSH host keys are kept.
    pub secrets: Option<SecretsSection>,
    /// The Wi-Fi network every node joins (a node's own `wifi` replaces it).
    pub wifi: Option<Spanned<WifiSection>>,
    #[serde(default, rename = "node")]
    pub nodes: Vec<Spanned<NodeEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub name: Spanned<String>,
    /// Default profile for every node.
    #[serde(default = "default_profile")]
    pub profile: Spanned<String>,
    pub subnet: Spanned<String>,
    pub gateway: Spanned<String>,
    pub dns: Spanned<Vec<String>>,
    pub ntp: Option<Spanned<Vec<String>>>,
    /// Network interface the static address goes on.
    pub interface: Option<Spanned<String>>,
    /// Time zone, locale and console keyboard layout (a node may override
    /// each), checked against the base image's own zoneinfo, supported
    /// locales and keyboard layouts. `Europe/Berlin`, `en_GB.UTF-8`, `gb`.
    pub timezone: Option<Spanned<String>>,
    pub locale: Option<Spanned<String>>,
    pub keyboard: Option<Spanned<String>>,
}

/// Which regional setting, for messages and lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regional {
    Timezone,
    Locale,
    Keyboard,
}

impl Regional {
    pub const ALL: [Regional; 3] = [Regional::Timezone, Regional::Locale, Regional::Keyboard];
    pub fn key(self) -> &'static str {
        match self {
            Regional::Timezone => "timezone",
            Regional::Locale => "locale",
            Regional::Keyboard => "keyboard",
        }
    }
}

impl Cluster {
    pub fn regional(&self, r: Regional) -> Option<&Spanned<String>> {
        match r {
            Regional::Timezone => self.timezone.as_ref(),
            Regional::Locale => self.locale.as_ref(),
            Regional::Keyboard => self.keyboard.as_ref(),
        }
    }
}

impl NodeEntry {
    pub fn regional(&self, r: Regional) -> Option<&Spanned<String>> {
        match r {
            Regional::Timezone => self.timezone.as_ref(),
            Regional::Locale => self.locale.as_ref(),
            Regional::Keyboard => self.keyboard.as_ref(),
        }
    }
}

/// `[wifi]`: the network a node joins over its radio. The passphrase never
/// sits in piprep.toml: it comes from a file or the environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WifiSection {
    /// ISO 3166 alpha-2: the regulatory domain; the radio stays blocked without it.
    pub country: Spanned<String>,
    pub ssid: Spanned<String>,
    /// A file holding the passphrase (relative to piprep.toml).
    pub passphrase_file: Option<Spanned<String>>,
    /// An environment variable holding the passphrase.
    pub passphrase_env: Option<Spanned<String>>,
    /// The network does not broadcast its SSID.
    pub hidden: Option<Spanned<bool>>,
}

fn default_profile() -> Spanned<String> {
    Spanned::new(0..0, "k8s-node".to_string())
}

/// Where the base image comes from: exactly one of `path`, `url` (with
/// `sha256` or `sha256_url`), or `os_list` with `name`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    /// Local `.img` or `.img.xz` (relative to the inventory's directory).
    pub path: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    /// sha256 of the file at `url`.
    pub sha256: Option<Spanned<String>>,
    /// A `sha256sum`-format checksum file for `url`.
    pub sha256_url: Option<Spanned<String>>,
    /// Raspberry Pi Imager OS list (URL or path), with `name` of the entry.
    pub os_list: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    /// First-boot mechanism: auto (default), firstrun or cloud-init.
    pub init: Option<Spanned<InitMode>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum InitMode {
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "firstrun")]
    Firstrun,
    #[serde(rename = "cloud-init")]
    CloudInit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    pub name: Spanned<String>,
    #[serde(default)]
    pub ssh_authorized_keys: Vec<Spanned<String>>,
    pub password_hash: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub name: Spanned<String>,
    pub ip: Spanned<String>,
    pub role: Spanned<Role>,
    pub profile: Option<Spanned<String>>,
    pub interface: Option<Spanned<String>>,
    /// This node's own Wi-Fi network, replacing `[wifi]`.
    pub wifi: Option<Spanned<WifiSection>>,
    pub timezone: Option<Spanned<String>>,
    pub locale: Option<Spanned<String>>,
    pub keyboard: Option<Spanned<String>>,
}

/// `[kubernetes]`: optional; without it a node is what the guide makes.
/// Strings, not enums, so that a wrong value is a finding with file:line and
/// the values that would do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSection {
    /// Minor version, such as "1.34": the pkgs.k8s.io repository for v1.34.
    pub version: Spanned<String>,
    pub runtime: Option<Spanned<String>>,
    pub cni: Spanned<String>,
    pub pod_cidr: Spanned<String>,
    pub service_cidr: Option<Spanned<String>>,
    /// The apt repository (a mirror of pkgs.k8s.io's layout).
    pub repository: Option<Spanned<String>>,
    /// A local OpenPGP key file for the repository, instead of its Release.key.
    pub repository_key: Option<Spanned<String>>,
    /// The load-balanced address of the control planes (host or host:port).
    pub control_plane_endpoint: Option<Spanned<String>>,
    /// The pause image, when kubeadm's for this version is not the one piprep knows.
    pub sandbox_image: Option<Spanned<String>>,
    /// The cluster forms itself on first boot: kubeadm init on one control
    /// plane, join on the others and the workers, from secrets piprep makes.
    pub bootstrap: Option<Spanned<bool>>,
    /// The control plane that runs `kubeadm init` (default: the first one).
    pub init_node: Option<Spanned<String>>,
    /// The CNI manifest (URL or file) the init node applies.
    pub cni_manifest: Option<Spanned<String>>,
}

/// `[secrets]`: the directory holding each node's SSH host keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    /// Relative to piprep.toml; default `.piprep/secrets`.
    pub dir: Option<Spanned<String>>,
}

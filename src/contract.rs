//! What piprep puts on a card and reads back from it: the boot-partition file
//! names, the first-boot hook's kernel arguments, and the stamp. Render writes
//! these, bake, flash and inspect read them; one definition keeps them in step.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Written by the first boot: the checklist report.
pub const REPORT_FILE: &str = "piprep-report.txt";
/// Secrets (password hash) for the hook; deleted by the first boot.
pub const SECRETS_FILE: &str = "piprep-secrets.txt";
/// A node's private SSH host key on the boot partition, for the firstrun
/// hook: `piprep-ssh_host_ed25519_key`. Overwritten and deleted by the first boot.
pub fn host_key_file(kind: &str) -> String {
    format!("piprep-ssh_host_{kind}_key")
}
/// Whether a boot-partition file name holds a secret piprep placed.
pub fn is_secret_file(name: &str) -> bool {
    name == SECRETS_FILE
        || (name.starts_with("piprep-ssh_host_") && name.ends_with("_key"))
        || name.starts_with(CLUSTER_SECRET_PREFIX)
}
/// The prefix of the cluster's secrets on the boot partition (`bootstrap =
/// true`): CAs, keys and kubeadm's configuration with the token.
pub const CLUSTER_SECRET_PREFIX: &str = "piprep-k8s-";
/// What piprep baked, for `inspect`; not secret, stays after boot.
pub const STAMP_FILE: &str = "piprep-stamp.json";
/// File name of the first-boot hook on the boot partition. It must not contain
/// `firstboot` or ` resize`, which Raspberry Pi OS initramfs scripts grep for.
pub const HOOK_SCRIPT: &str = "piprep-run.sh";
/// The stamp's format tag.
pub const STAMP_FORMAT: &str = "piprep-stamp/1";

/// The arguments after the hook's path, in the order Raspberry Pi Imager uses.
const HOOK_TAIL: [&str; 2] = [
    "systemd.run_success_action=reboot",
    "systemd.unit=kernel-command-line.target",
];

/// The three hook arguments for a system that mounts the FAT partition at
/// `boot_mount`.
pub fn hook_tokens(boot_mount: &str) -> Vec<String> {
    let mut t = vec![format!("systemd.run={boot_mount}/{HOOK_SCRIPT}")];
    t.extend(HOOK_TAIL.iter().map(|s| s.to_string()));
    t
}

/// Whether `token` is one of piprep's hook arguments, wherever the boot
/// partition is mounted.
pub fn is_hook_token(token: &str) -> bool {
    token.ends_with(&format!("/{HOOK_SCRIPT}")) || HOOK_TAIL.contains(&token)
}

/// The base image a node image was baked from, as the stamp records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StampBase {
    /// sha256 of the raw .img baked from.
    pub sha256: Option<String>,
    /// sha256 of the file as published (the .img.xz), when it was fetched.
    pub download_sha256: Option<String>,
    pub url: Option<String>,
    pub release_date: Option<String>,
    pub init_format: Option<String>,
}

/// `piprep-stamp.json`: written by render, read by bake (is an output up to
/// date, did piprep make it), flash (what a target holds) and inspect.
/// Missing fields read as empty, so stamps of older versions still parse.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stamp {
    pub format: String,
    pub piprep_version: String,
    pub cluster: String,
    pub node: String,
    pub role: String,
    pub ip: String,
    pub profile: String,
    pub backend: String,
    pub backend_reason: String,
    pub config_hash: String,
    pub cmdline_added: Vec<String>,
    pub boot_files: Vec<String>,
    pub base_image: StampBase,
    /// `[kubernetes]`, when the node was baked with it.
    pub kubernetes: Option<StampKubernetes>,
}

/// What a node was baked with for Kubernetes: in its stamp and the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StampKubernetes {
    pub version: String,
    pub runtime: String,
    pub cni: String,
    pub pod_cidr: String,
    pub service_cidr: String,
    pub repository: String,
    /// sha256 of the repository key as fetched or read.
    pub key_sha256: String,
    pub key_origin: String,
    /// `bootstrap = true`: this node's part (init, control-plane, worker).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bootstrap: String,
    /// The CNI manifest the init node applies: where from, its sha256.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cni_manifest: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cni_manifest_sha256: String,
}

impl StampKubernetes {
    /// One line for people: `inspect` and `render` print it.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Kubernetes {} ({}, cni {}, pods {}, services {}), packages from {} (key sha256 {})",
            self.version,
            self.runtime,
            self.cni,
            self.pod_cidr,
            self.service_cidr,
            self.repository,
            self.key_sha256
        );
        if !self.bootstrap.is_empty() {
            s += &format!(
                "; the cluster forms itself: this node's part is {}",
                self.bootstrap
            );
            if !self.cni_manifest.is_empty() {
                s += &format!(
                    ", CNI manifest {} (sha256 {})",
                    self.cni_manifest, self.cni_manifest_sha256
                );
            }
        }
        s
    }
}

impl Stamp {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("stamp serialises") + "\n"
    }

    pub fn parse(bytes: &[u8]) -> Result<Stamp, String> {
        serde_json::from_slice(bytes)
            .map_err(|e| format!("{STAMP_FILE} is not a piprep stamp: {e}"))
    }
}

/// The piprep stamp of an image or card, if it has a readable one.
pub fn read_stamp(path: &Path) -> Option<Stamp> {
    let mut c = crate::image::read_boot_files(path, &[STAMP_FILE]).ok()?;
    Stamp::parse(&c.remove(0)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_old_ones_parse() {
        let s = Stamp {
            format: STAMP_FORMAT.into(),
            node: "cp-1".into(),
            cmdline_added: vec!["cgroup_memory=1".into()],
            base_image: StampBase {
                sha256: Some("ab".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(Stamp::parse(s.to_json().as_bytes()).unwrap(), s);
        let old = Stamp::parse(br#"{"node":"w-1","config_hash":"x"}"#).unwrap();
        assert_eq!((old.node.as_str(), old.base_image.sha256), ("w-1", None));
        assert!(Stamp::parse(b"[1]").is_err());
    }

    #[test]
    fn hook_tokens_are_recognised_wherever_boot_is_mounted() {
        for m in ["/boot/firmware", "/boot"] {
            assert!(hook_tokens(m).iter().all(|t| is_hook_token(t)));
        }
        assert!(!is_hook_token("systemd.run=/boot/other.sh"));
        assert!(!is_hook_token("quiet"));
    }
}

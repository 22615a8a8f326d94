//! Profiles: the node preparation as data (`profiles/*.toml`). Shipped profiles are
//! embedded in the binary; a `profiles/` directory beside the inventory adds or
//! overrides them. A profile may `extends` another: scalars take the last value,
//! lists append and `sysctl` keys merge (the mkosi convention).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::profile_extras::{FileLayer, ProfileFile, append_new, merge_files};
use super::toml_file::{Location, SourceFile};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ControlPlane,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeDaemon {
    #[default]
    Chrony,
    SystemdTimesyncd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Allow,
    Deny,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
    /// Forwarded through the node (`ufw route`), such as pod traffic.
    Routed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
    Reject,
    Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

/// One firewall rule as written in a profile. `from`/`to` accept `any`, an
/// address, a CIDR, or `{subnet}` for the cluster subnet.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub direction: Direction,
    #[serde(default = "default_action")]
    pub action: Action,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub proto: Option<Proto>,
    #[serde(default = "any")]
    pub from: String,
    #[serde(default = "any")]
    pub to: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// Limit the rule to these roles; absent means every node.
    #[serde(default)]
    pub roles: Option<Vec<Role>>,
}

fn default_action() -> Action {
    Action::Allow
}
fn any() -> String {
    "any".into()
}

/// A rule plus where it was written, for messages.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    pub at: Location,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileLayer {
    description: Option<String>,
    pub(super) extends: Option<String>,
    conf_name: Option<String>,
    kernel: Option<KernelLayer>,
    sysctl: Option<IndexMap<String, toml::Value>>,
    swap: Option<SwapLayer>,
    time: Option<TimeLayer>,
    firewall: Option<FirewallLayer>,
    packages: Option<Vec<String>>,
    file: Option<Vec<Spanned<FileLayer>>>,
    run: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KernelLayer {
    modules: Option<Vec<String>>,
    cmdline: Option<Vec<String>>,
    pi5_4k_kernel: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapLayer {
    disable: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeLayer {
    daemon: Option<TimeDaemon>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FirewallLayer {
    enable: Option<bool>,
    default_incoming: Option<Policy>,
    default_outgoing: Option<Policy>,
    default_routed: Option<Policy>,
    logging: Option<String>,
    rule: Option<Vec<Spanned<RuleSpec>>>,
}

#[derive(Debug, Clone)]
pub struct Firewall {
    pub enable: bool,
    pub default_incoming: Policy,
    pub default_outgoing: Policy,
    pub default_routed: Policy,
    pub logging: String,
    pub rules: Vec<Rule>,
}

/// A fully resolved profile (after `extends`).
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// Every file that contributed, base first; the last one is the profile itself.
    pub sources: Vec<SourceFile>,
    pub description: String,
    /// Stem for files under /etc (`/etc/sysctl.d/<conf_name>.conf`).
    pub conf_name: String,
    pub modules: Vec<String>,
    pub cmdline: Vec<String>,
    pub sysctl: IndexMap<String, String>,
    pub swap_disable: bool,
    pub time_daemon: TimeDaemon,
    pub firewall: Firewall,
    /// `[kernel] pi5_4k_kernel`: whether a Pi 5 boots the 4K-page kernel
    /// (`kernel=kernel8.img` under `[pi5]` in config.txt). Unset: yes for
    /// `[kubernetes]` nodes, whose container images may assume 4K pages.
    pub pi5_4k_kernel: Option<bool>,
    /// Debian packages the networked step installs.
    pub packages: Vec<String>,
    /// Files installed into the root filesystem, as written.
    pub files: Vec<ProfileFile>,
    /// Commands run once each, after the packages, with the network up.
    pub run: Vec<String>,
}

impl Profile {
    pub(super) fn empty(name: &str) -> Self {
        Profile {
            name: name.to_string(),
            sources: Vec::new(),
            description: String::new(),
            conf_name: name.to_string(),
            modules: Vec::new(),
            cmdline: Vec::new(),
            sysctl: IndexMap::new(),
            swap_disable: false,
            pi5_4k_kernel: None,
            packages: Vec::new(),
            files: Vec::new(),
            run: Vec::new(),
            time_daemon: TimeDaemon::SystemdTimesyncd,
            firewall: Firewall {
                enable: false,
                default_incoming: Policy::Deny,
                default_outgoing: Policy::Allow,
                default_routed: Policy::Deny,
                logging: "low".into(),
                rules: Vec::new(),
            },
        }
    }

    /// The file that defines this profile (not its bases).
    pub fn source(&self) -> &SourceFile {
        self.sources
            .last()
            .expect("a resolved profile has a source")
    }

    /// Where `needle` is written in this profile or, failing that, its bases.
    pub fn locate(&self, needle: &str) -> Location {
        self.sources
            .iter()
            .rev()
            .find(|s| s.text.contains(needle))
            .unwrap_or_else(|| self.source())
            .find(needle)
    }

    /// Where a value is written; where its key is when the value is not
    /// written verbatim (TOML escapes).
    pub fn locate_value(&self, value: &str, key: &str) -> Location {
        let verbatim = !value.is_empty() && self.sources.iter().any(|s| s.text.contains(value));
        self.locate(if verbatim { value } else { key })
    }

    pub(super) fn apply(&mut self, layer: ProfileLayer, src: &SourceFile) -> Result<()> {
        if let Some(d) = layer.description {
            self.description = d;
        }
        if let Some(c) = layer.conf_name {
            self.conf_name = c;
        }
        if let Some(k) = layer.kernel {
            for m in k.modules.unwrap_or_default() {
                if !self.modules.contains(&m) {
                    self.modules.push(m);
                }
            }
            for a in k.cmdline.unwrap_or_default() {
                if !self.cmdline.contains(&a) {
                    self.cmdline.push(a);
                }
            }
            if let Some(b) = k.pi5_4k_kernel {
                self.pi5_4k_kernel = Some(b);
            }
        }
        for (key, value) in layer.sysctl.unwrap_or_default() {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => u8::from(b).to_string(),
                other => {
                    return Err(Error::config(format!(
                        "{}: sysctl `{key}` has value {other}; use a string or integer",
                        src.find(&key)
                    )));
                }
            };
            self.sysctl.insert(key, value);
        }
        if let Some(s) = layer.swap.and_then(|s| s.disable) {
            self.swap_disable = s;
        }
        if let Some(t) = layer.time.and_then(|t| t.daemon) {
            self.time_daemon = t;
        }
        if let Some(f) = layer.firewall {
            let fw = &mut self.firewall;
            fw.enable = f.enable.unwrap_or(fw.enable);
            fw.default_incoming = f.default_incoming.unwrap_or(fw.default_incoming);
            fw.default_outgoing = f.default_outgoing.unwrap_or(fw.default_outgoing);
            fw.default_routed = f.default_routed.unwrap_or(fw.default_routed);
            if let Some(l) = f.logging {
                fw.logging = l;
            }
            for r in f.rule.unwrap_or_default() {
                let at = src.at(r.span().start);
                fw.rules.push(Rule {
                    spec: r.into_inner(),
                    at,
                });
            }
        }
        append_new(&mut self.packages, layer.packages.unwrap_or_default());
        merge_files(&mut self.files, layer.file.unwrap_or_default(), src)?;
        // Commands append as written: the same command twice is meant.
        self.run.extend(layer.run.unwrap_or_default());
        self.sources.push(src.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProfileStore;

    #[test]
    fn builtin_k8s_profile_matches_the_guide() {
        let store = ProfileStore::load(None).unwrap();
        let p = store.resolve("k8s-node").unwrap();
        assert_eq!(p.modules, ["overlay", "br_netfilter"]);
        assert_eq!(p.cmdline, ["cgroup_memory=1", "cgroup_enable=memory"]);
        let keys: Vec<_> = p.sysctl.keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "net.bridge.bridge-nf-call-iptables",
                "net.ipv4.ip_forward",
                "net.bridge.bridge-nf-call-ip6tables"
            ]
        );
        assert!(p.sysctl.values().all(|v| v == "1"));
        assert!(p.swap_disable);
        assert_eq!(p.time_daemon, TimeDaemon::Chrony);
        assert!(p.firewall.enable);
        assert_eq!(p.firewall.default_outgoing, Policy::Deny);
        assert_eq!(p.conf_name, "k8s");
    }

    #[test]
    fn local_profile_extends_builtin_and_reports_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(
            dir.join("edge.toml"),
            "extends = \"k8s-node\"\n[kernel]\nmodules = [\"wireguard\"]\n\n[[firewall.rule]]\ndirection = \"in\"\nport = \"51820\"\nproto = \"udp\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("bad.toml"), "[kernel]\nmodule = [\"x\"]\n").unwrap();
        let store = ProfileStore::load(Some(&dir)).unwrap();
        let p = store.resolve("edge").unwrap();
        assert_eq!(p.modules, ["overlay", "br_netfilter", "wireguard"]);
        let last = p.firewall.rules.last().unwrap();
        assert_eq!(last.spec.port.as_deref(), Some("51820"));
        assert!(last.at.file.ends_with("edge.toml"));
        assert_eq!(last.at.line, 5);
        let err = store.resolve("bad").unwrap_err().message;
        assert!(err.contains("bad.toml:2"), "{err}");
        assert!(err.contains("module"), "{err}");
        let err = store.resolve("nope").unwrap_err().message;
        assert!(err.contains("k8s-node"), "{err}");
    }
}

//! NodePlan → NodeSetup: what a node gets on its first boot, as data, decided
//! once. The firstrun hook and cloud-init are two serializers of the same
//! NodeSetup, so a file, package, step or firewall command added here reaches
//! both backends.

use super::Backend;
use super::scripts;
use crate::config::plan::NodePlan;
use crate::config::profile::TimeDaemon;

pub const PREPARE_PATH: &str = "/usr/local/lib/piprep/prepare.sh";
pub const SETUP_PATH: &str = "/usr/local/lib/piprep/setup.sh";
pub const CHECK_PATH: &str = "/usr/local/lib/piprep/check.sh";
pub const SETUP_UNIT: &str = "piprep-setup.service";
pub const UNIT_PATH: &str = "/etc/systemd/system/piprep-setup.service";

const SETUP_UNIT_FILE: &str = include_str!("templates/piprep-setup.service");

/// A file installed into the root filesystem (by the hook's put_file, or
/// cloud-init's write_files).
#[derive(Debug, Clone, PartialEq)]
pub struct RootFile {
    pub path: String,
    pub mode: &'static str,
    pub owner: &'static str,
    pub content: String,
}

/// What the first boot's checklist (check.sh) must find on the node: the
/// guide's verification list for this plan. The template only evaluates it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checklist {
    /// SwapTotal 0 and dphys-swapfile not enabled.
    pub swap_off: bool,
    /// Loaded kernel modules.
    pub modules: Vec<String>,
    /// `key=value` sysctl settings.
    pub sysctl: Vec<(String, String)>,
    /// Arguments on the running kernel's command line (and the memory
    /// cgroup, when there are any).
    pub cmdline: Vec<String>,
    pub time_daemon: TimeDaemon,
    /// `ufw status verbose`: active, these defaults and logging, these rule
    /// lines (checked only when enabled).
    pub firewall: FirewallCheck,
    /// `ADDRESS/PREFIX` on `interface`.
    pub address: String,
    pub interface: String,
    pub authorized_keys: usize,
    pub kubernetes: Option<KubernetesCheck>,
    /// `KIND TYPE BASE64` of each pinned host key.
    pub host_keys: Vec<String>,
    /// The cluster's time servers, named when none answered.
    pub ntp: Vec<String>,
    /// The page size the kernel must have (4096 with the Pi 5's 4K kernel).
    pub page_size: Option<u32>,
}

/// `[kubernetes]` items: the runtime, the pinned and held packages, and
/// NetworkManager's unmanaged list (the routed rules are firewall rules).
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesCheck {
    /// Minor version the packages must have.
    pub version: String,
    pub packages: Vec<&'static str>,
    /// NetworkManager's `unmanaged-devices`, as `--print-config` shows it.
    pub unmanaged: String,
}

/// What the unit does when its configuration files changed since it was
/// last applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnChange {
    Restart,
    /// Reload if it runs; never start it.
    Reload,
}

/// A unit the networked step makes ready, after the packages.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub unit: &'static str,
    /// Enabled for every boot (else left as the image has it).
    pub enable: bool,
    pub on_change: OnChange,
    pub config: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FirewallCheck {
    pub enabled: bool,
    pub defaults: String,
    pub logging: String,
    pub rules: Vec<String>,
}

pub fn checklist(plan: &NodePlan) -> Checklist {
    let p = &plan.profile;
    let fw = &p.firewall;
    Checklist {
        swap_off: p.swap_disable,
        modules: p.modules.clone(),
        sysctl: p
            .sysctl
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        cmdline: p.cmdline.clone(),
        time_daemon: p.time_daemon,
        firewall: FirewallCheck {
            enabled: fw.enable,
            defaults: super::firewall::defaults_line(fw),
            logging: super::firewall::logging_line(fw),
            rules: fw.rules.iter().map(super::firewall::status_line).collect(),
        },
        address: format!("{}/{}", plan.address, plan.prefix),
        interface: plan.interface.clone(),
        authorized_keys: plan.user.ssh_authorized_keys.len(),
        kubernetes: plan.kubernetes.as_ref().map(super::kubernetes::check),
        host_keys: plan
            .host_keys
            .iter()
            .map(|k| format!("{} {}", k.kind, k.public_key()))
            .collect(),
        ntp: plan.ntp.clone(),
        page_size: p.pi5_4k_kernel.then_some(4096),
    }
}

/// The card's content for one node, whichever backend carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSetup {
    /// Root-filesystem files, in install order.
    pub files: Vec<RootFile>,
    /// Packages the networked step installs when the image lacks them.
    pub packages: Vec<&'static str>,
    /// Packages held at their version once installed (`apt-mark hold`).
    pub held: Vec<&'static str>,
    /// Units made ready after the packages, in order.
    pub services: Vec<Service>,
    /// The command run once, before the network: swap, kernel settings, login shell,
    /// host keys, the password hash off the boot partition.
    pub offline: Vec<String>,
    /// The unit enabled for every boot, after the network is up: it installs
    /// the packages, applies time and firewall, and writes the report.
    pub networked: &'static str,
    /// The ufw commands that build the rule set, after `ufw --force reset`
    /// and before `ufw --force enable`. Empty when the firewall is off.
    pub firewall: Vec<Vec<String>>,
    /// What the report checks.
    pub checklist: Checklist,
}

pub fn modules_conf(plan: &NodePlan) -> String {
    plan.profile
        .modules
        .iter()
        .map(|m| format!("{m}\n"))
        .collect()
}

/// sysctl.d file, aligned as in the guide.
pub fn sysctl_conf(plan: &NodePlan) -> String {
    let width = plan
        .profile
        .sysctl
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0);
    plan.profile
        .sysctl
        .iter()
        .map(|(k, v)| format!("{k:<width$} = {v}\n"))
        .collect()
}

pub fn chrony_sources(plan: &NodePlan) -> String {
    let mut s = String::from("# Time sources from piprep.toml [cluster] ntp\n");
    for server in &plan.ntp {
        let kind = if server.contains("pool") {
            "pool"
        } else {
            "server"
        };
        s += &format!("{kind} {server} iburst\n");
    }
    s
}

pub const TIMESYNCD_CONF: &str = "/etc/systemd/timesyncd.conf.d/piprep.conf";

/// The cluster's servers for systemd-timesyncd, which keeps the clock on the
/// first networked boot, before apt can install chrony (or for good, with
/// `[time] daemon = "systemd-timesyncd"`).
pub fn timesyncd_conf(plan: &NodePlan) -> String {
    format!(
        "# Time sources from piprep.toml [cluster] ntp\n[Time]\nNTP={}\n",
        plan.ntp.join(" ")
    )
}

pub fn packages(plan: &NodePlan) -> Vec<&'static str> {
    let p = &plan.profile;
    let mut v = Vec::new();
    if p.time_daemon == TimeDaemon::Chrony {
        v.push("chrony");
    }
    if p.firewall.enable {
        v.push("ufw");
    }
    if let Some(k) = &plan.kubernetes {
        v.extend(super::kubernetes::packages(k));
    }
    v
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// The ufw commands of the plan's rule set, in the order they apply.
pub fn firewall_commands(plan: &NodePlan) -> Vec<Vec<String>> {
    let fw = &plan.profile.firewall;
    if !fw.enable {
        return Vec::new();
    }
    let mut v: Vec<Vec<String>> = super::firewall::defaults_words(fw)
        .iter()
        .map(|(policy, direction)| words(&["ufw", "default", policy, direction]))
        .collect();
    v.push(vec!["ufw".into(), "logging".into(), fw.logging.clone()]);
    v.extend(fw.rules.iter().map(super::firewall::words));
    v
}

pub fn node_setup(plan: &NodePlan, boot_mount: &str, backend: Backend) -> NodeSetup {
    let p = &plan.profile;
    let mut files = Vec::new();
    let mut add = |path: String, mode, content| {
        files.push(RootFile {
            path,
            mode,
            owner: "root:root",
            content,
        })
    };
    if !p.modules.is_empty() {
        add(
            format!("/etc/modules-load.d/{}.conf", p.conf_name),
            "0644",
            modules_conf(plan),
        );
    }
    if !p.sysctl.is_empty() {
        add(
            format!("/etc/sysctl.d/{}.conf", p.conf_name),
            "0644",
            sysctl_conf(plan),
        );
    }
    if p.time_daemon == TimeDaemon::Chrony && !plan.ntp.is_empty() {
        add(
            "/etc/chrony/sources.d/piprep.sources".into(),
            "0644",
            chrony_sources(plan),
        );
    }
    if !plan.ntp.is_empty() {
        add(TIMESYNCD_CONF.into(), "0644", timesyncd_conf(plan));
    }
    if let Some(files) = plan.kubernetes.as_ref().and_then(super::kubernetes::files) {
        for (path, content) in files {
            add(path.to_string(), "0644", content);
        }
    }
    // Public halves of the node's pinned host keys; the private ones travel
    // as secrets (the hook's boot-partition files, cloud-init's ssh_keys).
    for k in &plan.host_keys {
        add(
            format!("{}.pub", k.path()),
            "0644",
            format!("{}\n", k.public),
        );
    }
    let firewall = firewall_commands(plan);
    let packages = packages(plan);
    let (held, services) = match &plan.kubernetes {
        Some(_) => (
            crate::config::kubernetes::PACKAGES.to_vec(),
            super::kubernetes::services(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let checks = checklist(plan);
    add(
        PREPARE_PATH.into(),
        "0755",
        scripts::prepare(plan, boot_mount),
    );
    add(
        SETUP_PATH.into(),
        "0755",
        scripts::setup(plan, &packages, &firewall, &held, &services),
    );
    add(
        CHECK_PATH.into(),
        "0755",
        scripts::check(plan, &checks, boot_mount, backend),
    );
    add(UNIT_PATH.into(), "0644", SETUP_UNIT_FILE.to_string());
    NodeSetup {
        files,
        packages,
        held,
        services,
        offline: vec![PREPARE_PATH.to_string()],
        networked: SETUP_UNIT,
        firewall,
        checklist: checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::render::{cloudinit, firstboot, shell};

    fn plans() -> Vec<NodePlan> {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut all = Vec::new();
        for inv in ["piprep.toml", "cloud-init.toml", "kubernetes.toml"] {
            let cfg = Config::load(&data.join(inv)).unwrap();
            all.extend(cfg.plans().unwrap().0);
        }
        all
    }

    /// The files cloud-init's user-data carries, as (path, mode, owner, body).
    fn write_files(user_data: &str) -> Vec<(String, String, String, String)> {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(user_data).unwrap();
        let s = |v: &serde_yaml_ng::Value, k: &str| v[k].as_str().unwrap().to_string();
        doc["write_files"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    s(f, "path"),
                    s(f, "permissions"),
                    s(f, "owner"),
                    s(f, "content"),
                )
            })
            .collect()
    }

    #[test]
    fn both_backends_carry_the_same_setup() {
        for plan in plans() {
            let fr = node_setup(&plan, "/boot/firmware", Backend::Firstrun);
            let ci = node_setup(&plan, "/boot/firmware", Backend::CloudInit);
            // One decision: the backend changes only what the report names.
            assert_eq!(
                (&fr.packages, &fr.firewall, &fr.offline, fr.networked),
                (&ci.packages, &ci.firewall, &ci.offline, ci.networked)
            );
            assert_eq!(fr.checklist, ci.checklist);
            assert_eq!((&fr.held, &fr.services), (&ci.held, &ci.services));
            assert_eq!(fr.files.len(), ci.files.len());
            for (a, b) in fr.files.iter().zip(&ci.files) {
                assert_eq!((&a.path, a.mode, a.owner), (&b.path, b.mode, b.owner));
                if a.path == CHECK_PATH {
                    let differ: Vec<_> = a
                        .content
                        .lines()
                        .zip(b.content.lines())
                        .filter(|(x, y)| x != y)
                        .collect();
                    assert_eq!(differ, [("BACKEND=firstrun", "BACKEND=cloud-init")]);
                } else {
                    assert_eq!(a.content, b.content, "{}", a.path);
                }
            }
            // The firstrun hook installs every file, byte for byte.
            let hook = firstboot::hook_script(&plan, &fr, "/boot/firmware");
            for f in &fr.files {
                let line = shell::put_file(&f.path, f.mode, &f.content, "\t");
                assert!(hook.contains(&line), "hook lacks {}", f.path);
            }
            assert!(hook.contains(&format!("step \"node preparation\" {}", PREPARE_PATH)));
            // cloud-init writes exactly the same files.
            let ud = cloudinit::user_data(&plan, &ci);
            let want: Vec<_> = ci
                .files
                .iter()
                .map(|f| {
                    (
                        f.path.clone(),
                        f.mode.to_string(),
                        f.owner.to_string(),
                        f.content.clone(),
                    )
                })
                .collect();
            assert_eq!(write_files(&ud), want);
            // Packages and firewall commands reach the node through setup.sh,
            // which both carry.
            let setup = &fr
                .files
                .iter()
                .find(|f| f.path == SETUP_PATH)
                .unwrap()
                .content;
            assert!(setup.contains(&format!("pkgs={}", shell::quote(&fr.packages.join(" ")))));
            for c in &fr.firewall {
                let line = format!("\t{} || return 1\n", scripts::command_line(c));
                assert!(setup.contains(&line), "setup.sh lacks {line}");
            }
        }
    }

    #[test]
    fn kubernetes_adds_its_files_packages_services_and_rules_once() {
        let all = plans();
        let with: Vec<_> = all.iter().filter(|p| p.kubernetes.is_some()).collect();
        assert_eq!(with.len(), 2, "tests/data/kubernetes.toml has two nodes");
        for plan in all.iter() {
            let s = node_setup(plan, "/boot/firmware", Backend::Firstrun);
            let paths: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
            let kube_files = [
                super::super::kubernetes::CONTAINERD_CONFIG,
                super::super::kubernetes::CRICTL_CONFIG,
                super::super::kubernetes::KEYRING,
                super::super::kubernetes::SOURCES,
                super::super::kubernetes::PIN,
                super::super::kubernetes::NM_CONF,
            ];
            let routed = s.firewall.iter().filter(|c| c[1] == "route").count();
            let setup = &s
                .files
                .iter()
                .find(|f| f.path == SETUP_PATH)
                .unwrap()
                .content;
            if plan.kubernetes.is_some() {
                for f in kube_files {
                    assert_eq!(paths.iter().filter(|p| **p == f).count(), 1, "{f}");
                }
                assert!(
                    s.packages
                        .ends_with(&["containerd", "kubeadm", "kubelet", "kubectl"])
                );
                assert_eq!(s.held, ["kubeadm", "kubelet", "kubectl"]);
                assert_eq!(s.services.len(), 3);
                assert_eq!(routed, 3);
                assert!(s.checklist.kubernetes.is_some());
                assert!(setup.contains("apt-mark hold $held"));
                assert!(
                    setup.contains("containerd.service yes restart /etc/containerd/config.toml")
                );
            } else {
                assert!(kube_files.iter().all(|f| !paths.contains(f)));
                assert!(s.held.is_empty() && s.services.is_empty());
                assert_eq!(routed, 0);
                assert!(s.checklist.kubernetes.is_none());
                assert!(setup.contains("configure_services() { return 0; }"));
            }
        }
    }

    #[test]
    fn the_firewall_is_the_profiles_rule_set_in_order() {
        let plan = &plans()[0];
        let fw = firewall_commands(plan);
        let rules = &plan.profile.firewall.rules;
        assert_eq!(fw.len(), 4 + rules.len());
        assert_eq!(fw[0], ["ufw", "default", "deny", "incoming"]);
        assert_eq!(fw[3][..2], ["ufw", "logging"]);
        assert_eq!(fw[4], crate::render::firewall::words(&rules[0]));
        let mut off = plan.clone();
        off.profile.firewall.enable = false;
        assert!(firewall_commands(&off).is_empty());
        assert!(!packages(&off).contains(&"ufw"));
    }

    #[test]
    fn the_checklist_is_the_guides_verification_list() {
        let plan = &plans()[0];
        let c = checklist(plan);
        assert!(c.swap_off);
        assert_eq!(c.modules, ["overlay", "br_netfilter"]);
        assert_eq!(c.cmdline, ["cgroup_memory=1", "cgroup_enable=memory"]);
        assert!(
            c.sysctl
                .contains(&("net.ipv4.ip_forward".into(), "1".into()))
        );
        assert_eq!(c.time_daemon, TimeDaemon::Chrony);
        assert!(c.firewall.enabled);
        assert_eq!(c.firewall.rules.len(), plan.profile.firewall.rules.len());
        assert_eq!(c.address, format!("{}/{}", plan.address, plan.prefix));
        // The check script is filled from it, whatever the backend.
        let script = scripts::check(plan, &c, "/boot/firmware", Backend::Firstrun);
        assert!(script.contains("MODULES='overlay br_netfilter'"));
        assert!(script.contains("SWAP_DISABLE=yes"));
    }
}

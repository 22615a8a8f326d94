//! What a node gets on its first boot, as data: the types every concern
//! contributes to and both backends serialize. A leaf: it imports no concern.

use crate::config::plan::RegionalPlan;
use crate::config::profile::{RuleSpec, TimeDaemon};

/// A file installed into the root filesystem (by the hook's put_file, or
/// cloud-init's write_files).
#[derive(Debug, Clone, PartialEq)]
pub struct RootFile {
    pub path: String,
    pub mode: String,
    pub owner: String,
    pub content: String,
}

impl RootFile {
    /// A root-owned file.
    pub fn root(path: impl Into<String>, mode: &str, content: String) -> RootFile {
        RootFile {
            path: path.into(),
            mode: mode.to_string(),
            owner: "root:root".to_string(),
            content,
        }
    }
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

/// One thing the first boot's checklist (check.sh) verifies, as a concern
/// states it.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// SwapTotal 0 and dphys-swapfile not enabled.
    SwapOff,
    /// Loaded kernel modules.
    Modules(Vec<String>),
    /// `key=value` sysctl settings.
    Sysctl(Vec<(String, String)>),
    /// Arguments on the running kernel's command line.
    Cmdline(Vec<String>),
    TimeDaemon(TimeDaemon),
    /// The cluster's time servers, named when none answered.
    Ntp(Vec<String>),
    /// The page size the kernel must have (4096 with the Pi 5's 4K kernel).
    PageSize(u32),
    /// `ADDRESS/PREFIX` on `interface`.
    Address {
        address: String,
        interface: String,
    },
    AuthorizedKeys(usize),
    /// `KIND TYPE BASE64` of each pinned host key.
    HostKeys(Vec<String>),
    /// `ADDRESS<TAB>NAME` lines of the cluster's /etc/hosts block.
    Hosts(Vec<String>),
    Kubernetes(KubernetesCheck),
    /// `bootstrap = true`: this node's part in forming the cluster (`init`,
    /// `control-plane` or `worker`), reported as kubeadm.init or
    /// kubeadm.join, then node.ready.
    Bootstrap(&'static str),
    /// The radio unblocked and the Wi-Fi connection up.
    Wifi,
    /// Time zone, locale and keyboard layout, where set.
    Regional(RegionalPlan),
    /// The profile's own packages, files and commands.
    Extras(ExtrasCheck),
}

/// What the profile adds, as the checklist verifies it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExtrasCheck {
    /// Package names (without `=VERSION`).
    pub packages: Vec<String>,
    /// `SHA256 MODE OWNER PATH` of each file.
    pub files: Vec<String>,
    /// The key of each command (`run.KEY` in the report).
    pub run: Vec<String>,
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

/// `ufw status verbose`: active, these defaults and logging, these rule
/// lines (checked only when enabled).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FirewallCheck {
    pub enabled: bool,
    pub defaults: String,
    pub logging: String,
    pub rules: Vec<String>,
}

/// The guide's verification list for one node, as check.sh evaluates it:
/// every part's checks folded into one record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checklist {
    pub swap_off: bool,
    pub modules: Vec<String>,
    pub sysctl: Vec<(String, String)>,
    pub cmdline: Vec<String>,
    pub time_daemon: TimeDaemon,
    pub firewall: FirewallCheck,
    pub address: String,
    pub interface: String,
    pub authorized_keys: usize,
    pub kubernetes: Option<KubernetesCheck>,
    pub host_keys: Vec<String>,
    pub hosts: Vec<String>,
    pub ntp: Vec<String>,
    pub page_size: Option<u32>,
    pub bootstrap: Option<&'static str>,
    pub wifi: bool,
    pub regional: RegionalPlan,
    pub extras: ExtrasCheck,
}

impl Checklist {
    pub fn add(&mut self, check: Check) {
        match check {
            Check::SwapOff => self.swap_off = true,
            Check::Modules(m) => self.modules.extend(m),
            Check::Sysctl(s) => self.sysctl.extend(s),
            Check::Cmdline(c) => self.cmdline.extend(c),
            Check::TimeDaemon(d) => self.time_daemon = d,
            Check::Ntp(n) => self.ntp.extend(n),
            Check::PageSize(p) => self.page_size = Some(p),
            Check::Address { address, interface } => {
                self.address = address;
                self.interface = interface;
            }
            Check::AuthorizedKeys(n) => self.authorized_keys += n,
            Check::HostKeys(k) => self.host_keys.extend(k),
            Check::Hosts(h) => self.hosts.extend(h),
            Check::Kubernetes(k) => self.kubernetes = Some(k),
            Check::Bootstrap(role) => self.bootstrap = Some(role),
            Check::Wifi => self.wifi = true,
            Check::Regional(r) => self.regional = r,
            Check::Extras(e) => self.extras = e,
        }
    }
}

/// A secret the first boot moves from the boot partition into the root
/// filesystem (root only), then overwrites and deletes on the partition.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedSecret {
    /// Its name on the boot partition.
    pub boot_name: String,
    /// Where the offline preparation puts it (mode 0600, directories 0700).
    pub dest: String,
    pub content: String,
}

/// What one concern adds to a node: the unit of the node setup's fold.
#[derive(Debug, Clone, Default)]
pub struct Part {
    /// Root-filesystem files, in install order.
    pub files: Vec<RootFile>,
    /// Packages the networked step installs when the image lacks them.
    pub packages: Vec<String>,
    /// Packages held at their version once installed (`apt-mark hold`).
    pub held: Vec<&'static str>,
    /// Units made ready after the packages, in order.
    pub services: Vec<Service>,
    /// ufw rules, after the profile's policy (they only allow).
    pub firewall_rules: Vec<RuleSpec>,
    pub checks: Vec<Check>,
    /// Secrets carried on the boot partition, in both backends.
    pub secrets: Vec<PlacedSecret>,
    /// Kernel arguments kept on cmdline.txt.
    pub cmdline: Vec<String>,
    /// Commands run once each after the packages: (key, command).
    pub run: Vec<(String, String)>,
    /// Owners set once the packages (and their accounts) are in: (owner, path).
    pub owners: Vec<(String, String)>,
}

/// The card's content for one node, whichever backend carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSetup {
    /// Root-filesystem files, in install order.
    pub files: Vec<RootFile>,
    /// Packages the networked step installs when the image lacks them.
    pub packages: Vec<String>,
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
    /// Secrets carried on the boot partition and placed by the offline step.
    pub secrets: Vec<PlacedSecret>,
    /// Kernel arguments the concerns add to cmdline.txt (after the profile's).
    pub cmdline: Vec<String>,
}

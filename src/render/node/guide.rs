//! The guide's profile as node content: kernel modules, sysctl, swap, the
//! memory cgroup, time, and the profile's firewall rules.

use super::model::{Check, Part, RootFile};
use crate::config::plan::NodePlan;
use crate::config::profile::TimeDaemon;

pub const TIMESYNCD_CONF: &str = "/etc/systemd/timesyncd.conf.d/piprep.conf";
pub const CHRONY_SOURCES: &str = "/etc/chrony/sources.d/piprep.sources";

pub fn part(plan: &NodePlan) -> Part {
    let p = &plan.profile;
    let mut files = Vec::new();
    if !p.modules.is_empty() {
        let path = format!("/etc/modules-load.d/{}.conf", p.conf_name);
        files.push(RootFile::root(path, "0644", modules_conf(plan)));
    }
    if !p.sysctl.is_empty() {
        let path = format!("/etc/sysctl.d/{}.conf", p.conf_name);
        files.push(RootFile::root(path, "0644", sysctl_conf(plan)));
    }
    if p.time_daemon == TimeDaemon::Chrony && !plan.ntp.is_empty() {
        files.push(RootFile::root(CHRONY_SOURCES, "0644", chrony_sources(plan)));
    }
    if !plan.ntp.is_empty() {
        files.push(RootFile::root(TIMESYNCD_CONF, "0644", timesyncd_conf(plan)));
    }
    let mut packages = Vec::new();
    if p.time_daemon == TimeDaemon::Chrony {
        packages.push("chrony".into());
    }
    if p.firewall.enable {
        packages.push("ufw".into());
    }
    let mut checks = Vec::new();
    if p.swap_disable {
        checks.push(Check::SwapOff);
    }
    checks.extend([
        Check::Modules(p.modules.clone()),
        Check::Sysctl(
            p.sysctl
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        Check::Cmdline(p.cmdline.clone()),
        Check::TimeDaemon(p.time_daemon),
        Check::Ntp(plan.ntp.clone()),
    ]);
    if p.pi5_4k_kernel {
        checks.push(Check::PageSize(4096));
    }
    Part {
        files,
        packages,
        firewall_rules: p.firewall.rules.clone(),
        checks,
        ..Part::default()
    }
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

/// The cluster's servers for systemd-timesyncd, which keeps the clock on the
/// first networked boot, before apt can install chrony (or for good, with
/// `[time] daemon = "systemd-timesyncd"`).
pub fn timesyncd_conf(plan: &NodePlan) -> String {
    format!(
        "# Time sources from piprep.toml [cluster] ntp\n[Time]\nNTP={}\n",
        plan.ntp.join(" ")
    )
}

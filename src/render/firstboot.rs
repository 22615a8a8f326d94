//! The first-boot scripts: the `systemd.run=` hook (on the boot partition), and
//! the root filesystem files both backends install: prepare (the offline node
//! preparation), piprep-setup (network-online unit) and the checklist that
//! writes the report.

use sha2::{Digest, Sha256};

use crate::config::plan::NodePlan;
use crate::config::profile::TimeDaemon;

use super::shell::{fill, put_file, quote};
use super::{Backend, firewall, network};
use crate::contract::{HOOK_SCRIPT, REPORT_FILE, SECRETS_FILE, hook_tokens};

const HOOK: &str = include_str!("templates/hook.sh");
const SETUP: &str = include_str!("templates/setup.sh");
const CHECK: &str = include_str!("templates/check.sh");
const PREPARE: &str = include_str!("templates/prepare.sh");
/// Helpers every generated script shares (log, step, put_file, has_pkg, has_unit).
const SHELL_LIB: &str = include_str!("templates/lib.sh");

pub const PREPARE_PATH: &str = "/usr/local/lib/piprep/prepare.sh";
pub const SETUP_PATH: &str = "/usr/local/lib/piprep/setup.sh";
pub const CHECK_PATH: &str = "/usr/local/lib/piprep/check.sh";
pub const UNIT_PATH: &str = "/etc/systemd/system/piprep-setup.service";

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn common(plan: &NodePlan) -> Vec<(&'static str, String)> {
    vec![
        ("SHELL_LIB", SHELL_LIB.trim_end().to_string()),
        ("NODE_Q", quote(&plan.name)),
        ("USER_Q", quote(&plan.user.name)),
        ("VERSION", env!("CARGO_PKG_VERSION").to_string()),
        ("HASH", plan.config_hash()),
    ]
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

/// `key=value` lines for the scripts' sysctl loops.
fn sysctl_lines(plan: &NodePlan) -> String {
    let lines: Vec<String> = plan
        .profile
        .sysctl
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    lines.join("\n")
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

pub fn setup_unit() -> String {
    "[Unit]\n\
     Description=piprep: network-dependent node preparation and first-boot report\n\
     Wants=network-online.target\n\
     After=network-online.target\n\
     \n\
     [Service]\n\
     Type=oneshot\n\
     ExecStart=/usr/local/lib/piprep/setup.sh\n\
     RemainAfterExit=yes\n\
     StandardOutput=journal+console\n\
     TimeoutStartSec=30min\n\
     \n\
     [Install]\n\
     WantedBy=multi-user.target\n"
        .to_string()
}

pub fn check_script(plan: &NodePlan, boot_mount: &str, backend: Backend) -> String {
    let p = &plan.profile;
    let fw = &p.firewall;
    let mut v = common(plan);
    v.extend([
        ("BACKEND", backend.name().to_string()),
        ("BOOT_Q", quote(boot_mount)),
        ("REPORT_FILE", REPORT_FILE.to_string()),
        (
            "ADDRESS_Q",
            quote(&format!("{}/{}", plan.address, plan.prefix)),
        ),
        ("IFACE_Q", quote(&plan.interface)),
        ("MODULES_Q", quote(&p.modules.join(" "))),
        ("CMDLINE_Q", quote(&p.cmdline.join(" "))),
        ("SWAP_DISABLE", yes_no(p.swap_disable)),
        (
            "TIME_DAEMON_Q",
            match p.time_daemon {
                TimeDaemon::Chrony => "chrony",
                TimeDaemon::SystemdTimesyncd => "systemd-timesyncd",
            }
            .to_string(),
        ),
        ("FIREWALL_ENABLE", yes_no(fw.enable)),
        ("FIREWALL_DEFAULTS_Q", quote(&firewall::defaults_line(fw))),
        ("FIREWALL_LOGGING_Q", quote(&firewall::logging_line(fw))),
        ("KEY_COUNT", plan.user.ssh_authorized_keys.len().to_string()),
        ("SYSCTL_LINES_Q", quote(&sysctl_lines(plan))),
        (
            "UFW_STATUS_LINES_Q",
            quote(
                &fw.rules
                    .iter()
                    .map(firewall::status_line)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ),
    ]);
    fill(CHECK, &v)
}

pub fn setup_script(plan: &NodePlan) -> String {
    let p = &plan.profile;
    let mut packages = Vec::new();
    if p.time_daemon == TimeDaemon::Chrony {
        packages.push("chrony");
    }
    if p.firewall.enable {
        packages.push("ufw");
    }
    let chrony = if p.time_daemon == TimeDaemon::Chrony {
        let mut f = String::from("configure_time() {\n\thas_pkg chrony || return 1\n");
        if !plan.ntp.is_empty() {
            // Use only the inventory's servers: comment out the distribution's defaults.
            f += "\tif grep -qE '^(pool|server) ' /etc/chrony/chrony.conf; then\n\t\tsed -i -E 's/^(pool|server) /# disabled by piprep, see sources.d: &/' /etc/chrony/chrony.conf\n\t\tsystemctl restart chrony.service\n\tfi\n";
        }
        f += "\tsystemctl disable --now systemd-timesyncd.service >/dev/null 2>&1 || true\n\tsystemctl enable --now chrony.service\n}";
        f
    } else {
        "configure_time() { return 0; }".to_string()
    };
    let rules = firewall::function(&p.firewall, "RULESET");
    let ruleset = hex::encode(&Sha256::digest(rules.as_bytes())[..8]);
    let mut v = common(plan);
    v.extend([
        ("PACKAGES_Q", quote(&packages.join(" "))),
        ("CHRONY_FUNCTION", chrony),
        ("FIREWALL_FUNCTION", rules.replace("RULESET", &ruleset)),
    ]);
    fill(SETUP, &v)
}

fn swap_function(plan: &NodePlan) -> String {
    if !plan.profile.swap_disable {
        return "set_swap() { return 0; }".to_string();
    }
    r##"set_swap() {
	swapoff -a || true
	# Bookworm: dphys-swapfile (the guide's steps).
	if command -v dphys-swapfile >/dev/null; then
		dphys-swapfile swapoff || true
		dphys-swapfile uninstall || true
	fi
	if has_unit dphys-swapfile.service; then
		systemctl disable dphys-swapfile.service >/dev/null 2>&1 || return 1
	fi
	# Trixie: rpi-swap (zram and /var/swap) reads drop-ins at the next boot.
	if has_pkg rpi-swap || [ -e /etc/rpi/swap.conf ] || [ -d /etc/rpi/swap.conf.d ]; then
		mkdir -p /etc/rpi/swap.conf.d &&
			printf '[Main]\nMechanism=none\n' | put_file /etc/rpi/swap.conf.d/90-piprep-disable-swap.conf 0644 || return 1
	fi
	# Any swap entry in fstab is commented out.
	if awk '!/^[[:space:]]*#/ && $3 == "swap" {found = 1} END {exit !found}' /etc/fstab 2>/dev/null; then
		awk '!/^[[:space:]]*#/ && $3 == "swap" {print "# disabled by piprep: " $0; next} {print}' /etc/fstab | put_file /etc/fstab 0644 || return 1
	fi
	return 0
}"##
    .to_string()
}

fn time_function(plan: &NodePlan) -> String {
    if plan.profile.time_daemon != TimeDaemon::Chrony {
        return "set_time() { return 0; }".to_string();
    }
    r#"set_time() {
	# Installing chrony needs the network: piprep-setup.service does it when absent.
	if has_pkg chrony; then
		systemctl enable chrony.service >/dev/null 2>&1 || return 1
		systemctl disable systemd-timesyncd.service >/dev/null 2>&1 || true
	fi
	return 0
}"#
    .to_string()
}

/// The offline node preparation both backends run: swap, kernel settings, the
/// user's login shell, SSH host keys, and the password hash off the boot
/// partition.
pub fn prepare_script(plan: &NodePlan, boot_mount: &str) -> String {
    let mut v = common(plan);
    v.extend([
        ("BOOT_Q", quote(boot_mount)),
        ("SECRETS_FILE", SECRETS_FILE.to_string()),
        ("SWAP_FUNCTION", swap_function(plan)),
        ("MODULES_Q", quote(&plan.profile.modules.join(" "))),
        ("SYSCTL_LINES_Q", quote(&sysctl_lines(plan))),
    ]);
    fill(PREPARE, &v)
}

/// A file either backend installs into the root filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct RootFile {
    pub path: String,
    pub mode: &'static str,
    pub content: String,
}

/// What the node's root filesystem gets, whichever backend installs it (the
/// hook through put_file, cloud-init through write_files).
pub fn rootfs_files(plan: &NodePlan, boot_mount: &str, backend: Backend) -> Vec<RootFile> {
    let p = &plan.profile;
    let mut files = Vec::new();
    let mut add = |path: String, mode, content| {
        files.push(RootFile {
            path,
            mode,
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
    add(
        PREPARE_PATH.into(),
        "0755",
        prepare_script(plan, boot_mount),
    );
    add(SETUP_PATH.into(), "0755", setup_script(plan));
    add(
        CHECK_PATH.into(),
        "0755",
        check_script(plan, boot_mount, backend),
    );
    add(UNIT_PATH.into(), "0644", setup_unit());
    files
}

pub fn hook_script(plan: &NodePlan, boot_mount: &str) -> String {
    let p = &plan.profile;
    let mut install: String = rootfs_files(plan, boot_mount, Backend::Firstrun)
        .iter()
        .map(|f| put_file(&f.path, f.mode, &f.content, "\t"))
        .collect();
    install += "\treturn 0";

    let keyfile = put_file(
        &network::keyfile_path(plan),
        "0600",
        &network::keyfile(plan),
        "\t\t",
    );
    let ssh_policy = if plan.user.password_hash.is_none() {
        "\t# Keys only: no password exists, so password logins are switched off.\n\tprintf 'PasswordAuthentication no\\n' | put_file /etc/ssh/sshd_config.d/piprep.conf 0644 || return 1"
    } else {
        "\trm -f /etc/ssh/sshd_config.d/piprep.conf"
    };
    let hook_patterns = hook_tokens(boot_mount)
        .iter()
        .map(|t| quote(t))
        .collect::<Vec<_>>()
        .join(" | ");
    let mut v = common(plan);
    v.extend([
        ("CLUSTER_Q", quote(&plan.cluster)),
        ("ROLE_Q", quote(plan.role.as_str())),
        ("PROFILE_Q", quote(&p.name)),
        ("BOOT_Q", quote(boot_mount)),
        ("SECRETS_FILE", SECRETS_FILE.to_string()),
        ("REPORT_FILE", REPORT_FILE.to_string()),
        ("INSTALL_FILES", install),
        ("NETWORK_KEYFILE", keyfile.trim_end().to_string()),
        ("DHCPCD_BLOCK_Q", quote(&network::dhcpcd_block(plan))),
        (
            "AUTHORIZED_KEYS_Q",
            quote(&(plan.user.ssh_authorized_keys.join("\n") + "\n")),
        ),
        ("SSH_PASSWORD_POLICY", ssh_policy.to_string()),
        ("TIME_FUNCTION", time_function(plan)),
        ("PREPARE_PATH", PREPARE_PATH.to_string()),
        ("HOOK_PATTERNS", hook_patterns),
        ("HOOK_FILE", HOOK_SCRIPT.to_string()),
    ]);
    fill(HOOK, &v)
}

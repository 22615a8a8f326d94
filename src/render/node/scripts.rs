//! The root-filesystem scripts both backends install: prepare (the offline
//! node preparation), setup (run by piprep-setup.service once the network is
//! up) and check (the checklist that writes the report). The shell lives in
//! `templates/`; here values are quoted and filled in.

use sha2::{Digest, Sha256};

use super::model::{Checklist, OnChange, Part, PlacedSecret, Service};
use crate::config::plan::NodePlan;
use crate::config::profile::TimeDaemon;
use crate::contract::{REPORT_FILE, SECRETS_FILE};
use crate::render::Backend;
use crate::render::hosts;
use crate::render::shell::{command_line, fill, quote};

const SETUP: &str = include_str!("../templates/setup.sh");
const CHECK: &str = include_str!("../templates/check.sh");
const PREPARE: &str = include_str!("../templates/prepare.sh");
const SWAP: &str = include_str!("../templates/swap.sh");
const CHRONY: &str = include_str!("../templates/chrony.sh");
const CHRONY_ONLY_OURS: &str = include_str!("../templates/chrony-only-ours.sh");
const FIREWALL: &str = include_str!("../templates/firewall.sh");
const SERVICES: &str = include_str!("../templates/services.sh");
const EXTRAS: &str = include_str!("../templates/extras.sh");
/// Helpers every generated script shares (log, step, put_file, has_pkg, has_unit).
const SHELL_LIB: &str = include_str!("../templates/lib.sh");
/// clock_synced, for setup.sh (which waits on it) and check.sh (which reports it).
const CLOCK_LIB: &str = include_str!("../templates/clock.sh");
/// How long piprep-setup waits for a time server before apt, in seconds.
pub const CLOCK_WAIT_SECS: u32 = 300;

/// clock_synced, for scripts that wait on the clock.
pub fn clock_lib() -> String {
    fragment(CLOCK_LIB)
}

/// A shell function that does nothing, for a step the profile leaves out.
pub fn skipped(name: &str) -> String {
    format!("{name}() {{ return 0; }}")
}

/// A template fragment without its final newline, as placed in a script.
pub fn fragment(t: &str) -> String {
    t.trim_end_matches('\n').to_string()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Values the script templates share, those of `keys` only (`fill` refuses
/// a value its template never asks for).
pub fn common(plan: &NodePlan, keys: &[&str]) -> Vec<(&'static str, String)> {
    let all = [
        ("SHELL_LIB", SHELL_LIB.trim_end().to_string()),
        ("NODE_Q", quote(&plan.name)),
        ("USER_Q", quote(&plan.user.name)),
        ("VERSION", env!("CARGO_PKG_VERSION").to_string()),
        ("HASH", plan.config_hash()),
    ];
    all.into_iter().filter(|(k, _)| keys.contains(k)).collect()
}

fn regional_q(v: &Option<String>) -> String {
    quote(v.as_deref().unwrap_or_default())
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

/// `KIND PUBLIC-KEY-LINE` of each pinned host key, one per line.
fn host_key_lines(plan: &NodePlan) -> String {
    plan.host_keys
        .iter()
        .map(|k| format!("{} {}", k.kind, k.public))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The plan's /etc/hosts block.
fn hosts_block(plan: &NodePlan) -> String {
    hosts::block(plan.cluster_hosts.iter().map(|(n, a)| (n.as_str(), *a)))
}

/// The checklist script for `checks`.
pub fn check(plan: &NodePlan, checks: &Checklist, boot_mount: &str, backend: Backend) -> String {
    let fw = &checks.firewall;
    let sysctl: Vec<String> = checks
        .sysctl
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut v = common(plan, &["NODE_Q", "USER_Q", "VERSION", "HASH"]);
    v.extend([
        ("BACKEND", backend.name().to_string()),
        ("BOOT_Q", quote(boot_mount)),
        ("REPORT_FILE", REPORT_FILE.to_string()),
        ("ADDRESS_Q", quote(&checks.address)),
        ("IFACE_Q", quote(&checks.interface)),
        ("MODULES_Q", quote(&checks.modules.join(" "))),
        ("CMDLINE_Q", quote(&checks.cmdline.join(" "))),
        ("SWAP_DISABLE", yes_no(checks.swap_off)),
        (
            "TIME_DAEMON_Q",
            match checks.time_daemon {
                TimeDaemon::Chrony => "chrony",
                TimeDaemon::SystemdTimesyncd => "systemd-timesyncd",
            }
            .to_string(),
        ),
        ("FIREWALL_ENABLE", yes_no(fw.enabled)),
        ("FIREWALL_DEFAULTS_Q", quote(&fw.defaults)),
        ("FIREWALL_LOGGING_Q", quote(&fw.logging)),
        ("KEY_COUNT", checks.authorized_keys.to_string()),
        ("SYSCTL_LINES_Q", quote(&sysctl.join("\n"))),
        ("UFW_STATUS_LINES_Q", quote(&fw.rules.join("\n"))),
    ]);
    let k = checks.kubernetes.as_ref();
    v.extend([
        ("KUBERNETES", yes_no(k.is_some())),
        (
            "KUBE_VERSION_Q",
            quote(k.map_or("", |k| k.version.as_str())),
        ),
        (
            "KUBE_PACKAGES_Q",
            quote(&k.map(|k| k.packages.join(" ")).unwrap_or_default()),
        ),
        (
            "NM_UNMANAGED_Q",
            quote(k.map_or("", |k| k.unmanaged.as_str())),
        ),
        ("HOST_KEYS_Q", quote(&checks.host_keys.join("\n"))),
        ("HOSTS_LINES_Q", quote(&checks.hosts.join("\n"))),
        (
            "BOOTSTRAP_ROLE",
            checks.bootstrap.unwrap_or_default().to_string(),
        ),
        ("NTP_Q", quote(&checks.ntp.join(" "))),
        ("WIFI", yes_no(checks.wifi)),
        ("EXTRA_PACKAGES_Q", quote(&checks.extras.packages.join(" "))),
        ("EXTRA_FILES_Q", quote(&checks.extras.files.join("\n"))),
        ("EXTRA_RUN_Q", quote(&checks.extras.run.join(" "))),
        (
            "WIFI_CONNECTION",
            crate::render::network::WIFI_CONNECTION.to_string(),
        ),
        ("TIMEZONE_Q", regional_q(&checks.regional.timezone)),
        ("LOCALE_Q", regional_q(&checks.regional.locale)),
        ("KEYBOARD_Q", regional_q(&checks.regional.keyboard)),
        (
            "PAGE_SIZE",
            checks.page_size.map(|p| p.to_string()).unwrap_or_default(),
        ),
        ("CLOCK_LIB", fragment(CLOCK_LIB)),
    ]);
    fill(CHECK, &v)
}

/// configure_firewall: reset ufw to exactly `commands`, once per rule set
/// (the set's hash is remembered on the node).
fn firewall_function(commands: &[Vec<String>]) -> String {
    if commands.is_empty() {
        return skipped("configure_firewall");
    }
    let lines: String = commands
        .iter()
        .map(|c| format!("\t{} || return 1\n", command_line(c)))
        .collect();
    let with = |ruleset: &str| {
        fragment(&fill(
            FIREWALL,
            &[
                ("RULESET", ruleset.to_string()),
                ("FIREWALL_COMMANDS", lines.clone()),
            ],
        ))
    };
    let ruleset = hex::encode(&Sha256::digest(with("RULESET").as_bytes())[..8]);
    with(&ruleset)
}

/// configure_services: hold `held`, then make each service ready.
fn services_function(held: &[&str], services: &[Service]) -> String {
    if held.is_empty() && services.is_empty() {
        return skipped("configure_services");
    }
    let lines: Vec<String> = services
        .iter()
        .map(|s| {
            let mut w = vec![
                s.unit,
                if s.enable { "yes" } else { "no" },
                match s.on_change {
                    OnChange::Restart => "restart",
                    OnChange::Reload => "reload",
                },
            ];
            w.extend(&s.config);
            w.join(" ")
        })
        .collect();
    fragment(&fill(
        SERVICES,
        &[
            ("SERVICE_LINES_Q", quote(&lines.join("\n"))),
            ("HELD_Q", quote(&held.join(" "))),
        ],
    ))
}

/// profile_extras: the profile's file owners, then its commands, each once.
fn extras_function(run: &[(String, String)], owners: &[(String, String)]) -> String {
    if run.is_empty() && owners.is_empty() {
        return skipped("profile_extras");
    }
    let owners: Vec<String> = owners.iter().map(|(o, p)| format!("{o} {p}")).collect();
    let lines: String = run
        .iter()
        .map(|(key, cmd)| format!("\trun_once {key} {}\n", quote(cmd)))
        .collect();
    // A here-document line, not a shell word: owners and paths are validated
    // to plain characters, so none can end it.
    fragment(&fill(
        EXTRAS,
        &[("OWNERS_Q", owners.join("\n")), ("RUN_LINES", lines)],
    ))
}

/// setup.sh for the folded parts `all` and the firewall's `commands`.
pub fn setup(plan: &NodePlan, all: &Part, firewall: &[Vec<String>]) -> String {
    let (packages, held, services) = (&all.packages, &all.held, &all.services);
    let chrony = if plan.profile.time_daemon == TimeDaemon::Chrony {
        // Use only the inventory's servers: the distribution's are commented out.
        let only_ours = if plan.ntp.is_empty() {
            ""
        } else {
            CHRONY_ONLY_OURS
        };
        fragment(&fill(
            CHRONY,
            &[("ONLY_OUR_SOURCES", only_ours.to_string())],
        ))
    } else {
        skipped("configure_time")
    };
    let mut v = common(plan, &["SHELL_LIB", "VERSION", "HASH"]);
    v.extend([
        ("PACKAGES_Q", quote(&packages.join(" "))),
        ("CHRONY_FUNCTION", chrony),
        ("FIREWALL_FUNCTION", firewall_function(firewall)),
        ("SERVICES_FUNCTION", services_function(held, services)),
        ("EXTRAS_FUNCTION", extras_function(&all.run, &all.owners)),
        ("HOSTS_BLOCK_Q", quote(hosts_block(plan).trim_end())),
        ("HOSTS_BEGIN_Q", quote(hosts::BEGIN)),
        ("HOSTS_END_Q", quote(hosts::END)),
        ("HOST_KEYS_Q", quote(&host_key_lines(plan))),
        ("NTP_Q", quote(&plan.ntp.join(" "))),
        ("CLOCK_WAIT", CLOCK_WAIT_SECS.to_string()),
        ("CLOCK_LIB", fragment(CLOCK_LIB)),
    ]);
    fill(SETUP, &v)
}

/// The offline node preparation both backends run: swap, kernel settings, the
/// user's login shell, SSH host keys, and the password hash off the boot
/// partition.
pub fn prepare(plan: &NodePlan, boot_mount: &str, placed: &[PlacedSecret]) -> String {
    let swap = if plan.profile.swap_disable {
        fragment(SWAP)
    } else {
        skipped("set_swap")
    };
    let mut v = common(plan, &["SHELL_LIB", "USER_Q", "VERSION", "HASH"]);
    v.extend([
        ("BOOT_Q", quote(boot_mount)),
        ("SECRETS_FILE", SECRETS_FILE.to_string()),
        ("SWAP_FUNCTION", swap),
        (
            "PLACED_Q",
            quote(
                &placed
                    .iter()
                    .map(|p| format!("{} {}", p.boot_name, p.dest))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ),
        ("MODULES_Q", quote(&plan.profile.modules.join(" "))),
        ("SYSCTL_LINES_Q", quote(&sysctl_lines(plan))),
        ("HOST_KEYS_Q", quote(&host_key_lines(plan))),
        ("WIFI", yes_no(plan.wifi.is_some())),
        ("TIMEZONE_Q", regional_q(&plan.regional.timezone)),
        ("LOCALE_Q", regional_q(&plan.regional.locale)),
        ("KEYBOARD_Q", regional_q(&plan.regional.keyboard)),
        (
            "HOST_KEY_KINDS_Q",
            quote(
                &plan
                    .host_keys
                    .iter()
                    .map(|k| k.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ),
    ]);
    fill(PREPARE, &v)
}

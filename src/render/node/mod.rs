//! NodePlan → NodeSetup: what a node gets on its first boot, as data, decided
//! once. Each concern returns a `Part` (files, packages, held packages,
//! services, firewall rules, checks) and `node_setup` folds them, then adds
//! the scripts that apply them. The firstrun hook and cloud-init are two
//! serializers of the same NodeSetup, so whatever a part adds reaches both
//! backends. A new concern is one new file and one line in `parts`.

pub mod bootstrap;
mod cluster_hosts;
pub mod guide;
mod identity;
pub mod kubernetes;
pub mod model;
mod profile_extras;
mod regional;
pub mod scripts;
pub mod wifi;

use self::model::{Checklist, FirewallCheck, NodeSetup, Part, RootFile};
use super::Backend;
use super::firewall;
use crate::config::plan::{FirewallPlan, NodePlan};
use crate::config::profile::RuleSpec;

pub const PREPARE_PATH: &str = "/usr/local/lib/piprep/prepare.sh";
pub const SETUP_PATH: &str = "/usr/local/lib/piprep/setup.sh";
pub const CHECK_PATH: &str = "/usr/local/lib/piprep/check.sh";
pub const SETUP_UNIT: &str = "piprep-setup.service";
pub const UNIT_PATH: &str = "/etc/systemd/system/piprep-setup.service";

const SETUP_UNIT_FILE: &str = include_str!("../templates/piprep-setup.service");

/// Every concern's part, in install order.
fn parts(plan: &NodePlan) -> [Part; 8] {
    [
        guide::part(plan),
        regional::part(plan),
        wifi::part(plan),
        kubernetes::part(plan),
        bootstrap::part(plan),
        identity::part(plan),
        cluster_hosts::part(plan),
        // Last: the user's additions come after piprep's own setup.
        profile_extras::part(plan),
    ]
}

pub fn node_setup(plan: &NodePlan, boot_mount: &str, backend: Backend) -> NodeSetup {
    let mut all = Part::default();
    let mut checklist = Checklist::default();
    for part in parts(plan) {
        all.files.extend(part.files);
        all.packages.extend(part.packages);
        all.held.extend(part.held);
        all.services.extend(part.services);
        all.firewall_rules.extend(part.firewall_rules);
        all.secrets.extend(part.secrets);
        all.cmdline.extend(part.cmdline);
        all.run.extend(part.run);
        all.owners.extend(part.owners);
        for c in part.checks {
            checklist.add(c);
        }
    }
    let fw = &plan.profile.firewall;
    checklist.firewall = FirewallCheck {
        enabled: fw.enable,
        defaults: firewall::defaults_line(fw),
        logging: firewall::logging_line(fw),
        rules: all
            .firewall_rules
            .iter()
            .map(firewall::status_line)
            .collect(),
    };
    let commands = firewall_commands(fw, &all.firewall_rules);
    let mut files = std::mem::take(&mut all.files);
    files.extend([
        RootFile::root(
            PREPARE_PATH,
            "0755",
            scripts::prepare(plan, boot_mount, &all.secrets),
        ),
        RootFile::root(SETUP_PATH, "0755", scripts::setup(plan, &all, &commands)),
        RootFile::root(
            CHECK_PATH,
            "0755",
            scripts::check(plan, &checklist, boot_mount, backend),
        ),
        RootFile::root(UNIT_PATH, "0644", SETUP_UNIT_FILE.to_string()),
    ]);
    NodeSetup {
        files,
        packages: all.packages,
        held: all.held,
        services: all.services,
        offline: vec![PREPARE_PATH.to_string()],
        networked: SETUP_UNIT,
        firewall: commands,
        checklist,
        secrets: all.secrets,
        cmdline: all.cmdline,
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// The ufw commands of the policy and rule set, in the order they apply.
fn firewall_commands(fw: &FirewallPlan, rules: &[RuleSpec]) -> Vec<Vec<String>> {
    if !fw.enable {
        return Vec::new();
    }
    let mut v: Vec<Vec<String>> = firewall::defaults_words(fw)
        .iter()
        .map(|(policy, direction)| words(&["ufw", "default", policy, direction]))
        .collect();
    v.push(vec!["ufw".into(), "logging".into(), fw.logging.clone()]);
    v.extend(rules.iter().map(firewall::words));
    v
}

#[cfg(test)]
pub(crate) mod tests;

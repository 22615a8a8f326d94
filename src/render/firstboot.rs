//! The firstrun backend: the `systemd.run=` hook on the boot partition, which
//! installs the node's setup into the root filesystem and gives the node its
//! identity before the first real boot.

use super::BootFile;
use super::boot_file::BackendBoot;
use super::network;
use super::node::model::NodeSetup;
use super::node::scripts::{common, fragment, skipped};
use super::shell::{command_line, fill, put_file, quote};
use crate::config::plan::NodePlan;
use crate::config::profile::TimeDaemon;
use crate::contract::{HOOK_SCRIPT, REPORT_FILE, SECRETS_FILE, hook_tokens, host_key_file};

const HOOK: &str = include_str!("templates/hook.sh");
const TIME: &str = include_str!("templates/time.sh");
const SSH_KEYS_ONLY: &str = include_str!("templates/ssh-keys-only.sh");
const SSH_PASSWORDS: &str = include_str!("templates/ssh-passwords.sh");

/// The hook script, the node's private host keys and its password hash
/// (secrets, scrubbed by the first boot), and the hook's tokens.
pub fn boot(plan: &NodePlan, setup: &NodeSetup, boot_mount: &str) -> BackendBoot {
    let mut files = vec![BootFile::public(
        HOOK_SCRIPT,
        hook_script(plan, setup, boot_mount),
    )];
    for k in &plan.host_keys {
        files.push(BootFile::secret(host_key_file(&k.kind), k.private.clone()));
    }
    if let Some(hash) = &plan.user.password_hash {
        files.push(BootFile::secret(
            SECRETS_FILE,
            format!("{}:{hash}\n", plan.user.name),
        ));
    }
    BackendBoot {
        files,
        hook: hook_tokens(boot_mount),
        ..BackendBoot::default()
    }
}

pub fn hook_script(plan: &NodePlan, setup: &NodeSetup, boot_mount: &str) -> String {
    let p = &plan.profile;
    let mut install: String = setup
        .files
        .iter()
        .map(|f| put_file(&f.path, &f.mode, &f.content, "\t"))
        .collect();
    install += "\treturn 0";

    let keyfile = if network::static_on_wifi(plan) {
        // The Wi-Fi keyfile holds the PSK: a secret the offline preparation places.
        "\t\t: the address is the Wi-Fi connection's, placed with the secrets".to_string()
    } else {
        put_file(
            &network::keyfile_path(plan),
            "0600",
            &network::keyfile(plan),
            "\t\t",
        )
    };
    let ssh_policy = if plan.user.password_hash.is_none() {
        SSH_KEYS_ONLY
    } else {
        SSH_PASSWORDS
    };
    let time = if plan.profile.time_daemon == TimeDaemon::Chrony {
        fragment(TIME)
    } else {
        skipped("set_time")
    };
    let hook_patterns = hook_tokens(boot_mount)
        .iter()
        .map(|t| quote(t))
        .collect::<Vec<_>>()
        .join(" | ");
    let mut v = common(plan, &["SHELL_LIB", "NODE_Q", "USER_Q", "VERSION", "HASH"]);
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
        ("SSH_PASSWORD_POLICY", fragment(ssh_policy)),
        ("TIME_FUNCTION", time),
        ("OFFLINE_STEP", command_line(&setup.offline)),
        ("SETUP_UNIT", setup.networked.to_string()),
        ("HOOK_PATTERNS", hook_patterns),
        ("HOOK_FILE", HOOK_SCRIPT.to_string()),
    ]);
    fill(HOOK, &v)
}

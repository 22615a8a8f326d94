//! The cloud-init (NoCloud) rendering of a node plan: `user-data`
//! (`#cloud-config`), `meta-data` and `network-config` (netplan v2), generated
//! with a YAML serializer from the same plan the firstrun hook uses.

use indexmap::IndexMap;
use serde::Serialize;

use super::BootFile;
use super::boot_file::BackendBoot;
use super::node::model::NodeSetup;
use crate::config::plan::NodePlan;
use crate::contract::hook_tokens;

/// The NoCloud seed (replacing the image's template files, not appended to
/// them), the tokens that point cloud-init at it, and the hook's tokens
/// marked stale: a bare hook races cloud-init.
pub fn boot(plan: &NodePlan, setup: &NodeSetup, boot_mount: &str) -> BackendBoot {
    let user_data = BootFile {
        redact: plan
            .user
            .password_hash
            .iter()
            .cloned()
            .chain(private_key_lines(plan))
            .collect(),
        ..BootFile::public("user-data", user_data(plan, setup))
    };
    BackendBoot {
        files: vec![
            user_data,
            BootFile::public("meta-data", meta_data(plan)),
            BootFile::public("network-config", network_config(plan)),
        ],
        permanent: vec![datasource_token(plan), seed_mount_token(boot_mount)],
        hook: Vec::new(),
        stale: hook_tokens(boot_mount),
    }
}

/// The body lines of the node's private host keys (what must never be shown).
fn private_key_lines(plan: &NodePlan) -> impl Iterator<Item = String> + '_ {
    plan.host_keys.iter().flat_map(|k| {
        k.private
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
}

#[derive(Serialize)]
struct User<'a> {
    name: &'a str,
    groups: Vec<&'static str>,
    shell: &'static str,
    sudo: &'static str,
    lock_passwd: bool,
    /// `hashed_passwd`, not `passwd`: cloud-init ignores `passwd` for a user
    /// that already exists (the image's first user, when the names match).
    #[serde(skip_serializing_if = "Option::is_none")]
    hashed_passwd: Option<&'a str>,
    ssh_authorized_keys: &'a [String],
}

#[derive(Serialize)]
struct WriteFile<'a> {
    path: &'a str,
    content: &'a str,
    permissions: &'a str,
    owner: &'a str,
}

#[derive(Serialize)]
struct Apt {
    /// Keep the image's own sources (Raspberry Pi's archive), as Imager does.
    preserve_sources_list: bool,
}

#[derive(Serialize)]
struct CloudConfig<'a> {
    hostname: &'a str,
    manage_etc_hosts: bool,
    /// NetworkManager owns resolv.conf on Raspberry Pi OS.
    manage_resolv_conf: bool,
    apt: Apt,
    users: Vec<User<'a>>,
    ssh_pwauth: bool,
    /// Raspberry Pi OS configures cloud-init not to create SSH host keys
    /// (`ssh_genkeytypes: []`) and deletes the image's; ask for them here so
    /// sshd has keys on the first boot whatever else regenerates them.
    ssh_genkeytypes: Vec<&'static str>,
    /// The node's own host keys, made at bake time and pinned in
    /// out/known_hosts; cloud-init deletes the image's before writing them.
    /// The shared preparation takes the private ones out of user-data.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    ssh_keys: IndexMap<String, &'a str>,
    bootcmd: Vec<Vec<String>>,
    write_files: Vec<WriteFile<'a>>,
    runcmd: Vec<Vec<String>>,
}

fn cmd(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The NoCloud instance id, also put on the kernel command line
/// (`ds=nocloud;i=…`). Derived from the plan, so a changed configuration is a
/// new instance; it holds no node name, because Raspberry Pi OS's initramfs
/// greps the command line for words such as `firstboot`.
pub fn instance_id(plan: &NodePlan) -> String {
    format!("piprep-{}", &plan.config_hash()[..24])
}

/// The kernel argument that pins cloud-init to this bake's NoCloud instance:
/// cloud-init trusts its cached instance while this id matches, instead of
/// re-reading the seed on every boot (as Raspberry Pi Imager 2.x does).
pub fn datasource_token(plan: &NodePlan) -> String {
    format!("ds=nocloud;i={}", instance_id(plan))
}

/// The prefix of the kernel argument that orders cloud-init's first stage
/// after the boot partition's mount (a systemd drop-in passed as a system
/// credential, which systemd-debug-generator installs from systemd 256 on).
pub const SEED_MOUNT_PREFIX: &str =
    "systemd.set_credential_binary=systemd.unit-dropin.cloud-init-local.service:";

/// The kernel argument that makes cloud-init wait for the boot partition.
/// NoCloud reads its seed from `boot_mount`; cloud-init's first stage is
/// ordered only after `/var/lib/cloud`'s mount, so on an image without
/// Raspberry Pi's own drop-in it can look before the partition is mounted
/// and claim the boot without a seed (canonical/cloud-init#6614). The same
/// `RequiresMountsFor=`, given on the command line, holds on every image
/// without touching its root filesystem.
pub fn seed_mount_token(boot_mount: &str) -> String {
    use base64ct::Encoding;
    let dropin = format!(
        "[Unit]\n# piprep: the NoCloud seed is on the boot partition\nRequiresMountsFor={boot_mount}\n"
    );
    format!(
        "{SEED_MOUNT_PREFIX}{}",
        base64ct::Base64::encode_string(dropin.as_bytes())
    )
}

/// Run early on every boot (cloud-init's bootcmd, before it creates users):
/// rename Raspberry Pi OS's first user to ours with its userconf helper, as
/// the firstrun hook does, so the node has one user (uid 1000) whichever
/// backend made it; and stop the console wizard, whose start job would hold
/// multi-user.target, and so cloud-init's own final stage, for ever. Static
/// text: the user name arrives as `$1`.
const FIRST_USER: &str = "u=$1; \
if [ -x /usr/lib/userconf-pi/userconf ] && ! id \"$u\" >/dev/null 2>&1 && getent passwd 1000 >/dev/null; then \
/usr/lib/userconf-pi/userconf \"$u\" ''; fi; \
if systemctl cat userconfig.service >/dev/null 2>&1; then \
systemctl disable --quiet userconfig.service; systemctl stop --no-block userconfig.service; \
systemctl enable --quiet getty@tty1.service; systemctl start --no-block getty@tty1.service; fi; true";

/// Run early on every boot (cloud-init's bootcmd, in its network stage, which
/// is ordered before sysinit.target): Raspberry Pi OS's
/// regenerate_ssh_host_keys.service, which runs after sysinit.target,
/// deletes every host key and makes new ones, so it would replace the pinned
/// keys cloud-init writes in this same stage. Its queued start is cancelled
/// and the unit masked for later boots. Static text.
const KEEP_HOST_KEYS: &str = "u=regenerate_ssh_host_keys.service; \
if systemctl cat \"$u\" >/dev/null 2>&1; then \
systemctl stop --no-block \"$u\"; systemctl disable --quiet \"$u\"; systemctl mask --quiet \"$u\" || true; fi; true";

pub fn user_data(plan: &NodePlan, setup: &NodeSetup) -> String {
    // cloud-init's runcmd runs in cloud-final, after its users and files: the
    // shared offline preparation (which also takes the password hash out of
    // user-data), then sshd and the networked setup started now (not only
    // enabled), which installs what is missing and applies chrony and the
    // firewall once per rule set, and writes the report.
    let run: Vec<Vec<String>> = vec![
        setup.offline.clone(),
        cmd(&["systemctl", "enable", "--now", "ssh"]),
        cmd(&["systemctl", "enable", "--now", setup.networked]),
    ];

    let cfg = CloudConfig {
        hostname: &plan.name,
        manage_etc_hosts: true,
        manage_resolv_conf: false,
        apt: Apt {
            preserve_sources_list: true,
        },
        users: vec![User {
            name: &plan.user.name,
            groups: vec!["adm", "sudo", "users", "video", "plugdev"],
            shell: "/bin/bash",
            sudo: "ALL=(ALL) NOPASSWD:ALL",
            lock_passwd: plan.user.password_hash.is_none(),
            hashed_passwd: plan.user.password_hash.as_deref(),
            ssh_authorized_keys: &plan.user.ssh_authorized_keys,
        }],
        ssh_pwauth: plan.user.password_hash.is_some(),
        ssh_genkeytypes: vec!["rsa", "ecdsa", "ed25519"],
        ssh_keys: plan
            .host_keys
            .iter()
            .flat_map(|k| {
                [
                    (format!("{}_private", k.kind), k.private.as_str()),
                    (format!("{}_public", k.kind), k.public.as_str()),
                ]
            })
            .collect(),
        bootcmd: vec![
            cmd(&["sh", "-c", KEEP_HOST_KEYS]),
            cmd(&["sh", "-c", FIRST_USER, "piprep", &plan.user.name]),
        ],
        write_files: setup
            .files
            .iter()
            .map(|f| WriteFile {
                path: &f.path,
                content: &f.content,
                permissions: &f.mode,
                owner: &f.owner,
            })
            .collect(),
        runcmd: run,
    };
    let body = super::yaml::to_string(&cfg);
    // Only piprep's own words in the comment: a value there could end it.
    format!(
        "#cloud-config\n# piprep {}, config hash {}\n{body}",
        env!("CARGO_PKG_VERSION"),
        plan.config_hash()
    )
}

pub fn meta_data(plan: &NodePlan) -> String {
    let mut m = IndexMap::new();
    m.insert("instance-id", instance_id(plan));
    m.insert("local-hostname", plan.name.clone());
    super::yaml::to_string(&m)
}

#[derive(Serialize)]
struct Route {
    to: &'static str,
    via: String,
}

#[derive(Serialize)]
struct Nameservers {
    addresses: Vec<String>,
}

#[derive(Serialize)]
struct Ethernet {
    /// Also per device: a device's renderer wins over any file's global one.
    renderer: &'static str,
    dhcp4: bool,
    dhcp6: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
    nameservers: Nameservers,
    optional: bool,
}

/// netplan's backend. Raspberry Pi OS runs NetworkManager, and cloud-init
/// renders network-config through netplan there; which renderer netplan
/// picks is otherwise decided by a netplan file the image may or may not ship
/// (pi-gen stopped shipping `00-network-manager-all.yaml` in 2025-11), and
/// netplan's default, systemd-networkd, is not what Raspberry Pi OS runs.
const RENDERER: &str = "NetworkManager";

#[derive(Serialize)]
struct Network {
    version: u8,
    renderer: &'static str,
    ethernets: IndexMap<String, Ethernet>,
}

#[derive(Serialize)]
struct NetworkConfig {
    network: Network,
}

/// cloud-init leaves the network alone: the node's address is its Wi-Fi
/// connection, which holds the PSK and so is placed by the shared offline
/// preparation, not written by cloud-init.
#[derive(Serialize)]
struct Disabled {
    config: &'static str,
}

pub fn network_config(plan: &NodePlan) -> String {
    if super::network::static_on_wifi(plan) {
        let mut m = IndexMap::new();
        m.insert("network", Disabled { config: "disabled" });
        return super::yaml::to_string(&m);
    }
    let mut eth = IndexMap::new();
    eth.insert(
        plan.interface.clone(),
        Ethernet {
            renderer: RENDERER,
            // `ip = "dhcp"`: the router's address, route and DNS (the
            // cluster's DNS servers added).
            dhcp4: plan.address.is_none(),
            dhcp6: false,
            addresses: plan
                .address
                .map(|a| format!("{a}/{}", plan.prefix))
                .into_iter()
                .collect(),
            // `0.0.0.0/0`, not `default`: cloud-init's own v2 parser (used when
            // it renders for NetworkManager without netplan) rejects `default`.
            routes: plan
                .address
                .map(|_| Route {
                    to: "0.0.0.0/0",
                    via: plan.gateway.to_string(),
                })
                .into_iter()
                .collect(),
            nameservers: Nameservers {
                addresses: plan.dns.clone(),
            },
            // Required: cloud-init waits for it before installing packages.
            optional: false,
        },
    );
    super::yaml::to_string(&NetworkConfig {
        network: Network {
            version: 2,
            renderer: RENDERER,
            ethernets: eth,
        },
    })
}

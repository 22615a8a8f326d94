//! The cloud-init (NoCloud) rendering of a node plan: `user-data`
//! (`#cloud-config`), `meta-data` and `network-config` (netplan v2), generated
//! with a YAML serializer from the same plan the firstrun hook uses.

use indexmap::IndexMap;
use serde::Serialize;

use super::{firewall, firstboot};
use crate::config::plan::NodePlan;
use crate::config::profile::TimeDaemon;

#[derive(Serialize)]
struct User<'a> {
    name: &'a str,
    groups: Vec<&'static str>,
    shell: &'static str,
    sudo: &'static str,
    lock_passwd: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    passwd: Option<&'a str>,
    ssh_authorized_keys: &'a [String],
}

#[derive(Serialize)]
struct WriteFile {
    path: String,
    content: String,
    permissions: &'static str,
    owner: &'static str,
}

#[derive(Serialize)]
struct CloudConfig<'a> {
    hostname: &'a str,
    manage_etc_hosts: bool,
    users: Vec<User<'a>>,
    ssh_pwauth: bool,
    package_update: bool,
    packages: Vec<&'static str>,
    write_files: Vec<WriteFile>,
    runcmd: Vec<Vec<String>>,
}

fn file(path: &str, content: String, permissions: &'static str) -> WriteFile {
    WriteFile {
        path: path.into(),
        content,
        permissions,
        owner: "root:root",
    }
}

fn cmd(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

pub fn instance_id(plan: &NodePlan) -> String {
    format!("piprep-{}-{}", plan.name, &plan.config_hash()[..16])
}

pub fn user_data(plan: &NodePlan, boot_mount: &str) -> String {
    let p = &plan.profile;
    let fw = &p.firewall;
    let mut packages = Vec::new();
    if p.time_daemon == TimeDaemon::Chrony {
        packages.push("chrony");
    }
    if fw.enable {
        packages.push("ufw");
    }
    let mut files = Vec::new();
    if !p.modules.is_empty() {
        files.push(file(
            &format!("/etc/modules-load.d/{}.conf", p.conf_name),
            firstboot::modules_conf(plan),
            "0644",
        ));
    }
    if !p.sysctl.is_empty() {
        files.push(file(
            &format!("/etc/sysctl.d/{}.conf", p.conf_name),
            firstboot::sysctl_conf(plan),
            "0644",
        ));
    }
    if p.time_daemon == TimeDaemon::Chrony && !plan.ntp.is_empty() {
        files.push(file(
            "/etc/chrony/sources.d/piprep.sources",
            firstboot::chrony_sources(plan),
            "0644",
        ));
    }
    if p.swap_disable {
        files.push(file(
            "/etc/rpi/swap.conf.d/90-piprep-disable-swap.conf",
            "[Main]\nMechanism=none\n".into(),
            "0644",
        ));
    }
    files.push(file(
        firstboot::SETUP_PATH,
        firstboot::setup_script(plan),
        "0755",
    ));
    files.push(file(
        firstboot::CHECK_PATH,
        firstboot::check_script(plan, boot_mount),
        "0755",
    ));
    files.push(file(firstboot::UNIT_PATH, firstboot::setup_unit(), "0644"));

    let mut run: Vec<Vec<String>> = Vec::new();
    if p.swap_disable {
        run.push(cmd(&["swapoff", "-a"]));
        run.push(cmd(&["sh", "-c", "if command -v dphys-swapfile >/dev/null; then dphys-swapfile swapoff; dphys-swapfile uninstall; systemctl disable dphys-swapfile; fi; true"]));
    }
    for m in &p.modules {
        run.push(cmd(&["modprobe", m]));
    }
    if !p.sysctl.is_empty() {
        run.push(cmd(&["sysctl", "--system"]));
    }
    if fw.enable {
        let def = firewall::defaults_words(fw);
        run.push(cmd(&["ufw", "--force", "reset"]));
        for (policy, dir) in def {
            run.push(cmd(&["ufw", "default", policy, dir]));
        }
        run.push(cmd(&["ufw", "logging", &fw.logging]));
        for r in &fw.rules {
            run.push(firewall::words(r));
        }
        run.push(cmd(&["ufw", "--force", "enable"]));
    }
    if p.time_daemon == TimeDaemon::Chrony {
        run.push(cmd(&[
            "sh",
            "-c",
            "systemctl disable --now systemd-timesyncd 2>/dev/null; true",
        ]));
        run.push(cmd(&["systemctl", "enable", "--now", "chrony"]));
    }
    run.push(cmd(&["systemctl", "enable", "--now", "ssh"]));
    // Later boots: re-check and refresh the report (and re-apply what drifted).
    run.push(cmd(&["systemctl", "enable", "piprep-setup.service"]));
    if plan.user.password_hash.is_some() {
        // The hash has done its work: take it off the boot partition.
        run.push(cmd(&[
            "sed",
            "-i",
            "/^ *passwd: /d",
            &format!("{boot_mount}/user-data"),
        ]));
    }
    run.push(cmd(&[firstboot::CHECK_PATH, "cloud-init"]));

    let cfg = CloudConfig {
        hostname: &plan.name,
        manage_etc_hosts: true,
        users: vec![User {
            name: &plan.user.name,
            groups: vec!["adm", "sudo", "users", "video", "plugdev"],
            shell: "/bin/bash",
            sudo: "ALL=(ALL) NOPASSWD:ALL",
            lock_passwd: plan.user.password_hash.is_none(),
            passwd: plan.user.password_hash.as_deref(),
            ssh_authorized_keys: &plan.user.ssh_authorized_keys,
        }],
        ssh_pwauth: plan.user.password_hash.is_some(),
        package_update: !packages.is_empty(),
        packages,
        write_files: files,
        runcmd: run,
    };
    let body = serde_yaml_ng::to_string(&cfg).expect("cloud-config serialises");
    format!(
        "#cloud-config\n# piprep {} for node {} ({}), config hash {}\n{body}",
        env!("CARGO_PKG_VERSION"),
        plan.name,
        plan.role.as_str(),
        plan.config_hash()
    )
}

pub fn meta_data(plan: &NodePlan) -> String {
    let mut m = IndexMap::new();
    m.insert("instance-id", instance_id(plan));
    m.insert("local-hostname", plan.name.clone());
    serde_yaml_ng::to_string(&m).expect("meta-data serialises")
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
    dhcp4: bool,
    dhcp6: bool,
    addresses: Vec<String>,
    routes: Vec<Route>,
    nameservers: Nameservers,
    optional: bool,
}

#[derive(Serialize)]
struct Network {
    version: u8,
    ethernets: IndexMap<String, Ethernet>,
}

#[derive(Serialize)]
struct NetworkConfig {
    network: Network,
}

pub fn network_config(plan: &NodePlan) -> String {
    let mut eth = IndexMap::new();
    eth.insert(
        plan.interface.clone(),
        Ethernet {
            dhcp4: false,
            dhcp6: false,
            addresses: vec![format!("{}/{}", plan.address, plan.prefix)],
            // `0.0.0.0/0`, not `default`: cloud-init's own v2 parser (used when
            // it renders for NetworkManager without netplan) rejects `default`.
            routes: vec![Route {
                to: "0.0.0.0/0",
                via: plan.gateway.to_string(),
            }],
            nameservers: Nameservers {
                addresses: plan.dns.clone(),
            },
            // Required: cloud-init waits for it before installing packages.
            optional: false,
        },
    );
    serde_yaml_ng::to_string(&NetworkConfig {
        network: Network {
            version: 2,
            ethernets: eth,
        },
    })
    .expect("network-config serialises")
}

//! Inventories for the tools that come next, from the plans: an Ansible
//! inventory (INI or YAML) grouped by role, and the cluster's /etc/hosts
//! block. Pure text; every value is a validated name or address.

use std::path::Path;

use serde::Serialize;

use crate::config::plan::NodePlan;
use crate::config::profile::Role;

/// The cluster's /etc/hosts block, as every node has it.
pub fn hosts_block(plans: &[&NodePlan]) -> String {
    crate::render::hosts::block(
        plans
            .iter()
            .filter_map(|p| Some((p.name.as_str(), p.address?))),
    )
}

/// Ansible group of a role: group names are Python identifiers.
fn group(role: Role) -> &'static str {
    match role {
        Role::ControlPlane => "control_plane",
        Role::Worker => "worker",
    }
}

/// The ssh arguments that make Ansible check host keys against the fleet's
/// known_hosts (whose lines name each node's address too).
fn ssh_args(known_hosts: &Path) -> String {
    let value = super::quote::ssh_value(&known_hosts.display().to_string());
    format!(
        "-o StrictHostKeyChecking=yes -o {}",
        // One word for Ansible's shlex.split, as for a POSIX shell.
        crate::render::shell::quote(&format!("UserKnownHostsFile={value}"))
    )
}

const ROLES: [Role; 2] = [Role::ControlPlane, Role::Worker];

/// INI: one group per role, a `kubernetes` group of both, and the user and
/// ssh arguments for all.
pub fn ansible_ini(plans: &[&NodePlan], known_hosts: &Path) -> String {
    let mut s = format!(
        "# Ansible inventory of cluster {} (piprep export ansible)\n",
        plans.first().map_or("", |p| p.cluster.as_str())
    );
    for role in ROLES {
        s += &format!("\n[{}]\n", group(role));
        for p in plans.iter().filter(|p| p.role == role) {
            s += &format!("{} ansible_host={}\n", p.name, p.reach());
        }
    }
    s += "\n[kubernetes:children]\ncontrol_plane\nworker\n\n[all:vars]\n";
    if let Some(p) = plans.first() {
        s += &format!("ansible_user={}\n", p.user.name);
    }
    s += &format!(
        "ansible_ssh_common_args={}\n",
        super::quote::python_str(&ssh_args(known_hosts))
    );
    s
}

/// Kubespray's inventory.ini: every node in `[all]` with its address as
/// `ip`, control planes in `kube_control_plane` and `etcd`, workers in
/// `kube_node`, both in `k8s_cluster`.
pub fn kubespray_ini(plans: &[&NodePlan], known_hosts: &Path) -> String {
    let mut s = format!(
        "# Kubespray inventory of cluster {} (piprep export ansible --layout kubespray)\n[all]\n",
        plans.first().map_or("", |p| p.cluster.as_str())
    );
    for p in plans {
        s += &match p.address {
            Some(a) => format!("{} ansible_host={a} ip={a}\n", p.name),
            None => format!("{} ansible_host={}\n", p.name, p.name),
        };
    }
    let names = |role: Role| -> String {
        plans
            .iter()
            .filter(|p| p.role == role)
            .map(|p| format!("{}\n", p.name))
            .collect()
    };
    s += &format!(
        "\n[kube_control_plane]\n{}\n[etcd:children]\nkube_control_plane\n\n[kube_node]\n{}\n[k8s_cluster:children]\nkube_control_plane\nkube_node\n\n[all:vars]\n",
        names(Role::ControlPlane),
        names(Role::Worker)
    );
    if let Some(p) = plans.first() {
        s += &format!("ansible_user={}\n", p.user.name);
    }
    s += &format!(
        "ansible_ssh_common_args={}\n",
        super::quote::python_str(&ssh_args(known_hosts))
    );
    s
}

#[derive(Serialize)]
struct Host {
    ansible_host: String,
}
#[derive(Serialize)]
struct Group {
    hosts: indexmap::IndexMap<String, Host>,
}
#[derive(Serialize)]
struct Children {
    children: indexmap::IndexMap<&'static str, Group>,
}
#[derive(Serialize)]
struct All {
    vars: indexmap::IndexMap<&'static str, String>,
    children: indexmap::IndexMap<&'static str, Children>,
}
#[derive(Serialize)]
struct Doc {
    all: All,
}

/// YAML: the same inventory, as `ansible-inventory --list -y` reads it.
pub fn ansible_yaml(plans: &[&NodePlan], known_hosts: &Path) -> String {
    let mut groups = indexmap::IndexMap::new();
    for role in ROLES {
        let hosts = plans
            .iter()
            .filter(|p| p.role == role)
            .map(|p| {
                (
                    p.name.clone(),
                    Host {
                        ansible_host: p.reach(),
                    },
                )
            })
            .collect();
        groups.insert(group(role), Group { hosts });
    }
    let mut vars = indexmap::IndexMap::new();
    if let Some(p) = plans.first() {
        vars.insert("ansible_user", p.user.name.clone());
    }
    vars.insert("ansible_ssh_common_args", ssh_args(known_hosts));
    let mut children = indexmap::IndexMap::new();
    children.insert("kubernetes", Children { children: groups });
    let doc = Doc {
        all: All { vars, children },
    };
    format!(
        "# Ansible inventory of cluster {} (piprep export ansible --format yaml)\n{}",
        plans.first().map_or("", |p| p.cluster.as_str()),
        crate::render::yaml::to_string(&doc)
    )
}

//! The node's static address: a NetworkManager keyfile (Bookworm and Trixie) and
//! a dhcpcd block for older releases.

use crate::config::plan::NodePlan;

pub fn keyfile_path(plan: &NodePlan) -> String {
    format!(
        "/etc/NetworkManager/system-connections/piprep-{}.nmconnection",
        plan.interface
    )
}

fn ipv4_dns(plan: &NodePlan) -> Vec<&str> {
    plan.dns
        .iter()
        .filter(|d| d.parse::<std::net::Ipv4Addr>().is_ok())
        .map(String::as_str)
        .collect()
}

/// The keyfile; its UUID is derived from the plan so bakes are reproducible.
pub fn keyfile(plan: &NodePlan) -> String {
    let dns: String = ipv4_dns(plan).iter().map(|d| format!("{d};")).collect();
    format!(
        "[connection]\n\
         id=piprep-{iface}\n\
         uuid={uuid}\n\
         type=ethernet\n\
         interface-name={iface}\n\
         autoconnect=true\n\
         autoconnect-priority=100\n\
         \n\
         [ethernet]\n\
         \n\
         [ipv4]\n\
         method=manual\n\
         address1={ip}/{prefix},{gw}\n\
         dns={dns}\n\
         may-fail=false\n\
         \n\
         [ipv6]\n\
         method=disabled\n",
        iface = plan.interface,
        uuid = plan.derived_uuid("networkmanager-connection"),
        ip = plan.address,
        prefix = plan.prefix,
        gw = plan.gateway,
    )
}

pub fn dhcpcd_block(plan: &NodePlan) -> String {
    format!(
        "# piprep static address begin\n\
         interface {iface}\n\
         static ip_address={ip}/{prefix}\n\
         static routers={gw}\n\
         static domain_name_servers={dns}\n\
         # piprep static address end",
        iface = plan.interface,
        ip = plan.address,
        prefix = plan.prefix,
        gw = plan.gateway,
        dns = ipv4_dns(plan).join(" "),
    )
}

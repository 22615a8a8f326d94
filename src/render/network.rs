//! The node's static address: a NetworkManager keyfile (Bookworm and Trixie) and
//! a dhcpcd block for older releases; and its Wi-Fi connection, a keyfile
//! holding the PSK (so a secret), static on a wireless interface and DHCP
//! beside a wired one.

use crate::config::plan::NodePlan;
use crate::config::validate::is_wireless;
use crate::config::wifi::WifiPlan;

/// The Wi-Fi connection's name, which check.sh asks NetworkManager about.
pub const WIFI_CONNECTION: &str = "piprep-wifi";
pub const WIFI_KEYFILE_PATH: &str =
    "/etc/NetworkManager/system-connections/piprep-wifi.nmconnection";

/// The static address goes on a wireless interface: its profile is the
/// Wi-Fi keyfile, and there is no Ethernet one.
pub fn static_on_wifi(plan: &NodePlan) -> bool {
    plan.wifi.is_some() && is_wireless(&plan.interface)
}

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

/// The `[ipv4]` section's body: the static address, or DHCP (`ip = "dhcp"`:
/// the router hands out the address it reserves); the cluster's DNS either way.
fn ipv4_section(plan: &NodePlan) -> String {
    let dns: String = ipv4_dns(plan).iter().map(|d| format!("{d};")).collect();
    let dns = if dns.is_empty() {
        String::new()
    } else {
        format!("dns={dns}\n")
    };
    match plan.address {
        Some(ip) => format!(
            "method=manual\naddress1={ip}/{},{}\n{dns}may-fail=false\n",
            plan.prefix, plan.gateway
        ),
        None => format!("method=auto\n{dns}may-fail=false\n"),
    }
}

/// The keyfile; its UUID is derived from the plan so bakes are reproducible.
pub fn keyfile(plan: &NodePlan) -> String {
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
         {ipv4}\
         \n\
         [ipv6]\n\
         method=disabled\n",
        iface = plan.interface,
        uuid = plan.derived_uuid("networkmanager-connection"),
        ipv4 = ipv4_section(plan),
    )
}

/// The Wi-Fi keyfile. The SSID is written as its bytes (`ssid=83;83;`), which
/// NetworkManager reads whatever characters the name has.
pub fn wifi_keyfile(plan: &NodePlan, w: &WifiPlan) -> String {
    let ssid: String = w.ssid.bytes().map(|b| format!("{b};")).collect();
    let (iface, ipv4) = if static_on_wifi(plan) {
        (
            format!("interface-name={}\n", plan.interface),
            ipv4_section(plan),
        )
    } else {
        // Beside the wired address: wired routes win.
        (String::new(), "method=auto\nroute-metric=600\n".to_string())
    };
    format!(
        "[connection]\n\
         id={WIFI_CONNECTION}\n\
         uuid={uuid}\n\
         type=wifi\n\
         {iface}\
         autoconnect=true\n\
         autoconnect-priority=100\n\
         \n\
         [wifi]\n\
         mode=infrastructure\n\
         ssid={ssid}\n\
         hidden={hidden}\n\
         \n\
         [wifi-security]\n\
         key-mgmt=wpa-psk\n\
         psk={psk}\n\
         \n\
         [ipv4]\n\
         {ipv4}\
         \n\
         [ipv6]\n\
         method=disabled\n",
        uuid = plan.derived_uuid("networkmanager-wifi-connection"),
        hidden = w.hidden,
        psk = w.psk,
    )
}

pub fn dhcpcd_block(plan: &NodePlan) -> String {
    let Some(ip) = plan.address else {
        // dhcpcd asks for an address by default: nothing to add.
        return "# piprep static address begin\n# DHCP\n# piprep static address end".into();
    };
    format!(
        "# piprep static address begin\n\
         interface {iface}\n\
         static ip_address={ip}/{prefix}\n\
         static routers={gw}\n\
         static domain_name_servers={dns}\n\
         # piprep static address end",
        iface = plan.interface,
        prefix = plan.prefix,
        gw = plan.gateway,
        dns = ipv4_dns(plan).join(" "),
    )
}

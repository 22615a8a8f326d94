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

/// The Wi-Fi keyfile. The SSID is written as its bytes (`ssid=83;83;`), which
/// NetworkManager reads whatever characters the name has.
pub fn wifi_keyfile(plan: &NodePlan, w: &WifiPlan) -> String {
    let ssid: String = w.ssid.bytes().map(|b| format!("{b};")).collect();
    let (iface, ipv4) = if static_on_wifi(plan) {
        (
            format!("interface-name={}\n", plan.interface),
            format!(
                "method=manual\naddress1={}/{},{}\ndns={}\nmay-fail=false\n",
                plan.address,
                plan.prefix,
                plan.gateway,
                ipv4_dns(plan)
                    .iter()
                    .map(|d| format!("{d};"))
                    .collect::<String>()
            ),
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

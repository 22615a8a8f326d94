//! The network interface a node is configured on, for the cluster's
//! default and each node's own.

use toml::Spanned;

use super::checker::Checker;

/// A Linux interface name; a wireless one only with Wi-Fi settings (without
/// them piprep writes an Ethernet profile, which cannot work there).
pub fn check_interface(c: &mut Checker, i: &Spanned<String>, node: Option<&str>, wifi: bool) {
    let s = i.get_ref();
    let valid = !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
    let at = c.at(i);
    if !valid {
        c.error(
            at,
            node,
            format!(
                "interface `{}` is not a Linux interface name",
                s.escape_debug()
            ),
            "use a name such as \"eth0\" (at most 15 characters)",
        );
    } else if is_wireless(s) && !wifi {
        c.error(
            at,
            node,
            format!(
                "interface `{s}` is wireless, but the inventory has no Wi-Fi settings, so the node would never come online"
            ),
            "add a [wifi] section (country, ssid, passphrase_file), or use the wired interface, such as \"eth0\"",
        );
    }
}

/// Wireless by Linux's naming (wlan0, wlp1s0).
pub fn is_wireless(iface: &str) -> bool {
    iface.starts_with("wl")
}

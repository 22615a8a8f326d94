//! The network interface a node is configured on, for the cluster's
//! default and each node's own.

use toml::Spanned;

use super::checker::Checker;

/// A Linux interface name, wired: piprep writes an Ethernet profile, which
/// cannot work on a wireless interface, and has no Wi-Fi settings to give it.
pub fn check_interface(c: &mut Checker, i: &Spanned<String>, node: Option<&str>) {
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
    } else if s.starts_with("wl") {
        c.error(
            at,
            node,
            format!(
                "interface `{s}` is wireless, but piprep writes a wired (Ethernet) profile and the inventory has no Wi-Fi settings, so the node would never come online"
            ),
            "use the wired interface, such as \"eth0\", and connect the node by cable",
        );
    }
}

//! One profile, resolved and checked once whichever nodes use it: the grammar
//! of every value that reaches a generated file.

use std::net::IpAddr;

use toml::Spanned;

use super::checker::Checker;
use crate::config::grammar;
use crate::config::profile::Profile;

/// Resolve the profile `name` refers to and check it; None when it does not
/// exist or has errors (each reported once, without a node: they are the
/// profile's).
pub fn check(c: &mut Checker, name: &Spanned<String>, node: Option<&str>) -> Option<Profile> {
    if let Some(p) = grammar::name_problem(name.get_ref()) {
        let at = c.at(name);
        c.error(
            at,
            node,
            format!("profile name `{}` {p}", name.get_ref().escape_debug()),
            "name profiles with letters, digits, '.', '_' and '-' (the file is profiles/NAME.toml)",
        );
        return None;
    }
    let p = match c.cfg.profiles.resolve(name.get_ref()) {
        Ok(p) => p,
        Err(e) => {
            let at = c.at(name);
            c.error(
                at,
                node,
                e.message,
                "use one of the known profiles, or add profiles/NAME.toml next to piprep.toml",
            );
            return None;
        }
    };
    let before = c.errors();
    check_values(c, &p);
    super::profile_extras::check(c, &p);
    check_firewall_values(c, &p);
    (c.errors() == before).then_some(p)
}

fn check_values(c: &mut Checker, p: &Profile) {
    let name = &p.name;
    if let Some(why) = grammar::text_problem(&p.description, 200) {
        c.error(
            p.locate("description"),
            None,
            format!("profile {name}: description {why}"),
            "write the description as one line of printable text",
        );
    }
    let safe_word = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_-".contains(ch))
    };
    if !safe_word(&p.conf_name) {
        c.error(
            p.locate("conf_name"),
            None,
            format!(
                "profile {name}: conf_name `{}` is not a plain file stem",
                p.conf_name.escape_debug()
            ),
            "use letters, digits, '-' and '_' only",
        );
    }
    for m in &p.modules {
        if let Some(why) = grammar::module_problem(m) {
            c.error(
                p.locate_value(m, "modules"),
                None,
                format!("profile {name}: kernel module `{}` {why}", m.escape_debug()),
                "use names as modprobe takes them, such as \"br_netfilter\"",
            );
        }
    }
    for a in &p.cmdline {
        if let Some(why) = crate::config::cmdline::unsafe_token(a) {
            c.error(
                p.locate_value(a, "cmdline"),
                None,
                format!(
                    "profile {name}: cmdline argument `{}` cannot be added safely: {why}",
                    a.escape_debug()
                ),
                "remove it from `cmdline`, or rename it so it neither starts with `quiet` or `resize` nor contains `splash`, `firstboot`, `init=`, `ds=` or `systemd.`",
            );
        }
    }
    for (k, v) in &p.sysctl {
        if let Some(why) = grammar::sysctl_key_problem(k) {
            c.error(
                p.locate_value(k, "[sysctl]"),
                None,
                format!(
                    "profile {name}: `{}` is not a sysctl key: it {why}",
                    k.escape_debug()
                ),
                "write keys as in `sysctl -a`, such as \"net.ipv4.ip_forward\"",
            );
        }
        if let Some(why) = grammar::sysctl_value_problem(v) {
            c.error(
                p.locate_value(k, "[sysctl]"),
                None,
                format!(
                    "profile {name}: sysctl `{}` has an unusable value: it {why}",
                    k.escape_debug()
                ),
                "use a single-line value such as \"1\"",
            );
        }
    }
}

fn check_firewall_values(c: &mut Checker, p: &Profile) {
    let name = &p.name;
    let fw = &p.firewall;
    if let Some(why) = grammar::logging_problem(&fw.logging) {
        c.error(
            p.locate("logging"),
            None,
            format!(
                "profile {name}: firewall logging `{}` {why}",
                fw.logging.escape_debug()
            ),
            "set logging to one of off, on, low, medium, high, full",
        );
    }
    for r in &fw.rules {
        let s = &r.spec;
        if let Some(port) = &s.port {
            if !port_ok(port) {
                c.error(
                    r.at.clone(),
                    None,
                    format!(
                        "profile {name}: firewall port `{}` is not a port, range or list",
                        port.escape_debug()
                    ),
                    "write \"22\", \"2379:2380\" or \"80,443\"",
                );
            } else if (port.contains(':') || port.contains(',')) && s.proto.is_none() {
                c.error(
                    r.at.clone(),
                    None,
                    format!("profile {name}: port range `{port}` needs a proto"),
                    "add proto = \"tcp\" or \"udp\" (ufw requires it for ranges and lists)",
                );
            }
        }
        for addr in [&s.from, &s.to] {
            if !address_ok(addr) {
                c.error(
                    r.at.clone(),
                    None,
                    format!(
                        "profile {name}: firewall address `{}` is not any, an address or a CIDR",
                        addr.escape_debug()
                    ),
                    "use \"any\", \"{subnet}\", \"127.0.0.1\" or \"10.1.1.0/24\"",
                );
            }
        }
        if let Some(why) = s
            .comment
            .as_deref()
            .and_then(|cm| grammar::text_problem(cm, 200))
        {
            c.error(
                r.at.clone(),
                None,
                format!("profile {name}: firewall comment {why}"),
                "keep comments to one line of printable text, at most 200 characters",
            );
        }
    }
}

/// `22`, `2379:2380`, `80,443` (ufw's port syntax), ports 1 to 65535.
fn port_ok(port: &str) -> bool {
    let valid = |x: &str| x.parse::<u16>().is_ok_and(|n| n > 0) && !x.starts_with('+');
    !port.is_empty()
        && port.len() <= 200
        && port.split(',').all(|part| match part.split_once(':') {
            Some((a, b)) => valid(a) && valid(b),
            None => valid(part),
        })
}

/// `any`, `{subnet}`, an IP address or a CIDR (IPv4 or IPv6).
fn address_ok(addr: &str) -> bool {
    addr == "any"
        || addr == "{subnet}"
        || addr.parse::<IpAddr>().is_ok()
        || addr.split_once('/').is_some_and(|(ip, len)| {
            let max = match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => 32,
                Ok(IpAddr::V6(_)) => 128,
                Err(_) => return false,
            };
            !len.starts_with('+') && len.parse::<u8>().is_ok_and(|l| l <= max)
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_and_addresses() {
        for ok in ["22", "2379:2380", "80,443", "1", "65535"] {
            assert!(super::port_ok(ok), "{ok}");
        }
        for bad in ["", "0", "65536", "22:", "a", "+22", "1:2:3", "22\n"] {
            assert!(!super::port_ok(bad), "{bad:?}");
        }
        for ok in ["any", "{subnet}", "10.1.1.0/24", "127.0.0.1", "fd00::/8"] {
            assert!(super::address_ok(ok), "{ok}");
        }
        for bad in ["10.1.1.0/33", "x", "{subnet}/24", "10.1.1.1 ", "fd00::/129"] {
            assert!(!super::address_ok(bad), "{bad:?}");
        }
    }
}

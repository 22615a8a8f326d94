//! `[wifi]` and a node's own `wifi`: the country, the SSID and the
//! passphrase, read from its file or variable and turned into the PSK.

use toml::Spanned;

use super::checker::Checker;
use crate::config::Severity;
use crate::config::inventory::WifiSection;
use crate::config::toml_file::base_dir;
use crate::config::wifi::{COUNTRIES, WifiPlan};

/// The largest passphrase file read (a passphrase is at most 63 characters).
const FILE_CAP: u64 = 4096;

/// The section's plan, or None after recording why not.
pub fn check(c: &mut Checker, w: &Spanned<WifiSection>, node: Option<&str>) -> Option<WifiPlan> {
    let before = c.errors();
    let s = w.get_ref();
    let country = s.country.get_ref().to_ascii_uppercase();
    if !COUNTRIES.contains(&country.as_str()) {
        let at = c.at(&s.country);
        c.error(
            at,
            node,
            format!(
                "wifi country `{}` is not an ISO 3166 country code, so the radio would stay blocked",
                s.country.get_ref().escape_debug()
            ),
            "use the two-letter code of the country the nodes are in, such as \"GB\", \"DE\" or \"US\"",
        );
    }
    let ssid = s.ssid.get_ref();
    if ssid.is_empty() || ssid.len() > 32 {
        let at = c.at(&s.ssid);
        c.error(
            at,
            node,
            format!("wifi ssid is {} bytes; an SSID has 1 to 32", ssid.len()),
            "give the network's name exactly as the access point broadcasts it",
        );
    } else if ssid.chars().any(char::is_control) {
        let at = c.at(&s.ssid);
        c.error(
            at,
            node,
            "wifi ssid contains a control character".into(),
            "give the network's name exactly as the access point broadcasts it",
        );
    }
    let passphrase = passphrase(c, w, node);
    if c.cfg.inventory.kubernetes.is_some() {
        let at = c.at(w);
        c.push(
            Severity::Warning,
            at,
            node,
            "Kubernetes over Wi-Fi suits small or lab clusters: etcd and the pod network feel every dropped frame and slow retry".into(),
            "for a cluster that must stay up, connect the control planes by cable",
        );
    }
    if c.errors() != before {
        return None;
    }
    let hidden = s.hidden.as_ref().is_some_and(|h| *h.get_ref());
    Some(WifiPlan::new(&country, ssid, hidden, &passphrase?))
}

/// The passphrase from `passphrase_file` or `passphrase_env` (exactly one),
/// 8 to 63 printable ASCII characters as WPA2-Personal requires.
fn passphrase(c: &mut Checker, w: &Spanned<WifiSection>, node: Option<&str>) -> Option<String> {
    let s = w.get_ref();
    let (text, at, origin) = match (&s.passphrase_file, &s.passphrase_env) {
        (Some(_), Some(e)) => {
            let at = c.at(e);
            c.error(
                at,
                node,
                "wifi has both passphrase_file and passphrase_env".into(),
                "keep one of them",
            );
            return None;
        }
        (Some(f), None) => {
            let path = base_dir(&c.cfg.path).join(f.get_ref());
            let at = c.at(f);
            match crate::io::input::read_text(&path, FILE_CAP) {
                Ok(t) => {
                    warn_if_readable(c, &path, at.clone(), node);
                    (t, at, format!("the file {}", path.display()))
                }
                Err(e) => {
                    c.error(
                        at,
                        node,
                        format!("wifi passphrase_file {}: {e}", path.display()),
                        "write the passphrase into that file (one line, mode 0600), or use passphrase_env",
                    );
                    return None;
                }
            }
        }
        (None, Some(e)) => {
            let at = c.at(e);
            match std::env::var(e.get_ref()) {
                Ok(v) => (v, at, format!("${}", e.get_ref())),
                Err(_) => {
                    c.error(
                        at,
                        node,
                        format!(
                            "wifi passphrase_env: the variable `{}` is not set (or not UTF-8)",
                            e.get_ref().escape_debug()
                        ),
                        "export it before running piprep, or use passphrase_file",
                    );
                    return None;
                }
            }
        }
        (None, None) => {
            let at = c.at(w);
            c.error(
                at,
                node,
                "wifi has no passphrase: piprep.toml never holds it".into(),
                "set passphrase_file = \"FILE\" (a 0600 file beside piprep.toml) or passphrase_env = \"VAR\"",
            );
            return None;
        }
    };
    let p = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    let n = p.chars().count();
    if !(8..=63).contains(&n) || !p.chars().all(|ch| (' '..='~').contains(&ch)) {
        let why = if (8..=63).contains(&n) {
            "has a character that is not printable ASCII".to_string()
        } else {
            format!("is {n} characters long")
        };
        c.error(
            at,
            node,
            format!("the wifi passphrase in {origin} {why}; WPA2-Personal takes 8 to 63 printable ASCII characters"),
            "use the network's passphrase as the access point has it (one line)",
        );
        return None;
    }
    Some(p.to_string())
}

/// A passphrase file others can read gives the network away.
fn warn_if_readable(
    c: &mut Checker,
    path: &std::path::Path,
    at: crate::config::toml_file::Location,
    node: Option<&str>,
) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        c.push(
            Severity::Warning,
            at,
            node,
            format!(
                "the wifi passphrase file {} can be read by other users (mode {:04o})",
                path.display(),
                m.permissions().mode() & 0o7777
            ),
            &format!("chmod 600 {}", path.display()),
        );
    }
}

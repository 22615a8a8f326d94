//! The grammar of every inventory and profile string that reaches a generated
//! script, unit or YAML file. Each check returns what is wrong, in words, or
//! None. Validation applies them with file:line; the renderers still quote
//! every value, so these are the first of two independent guards.

/// Names such as the cluster's or a profile's: a letter or digit, then
/// letters, digits, `.`, `_` or `-`, at most 63 characters.
pub fn name_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("is empty".into());
    }
    if s.len() > 63 {
        return Some(format!("is {} characters long; the limit is 63", s.len()));
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("does not start with a letter or digit".into());
    }
    bad_char(s, |c| c.is_ascii_alphanumeric() || "._-".contains(c))
        .map(|c| format!("contains {c}; use letters, digits, '.', '_' and '-'"))
}

/// Characters a person cannot see or that end a line somewhere: control
/// characters (NUL, tab, CR, LF, DEL, C1), Unicode line and paragraph
/// separators, zero-width and bidirectional formatting characters.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{85}')
}

/// Free text (comments, descriptions): printable, one line, at most `max`
/// characters, no leading or trailing blanks.
pub fn text_problem(s: &str, max: usize) -> Option<String> {
    let n = s.chars().count();
    if n > max {
        return Some(format!("is {n} characters long; the limit is {max}"));
    }
    if let Some(c) = s.chars().find(|c| invisible(*c)) {
        return Some(format!(
            "contains {}; use printable text on one line",
            describe(c)
        ));
    }
    if s.trim() != s {
        return Some("starts or ends with blanks".into());
    }
    None
}

/// A kernel module name as modprobe takes it (the kernel's MODULE_NAME_LEN
/// is 56 bytes with its NUL).
pub fn module_problem(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 55 {
        return Some("is not 1 to 55 characters long".into());
    }
    bad_char(s, |c| c.is_ascii_alphanumeric() || "_-".contains(c))
        .map(|c| format!("contains {c}; module names are letters, digits, '_' and '-'"))
}

/// A sysctl key as `sysctl -a` prints it: dot-separated words (or `/`, which
/// sysctl accepts too).
pub fn sysctl_key_problem(s: &str) -> Option<String> {
    let words: Vec<&str> = s.split(['.', '/']).collect();
    if s.len() > 255 || words.len() < 2 || words.iter().any(|w| w.is_empty()) {
        return Some("is not dot-separated words such as net.ipv4.ip_forward".into());
    }
    bad_char(s, |c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        .map(|c| format!("contains {c}"))
}

/// A sysctl value: printable ASCII on one line (numbers, words, ranges).
pub fn sysctl_value_problem(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 255 {
        return Some("is not 1 to 255 characters long".into());
    }
    if s.trim() != s {
        return Some("starts or ends with blanks".into());
    }
    bad_char(s, |c| c.is_ascii_graphic() || c == ' ')
        .map(|c| format!("contains {c}; use printable ASCII on one line"))
}

/// ufw's logging levels (`ufw logging LEVEL`).
pub const LOGGING: &[&str] = &["off", "on", "low", "medium", "high", "full"];

pub fn logging_problem(s: &str) -> Option<String> {
    (!LOGGING.contains(&s)).then(|| format!("is not one of {}", LOGGING.join(", ")))
}

/// A DNS name (RFC 1123 labels, dots between) or an IP address: what chrony
/// takes as a server.
pub fn host_problem(s: &str) -> Option<String> {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if s.is_empty() || s.len() > 253 {
        return Some("is not 1 to 253 characters long".into());
    }
    for label in s.trim_end_matches('.').split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Some(format!(
                "has the label `{}`, which is not letters, digits and inner hyphens",
                label.escape_debug()
            ));
        }
    }
    None
}

/// Characters a crypt(3) hash is made of (`$id$param$salt$hash`).
pub fn crypt_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "./$=,".contains(c))
}

/// The boot partition's mount point, read from the image's fstab: an
/// absolute path of plain characters (it goes into scripts and cmdline.txt).
pub fn mount_point_problem(s: &str) -> Option<String> {
    if !s.starts_with('/') || s.len() > 255 || s.contains("//") || s.split('/').any(|w| w == "..") {
        return Some("is not a plain absolute path".into());
    }
    bad_char(s, |c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        .map(|c| format!("contains {c}"))
}

fn bad_char(s: &str, ok: impl Fn(char) -> bool) -> Option<String> {
    s.chars().find(|c| !ok(*c)).map(describe)
}

/// A character named so that it shows in a one-line message.
fn describe(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("`{c}`")
    } else {
        format!("U+{:04X}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name_problem("homelab"), None);
        assert_eq!(name_problem("k8s-node.v2_x"), None);
        for bad in ["", "-x", "a b", "a\nb", "it's", "a$(x)", &"a".repeat(64)] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn text_is_printable_and_one_line() {
        assert_eq!(text_problem("Allow SSH access", 200), None);
        assert_eq!(text_problem("Kubelet: Zugriff für Knoten", 200), None);
        for bad in [
            "a\nb",
            "a\rb",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{202e}b",
            "a\0b",
            "a\tb",
            " a",
        ] {
            let why = text_problem(bad, 200).unwrap();
            assert!(!why.contains('\n'), "{why}");
        }
        assert!(text_problem(&"x".repeat(201), 200).is_some());
        assert!(text_problem("a\u{2028}b", 200).unwrap().contains("U+2028"));
    }

    #[test]
    fn kernel_grammars() {
        assert_eq!(module_problem("br_netfilter"), None);
        assert!(module_problem("PIPREP_FILE\nx").is_some());
        assert!(module_problem("a.b").is_some());
        assert_eq!(sysctl_key_problem("net.ipv4.ip_forward"), None);
        assert_eq!(sysctl_key_problem("net/ipv4/conf/eth0/rp_filter"), None);
        assert!(sysctl_key_problem("net..x").is_some());
        assert!(sysctl_key_problem("kernel").is_some());
        assert_eq!(sysctl_value_problem("32768 60999"), None);
        assert!(sysctl_value_problem("1\nPIPREP_SYSCTL").is_some());
        assert!(sysctl_value_problem("").is_some());
    }

    #[test]
    fn hosts_logging_mounts() {
        assert_eq!(host_problem("pool.ntp.org"), None);
        assert_eq!(host_problem("10.1.1.1"), None);
        assert_eq!(host_problem("time.example."), None);
        assert!(host_problem("a b").is_some());
        assert!(host_problem("x;reboot").is_some());
        assert_eq!(logging_problem("low"), None);
        assert!(logging_problem("low\n").is_some());
        assert_eq!(mount_point_problem("/boot/firmware"), None);
        assert!(mount_point_problem("/boot firmware").is_some());
        assert!(mount_point_problem("boot").is_some());
        assert!(mount_point_problem("/a/../b").is_some());
        assert!(crypt_chars_ok("$6$rounds=5000$ab./$xyz"));
        assert!(!crypt_chars_ok("$6$a'b"));
    }
}

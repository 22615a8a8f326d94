//! A profile's packages, files and commands: every value that reaches a
//! script is checked here, so that none becomes code except what the user
//! wrote as a command.

use super::checker::Checker;
use crate::config::profile::Profile;
use crate::config::profile_extras::ProfileFile;

/// Directories and files piprep itself owns on a node: a profile file there
/// would be replaced by piprep's, or replace it.
const PIPREP_OWN: &[&str] = &[
    "/usr/local/lib/piprep/",
    "/var/lib/piprep/",
    "/etc/systemd/system/piprep-",
    "/etc/NetworkManager/system-connections/piprep-",
    "/etc/sysctl.d/",
    "/etc/modules-load.d/",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/ssh/ssh_host_",
    "/boot/",
];

pub fn check(c: &mut Checker, p: &Profile) {
    let name = &p.name;
    for pkg in &p.packages {
        if let Some(why) = package_problem(pkg) {
            c.error(
                p.locate_value(pkg, "packages"),
                None,
                format!("profile {name}: package `{}` {why}", pkg.escape_debug()),
                "name Debian packages as apt does, such as \"htop\" or \"nfs-common\"",
            );
        }
    }
    for f in &p.files {
        let at = f.at.clone().unwrap_or_else(|| p.locate("[[file]]"));
        if let Some(why) = path_problem(&f.path) {
            c.error(
                at.clone(),
                None,
                format!(
                    "profile {name}: file path `{}` {why}",
                    f.path.escape_debug()
                ),
                "use an absolute path such as \"/etc/motd\", outside piprep's own files",
            );
        }
        file_values(c, name, f, at);
    }
    for (i, cmd) in p.run.iter().enumerate() {
        if cmd.trim().is_empty() || cmd.contains('\0') {
            c.error(
                p.locate("run"),
                None,
                format!("profile {name}: run command {} is empty", i + 1),
                "write each command as one non-empty string, or remove it",
            );
        }
    }
}

fn file_values(c: &mut Checker, name: &str, f: &ProfileFile, at: crate::config::Location) {
    let mode_ok =
        (3..=4).contains(&f.mode.len()) && f.mode.chars().all(|ch| ('0'..='7').contains(&ch));
    if !mode_ok {
        c.error(
            at.clone(),
            None,
            format!(
                "profile {name}: file {} has mode `{}`",
                f.path,
                f.mode.escape_debug()
            ),
            "write the mode as octal digits in a string, such as mode = \"0644\"",
        );
    }
    let owner_ok = {
        let mut parts = f.owner.splitn(2, ':');
        parts.all(account_name_ok)
    };
    if !owner_ok {
        c.error(
            at.clone(),
            None,
            format!(
                "profile {name}: file {} has owner `{}`",
                f.path,
                f.owner.escape_debug()
            ),
            "write owner as USER or USER:GROUP, such as \"root:root\" or \"k8s:k8s\"",
        );
    }
    if f.content.contains('\0') || f.content.len() > crate::config::profile_extras::MAX_FILE_BYTES {
        c.error(
            at,
            None,
            format!(
                "profile {name}: file {} holds NUL bytes or is too large",
                f.path
            ),
            "carry text files of at most 256 KiB; install others with a package",
        );
    }
}

/// Debian policy's package names (lowercase, digits, `+ - .`), optionally
/// `=VERSION`.
pub fn package_problem(s: &str) -> Option<String> {
    let (name, version) = match s.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (s, None),
    };
    let name_ok = name.len() >= 2
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !name_ok {
        return Some("is not a Debian package name".into());
    }
    if let Some(v) = version {
        let ok = !v.is_empty()
            && v.len() <= 128
            && v.starts_with(|c: char| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c));
        if !ok {
            return Some("has a version that is not a Debian version".into());
        }
    }
    None
}

fn account_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
}

/// An absolute, plain path outside piprep's own files.
pub fn path_problem(s: &str) -> Option<String> {
    if !s.starts_with('/') || s.ends_with('/') {
        return Some("is not an absolute path to a file".into());
    }
    if s.split('/')
        .skip(1)
        .any(|w| w.is_empty() || w == "." || w == "..")
    {
        return Some("has an empty, `.` or `..` component".into());
    }
    if s.len() > 1024 || s.chars().any(|c| c.is_control()) {
        return Some("is too long or holds control characters".into());
    }
    // Entries ending in `/`, `-` or `_` are prefixes; the others whole paths.
    let owns = |o: &&&str| {
        s == o.trim_end_matches('/') || (o.ends_with(['/', '-', '_']) && s.starts_with(**o))
    };
    if let Some(own) = PIPREP_OWN.iter().find(owns) {
        return Some(format!("is where piprep writes its own files ({own}…)"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_paths_and_owners() {
        for ok in ["htop", "nfs-common", "libc6", "g++", "open-iscsi=2.1.8-1"] {
            assert_eq!(package_problem(ok), None, "{ok}");
        }
        for bad in [
            "Htop",
            "a",
            "-x",
            "htop;rm",
            "x y",
            "x=",
            "x=$(boom)",
            "x\n",
        ] {
            assert!(package_problem(bad).is_some(), "{bad:?}");
        }
        for ok in ["/etc/motd", "/opt/x/y.conf", "/etc/hosts.allow"] {
            assert_eq!(path_problem(ok), None, "{ok}");
        }
        for bad in [
            "etc/motd",
            "/etc/",
            "/etc/../x",
            "/etc//x",
            "/etc/x\n",
            "/var/lib/piprep/x",
            "/etc/hostname",
            "/etc/hosts",
            "/etc/sysctl.d/k8s.conf",
            "/boot/firmware/config.txt",
        ] {
            assert!(path_problem(bad).is_some(), "{bad:?}");
        }
        assert!(account_name_ok("k8s") && account_name_ok("_apt"));
        assert!(!account_name_ok("Root") && !account_name_ok("a b") && !account_name_ok(""));
    }
}

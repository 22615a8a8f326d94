//! Which kernel arguments a profile may add to cmdline.txt: Raspberry Pi OS's
//! own first-boot scripts edit that line on substrings, not tokens, and would
//! damage some of them.

/// Why a token added to cmdline.txt would not survive Raspberry Pi OS's own
/// first-boot edits, which work on substrings, not tokens; `None` when it is
/// safe. Bookworm's firstboot deletes every ` quiet` (and keeps it when the
/// line mentions `splash`), Trixie's set_partuuid every ` resize`, so
/// `cgroup_enable=memory resize_x=1` becomes `cgroup_enable=memory_x=1`.
pub fn unsafe_token(token: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        (
            "quiet",
            "Bookworm's firstboot deletes every ` quiet` substring, so this token would lose its start",
        ),
        (
            "resize",
            "Trixie's initramfs (set_partuuid) deletes every ` resize` substring, so this token would lose its start or be joined to the previous one",
        ),
    ];
    const INFIXES: &[(&str, &str)] = &[
        (
            "splash",
            "Bookworm's firstboot greps the line for `splash` to decide whether to keep ` quiet`",
        ),
        (
            "firstboot",
            "Raspberry Pi OS's initramfs greps the command line for `firstboot` and would resize the disk again on every boot",
        ),
        (
            "init=",
            "it replaces the program the kernel starts; Raspberry Pi OS's first boot uses `init=` itself",
        ),
        (
            "ds=",
            "it selects cloud-init's datasource, which piprep sets itself (`ds=nocloud;i=…`)",
        ),
        (
            "systemd.",
            "Raspberry Pi OS's and Imager's clean-ups strip every ` systemd.*` argument, and piprep's hook uses them",
        ),
    ];
    if token.is_empty()
        || token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'' || c == '\\')
    {
        return Some("it is not one token: no spaces, quotes, backslashes or control characters");
    }
    PREFIXES
        .iter()
        .find(|(p, _)| token.starts_with(p))
        .or_else(|| INFIXES.iter().find(|(i, _)| token.contains(i)))
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_tokens_raspberry_pi_os_edits_would_damage() {
        for bad in [
            "quiet_boot=1",
            "quiet",
            "resize_x=1",
            "resize",
            "splash",
            "nosplash_x",
            "foo.firstboot=1",
            "init=/bin/sh",
            "rdinit=/x",
            "ds=nocloud",
            "systemd.unified_cgroup_hierarchy=1",
            "a b",
            "x\"y",
            "",
        ] {
            assert!(unsafe_token(bad).is_some(), "{bad:?} accepted");
        }
        for good in [
            "cgroup_memory=1",
            "cgroup_enable=memory",
            "usbcore.autosuspend=-1",
            "8250.nr_uarts=1",
        ] {
            assert_eq!(unsafe_token(good), None, "{good:?} refused");
        }
    }

    /// The damage the refusal prevents, done the way the real scripts do it.
    #[test]
    fn the_substring_edits_really_damage_such_tokens() {
        let line = "root=PARTUUID=1-02 rootwait resize cgroup_enable=memory resize_x=1";
        assert_eq!(
            line.replace(" resize", ""),
            "root=PARTUUID=1-02 rootwait cgroup_enable=memory_x=1"
        );
        assert_eq!("a quiet quiet_boot=1".replace(" quiet", ""), "a_boot=1");
    }
}

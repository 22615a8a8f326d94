//! cmdline.txt editing on tokens: every original token kept in order, the
//! profile's permanent arguments added once, and the first-boot hook last,
//! because Raspberry Pi OS clean-ups cut everything from ` systemd.run` onwards.

/// cloud-init's datasource argument is piprep's to set: an earlier bake's (or
/// Imager's) is replaced, and a firstrun image gets none. So is the argument
/// that orders cloud-init after the boot partition's mount.
fn is_datasource(token: &str) -> bool {
    token.starts_with("ds=") || token.starts_with(super::cloudinit::SEED_MOUNT_PREFIX)
}

/// Apply the edit: drop `stale` tokens (piprep's own hook from an earlier
/// bake), add the `permanent` ones once, then the `hook`. Idempotent: editing
/// an already edited line gives it back. Fails if another tool's
/// `systemd.run=` hook is present, because two hooks would both run and the
/// second would find its script already deleted.
pub fn edit(
    original: &str,
    permanent: &[String],
    hook: &[String],
    stale: &[String],
) -> Result<String, String> {
    let line = original
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if line.trim().is_empty() {
        return Err(
            "it is empty, so the kernel would not know its root filesystem; restore cmdline.txt from a fresh image"
                .into(),
        );
    }
    if !line.split_whitespace().any(|t| t.starts_with("root=")) {
        return Err(
            "it has no root= argument, so the kernel would not find its root filesystem; restore cmdline.txt from a fresh image"
                .into(),
        );
    }
    let mut tokens: Vec<&str> = line
        .split_whitespace()
        .filter(|t| !hook.iter().chain(stale).any(|h| h == t) && !is_datasource(t))
        .collect();
    if let Some(other) = tokens.iter().find(|t| t.starts_with("systemd.run")) {
        return Err(format!(
            "it already has another first-boot hook (`{other}`); remove the systemd.run* arguments or start from a clean image"
        ));
    }
    for arg in permanent {
        if !tokens.contains(&arg.as_str()) {
            tokens.push(arg);
        }
    }
    tokens.extend(hook.iter().map(String::as_str));
    let out = tokens.join(" ");
    if out.len() + FIRMWARE_ARGS > KERNEL_LIMIT {
        return Err(format!(
            "with piprep's arguments it would be {} bytes; the kernel keeps {KERNEL_LIMIT} bytes of command line and the Pi firmware adds up to {FIRMWARE_ARGS} of its own, so the end would be cut off; remove arguments from cmdline.txt or the profile's `cmdline`",
            out.len()
        ));
    }
    Ok(format!("{out}\n"))
}

/// arm64's COMMAND_LINE_SIZE, the terminating NUL included.
const KERNEL_LIMIT: usize = 2047;
/// What the Raspberry Pi firmware prepends (coherent_pool, 8250.nr_uarts,
/// the serial number, video settings: about 300 bytes on a Pi 4 or 5).
const FIRMWARE_ARGS: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::hook_tokens;

    const BOOKWORM: &str = "console=serial0,115200 console=tty1 root=PARTUUID=8acef004-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n";

    fn cg() -> Vec<String> {
        vec!["cgroup_memory=1".into(), "cgroup_enable=memory".into()]
    }

    #[test]
    fn appends_cgroup_then_hook_keeping_original_order() {
        let out = edit(BOOKWORM, &cg(), &hook_tokens("/boot/firmware"), &[]).unwrap();
        assert_eq!(
            out,
            "console=serial0,115200 console=tty1 root=PARTUUID=8acef004-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot cgroup_memory=1 cgroup_enable=memory systemd.run=/boot/firmware/piprep-run.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n"
        );
    }

    #[test]
    fn refuses_lines_the_kernel_could_not_boot_from() {
        let hook = hook_tokens("/boot/firmware");
        for bad in ["", "  \n", "\n\n", "console=tty1 rootwait\n"] {
            let e = edit(bad, &cg(), &hook, &[]).unwrap_err();
            assert!(e.contains("root"), "{bad:?}: {e}");
        }
        let long = format!("root=PARTUUID=1-02 {}\n", "x=1 ".repeat(350));
        let e = edit(&long, &cg(), &hook, &[]).unwrap_err();
        assert!(e.contains("bytes"), "{e}");
        let ok = format!("root=PARTUUID=1-02 {}\n", "x=1 ".repeat(200));
        assert!(edit(&ok, &cg(), &hook, &[]).is_ok());
    }

    #[test]
    fn is_idempotent_and_one_line() {
        let hook = hook_tokens("/boot/firmware");
        let once = edit(BOOKWORM, &cg(), &hook, &[]).unwrap();
        let twice = edit(&once, &cg(), &hook, &[]).unwrap();
        assert_eq!(once, twice);
        assert_eq!(twice.lines().count(), 1);
        assert_eq!(twice.matches("systemd.run=").count(), 1);
        assert_eq!(twice.matches("cgroup_enable=memory").count(), 1);
    }

    #[test]
    fn missing_permanent_arg_goes_before_the_hook() {
        let hook = hook_tokens("/boot");
        let partial = "root=PARTUUID=1-02 cgroup_enable=memory systemd.run=/boot/piprep-run.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target";
        let out = edit(partial, &cg(), &hook, &[]).unwrap();
        assert_eq!(
            out,
            "root=PARTUUID=1-02 cgroup_enable=memory cgroup_memory=1 systemd.run=/boot/piprep-run.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n"
        );
    }

    #[test]
    fn cloud_init_images_get_only_the_permanent_args() {
        let hook = hook_tokens("/boot/firmware");
        let firstrun = edit(BOOKWORM, &cg(), &hook, &[]).unwrap();
        let ci = edit(&firstrun, &cg(), &[], &hook).unwrap();
        assert!(
            !ci.contains("systemd.") && ci.contains("cgroup_enable=memory"),
            "{ci}"
        );
        assert_eq!(edit(&ci, &cg(), &[], &hook).unwrap(), ci);
    }

    #[test]
    fn the_datasource_argument_is_replaced_not_repeated() {
        let ds = |id: &str| format!("ds=nocloud;i={id}");
        let mut perm = cg();
        perm.push(ds("piprep-a"));
        let once = edit(BOOKWORM, &perm, &[], &[]).unwrap();
        assert!(
            once.ends_with("cgroup_enable=memory ds=nocloud;i=piprep-a\n"),
            "{once}"
        );
        assert_eq!(edit(&once, &perm, &[], &[]).unwrap(), once);
        perm.pop();
        perm.push(ds("piprep-b"));
        let rebaked = edit(&once, &perm, &[], &[]).unwrap();
        assert_eq!(rebaked.matches("ds=").count(), 1, "{rebaked}");
        assert!(rebaked.contains("i=piprep-b"), "{rebaked}");
        // Baked for firstrun afterwards: no datasource argument is left.
        let firstrun = edit(&rebaked, &cg(), &hook_tokens("/boot/firmware"), &[]).unwrap();
        assert!(!firstrun.contains("ds="), "{firstrun}");
    }

    #[test]
    fn the_seed_mount_argument_is_piprep_s_own() {
        use crate::render::cloudinit::seed_mount_token;
        let mut perm = cg();
        perm.push(seed_mount_token("/boot/firmware"));
        let once = edit(BOOKWORM, &perm, &[], &[]).unwrap();
        assert_eq!(edit(&once, &perm, &[], &[]).unwrap(), once);
        // Another mount point replaces it; a firstrun bake removes it.
        perm.pop();
        perm.push(seed_mount_token("/boot"));
        let moved = edit(&once, &perm, &[], &[]).unwrap();
        assert_eq!(moved.matches("systemd.set_credential").count(), 1);
        assert!(moved.contains(&seed_mount_token("/boot")), "{moved}");
        let firstrun = edit(&moved, &cg(), &hook_tokens("/boot/firmware"), &[]).unwrap();
        assert!(!firstrun.contains("set_credential"), "{firstrun}");
        // Raspberry Pi OS's scripts grep the line for these substrings.
        let t = seed_mount_token("/boot/firmware");
        for word in ["firstboot", "splash", "resize", "quiet", "init="] {
            assert!(!t.contains(word), "{word}");
        }
    }

    #[test]
    fn refuses_a_foreign_hook() {
        let line =
            "root=PARTUUID=1-02 systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot";
        let err = edit(line, &cg(), &hook_tokens("/boot/firmware"), &[]).unwrap_err();
        assert!(err.contains("/boot/firstrun.sh"), "{err}");
    }

    #[test]
    fn hook_avoids_substrings_rpi_scripts_grep_for() {
        for t in hook_tokens("/boot/firmware") {
            assert!(!t.contains("firstboot") && !t.contains("resize"), "{t}");
        }
    }
}

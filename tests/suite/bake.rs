//! `piprep bake` end to end on rootless fixture images, checked with tools that
//! are not piprep: sfdisk, fsck.fat, mtools, cmp, sha256sum and sh -n.

use std::path::Path;

use crate::support::*;

const HOOK_ARGS: &str = "systemd.run=/boot/firmware/piprep-run.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target";

/// Everything a baked node image must show, whatever the base.
fn assert_baked(base: &Path, out: &Path, node: &str, ip: &str, dir: &Path) {
    let parts = partitions(out);
    assert_eq!(parts.len(), 2);
    let boot = parts[0];
    let root = parts[1];
    // Only the FAT partition differs: MBR, gaps and rootfs are byte-identical.
    assert!(
        cmp_range(base, out, 0, Some(boot.start)),
        "bytes before the boot partition differ"
    );
    assert!(
        cmp_range(base, out, boot.start + boot.size, None),
        "bytes after the boot partition differ"
    );
    assert!(
        cmp_range(base, out, root.start, Some(root.size)),
        "rootfs differs"
    );
    fsck_fat(out, boot, dir);

    let original = mtype(base, boot, "cmdline.txt").unwrap();
    let cmdline = mtype(out, boot, "cmdline.txt").unwrap();
    assert_eq!(cmdline.lines().count(), 1, "{cmdline:?}");
    assert_eq!(
        cmdline.trim_end(),
        format!(
            "{} cgroup_memory=1 cgroup_enable=memory {HOOK_ARGS}",
            original.trim_end()
        )
    );

    let hook = mtype(out, boot, "piprep-run.sh").expect("hook script on the boot partition");
    sh_syntax_ok(&hook, dir, "hook.sh");
    let files = embedded_files(&hook);
    let get = |p: &str| {
        files
            .iter()
            .find(|(f, _)| f == p)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("hook installs no {p}"))
    };
    // The guide, step by step.
    assert_eq!(
        get("/etc/modules-load.d/k8s.conf"),
        "overlay\nbr_netfilter\n"
    );
    assert_eq!(
        get("/etc/sysctl.d/k8s.conf"),
        "net.bridge.bridge-nf-call-iptables  = 1\nnet.ipv4.ip_forward                 = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n"
    );
    let prepare = get("/usr/local/lib/piprep/prepare.sh");
    sh_syntax_ok(&prepare, dir, "prepare.sh");
    assert!(
        prepare.contains("swapoff -a")
            && prepare.contains("dphys-swapfile uninstall")
            && prepare.contains("Mechanism=none")
    );
    // The hook runs the shared preparation (login shell, host keys among it)
    // and, on an image with cloud-init, switches cloud-init off.
    assert!(hook.contains("step \"node preparation\" /usr/local/lib/piprep/prepare.sh"));
    assert!(prepare.contains("usermod -s /bin/bash \"$USER_NAME\""));
    assert!(prepare.contains("ssh-keygen -A"));
    assert!(hook.contains(": >/etc/cloud/cloud-init.disabled"));
    let setup = get("/usr/local/lib/piprep/setup.sh");
    sh_syntax_ok(&setup, dir, "setup.sh");
    assert!(setup.contains("pkgs='chrony ufw'"));
    assert!(setup.contains("systemctl enable --now chrony.service"));
    assert!(
        setup.contains("ufw allow in proto tcp from any to any port 22 comment 'Allow SSH access'")
    );
    assert!(setup.contains("ufw default deny outgoing"));
    sh_syntax_ok(&get("/usr/local/lib/piprep/check.sh"), dir, "check.sh");
    assert!(
        get("/etc/systemd/system/piprep-setup.service").contains("After=network-online.target")
    );
    // Identity.
    let keyfile = get("/etc/NetworkManager/system-connections/piprep-eth0.nmconnection");
    assert!(
        keyfile.contains(&format!("address1={ip}/24,10.1.1.1")),
        "{keyfile}"
    );
    assert!(
        hook.contains(
            "put_file /etc/NetworkManager/system-connections/piprep-eth0.nmconnection 0600"
        )
    );
    assert!(hook.contains(&format!("NODE={node}\n")));
    assert!(hook.contains("USER_NAME=k8s\n"));
    assert!(hook.contains(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP test@ci"
    ));
    // The secret is on the FAT partition for the first boot only, never in the script.
    let secrets = mtype(out, boot, "piprep-secrets.txt").expect("secrets file");
    assert!(secrets.starts_with("k8s:$6$AbCdEfGhIjKlMnOp$"));
    assert!(!hook.contains("$6$AbCdEfGhIjKlMnOp"));
    assert!(hook.contains("rm -f \"$SECRETS\""));
    let stamp: serde_json::Value =
        serde_json::from_str(&mtype(out, boot, "piprep-stamp.json").unwrap()).unwrap();
    assert_eq!(stamp["node"], node);
    assert_eq!(stamp["ip"], format!("{ip}/24"));
    assert_eq!(
        stamp["base_image"]["sha256"],
        sha256_file(base),
        "stamp records the base's sha256"
    );
    // Original files survive untouched.
    for f in ["config.txt", "issue.txt", "kernel8.img", "overlays/README"] {
        assert_eq!(mtype(base, boot, f), mtype(out, boot, f), "{f} changed");
    }
}

#[test]
fn bakes_a_bookworm_node_with_only_the_boot_partition_changed() {
    let dir = scratch("bake-bookworm");
    let base = fixture_copy("bookworm", &[], &dir);
    let before = sha256_file(&base);
    write_inventory(&dir, &base, "");
    let o = piprep(&dir, &["bake", "--node", "cp-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sha256_file(&base), before, "the input image was modified");
    assert_baked(&base, &dir.join("out/cp-1.img"), "cp-1", "10.1.1.11", &dir);
    // No temporary files left behind.
    assert_eq!(
        dir_names(&dir.join("out")),
        [
            "SHA256SUMS",
            "cp-1.img",
            "cp-1.img.bmap",
            "known_hosts",
            "manifest.json"
        ]
    );
}

#[test]
fn bakes_trixie_and_other_layouts() {
    // Trixie at 8 MiB alignment with 512-byte clusters, and a 2024-style
    // Bookworm at 4 MiB with another disk id: nothing depends on fixed offsets.
    for (variant, args) in [
        ("trixie", vec![]),
        (
            "bookworm",
            vec![
                "--align-mib",
                "4",
                "--disk-id",
                "0badcafe",
                "--fat-mib",
                "160",
            ],
        ),
    ] {
        let dir = scratch(&format!("bake-{variant}-{}", args.len()));
        let base = fixture(variant, &args);
        write_inventory(&dir, &base, "");
        let o = piprep(&dir, &["bake", "--all", "-q"]);
        assert!(o.status.success(), "{variant}: {}", stderr(&o));
        assert_baked(&base, &dir.join("out/cp-1.img"), "cp-1", "10.1.1.11", &dir);
        assert_baked(
            &base,
            &dir.join("out/worker-1.img"),
            "worker-1",
            "10.1.1.21",
            &dir,
        );
        let boot = partitions(&base)[0];
        let cmd = mtype(&dir.join("out/cp-1.img"), boot, "cmdline.txt").unwrap();
        let id = if args.is_empty() {
            "7351b90c"
        } else {
            "0badcafe"
        };
        assert!(cmd.contains(&format!("root=PARTUUID={id}-02 ")), "{cmd}");
    }
}

#[test]
fn baking_a_baked_image_adds_nothing_twice() {
    let dir = scratch("bake-twice");
    let base = fixture("bookworm", &[]);
    write_inventory(&dir, &base, "");
    assert!(piprep(&dir, &["bake", "-n", "cp-1", "-q"]).status.success());
    let once = dir.join("out/cp-1.img");
    let o = piprep(
        &dir,
        &[
            "bake",
            "-n",
            "cp-1",
            "-q",
            "--image",
            once.to_str().unwrap(),
            "--out",
            "again",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let boot = partitions(&base)[0];
    let a = mtype(&once, boot, "cmdline.txt").unwrap();
    let b = mtype(&dir.join("again/cp-1.img"), boot, "cmdline.txt").unwrap();
    assert_eq!(a, b);
    assert_eq!(b.matches("systemd.run=").count(), 1);
    assert_eq!(b.matches("cgroup_memory=1").count(), 1);
    fsck_fat(&dir.join("again/cp-1.img"), boot, &dir);
}

#[test]
fn existing_outputs_are_skipped_rebaked_or_refused() {
    let dir = scratch("bake-force");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    assert!(piprep(&dir, &["bake", "-n", "cp-1", "-q"]).status.success());
    let img = dir.join("out/cp-1.img");
    let mtime = std::fs::metadata(&img).unwrap().modified().unwrap();
    // Nothing changed: nothing is rewritten.
    let o = piprep(&dir, &["bake", "-n", "cp-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("is up to date"), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&img).unwrap().modified().unwrap(), mtime);
    // --force rebakes.
    let o = piprep(&dir, &["bake", "-n", "cp-1", "--force"]);
    assert!(stderr(&o).contains("baked cp-1"), "{}", stderr(&o));
    // A changed node is rebaked without --force (piprep made the old one).
    let toml = std::fs::read_to_string(dir.join("piprep.toml"))
        .unwrap()
        .replace("10.1.1.11", "10.1.1.12");
    std::fs::write(dir.join("piprep.toml"), toml).unwrap();
    let o = piprep(&dir, &["bake", "-n", "cp-1"]);
    assert!(stderr(&o).contains("baked cp-1"), "{}", stderr(&o));
    let boot = partitions(&img)[0];
    assert!(
        mtype(&img, boot, "piprep-run.sh")
            .unwrap()
            .contains("address1=10.1.1.12/24")
    );
    // A file piprep did not make is refused without --force.
    std::fs::write(dir.join("out/worker-1.img"), b"precious").unwrap();
    let o = piprep(&dir, &["bake", "-n", "worker-1"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stderr(&o).contains("not listed in") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(dir.join("out/worker-1.img")).unwrap(),
        b"precious"
    );
    // Baking "in place" over the input is refused even with --force.
    let o = piprep(
        &dir,
        &[
            "bake",
            "-n",
            "cp-1",
            "--force",
            "--image",
            img.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("is the input image"));
}

#[test]
fn fat_timestamps_are_reproducible() {
    let dir = scratch("bake-repro");
    let base = fixture("bookworm", &[]);
    write_inventory(&dir, &base, "");
    assert!(
        piprep(&dir, &["bake", "-n", "cp-1", "-q", "-o", "a"])
            .status
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(
        piprep(&dir, &["bake", "-n", "cp-1", "-q", "-o", "b"])
            .status
            .success()
    );
    assert_eq!(
        sha256_file(&dir.join("a/cp-1.img")),
        sha256_file(&dir.join("b/cp-1.img"))
    );
    // Files piprep wrote carry the base image's date, not 1980 or today.
    let listing = mdir(&dir.join("a/cp-1.img"), partitions(&base)[0]);
    assert!(!listing.is_empty());
    let o = std::process::Command::new("mdir")
        .arg("-i")
        .arg(format!(
            "{}@@{}",
            dir.join("a/cp-1.img").display(),
            partitions(&base)[0].start
        ))
        .arg("::piprep-run.sh")
        .output()
        .unwrap();
    assert!(stdout(&o).contains("2025-10-01"), "{}", stdout(&o));
}

/// Bad input: a clear one-line error, the documented exit code, no output.
fn assert_refused(dir: &Path, args: &[&str], code: i32, needle: &str) {
    let o = piprep(dir, args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() {
                std::fs::read_dir(p)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect()
            } else {
                vec![p]
            }
        })
        .filter(|p| {
            p.to_string_lossy().contains(".img.") || p.parent().is_some_and(|d| d.ends_with("out"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{args:?} left {leftovers:?}");
}

#[test]
fn bad_images_are_refused_cleanly() {
    let dir = scratch("bake-bad-images");
    write_inventory(&dir, Path::new("missing.img"), "");
    assert_refused(&dir, &["bake", "-n", "cp-1"], 3, "cannot open image");

    std::fs::write(dir.join("zeros.img"), vec![0u8; 1 << 20]).unwrap();
    assert_refused(
        &dir,
        &["bake", "-n", "cp-1", "--image", "zeros.img"],
        3,
        "no partition table",
    );

    // A table whose partitions run past the end of the file.
    let base = fixture("trixie", &[]);
    let bytes = std::fs::read(&base).unwrap();
    std::fs::write(dir.join("truncated.img"), &bytes[..20 << 20]).unwrap();
    assert_refused(
        &dir,
        &["bake", "-n", "cp-1", "--image", "truncated.img"],
        3,
        "truncated",
    );

    // Partition 2 moved to start inside partition 1: overlapping entries.
    let mut overlap = bytes.clone();
    let p1 = partitions(&base)[0];
    let inside = ((p1.start / 512) as u32 + 8).to_le_bytes();
    overlap[446 + 16 + 8..446 + 16 + 12].copy_from_slice(&inside);
    std::fs::write(dir.join("overlap.img"), &overlap).unwrap();
    assert_refused(
        &dir,
        &["bake", "-n", "cp-1", "--image", "overlap.img"],
        3,
        "overlap",
    );

    // The FAT boot sector wiped: no FAT partition remains.
    let mut nofat = bytes.clone();
    let boot = partitions(&base)[0];
    nofat[boot.start as usize..boot.start as usize + 512].fill(0);
    std::fs::write(dir.join("nofat.img"), &nofat).unwrap();
    assert_refused(
        &dir,
        &["bake", "-n", "cp-1", "--image", "nofat.img"],
        3,
        "no FAT boot partition",
    );
}

#[test]
fn missing_cmdline_and_dirty_journal_are_refused() {
    let dir = scratch("bake-bad-contents");
    let img = fixture_copy("bookworm", &[], &dir);
    write_inventory(&dir, &img, "");
    let boot = partitions(&img)[0];
    let st = std::process::Command::new("mdel")
        .arg("-i")
        .arg(format!("{}@@{}", img.display(), boot.start))
        .arg("::cmdline.txt")
        .status()
        .unwrap();
    assert!(st.success());
    assert_refused(&dir, &["bake", "-n", "cp-1"], 3, "has no cmdline.txt");

    let img = fixture_copy("trixie", &[], &dir);
    let root = partitions(&img)[1];
    let o = std::process::Command::new("debugfs")
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .args(["-w", "-R", "feature needs_recovery"])
        .arg(format!("{}?offset={}", img.display(), root.start))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_refused(
        &dir,
        &["bake", "-n", "cp-1", "--image", img.to_str().unwrap()],
        3,
        "run `e2fsck -fy`",
    );
}

#[test]
fn a_full_boot_partition_is_refused() {
    let dir = scratch("bake-full-fat");
    let img = fixture_copy("trixie", &["--fat-mib", "34"], &dir);
    write_inventory(&dir, &img, "");
    let boot = partitions(&img)[0];
    let at = format!("{}@@{}", img.display(), boot.start);
    // Fill the FAT with a file, leaving less room than piprep needs.
    let o = std::process::Command::new("minfo")
        .arg("-i")
        .arg(&at)
        .output()
        .unwrap();
    assert!(o.status.success());
    let listing = std::process::Command::new("mdir")
        .arg("-i")
        .arg(&at)
        .arg("::/")
        .output()
        .unwrap();
    let free: u64 = stdout(&listing)
        .lines()
        .find(|l| l.contains("bytes free"))
        .map(|l| {
            l.split("bytes")
                .next()
                .unwrap()
                .chars()
                .filter(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse()
                .unwrap()
        })
        .unwrap();
    let filler = dir.join("filler.bin");
    std::fs::write(&filler, vec![0x5au8; (free - 4096) as usize]).unwrap();
    let st = std::process::Command::new("mcopy")
        .arg("-i")
        .arg(&at)
        .arg(&filler)
        .arg("::filler.bin")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(&filler).unwrap();
    assert_refused(&dir, &["bake", "-n", "cp-1"], 3, "too full");
}

#[test]
fn a_failed_write_leaves_no_output() {
    // A file-size limit makes every large write fail mid-copy (EFBIG), as a
    // full disk would; the partial file must vanish.
    let dir = scratch("bake-write-fail");
    let base = fixture("bookworm", &[]);
    write_inventory(&dir, &base, "");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 2048; exec {} bake -n cp-1",
            env!("CARGO_BIN_EXE_piprep")
        ))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot copy the base image"),
        "{}",
        stderr(&o)
    );
    let left: Vec<_> = std::fs::read_dir(dir.join("out")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bakes_gpt_images() {
    let dir = scratch("bake-gpt");
    let base = fixture("trixie", &["--gpt"]);
    write_inventory(&dir, &base, "");
    let o = piprep(&dir, &["bake", "-n", "cp-1", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_baked(&base, &dir.join("out/cp-1.img"), "cp-1", "10.1.1.11", &dir);
    let v: serde_json::Value = serde_json::from_slice(
        &piprep(
            &dir,
            &[
                "inspect",
                "--json",
                dir.join("out/cp-1.img").to_str().unwrap(),
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(v["table"]["scheme"], "gpt");
    assert_eq!(v["table"]["partitions"][0]["content"], "fat");
}

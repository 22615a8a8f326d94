//! The cloud-init backend: golden user-data, meta-data and network-config,
//! a round trip through an independent YAML parser (PyYAML), cloud-init's own
//! schema check when installed, and backend selection on fixture images.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// Render `node` into a scratch directory of its own: `tag` names the caller,
/// so tests running at once never share (and delete) each other's output.
fn render_to(tag: &str, node: &str) -> PathBuf {
    let out = scratch(&format!("ci-render-{tag}-{node}"));
    let data = data();
    let o = piprep(
        &data,
        &[
            "--config",
            "cloud-init.toml",
            "render",
            "--node",
            node,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

#[test]
fn seed_files_match_golden() {
    for node in ["cp-1", "worker-1"] {
        let d = render_to("golden", node);
        // The seed on the boot partition; `rootfs` is the tree it installs.
        let boot: Vec<String> = dir_names(&d)
            .into_iter()
            .filter(|n| n != "rootfs")
            .collect();
        assert_eq!(
            boot,
            [
                "cmdline.txt.append",
                "meta-data",
                "network-config",
                "piprep-stamp.json",
                "user-data"
            ]
        );
        for f in ["user-data", "meta-data", "network-config"] {
            golden_in(
                "cloud-init",
                &format!("{node}.{f}"),
                &std::fs::read_to_string(d.join(f)).unwrap(),
            );
        }
        // The cgroup arguments, the datasource pinned to this instance, and
        // cloud-init's first stage ordered after the boot partition's mount.
        let md = std::fs::read_to_string(d.join("meta-data")).unwrap();
        let id = md
            .lines()
            .find_map(|l| l.strip_prefix("instance-id: "))
            .unwrap()
            .trim_matches('"');
        let added = std::fs::read_to_string(d.join("cmdline.txt.append")).unwrap();
        let (head, dropin) = added
            .trim_end()
            .split_once(
                " systemd.set_credential_binary=systemd.unit-dropin.cloud-init-local.service:",
            )
            .unwrap();
        assert_eq!(
            head,
            format!("cgroup_memory=1 cgroup_enable=memory ds=nocloud;i={id}")
        );
        assert_eq!(
            base64_decode(dropin),
            "[Unit]\n# piprep: the NoCloud seed is on the boot partition\nRequiresMountsFor=/boot/firmware\n"
        );
        // Raspberry Pi OS's scripts grep the command line for these.
        for word in ["firstboot", "splash", " resize", " quiet"] {
            assert!(!added.contains(word), "{word} in {added}");
        }
    }
}

/// base64 -d, an independent decoder.
fn base64_decode(s: &str) -> String {
    let o = Command::new("sh")
        .args(["-c", "printf '%s' \"$1\" | base64 -d", "sh", s])
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn yaml_round_trips_through_an_independent_parser() {
    let d = render_to("yaml", "cp-1");
    let ud_text = std::fs::read_to_string(d.join("user-data")).unwrap();
    assert!(ud_text.starts_with("#cloud-config\n"));
    let ud = yaml_to_json(&d.join("user-data"));
    assert_eq!(ud["hostname"], "cp-1");
    assert_eq!(ud["manage_etc_hosts"], true);
    let user = &ud["users"][0];
    assert_eq!(user["name"], "k8s");
    assert_eq!(user["lock_passwd"], false);
    assert_eq!(user["shell"], "/bin/bash");
    // hashed_passwd also applies to a user that already exists; passwd would not.
    assert!(user["passwd"].is_null());
    assert!(
        user["hashed_passwd"]
            .as_str()
            .unwrap()
            .starts_with("$6$AbCdEfGhIjKlMnOp$")
    );
    assert_eq!(
        user["ssh_authorized_keys"][0]
            .as_str()
            .unwrap()
            .split_whitespace()
            .next(),
        Some("ssh-ed25519")
    );
    // Parity with Raspberry Pi Imager 2.x.
    assert_eq!(ud["manage_resolv_conf"], false);
    assert_eq!(ud["apt"]["preserve_sources_list"], true);
    assert_eq!(
        ud["ssh_genkeytypes"],
        serde_json::json!(["rsa", "ecdsa", "ed25519"])
    );
    // Early on every boot: Raspberry Pi OS's key regeneration cancelled and
    // masked before it can replace the pinned keys cloud-init writes next.
    let keep = ud["bootcmd"][0][2].as_str().unwrap();
    for want in [
        "regenerate_ssh_host_keys.service",
        "systemctl stop --no-block",
        "systemctl mask",
    ] {
        assert!(keep.contains(want), "{keep}");
    }
    // Then rename the image's first user to ours and stop the console
    // wizard. The user name is an argument, never part of the script.
    let boot = &ud["bootcmd"][1];
    assert_eq!(boot[0], "sh");
    assert_eq!(boot[1], "-c");
    assert!(!boot[2].as_str().unwrap().contains("k8s"));
    assert!(
        boot[2]
            .as_str()
            .unwrap()
            .contains("/usr/lib/userconf-pi/userconf")
    );
    assert!(boot[2].as_str().unwrap().contains("userconfig.service"));
    assert_eq!(boot[4], "k8s");
    // Packages are installed by piprep-setup (retried, and again on later
    // boots), the same in both backends; cloud-init gets no list of its own.
    assert!(ud["packages"].is_null());
    let paths: Vec<&str> = ud["write_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for p in [
        "/etc/modules-load.d/k8s.conf",
        "/etc/sysctl.d/k8s.conf",
        "/etc/chrony/sources.d/piprep.sources",
        "/usr/local/lib/piprep/prepare.sh",
        "/usr/local/lib/piprep/setup.sh",
        "/usr/local/lib/piprep/check.sh",
        "/etc/systemd/system/piprep-setup.service",
    ] {
        assert!(paths.contains(&p), "write_files lacks {p}");
    }
    let files = ud["write_files"].as_array().unwrap();
    let content = |p: &str| {
        files.iter().find(|f| f["path"] == p).unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        content("/etc/modules-load.d/k8s.conf"),
        "overlay\nbr_netfilter\n"
    );
    let prepare = content("/usr/local/lib/piprep/prepare.sh");
    for want in [
        "Mechanism=none",
        "dphys-swapfile uninstall",
        "# disabled by piprep: ",
        "usermod -s /bin/bash",
        "ssh-keygen -A",
        "sysctl --system",
        // The hash and private keys leave user-data overwritten, not just unlinked.
        "/^ *hashed_passwd: / { next }",
        "/^ *[a-z0-9]+_private: / {",
        "conv=notrunc,fsync",
    ] {
        assert!(prepare.contains(want), "prepare.sh lacks {want}");
    }
    assert!(content("/usr/local/lib/piprep/setup.sh").contains("pkgs='chrony ufw'"));
    let runcmd: Vec<String> = ud["runcmd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    // The shared preparation, sshd, then the networked setup started now.
    assert_eq!(
        runcmd[..3],
        [
            "/usr/local/lib/piprep/prepare.sh",
            "systemctl enable --now ssh",
            "systemctl enable --now piprep-setup.service",
        ]
    );
    assert_eq!(runcmd.len(), 3, "{runcmd:?}");
    let md = yaml_to_json(&d.join("meta-data"));
    let id = md["instance-id"].as_str().unwrap();
    assert!(id.starts_with("piprep-") && !id.contains("cp-1"), "{id}");
    assert_eq!(md["local-hostname"], "cp-1");
    let nc = yaml_to_json(&d.join("network-config"));
    let eth = &nc["network"]["ethernets"]["eth0"];
    assert_eq!(nc["network"]["version"], 2);
    // netplan renders for NetworkManager whatever netplan files the image
    // ships: the device's own renderer wins over any file's global one.
    assert_eq!(nc["network"]["renderer"], "NetworkManager");
    assert_eq!(eth["renderer"], "NetworkManager");
    assert_eq!(eth["addresses"], serde_json::json!(["10.1.1.11/24"]));
    assert_eq!(eth["routes"][0]["via"], "10.1.1.1");
    assert_eq!(
        eth["nameservers"]["addresses"],
        serde_json::json!(["10.1.1.1"])
    );
    assert_eq!(eth["dhcp4"], false);
}

#[test]
fn instance_id_follows_the_config() {
    let a = std::fs::read_to_string(render_to("id-a", "cp-1").join("meta-data")).unwrap();
    let b = std::fs::read_to_string(render_to("id-b", "cp-1").join("meta-data")).unwrap();
    assert_eq!(a, b, "an unchanged config must keep its instance-id");
    let w = std::fs::read_to_string(render_to("id-a", "worker-1").join("meta-data")).unwrap();
    assert_ne!(a, w);
    // A changed node gets a new instance-id.
    let dir = scratch("ci-changed");
    let t = std::fs::read_to_string(root().join("tests/data/cloud-init.toml"))
        .unwrap()
        .replace("10.1.1.11", "10.1.1.12");
    std::fs::write(dir.join("piprep.toml"), t).unwrap();
    let o = piprep(&dir, &["render", "--node", "cp-1", "--out", "r"]);
    assert!(o.status.success());
    assert_ne!(std::fs::read_to_string(dir.join("r/meta-data")).unwrap(), a);
}

#[test]
fn render_redacts_the_password_hash() {
    let o = piprep(
        &data(),
        &["--config", "cloud-init.toml", "render", "--node", "cp-1"],
    );
    let out = stdout(&o);
    assert!(out.contains("passwd: \"<redacted>\""), "{out}");
    assert!(!out.contains("$6$AbCd"));
    assert!(out.contains("# first-boot backend: cloud-init"));
}

#[test]
fn cloud_init_schema_accepts_user_data() {
    let has = Command::new("sh")
        .args(["-c", "command -v cloud-init"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has && std::env::var_os("PIPREP_REQUIRE_CLOUD_INIT").is_none() {
        eprintln!(
            "cloud-init not installed: schema check skipped (.ci/run installs it and sets PIPREP_REQUIRE_CLOUD_INIT)"
        );
        return;
    }
    for node in ["cp-1", "worker-1"] {
        let d = render_to("schema", node);
        let o = Command::new("cloud-init")
            .args(["schema", "--config-file"])
            .arg(d.join("user-data"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{node}: {}{}", stdout(&o), stderr(&o));
    }
}

#[test]
fn backend_is_chosen_from_the_image() {
    let dir = scratch("ci-backend");
    for (name, variant, args, init, want) in [
        ("bookworm", "bookworm", vec![], "", "firstrun"),
        ("trixie", "trixie", vec![], "", "firstrun"),
        (
            "trixie-ci",
            "trixie",
            vec!["--cloud-init"],
            "",
            "cloud-init",
        ),
        (
            "trixie-ci-forced",
            "trixie",
            vec!["--cloud-init"],
            "init = \"firstrun\"\n",
            "firstrun",
        ),
        (
            "bookworm-forced",
            "bookworm",
            vec![],
            "init = \"cloud-init\"\n",
            "cloud-init",
        ),
    ] {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let base = fixture(variant, &args);
        let inv = write_inventory(&d, &base, "");
        let t = std::fs::read_to_string(&inv)
            .unwrap()
            .replace("[image]\n", &format!("[image]\n{init}"));
        std::fs::write(&inv, t).unwrap();
        let o = piprep(&d, &["bake", "-n", "cp-1", "-q"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let img = d.join("out/cp-1.img");
        let ins: serde_json::Value = serde_json::from_slice(
            &piprep(&d, &["inspect", "--json", img.to_str().unwrap()]).stdout,
        )
        .unwrap();
        assert_eq!(ins["init"]["mechanism"], want, "{name}: {}", ins["init"]);
        assert_eq!(ins["stamp"]["backend"], want);
        let boot = partitions(&img)[0];
        fsck_fat(&img, boot, &d);
        let cmdline = mtype(&img, boot, "cmdline.txt").unwrap();
        assert!(cmdline.contains("cgroup_memory=1 cgroup_enable=memory"));
        if want == "cloud-init" {
            assert!(!cmdline.contains("systemd.run"), "{name}: {cmdline}");
            assert!(mtype(&img, boot, "piprep-run.sh").is_none());
            // The templates are replaced, not appended to.
            let ud = mtype(&img, boot, "user-data").unwrap();
            assert!(ud.starts_with("#cloud-config\n# piprep"), "{name}: {ud}");
            assert!(!ud.contains("# template"));
            assert!(
                mtype(&img, boot, "network-config")
                    .unwrap()
                    .contains("10.1.1.11/24")
            );
            let md = mtype(&img, boot, "meta-data").unwrap();
            let id = md
                .lines()
                .find_map(|l| l.strip_prefix("instance-id: "))
                .unwrap()
                .trim_matches('"');
            assert!(id.starts_with("piprep-"), "{md}");
            assert!(
                cmdline.contains(&format!(" ds=nocloud;i={id}")),
                "{name}: {cmdline}"
            );
        } else {
            assert!(
                cmdline.contains("systemd.run=/boot/firmware/piprep-run.sh"),
                "{name}: {cmdline}"
            );
            assert!(!cmdline.contains("ds="), "{name}: {cmdline}");
        }
    }
    let _ = Path::new("");
}

/// Both backends install the same root filesystem files with the same
/// contents: the hook through put_file, cloud-init through write_files. Only
/// the checklist knows which backend it runs under.
#[test]
fn both_backends_install_the_same_files() {
    let data = data();
    let hook = stdout(&piprep(
        &data,
        &["--config", "cloud-init.toml", "render", "--node", "cp-1"],
    ));
    assert!(hook.contains("# first-boot backend: cloud-init"));
    let d = render_to("parity", "cp-1");
    let ud = yaml_to_json(&d.join("user-data"));
    let cloud: Vec<(String, String)> = ud["write_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Beside the other inventories, so the node has the same host keys.
    let fr = data.clone();
    let t = std::fs::read_to_string(data.join("cloud-init.toml"))
        .unwrap()
        .replace("init = \"cloud-init\"", "init = \"firstrun\"");
    assert!(t.contains("init = \"firstrun\""), "{t}");
    std::fs::write(fr.join("firstrun.toml"), t).unwrap();
    let rendered = stdout(&piprep(
        &fr,
        &["-c", "firstrun.toml", "render", "--node", "cp-1"],
    ));
    let firstrun = embedded_files(&rendered);
    let paths = |v: &[(String, String)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    // The hook installs the shared files first, then its own identity files
    // (cloud-init has network-config and users: for those).
    assert!(firstrun.len() > cloud.len());
    assert_eq!(paths(&firstrun[..cloud.len()]), paths(&cloud));
    for ((path, a), (_, b)) in firstrun.iter().zip(&cloud) {
        if path.ends_with("/check.sh") {
            let strip = |s: &str| s.replace("BACKEND=cloud-init", "BACKEND=firstrun");
            assert_eq!(strip(a), strip(b), "{path}");
        } else {
            assert_eq!(a, b, "{path} differs between the backends");
        }
    }
}

#[test]
fn bootcmd_cancels_and_masks_the_key_regeneration_when_the_image_has_it() {
    // Run the rendered bootcmd with a systemctl that records its calls.
    let d = render_to("bootcmd", "cp-1");
    let ud = yaml_to_json(&d.join("user-data"));
    let words: Vec<String> = ud["bootcmd"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let dir = scratch("ci-bootcmd");
    for has_unit in [true, false] {
        let log = dir.join(format!("calls-{has_unit}"));
        let bin = dir.join(format!("bin-{has_unit}"));
        std::fs::create_dir_all(&bin).unwrap();
        let stub = bin.join("systemctl");
        std::fs::write(
            &stub,
            format!(
                "#!/bin/sh\necho \"$*\" >>'{}'\n[ \"$1\" != cat ] || exit {}\n",
                log.display(),
                if has_unit { 0 } else { 1 }
            ),
        )
        .unwrap();
        std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let o = Command::new(&words[0])
            .args(&words[1..])
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let calls = std::fs::read_to_string(&log).unwrap();
        let u = "regenerate_ssh_host_keys.service";
        if has_unit {
            assert_eq!(
                calls,
                format!("cat {u}\nstop --no-block {u}\ndisable --quiet {u}\nmask --quiet {u}\n")
            );
        } else {
            assert_eq!(calls, format!("cat {u}\n"));
        }
    }
}

//! The keys: made once, kept private, replaced only by rekey, refused when unsafe, restored on the node.

use super::*;

#[test]
fn keys_are_made_once_kept_private_reused_and_replaced_only_by_rekey() {
    let dir = scratch("hk-keys");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    let o = piprep(&dir, &["bake", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("new SSH host keys (cp-1: SHA256:"),
        "{}",
        stderr(&o)
    );
    let secrets = dir.join(".piprep/secrets");
    assert_eq!(mode(&secrets), 0o700);
    assert!(
        std::fs::read_to_string(secrets.join(".gitignore"))
            .unwrap()
            .contains("\n*\n")
    );
    for node in ["cp-1", "worker-1"] {
        assert_eq!(mode(&secrets.join(node)), 0o700);
        for f in ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"] {
            assert_eq!(mode(&secrets.join(node).join(f)), 0o600, "{node}/{f}");
        }
    }
    // ssh-keygen (not piprep) reads the private key and derives its public key.
    require_tool("ssh-keygen");
    let derived = std::process::Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(secrets.join("cp-1/ssh_host_ed25519_key"))
        .output()
        .unwrap();
    assert!(derived.status.success(), "{}", stderr(&derived));
    let cp = pub_key(&dir, "cp-1");
    assert!(stdout(&derived).starts_with(&cp));
    // out/known_hosts: one line per node, for its name and its address.
    let kh = known_hosts(&dir);
    assert!(kh.contains(&format!("\ncp-1,10.1.1.11 {cp}\n")), "{kh}");
    assert!(kh.contains(&format!(
        "\nworker-1,10.1.1.21 {}\n",
        pub_key(&dir, "worker-1")
    )));
    // The image carries the private key for the hook, and the .pub.
    let img = dir.join("out/cp-1.img");
    let parts = partitions(&img);
    let on_card = mtype(&img, parts[0], "piprep-ssh_host_ed25519_key").unwrap();
    assert_eq!(
        on_card,
        std::fs::read_to_string(secrets.join("cp-1/ssh_host_ed25519_key")).unwrap()
    );
    let sums = std::fs::read_to_string(dir.join("out/SHA256SUMS")).unwrap();

    // A second bake reuses the keys: the same images, byte for byte.
    let o = piprep(&dir, &["bake", "--all", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("new SSH host keys"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("out/SHA256SUMS")).unwrap(),
        sums
    );
    assert_eq!(known_hosts(&dir), kh);

    // rekey replaces one node's keys; the next bake pins the new one.
    let o = piprep(&dir, &["rekey", "cp-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("node cp-1: new SSH host key SHA256:"));
    let new = pub_key(&dir, "cp-1");
    assert_ne!(new, cp);
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    let kh2 = known_hosts(&dir);
    assert!(kh2.contains(&format!("cp-1,10.1.1.11 {new}\n")) && !kh2.contains(&cp));
    assert!(kh2.contains(&pub_key(&dir, "worker-1")));
    let o = piprep(&dir, &["rekey", "nobody"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown node `nobody`"));
}

#[test]
fn validate_refuses_readable_or_missing_keys_with_a_fix() {
    let dir = scratch("hk-validate");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    assert!(piprep(&dir, &["render", "-n", "cp-1"]).status.success());
    let key = dir.join(".piprep/secrets/cp-1/ssh_host_ed25519_key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = piprep(&dir, &["validate"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(text.contains("node cp-1: SSH host key store"), "{text}");
    assert!(
        text.contains("is open to group or others (mode 644)"),
        "{text}"
    );
    assert!(
        text.contains("fix: chmod 600 ./.piprep/secrets/cp-1/ssh_host_ed25519_key"),
        "{text}"
    );
    // bake refuses too, and makes no new key behind the user's back.
    let o = piprep(&dir, &["bake", "-n", "cp-1"]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_file(&key).unwrap();
    let o = piprep(&dir, &["validate"]);
    assert_eq!(o.status.code(), Some(2));
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        text.contains("is missing, so the node would get new keys"),
        "{text}"
    );
    assert!(text.contains("`piprep rekey cp-1`"));
    assert!(!key.exists());
    // A key that is not a key: one line, exit 2, the file and the fix named.
    std::fs::write(&key, "not a key\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = piprep(&dir, &["render", "-n", "cp-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not an OpenSSH private key"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("piprep rekey cp-1"));
    // [secrets] dir moves the store.
    let inv = dir.join("piprep.toml");
    let t = std::fs::read_to_string(&inv).unwrap();
    std::fs::write(&inv, format!("{t}\n[secrets]\ndir = \"keys\"\n")).unwrap();
    assert!(piprep(&dir, &["render", "-n", "cp-1"]).status.success());
    assert!(dir.join("keys/cp-1/ssh_host_ed25519_key").exists());
}

#[test]
fn a_replaced_host_key_is_restored_from_the_kept_copy() {
    // prepare.sh keeps a root-only copy of the pinned key; setup.sh finds
    // sshd's key replaced (as regenerate_ssh_host_keys does), puts the pinned
    // one back and asks sshd to reload. Real ssh-keygen; systemctl stubbed.
    require_tool("ssh-keygen");
    let dir = scratch("hk-restore");
    let prepare = rendered(
        &dir,
        "piprep.toml",
        "rootfs/usr/local/lib/piprep/prepare.sh",
    );
    let setup = rendered(&dir, "piprep.toml", "rootfs/usr/local/lib/piprep/setup.sh");
    let secrets = data().join(".piprep/secrets/cp-1");
    let etc = dir.join("etc/ssh");
    let kept = dir.join("kept");
    let boot = dir.join("boot");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&boot).unwrap();
    // The firstrun hook's boot-partition copy of the private key.
    std::fs::copy(
        secrets.join("ssh_host_ed25519_key"),
        boot.join("piprep-ssh_host_ed25519_key"),
    )
    .unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("systemctl.log");
    let stub = bin.join("systemctl");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\necho \"$*\" >>'{}'\ncase \"$1\" in is-active) exit 3 ;; esac\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let paths = |f: String| {
        f.replace("/etc/ssh/", &format!("{}/", etc.display()))
            .replace(
                "KEPT_KEYS=/var/lib/piprep/host-keys",
                &format!("KEPT_KEYS={}", kept.display()),
            )
    };
    let vars = |script: &str, names: &[&str]| -> String {
        names
            .iter()
            .map(|n| {
                let line = script
                    .lines()
                    .find(|l| l.starts_with(&format!("{n}=")))
                    .unwrap();
                // Multi-line quoted values run to the closing quote.
                let start = script.find(line).unwrap();
                let rest = &script[start..];
                let end = if line.matches('\'').count() % 2 == 1 {
                    rest[line.len()..].find('\'').unwrap() + line.len() + 1
                } else {
                    line.len()
                };
                format!("{}\n", &rest[..end])
            })
            .collect()
    };
    let run = |script: String| {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
    };
    // The first boot: the key installed and a copy kept, 0600 in a 0700 directory.
    let keep = paths(format!(
        "BOOT={}\n{}{}keep_host_keys",
        boot.display(),
        vars(&prepare, &["HOST_KEYS", "KEPT_KEYS"]),
        shell_functions(&prepare, &["keep_host_keys"])
    ));
    let (ok, out) = run(keep);
    assert!(ok, "{out}");
    let copy = kept.join("ssh_host_ed25519_key");
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Something regenerates sshd's keys.
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(etc.join("ssh_host_ed25519_key"))
        .status()
        .unwrap();
    assert!(st.success());
    let restore = paths(format!(
        "{}{}{}keep_pinned_host_keys",
        vars(&setup, &["HOST_KEYS", "KEPT_KEYS"]),
        "log() { echo \"$*\"; }\n".to_string() + &shell_functions(&setup, &["put_file"]),
        shell_functions(&setup, &["keep_pinned_host_keys", "served_keys_pinned"])
    ));
    let (ok, out) = run(restore.clone());
    assert!(ok, "{out}");
    assert!(
        out.contains("restored the pinned SSH host key(s) ed25519"),
        "{out}"
    );
    let pinned = std::fs::read_to_string(secrets.join("ssh_host_ed25519_key.pub")).unwrap();
    assert_eq!(
        std::fs::read_to_string(etc.join("ssh_host_ed25519_key.pub")).unwrap(),
        pinned
    );
    let o = std::process::Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(etc.join("ssh_host_ed25519_key"))
        .output()
        .unwrap();
    assert!(
        pinned.starts_with(
            stdout(&o)
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
                .as_str()
        )
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("try-reload-or-restart ssh.service")
    );
    // The next boot: nothing to restore, nothing reloaded.
    std::fs::remove_file(&log).unwrap();
    let (ok, out) = run(restore.clone());
    assert!(ok && !out.contains("restored"), "{out}");
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("reload")
    );
    // No copy kept and the key replaced: reported, not hidden.
    std::fs::remove_file(&copy).unwrap();
    std::fs::remove_file(etc.join("ssh_host_ed25519_key")).unwrap();
    let (ok, out) = run(restore);
    assert!(!ok && out.contains("no copy of it was kept"), "{out}");
}

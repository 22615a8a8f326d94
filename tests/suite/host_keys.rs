//! The fleet's identity and view: per-node SSH host keys made at bake time
//! and kept (reuse, rekey, modes, validation), out/known_hosts and its merge
//! into a user's file (checked with ssh-keygen), the secrets' removal from
//! the boot partition, the exports, and `status` for a node that cannot be
//! reached. The end-to-end test logs in with the pinned key.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn known_hosts(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("out/known_hosts")).unwrap()
}

fn pub_key(dir: &Path, node: &str) -> String {
    let p = dir.join(format!(".piprep/secrets/{node}/ssh_host_ed25519_key.pub"));
    let t = std::fs::read_to_string(p).unwrap();
    t.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

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
fn known_hosts_install_replaces_stale_lines_and_ssh_keygen_finds_ours() {
    require_tool("ssh-keygen");
    let dir = scratch("hk-install");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    let file = dir.join("user_known_hosts");
    // Stale entries for a node's name (plain) and address (hashed, as
    // Debian's ssh writes them), and someone else's host.
    let stale = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP";
    std::fs::write(
        &file,
        format!("github.example {stale}\ncp-1 {stale}\n10.1.1.21 {stale}\n"),
    )
    .unwrap();
    let st = std::process::Command::new("ssh-keygen")
        .args(["-H", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(st.status.success());
    let mode_before = mode(&file);
    let o = piprep(
        &dir,
        &["known-hosts", "--install", "--file", file.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 stale lines replaced"),
        "{}",
        stderr(&o)
    );
    // The user's file keeps its mode (#26).
    assert_eq!(mode(&file), mode_before);
    let find = |host: &str| {
        let o = std::process::Command::new("ssh-keygen")
            .args(["-F", host, "-f"])
            .arg(&file)
            .output()
            .unwrap();
        stdout(&o)
    };
    assert!(find("cp-1").contains(&pub_key(&dir, "cp-1")));
    assert!(find("10.1.1.11").contains(&pub_key(&dir, "cp-1")));
    assert!(find("10.1.1.21").contains(&pub_key(&dir, "worker-1")));
    assert!(!find("cp-1").contains(stale) && !find("10.1.1.21").contains(stale));
    assert!(
        find("github.example").contains(stale),
        "someone else's line was lost"
    );
    // Hashed output: ssh-keygen finds each name and address.
    let o = piprep(&dir, &["known-hosts", "--hashed"]);
    let hashed = dir.join("hashed");
    std::fs::write(&hashed, stdout(&o)).unwrap();
    assert!(!stdout(&o).contains("cp-1"));
    for host in ["cp-1", "10.1.1.11", "worker-1", "10.1.1.21"] {
        let o = std::process::Command::new("ssh-keygen")
            .args(["-F", host, "-f"])
            .arg(&hashed)
            .output()
            .unwrap();
        assert!(o.status.success(), "{host} not found in hashed output");
    }
}

#[test]
fn the_boot_partition_loses_every_secret_in_user_data() {
    // The shared preparation's strip_secrets, run by sh on a rendered
    // cloud-init user-data: no password hash, no private key, still YAML.
    let data = data();
    let dir = scratch("hk-strip");
    let o = piprep(
        &data,
        &[
            "-c",
            "cloud-init.toml",
            "render",
            "-n",
            "cp-1",
            "--out",
            dir.join("r").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ud = std::fs::read_to_string(dir.join("r/user-data")).unwrap();
    let private =
        std::fs::read_to_string(data.join(".piprep/secrets/cp-1/ssh_host_ed25519_key")).unwrap();
    let body = private.lines().nth(1).unwrap();
    assert!(ud.contains(body) && ud.contains("hashed_passwd: "));
    let prepare =
        std::fs::read_to_string(dir.join("r/rootfs/usr/local/lib/piprep/prepare.sh")).unwrap();
    let f = prepare.split_once("strip_secrets() {").unwrap().1;
    let f = format!(
        "strip_secrets() {{{}\n}}\n",
        f.split_once("\n}\n").unwrap().0
    );
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{f}strip_secrets \"$1\"",))
        .arg("sh")
        .arg(dir.join("r/user-data"))
        .output()
        .unwrap();
    let kept = stdout(&o);
    assert!(!kept.contains(body) && !kept.contains("BEGIN OPENSSH PRIVATE KEY"));
    assert!(
        !kept
            .lines()
            .any(|l| l.trim_start().starts_with("hashed_passwd: "))
    );
    assert!(kept.contains("ed25519_public: \"ssh-ed25519 "));
    let before: serde_yaml_ng::Value = serde_yaml_ng::from_str(&ud).unwrap();
    let after: serde_yaml_ng::Value = serde_yaml_ng::from_str(&kept).unwrap();
    assert_eq!(before["write_files"], after["write_files"]);
    assert_eq!(before["runcmd"], after["runcmd"]);
    assert!(after["ssh_keys"]["ed25519_private"].is_null());
}

#[test]
fn exports_parse_back_and_every_node_knows_the_others() {
    let dir = scratch("hk-export");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    let o = piprep(&dir, &["export", "hosts"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "# BEGIN piprep cluster hosts\n10.1.1.11\tcp-1\n10.1.1.21\tworker-1\n# END piprep cluster hosts\n"
    );
    // INI, read back line by line.
    let o = piprep(&dir, &["export", "ansible"]);
    let ini = stdout(&o);
    let mut group = String::new();
    let mut hosts = Vec::new();
    let mut vars = Vec::new();
    for line in ini.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(g) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            group = g.to_string();
        } else if group == "all:vars" {
            vars.push(line.split_once('=').unwrap().0.to_string());
        } else if !group.ends_with(":children") {
            let (h, v) = line.split_once(' ').unwrap();
            hosts.push((group.clone(), h.to_string(), v.to_string()));
        }
    }
    assert_eq!(
        hosts,
        [
            (
                "control_plane".into(),
                "cp-1".into(),
                "ansible_host=10.1.1.11".into()
            ),
            (
                "worker".into(),
                "worker-1".into(),
                "ansible_host=10.1.1.21".into()
            )
        ]
    );
    assert_eq!(vars, ["ansible_user", "ansible_ssh_common_args"]);
    let kh = std::path::absolute(dir.join("out/known_hosts")).unwrap();
    assert!(
        ini.contains(&format!("UserKnownHostsFile={}", kh.display())),
        "{ini}"
    );
    assert!(ini.contains("StrictHostKeyChecking=yes"));
    // YAML, through a YAML parser.
    let o = piprep(&dir, &["export", "ansible", "--format", "yaml"]);
    let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&stdout(&o)).unwrap();
    let groups = &y["all"]["children"]["kubernetes"]["children"];
    assert_eq!(
        groups["control_plane"]["hosts"]["cp-1"]["ansible_host"],
        "10.1.1.11"
    );
    assert_eq!(
        groups["worker"]["hosts"]["worker-1"]["ansible_host"],
        "10.1.1.21"
    );
    assert_eq!(y["all"]["vars"]["ansible_user"], "k8s");
    // Each node installs the same block on every boot, and checks it.
    let o = piprep(&dir, &["render", "-n", "worker-1", "--out", "r"]);
    assert!(o.status.success());
    let setup =
        std::fs::read_to_string(dir.join("r/rootfs/usr/local/lib/piprep/setup.sh")).unwrap();
    assert!(setup.contains("HOSTS_BLOCK='# BEGIN piprep cluster hosts\n10.1.1.11\tcp-1\n10.1.1.21\tworker-1\n# END piprep cluster hosts'"), "{setup}");
    assert!(setup.contains("set_cluster_hosts || log"));
}

#[test]
fn status_shows_an_unreachable_node_as_a_row() {
    require_tool("ssh");
    let dir = scratch("hk-status");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    // Before any bake there is no known_hosts to check keys against.
    let o = piprep(&dir, &["status", "--all"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("out/known_hosts does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    // A closed port on 127.0.0.1: never the inventory's own addresses.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let addr = format!("cp-1=127.0.0.1:{port}");
    let o = piprep(
        &dir,
        &["status", "-n", "cp-1", "--address", &addr, "--json"],
    );
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = &v["nodes"][0];
    assert_eq!(row["node"], "cp-1");
    assert_eq!(row["reachable"], false);
    assert_eq!(row["ready"], false);
    assert!(row["error"].as_str().unwrap().contains("refused"), "{row}");
    assert_eq!(v["ready"], false);
    let o = piprep(&dir, &["status", "-n", "cp-1", "--address", &addr]);
    assert!(stdout(&o).starts_with("node  role"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("cp-1  control-plane  10.1.1.11  no"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("1 of 1 nodes could not be reached"),
        "{}",
        stderr(&o)
    );
    for bad in [
        "cp-1",
        "cp-1=",
        "nobody=127.0.0.1",
        "cp-1=-oProxyCommand=x",
        "cp-1=h:port",
    ] {
        let o = piprep(&dir, &["status", "-n", "cp-1", "--address", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
    }
}

/// A rendered node's file, as `render --out` writes it.
fn rendered(dir: &Path, inventory: &str, path: &str) -> String {
    let out = dir.join("r");
    if !out.exists() {
        let o = piprep(
            &data(),
            &[
                "-c",
                inventory,
                "render",
                "-n",
                "cp-1",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    std::fs::read_to_string(out.join(path.trim_start_matches('/'))).unwrap()
}

#[test]
fn cloud_inits_copies_lose_the_hash_and_the_private_key() {
    // prepare.sh's scrub, run by sh on a copy of what cloud-init keeps under
    // /var/lib/cloud: user-data.txt and cloud-config.txt stripped (still
    // YAML), the processed and pickled copies overwritten and removed.
    let dir = scratch("hk-cloud-copies");
    let ud = rendered(&dir, "cloud-init.toml", "user-data");
    let prepare = rendered(
        &dir,
        "cloud-init.toml",
        "rootfs/usr/local/lib/piprep/prepare.sh",
    );
    let private =
        std::fs::read_to_string(data().join(".piprep/secrets/cp-1/ssh_host_ed25519_key")).unwrap();
    let body: Vec<&str> = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let hash = "$6$AbCdEfGhIjKlMnOp$";
    assert!(ud.contains(body[0]) && ud.contains(hash));
    let cloud = dir.join("var/lib/cloud");
    let inst = cloud.join("instances/piprep-x");
    std::fs::create_dir_all(&inst).unwrap();
    std::os::unix::fs::symlink(&inst, cloud.join("instance")).unwrap();
    std::fs::write(inst.join("user-data.txt"), &ud).unwrap();
    std::fs::write(inst.join("cloud-config.txt"), &ud).unwrap();
    std::fs::write(
        inst.join("user-data.txt.i"),
        format!("Content-Type: multipart/mixed\n\n{ud}"),
    )
    .unwrap();
    std::fs::write(inst.join("obj.pkl"), format!("\u{80}\u{4}pickle{ud}")).unwrap();
    std::fs::write(inst.join("vendor-data.txt"), "#cloud-config\n{}\n").unwrap();
    let boot = dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::write(boot.join("user-data"), &ud).unwrap();
    let funcs = shell_functions(
        &prepare,
        &[
            "overwrite",
            "scrub",
            "strip_secrets",
            "secret_lines",
            "scrub_cloud_copies",
        ],
    )
    .replace("d=/var/lib/cloud", &format!("d={}", cloud.display()));
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{funcs}BOOT=$1\nscrub_cloud_copies"))
        .arg("sh")
        .arg(&boot)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["user-data.txt", "cloud-config.txt"] {
        let kept = std::fs::read_to_string(inst.join(f)).unwrap();
        assert!(
            !kept.contains(hash) && body.iter().all(|l| !kept.contains(l)),
            "{f}"
        );
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&kept).unwrap();
        assert!(yaml["ssh_keys"]["ed25519_private"].is_null() && !yaml["write_files"].is_null());
    }
    assert!(!inst.join("user-data.txt.i").exists() && !inst.join("obj.pkl").exists());
    assert!(inst.join("vendor-data.txt").exists());
    // grep -r, independently: nothing under /var/lib/cloud holds a secret.
    let o = std::process::Command::new("grep")
        .args(["-rlF", hash])
        .arg(&cloud)
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "", "still holding the hash");
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

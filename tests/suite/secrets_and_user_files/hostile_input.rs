//! Hostile input: YAML 1.1 readers, damaged root filesystems, terminal escapes in images, many nodes at once.

use super::*;

#[test]
fn yaml_1_1_readers_get_strings_back() {
    let (dir, image) = setup("yaml-types");
    // 11. A node named yes, a user named off, a node named like a date.
    let inv = std::fs::read_to_string(dir.join("piprep.toml"))
        .unwrap()
        .replace("name = \"cp-1\"", "name = \"yes\"")
        .replace("name = \"worker-1\"", "name = \"2024-01-01\"")
        .replace("name = \"k8s\"", "name = \"off\"")
        .replacen("[image]\n", "[image]\ninit = \"cloud-init\"\n", 1);
    std::fs::write(dir.join("piprep.toml"), inv).unwrap();
    let _ = image;
    let o = piprep(&dir, &["render", "--node", "yes", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = piprep(&dir, &["export", "ansible", "--format", "yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(dir.join("inventory.yml"), stdout(&o)).unwrap();
    // PyYAML, as cloud-init and Ansible read them (YAML 1.1).
    let py = r#"
import sys, yaml
ud = yaml.safe_load(open("r/user-data"))
md = yaml.safe_load(open("r/meta-data"))
inv = yaml.safe_load(open("inventory.yml"))
assert ud["hostname"] == "yes", ud["hostname"]
assert ud["users"][0]["name"] == "off", ud["users"][0]["name"]
assert md["local-hostname"] == "yes", md
hosts = {}
for g in inv["all"]["children"]["kubernetes"]["children"].values():
    hosts.update(g["hosts"])
assert set(hosts) == {"yes", "2024-01-01"}, hosts
assert inv["all"]["vars"]["ansible_user"] == "off"
print("ok")
"#;
    let o = Command::new("python3")
        .args(["-c", py])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn damaged_root_filesystems_are_errors_not_guesses() {
    require_tool("debugfs");
    let dir = scratch("ext4-damage");
    // 12. Inodes that claim 4 GiB (a link, a file): refused at once, in
    // bounded memory.
    for file in ["/etc/os-release", "/etc/fstab"] {
        let img = damaged_root(&dir, &format!("sif {file} size 0xffffffff\n"));
        let o = Command::new("sh")
            .args(["-c", "ulimit -v 1000000; exec \"$0\" inspect \"$1\""])
            .arg(env!("CARGO_BIN_EXE_piprep"))
            .arg(&img)
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&o), stderr(&o));
        assert_ne!(o.status.code(), Some(0), "{text}");
        assert!(text.contains(file) && text.contains("damaged"), "{text}");
        std::fs::remove_file(&img).unwrap();
    }
    // 13. A checksum error in /etc's inode: an error, not "unknown OS".
    let img = damaged_root(&dir, "sif /etc checksum 0x1234\n");
    write_inventory(&dir, &img, "");
    let o = piprep(&dir, &["bake", "-n", "cp-1", "-q"]);
    assert_ne!(o.status.code(), Some(0), "baked from a damaged root");
    assert!(stderr(&o).contains("root filesystem"), "{}", stderr(&o));
    assert!(!dir.join("out/cp-1.img").exists());
}

#[test]
fn image_strings_cannot_drive_the_terminal() {
    require_tool("debugfs");
    let dir = scratch("inspect-escapes");
    let text = dir.join("os-release");
    std::fs::write(
        &text,
        "PRETTY_NAME=\"\x1b]0;owned\x07\x1b[31mDebian\"\nID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    // 15. ANSI and OSC sequences from an image are shown escaped.
    let img = damaged_root(
        &dir,
        &format!(
            "rm /etc/os-release\nwrite {} /etc/os-release\n",
            text.display()
        ),
    );
    let o = piprep(&dir, &["inspect", img.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("\\u{1b}]0;owned"), "{out}");
}

#[test]
fn status_starts_a_bounded_number_of_ssh_at_once() {
    let (dir, _) = setup("status-bound");
    // 15. Forty nodes; a stand-in ssh counts how many run at once.
    let mut extra = String::new();
    for i in 0..40 {
        extra += &format!(
            "\n[[node]]\nname = \"w{i}\"\nip = \"10.1.1.{}\"\nrole = \"worker\"\n",
            100 + i
        );
    }
    let image = fixture("bookworm", &[]);
    write_inventory(&dir, &image, &extra);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/known_hosts"), "").unwrap();
    let log = dir.join("ssh.log");
    std::fs::write(
        bin.join("ssh"),
        format!(
            "#!/bin/sh\necho start >>'{0}'\nsleep 1\necho end >>'{0}'\nexit 255\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_piprep"))
        .args(["status", "--all"])
        .current_dir(&dir)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env(
            "PIPREP_CACHE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .output()
        .unwrap();
    let events = std::fs::read_to_string(&log).unwrap();
    let (mut now, mut most) = (0i32, 0i32);
    for e in events.lines() {
        now += if e == "start" { 1 } else { -1 };
        most = most.max(now);
    }
    assert_eq!(
        events.lines().filter(|e| *e == "start").count(),
        42,
        "{}",
        stderr(&o)
    );
    assert!(most <= 32 && most > 1, "{most} ssh at once");
}

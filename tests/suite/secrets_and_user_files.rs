//! Secrets stay secret and the user's files stay theirs (#26): each defect
//! of the adversarial run, reproduced through the binary, and a scan of
//! every file a bake or render leaves for the nodes' secrets.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const HASH: &str = "$6$AbCdEfGhIjKlMnOp$5vC9Zq1lN7hXk2yJ0tqT8n1oKzjJm2bGxH4Yw3aQeR6uS9dF0gL7pM5cV8bN1xZ3qW6eR9tY2uI5oP8aS1dF4g";

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// A scratch dir with an inventory (cp-1, worker-1) on a bookworm fixture.
fn setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let image = fixture("bookworm", &[]);
    write_inventory(&dir, &image, "");
    (dir, image)
}

/// The middle lines of `node`'s private host key: what must never leak.
fn key_lines(dir: &Path, node: &str) -> Vec<String> {
    let key =
        std::fs::read_to_string(dir.join(format!(".piprep/secrets/{node}/ssh_host_ed25519_key")))
            .unwrap();
    key.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_string)
        .collect()
}

/// Whether the bytes of `file` hold `needle` (grep: images are large).
fn file_has(file: &Path, needle: &str) -> bool {
    Command::new("grep")
        .args(["-a", "-q", "-F", "-e", needle])
        .arg(file)
        .status()
        .unwrap()
        .success()
}

/// Every file under `root` (decoded when .xz) that holds one of `needles`
/// (node or None for any, text): it must be allowed there by `allowed`, be
/// 0600, and sit in a directory others cannot enter. Returns how many
/// holders were found. (grep -F does the searching: images are large.)
fn scan(
    root: &Path,
    needles: &[(Option<&str>, String)],
    allowed: &dyn Fn(&Path, Option<&str>) -> bool,
) -> usize {
    let mut owners: Vec<Option<&str>> = needles.iter().map(|(n, _)| *n).collect();
    owners.dedup();
    let lists = scratch("scan-needles");
    let mut found = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                if p.file_name().is_some_and(|n| n == ".piprep") {
                    continue;
                }
                stack.push(p);
                continue;
            }
            if !t.is_file() {
                continue;
            }
            for (i, owner) in owners.iter().enumerate() {
                let list = lists.join(format!("{i}"));
                let text: Vec<&str> = needles
                    .iter()
                    .filter(|(n, _)| n == owner)
                    .map(|(_, l)| l.as_str())
                    .collect();
                std::fs::write(&list, text.join("\n") + "\n").unwrap();
                let script = if p.extension().is_some_and(|x| x == "xz") {
                    "xz -dc \"$1\" | grep -a -q -F -f \"$2\""
                } else {
                    "grep -a -q -F -f \"$2\" \"$1\""
                };
                let hit = Command::new("sh")
                    .args(["-c", script, "scan"])
                    .arg(&p)
                    .arg(&list)
                    .status()
                    .unwrap()
                    .success();
                if !hit {
                    continue;
                }
                found += 1;
                assert!(
                    allowed(&p, *owner),
                    "{} holds {owner:?}'s secret",
                    p.display()
                );
                assert_eq!(mode(&p), 0o600, "{} holds a secret", p.display());
                let parent = mode(p.parent().unwrap());
                assert_eq!(parent & 0o077, 0, "{} is in an open directory", p.display());
            }
        }
    }
    found
}

/// The lines of `a` that `b` does not have (every ed25519 key shares its
/// first line, the format's header).
fn own_lines(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|l| !b.contains(l)).cloned().collect()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `nobody` can read the first byte of `p`.
fn nobody_reads(p: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "head", "-c1"])
        .arg(p)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn baked_images_hold_secrets_only_privately_and_a_rebake_carries_none_over() {
    let (dir, _) = setup("secrets-bake");
    let o = piprep(&dir, &["bake", "--all", "--compress", "xz", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.join("out");
    // 1. Images and their .xz are the owner's only, in a private directory.
    for f in ["cp-1.img", "cp-1.img.xz", "worker-1.img"] {
        assert_eq!(mode(&out.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&out) & 0o077, 0);
    if is_root() {
        assert!(!nobody_reads(&out.join("cp-1.img")));
    }
    let mut needles: Vec<(Option<&str>, String)> = vec![(None, HASH.to_string())];
    let (cp, wk) = (key_lines(&dir, "cp-1"), key_lines(&dir, "worker-1"));
    let (cp, wk) = (own_lines(&cp, &wk), own_lines(&wk, &cp));
    needles.extend(cp.iter().map(|l| (Some("cp-1"), l.clone())));
    needles.extend(wk.iter().map(|l| (Some("worker-1"), l.clone())));
    let own_image = |p: &Path, node: Option<&str>| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        match node {
            Some(n) => name.starts_with(&format!("{n}.img")),
            None => name.ends_with(".img") || name.ends_with(".img.xz"),
        }
    };
    assert!(scan(&out, &needles, &own_image) >= 4);

    // 2. A bake from a baked image: none of cp-1's secrets in worker-1's,
    // not even in free clusters.
    let o = piprep(
        &dir,
        &[
            "bake",
            "-n",
            "worker-1",
            "--image",
            "out/cp-1.img",
            "--out",
            "again",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let img = dir.join("again/worker-1.img");
    for l in &cp {
        assert!(!file_has(&img, l), "cp-1's key in worker-1.img");
    }
    assert!(file_has(&img, &wk[0]));
    let boot = partitions(&dir.join("again/worker-1.img"))[0];
    let fsck = fsck_fat(&dir.join("again/worker-1.img"), boot, &dir);
    assert!(
        !fsck.contains("FIXED") && !fsck.contains("differ"),
        "{fsck}"
    );
}

#[test]
fn render_out_is_private_and_never_removes_the_users_files() {
    let (dir, _) = setup("secrets-render");
    let inv = std::fs::read_to_string(dir.join("piprep.toml")).unwrap();
    let ci = inv.replace("[user]", "[user]\n").replacen(
        "[image]\n",
        "[image]\ninit = \"cloud-init\"\n",
        1,
    );
    std::fs::write(dir.join("piprep.toml"), ci).unwrap();
    // 3. user-data holds the host key and the hash: 0600 in a 0700 tree.
    let o = piprep(&dir, &["render", "--node", "cp-1", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&dir.join("r/user-data")), 0o600);
    assert_eq!(mode(&dir.join("r")) & 0o077, 0);
    let mut needles: Vec<(Option<&str>, String)> = vec![(None, HASH.to_string())];
    needles.extend(
        key_lines(&dir, "cp-1")
            .into_iter()
            .map(|l| (Some("cp-1"), l)),
    );
    let holders = scan(&dir.join("r"), &needles, &|p, _| {
        p.file_name().is_some_and(|n| n == "user-data")
    });
    assert!(holders >= 2);
    if is_root() {
        assert!(!nobody_reads(&dir.join("r/user-data")));
    }
    // 7. A directory piprep did not make is not replaced, rootfs and all.
    let mine = dir.join("mine");
    std::fs::create_dir_all(mine.join("rootfs")).unwrap();
    std::fs::write(mine.join("rootfs/thesis.tex"), "years of work").unwrap();
    let o = piprep(&dir, &["render", "--node", "cp-1", "--out", "mine"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("piprep did not make it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("rootfs/thesis.tex")).unwrap(),
        "years of work"
    );
    // Its own tree it replaces.
    let o = piprep(&dir, &["render", "--node", "worker-1", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn the_secrets_directory_must_be_private_and_the_users_own() {
    let (dir, _) = setup("secrets-store");
    assert!(piprep(&dir, &["render", "--node", "cp-1"]).status.success());
    let store = dir.join(".piprep/secrets");
    let refused = |why: &str| {
        let o = piprep(&dir, &["render", "--node", "cp-1"]);
        assert_ne!(o.status.code(), Some(0), "{why}: {}", stdout(&o));
        stderr(&o)
    };
    // 4. Open to others.
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = refused("0777");
    assert!(e.contains("chmod 700"), "{e}");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A node directory of another user's, with that user's key in it.
    if is_root() {
        let node_dir = store.join("cp-1");
        let chown = |who: &str| {
            assert!(
                Command::new("chown")
                    .args(["-R", who])
                    .arg(&node_dir)
                    .status()
                    .unwrap()
                    .success()
            )
        };
        chown("nobody");
        let e = refused("another user's node directory");
        assert!(e.contains("belongs to uid"), "{e}");
        chown("root");
    }
    // `path` moved to `aside` and replaced by a link to it: refused.
    let as_link = |path: &Path, aside: &Path, why: &str| {
        std::fs::rename(path, aside).unwrap();
        std::os::unix::fs::symlink(aside, path).unwrap();
        let e = refused(why);
        assert!(e.contains("symbolic link"), "{e}");
        std::fs::remove_file(path).unwrap();
        std::fs::rename(aside, path).unwrap();
    };
    // A key that is a link to another private key (a personal one).
    let key = store.join("cp-1/ssh_host_ed25519_key");
    as_link(&key, &dir.join("id_ed25519"), "symlinked key");
    // The whole store a link (to a world-writable place).
    as_link(&store, &dir.join("shm"), "symlinked store");
    // A FIFO where a key should be never hangs (14).
    let backup = dir.join("key.backup");
    std::fs::rename(&key, &backup).unwrap();
    assert!(Command::new("mkfifo").arg(&key).status().unwrap().success());
    let e = refused("fifo key");
    assert!(e.contains("pipe (FIFO)"), "{e}");
    // 10. A .pub of another key (rekey killed between writes, before #26):
    // validate says so.
    std::fs::remove_file(&key).unwrap();
    std::fs::rename(&backup, &key).unwrap();
    assert!(piprep(&dir, &["rekey", "cp-1", "-q"]).status.success());
    let pub_path = store.join("cp-1/ssh_host_ed25519_key.pub");
    std::fs::copy(store.join("worker-1/ssh_host_ed25519_key.pub"), &pub_path).unwrap();
    let o = piprep(&dir, &["validate"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("a .pub of another key"),
        "{}",
        stdout(&o)
    );
    // rekey puts a whole new pair in place.
    assert!(piprep(&dir, &["rekey", "cp-1", "-q"]).status.success());
    assert!(piprep(&dir, &["validate"]).status.success());
}

#[test]
fn only_bake_render_and_rekey_make_keys_and_never_over_pins() {
    let (dir, _) = setup("secrets-pins");
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    let kh = std::fs::read_to_string(dir.join("out/known_hosts")).unwrap();
    // 5. A fresh clone: the store is gone, out/known_hosts pins the nodes.
    std::fs::remove_dir_all(dir.join(".piprep")).unwrap();
    let mine = dir.join("my_known_hosts");
    std::fs::write(&mine, &kh).unwrap();
    let o = piprep(
        &dir,
        &["known-hosts", "--install", "--file", mine.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only `piprep bake`"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), kh);
    let o = piprep(&dir, &["export", "ansible"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dir.join(".piprep/secrets/cp-1").exists());
    // bake would make new keys the flashed cards do not have.
    let o = piprep(&dir, &["bake", "--all", "--force", "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pins it"), "{}", stderr(&o));
    assert!(!dir.join(".piprep/secrets/cp-1").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("out/known_hosts")).unwrap(),
        kh
    );
}

#[test]
fn bake_replaces_only_what_it_made_in_out() {
    let (dir, _) = setup("user-files-out");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // 8. The user's files that share piprep's names, and a directory that
    // looks like a temporary.
    std::fs::write(out.join("SHA256SUMS"), "0123  thesis.pdf\n").unwrap();
    std::fs::create_dir_all(out.join(".photos.42.partial")).unwrap();
    std::fs::write(out.join(".photos.42.partial/a.jpg"), "jpg").unwrap();
    let o = piprep(&dir, &["bake", "--all", "-q"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("SHA256SUMS"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("SHA256SUMS")).unwrap(),
        "0123  thesis.pdf\n"
    );
    assert!(out.join(".photos.42.partial/a.jpg").exists());
    assert!(!out.join("cp-1.img").exists());
    std::fs::remove_file(out.join("SHA256SUMS")).unwrap();
    for (name, body) in [
        ("known_hosts", "github.com ssh-ed25519 AAAAmine\n"),
        ("manifest.json", "{\"mine\": true}\n"),
        ("cp-1.img.bmap", "<bmap/>\n"),
    ] {
        std::fs::write(out.join(name), body).unwrap();
        let o = piprep(&dir, &["bake", "--all", "-q"]);
        assert_eq!(o.status.code(), Some(4), "{name}: {}", stderr(&o));
        assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), body);
        std::fs::remove_file(out.join(name)).unwrap();
    }
    let o = piprep(&dir, &["bake", "--all", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join(".photos.42.partial/a.jpg").exists());
    // Its own files it replaces on the next bake.
    let o = piprep(&dir, &["bake", "--all", "--force", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn sha256sums_never_lists_an_image_being_replaced() {
    let (dir, _) = setup("user-files-sums");
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    // 10. Killed right after the images are renamed, before the manifest.
    let o = Command::new(env!("CARGO_BIN_EXE_piprep"))
        .args(["bake", "-n", "cp-1", "--force", "-q"])
        .current_dir(&dir)
        .env(
            "PIPREP_CACHE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .env("PIPREP_FAILPOINT_AFTER_RENAME", "1")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let o = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir.join("out"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let sums = std::fs::read_to_string(dir.join("out/SHA256SUMS")).unwrap();
    assert!(!sums.contains("cp-1.img"), "{sums}");
    // The next bake lists them again.
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    let sums = std::fs::read_to_string(dir.join("out/SHA256SUMS")).unwrap();
    assert!(
        sums.contains("cp-1.img") && sums.contains("worker-1.img"),
        "{sums}"
    );
}

#[test]
fn known_hosts_install_keeps_the_users_bytes_mode_and_link() {
    let (dir, _) = setup("user-files-known-hosts");
    assert!(piprep(&dir, &["render", "--node", "cp-1"]).status.success());
    // 9. A link to a read-only file with CRLF lines and a line that names
    // cp-1's address beside other hosts.
    let real = dir.join("real_known_hosts");
    let before =
        "gw,10.1.1.11,router ssh-ed25519 AAAAgateway\r\nother.example ssh-rsa AAAAother\r\n";
    std::fs::write(&real, before).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o444)).unwrap();
    let link = dir.join("known_hosts_link");
    std::os::unix::fs::symlink("real_known_hosts", &link).unwrap();
    let o = piprep(
        &dir,
        &["known-hosts", "--install", "--file", link.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(mode(&real), 0o444);
    let after = std::fs::read_to_string(&real).unwrap();
    assert!(
        after.starts_with(
            "gw,router ssh-ed25519 AAAAgateway\r\nother.example ssh-rsa AAAAother\r\n"
        ),
        "{after}"
    );
    // ssh-keygen finds cp-1's key through the link.
    let o = Command::new("ssh-keygen")
        .args(["-F", "cp-1", "-f"])
        .arg(&link)
        .output()
        .unwrap();
    assert!(o.status.success() && stdout(&o).contains("ssh-ed25519"));
    // 14. A FIFO as the file to merge into never hangs.
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let o = piprep(
        &dir,
        &["known-hosts", "--install", "--file", fifo.to_str().unwrap()],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("pipe (FIFO)"), "{}", stderr(&o));
    // ... nor as the inventory.
    let o = piprep(&dir, &["--config", "fifo", "validate"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("pipe (FIFO)"), "{}", stderr(&o));
}

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

/// A copy of the bookworm fixture with `cmds` run by `debugfs -w` on its
/// root filesystem (extracted, edited, written back).
fn damaged_root(dir: &Path, cmds: &str) -> PathBuf {
    let img = fixture_copy("bookworm", &[], dir);
    let root = partitions(&img)[1];
    let part = dir.join("root.ext4");
    let dd = |args: &[String]| {
        assert!(Command::new("dd").args(args).status().unwrap().success());
    };
    dd(&[
        format!("if={}", img.display()),
        format!("of={}", part.display()),
        "bs=512".into(),
        format!("skip={}", root.start / 512),
        format!("count={}", root.size / 512),
        "status=none".into(),
    ]);
    let o = Command::new("debugfs")
        .args(["-w", "-f", "-"])
        .arg(&part)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(cmds.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    dd(&[
        format!("if={}", part.display()),
        format!("of={}", img.display()),
        "bs=512".into(),
        format!("seek={}", root.start / 512),
        "conv=notrunc".into(),
        "status=none".into(),
    ]);
    img
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
fn paths_with_spaces_percent_and_quotes_stay_one_path() {
    let (dir, _) = setup("quoted-paths");
    let out = dir.join("my out 100% it's");
    let o = piprep(&dir, &["export", "ansible", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(dir.join("inventory.ini"), stdout(&o)).unwrap();
    // 15. Ansible: literal_eval, then shlex.split; then ssh itself (-G
    // prints the configuration it would use, without connecting).
    let py = r#"
import ast, configparser, shlex, subprocess, sys
for line in open("inventory.ini"):
    if line.startswith("ansible_ssh_common_args="):
        args = shlex.split(ast.literal_eval(line.split("=", 1)[1].strip()))
cfg = subprocess.run(["ssh", "-G"] + args + ["cp-1"], capture_output=True, text=True, check=True).stdout
got = [l.split(" ", 1)[1] for l in cfg.splitlines() if l.startswith("userknownhostsfile ")][0]
print(got)
"#;
    let o = Command::new("python3")
        .args(["-c", py])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&o).trim_end(),
        out.join("known_hosts").to_str().unwrap()
    );
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

//! The user's files stay theirs: out/, SHA256SUMS, known_hosts, paths with odd characters.

use super::*;

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

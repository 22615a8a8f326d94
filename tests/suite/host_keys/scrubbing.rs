//! Secrets leave the boot partition and cloud-init's copies.

use super::*;

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

//! Secrets: private on disk and in images, kept in a private directory, made only by the commands that should.

use super::*;

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

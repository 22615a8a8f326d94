//! A user's slip never costs data: interrupted, concurrent and repeated bakes,
//! a disk too small for every node, a base that changes under a bake, lost
//! manifests, and inputs that are not images at all.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const THIRD: &str = "\n[[node]]\nname = \"worker-2\"\nip = \"10.1.1.22\"\nrole = \"worker\"\n";

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_piprep"))
        .args(args)
        .current_dir(dir)
        .env("PIPREP_CACHE", dir.join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn temporaries(out: &Path) -> Vec<String> {
    if !out.exists() {
        return Vec::new();
    }
    dir_names(out)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn sums_check(out: &Path) {
    let o = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sha256sum -c: {}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// SIGINT and SIGTERM at several points of a bake: the process exits at once
/// (128 + signal), no temporary is left, and what images exist are complete.
#[test]
fn signals_during_a_bake_leave_no_temporaries() {
    let dir = scratch("safety-signal");
    let base = fixture("bookworm", &["--fill-mib", "400"]);
    write_inventory(&dir, &base, THIRD);
    let out = dir.join("out");
    for (delay_ms, sig, code) in [
        (50, "INT", 130),
        (300, "INT", 130),
        (700, "TERM", 143),
        (1200, "INT", 130),
    ] {
        let _ = std::fs::remove_dir_all(&out);
        let child = spawn(&dir, &["bake", "--all", "-j", "1", "--force"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        signal(&child, sig);
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(
            o.status.code() == Some(code) || o.status.success(),
            "{sig} after {delay_ms} ms: {:?} {err}",
            o.status
        );
        assert_eq!(
            temporaries(&out),
            Vec::<String>::new(),
            "{sig} after {delay_ms} ms: {err}"
        );
        if o.status.code() == Some(code) {
            assert!(err.contains("interrupted"), "{err}");
        }
        // Each image left is whole: the same bytes a clean bake gives.
        let names = if out.exists() {
            dir_names(&out)
        } else {
            Vec::new()
        };
        for n in names.iter().filter(|n| n.ends_with(".img")) {
            assert_eq!(
                std::fs::metadata(out.join(n)).unwrap().len(),
                std::fs::metadata(&base).unwrap().len(),
                "{n}"
            );
        }
    }
    let o = piprep(&dir, &["bake", "--all", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    sums_check(&out);
}

/// A killed bake (SIGKILL: no clean-up possible) leaves its temporaries; the
/// next bake into that directory removes them and says so.
#[test]
fn the_next_bake_removes_what_a_killed_one_left() {
    let dir = scratch("safety-kill");
    let base = fixture("bookworm", &["--fill-mib", "400"]);
    write_inventory(&dir, &base, "");
    let out = dir.join("out");
    let mut child = spawn(&dir, &["bake", "--all", "-j", "1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while temporaries(&out).is_empty() {
        assert!(Instant::now() < deadline, "the bake never started writing");
        assert!(child.try_wait().unwrap().is_none(), "finished too early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!temporaries(&out).is_empty());
    let o = piprep(&dir, &["bake", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("left in"), "{}", stderr(&o));
    assert_eq!(temporaries(&out), Vec::<String>::new());
    sums_check(&out);
}

/// Two bakes into one directory at once: the second waits, and the manifest
/// and sums list both nodes.
#[test]
fn concurrent_bakes_into_one_directory_keep_both_nodes() {
    let dir = scratch("safety-concurrent");
    let base = fixture("bookworm", &["--fill-mib", "200"]);
    write_inventory(&dir, &base, "");
    let a = spawn(&dir, &["bake", "-n", "cp-1"]);
    let b = spawn(&dir, &["bake", "-n", "worker-1"]);
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let out = dir.join("out");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let nodes: Vec<&String> = m["nodes"].as_object().unwrap().keys().collect();
    assert_eq!(nodes, ["cp-1", "worker-1"]);
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains("cp-1.img") && sums.contains("worker-1.img"),
        "{sums}"
    );
    sums_check(&out);
    // Both bakes made host keys at once: each node has one key, the one its
    // image carries and known_hosts pins.
    let kh = std::fs::read_to_string(out.join("known_hosts")).unwrap();
    for node in ["cp-1", "worker-1"] {
        let keys = dir.join(".piprep/secrets").join(node);
        let private = std::fs::read_to_string(keys.join("ssh_host_ed25519_key")).unwrap();
        let public = std::fs::read_to_string(keys.join("ssh_host_ed25519_key.pub")).unwrap();
        let public: Vec<&str> = public.split_whitespace().take(2).collect();
        assert!(kh.contains(&public.join(" ")), "{node}: {kh}");
        let img = out.join(format!("{node}.img"));
        let parts = partitions(&img);
        assert_eq!(
            mtype(&img, parts[0], "piprep-ssh_host_ed25519_key").as_deref(),
            Some(private.as_str()),
            "{node}"
        );
    }
}

#[test]
fn a_node_named_twice_is_baked_once() {
    let dir = scratch("safety-twice");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    let o = piprep(
        &dir,
        &[
            "bake", "-n", "cp-1", "-n", "cp-1", "-n", "worker-1", "-n", "cp-1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let names = dir_names(&dir.join("out"));
    assert_eq!(
        names,
        [
            "SHA256SUMS",
            "cp-1.img",
            "cp-1.img.bmap",
            "known_hosts",
            "manifest.json",
            "worker-1.img",
            "worker-1.img.bmap"
        ],
    );
}

/// A filesystem with room for one image: that node is baked, the others are
/// named with the space they need, and the exit status says it failed.
#[test]
fn a_disk_too_small_for_every_node_bakes_those_that_fit() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let dir = scratch("safety-space");
    let base = fixture("bookworm", &["--fill-mib", "24"]);
    write_inventory(&dir, &base, THIRD);
    let per = std::fs::metadata(&base).unwrap().blocks() * 512 + (4 << 20);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={}", per + per / 2),
            "tmpfs",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _u = Unmount(&out);
    let o = piprep(&dir, &["bake", "--all"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains("node worker-1: not baked") && err.contains("node worker-2: not baked"),
        "{err}"
    );
    assert!(err.contains("1 of the nodes fit"), "{err}");
    assert!(out.join("cp-1.img").exists());
    assert!(!out.join("worker-1.img").exists());
    assert_eq!(temporaries(&out), Vec::<String>::new());
    sums_check(&out);
}

/// A base written to while a bake reads it: the bake fails and keeps nothing.
#[test]
fn a_base_that_changes_during_the_bake_is_refused() {
    let dir = scratch("safety-changed");
    let base = fixture_copy("bookworm", &["--fill-mib", "400"], &dir);
    write_inventory(&dir, &base, "");
    let out = dir.join("out");
    let child = spawn(&dir, &["bake", "-n", "cp-1", "-j", "1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while temporaries(&out).is_empty() {
        assert!(Instant::now() < deadline, "the bake never started writing");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Another program appends to the image.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&base)
        .unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    drop(f);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("changed while piprep was baking"), "{err}");
    assert!(!out.join("cp-1.img").exists());
    assert_eq!(temporaries(&out), Vec::<String>::new());
}

/// A bake killed between renaming its images and writing the manifest (or a
/// disk that filled while SHA256SUMS was written): the next bake puts the
/// directory right instead of refusing or calling it up to date.
#[test]
fn lost_manifests_and_sums_are_rebuilt() {
    let dir = scratch("safety-manifest");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    let out = dir.join("out");
    let o = piprep(&dir, &["bake", "--all", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(out.join("SHA256SUMS")).unwrap();
    let o = piprep(&dir, &["bake", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("up to date"));
    sums_check(&out);
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    std::fs::remove_file(out.join("SHA256SUMS")).unwrap();
    let o = piprep(&dir, &["bake", "--all", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    sums_check(&out);
    let m = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(m.contains("\"cp-1\"") && m.contains("\"worker-1\""), "{m}");
    // An image piprep did not make is still never replaced without --force.
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    std::fs::write(out.join("cp-1.img"), b"mine").unwrap();
    let o = piprep(&dir, &["bake", "-n", "cp-1"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("cp-1.img")).unwrap(), b"mine");
}

/// Inputs that are not images, or whose cmdline.txt could not boot.
#[test]
fn unusable_inputs_are_refused_quickly() {
    let dir = scratch("safety-inputs");
    let fifo = dir.join("fifo.img");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    let o = piprep(&dir, &["inspect", fifo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("pipe (FIFO)"), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(5));
    write_inventory(&dir, &fifo, "");
    let o = piprep(&dir, &["bake", "-n", "cp-1"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));

    let long = format!(
        "console=tty1 root=PARTUUID=8acef004-02 rootwait {}",
        "x=1 ".repeat(420)
    );
    for (name, cmdline, want) in [
        ("empty", "", "it is empty"),
        ("blank", "  \n\n", "it is empty"),
        ("no-root", "console=tty1 rootwait\n", "no root= argument"),
        ("long", long.as_str(), "the kernel keeps 2047 bytes"),
    ] {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let img = fixture_copy("bookworm", &[], &d);
        let part = partitions(&img)[0];
        let text = d.join("cmdline.txt");
        std::fs::write(&text, cmdline).unwrap();
        let st = Command::new("mcopy")
            .args(["-o", "-i"])
            .arg(format!("{}@@{}", img.display(), part.start))
            .arg(&text)
            .arg("::cmdline.txt")
            .status()
            .unwrap();
        assert!(st.success());
        write_inventory(&d, &img, "");
        let o = piprep(&d, &["bake", "-n", "cp-1"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{name}: {err}");
        assert!(
            err.contains("cmdline.txt") && err.contains(want),
            "{name}: {err}"
        );
        assert!(!d.join("out/cp-1.img").exists(), "{name}");
    }
}

//! Secrets stay secret and the user's files stay theirs (#26): each defect
//! of the adversarial run, reproduced through the binary, and a scan of
//! every file a bake or render leaves for the nodes' secrets.

mod hostile_input;
mod secrets;
mod user_files;

use crate::support::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

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

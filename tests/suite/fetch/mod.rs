//! `piprep fetch` against a real HTTP server on 127.0.0.1 that misbehaves on
//! demand: clean fetches, resume, Range ignored, 416, 404, checksum mismatches,
//! sidecars, the OS list, corrupt xz, concurrency, --offline, and the cache.

mod decompress;
mod download;
mod known;
mod verify;

use crate::support::http::Server;
use crate::support::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::Ordering;

/// A multi-block .img.xz of the trixie fixture, and the raw image.
pub fn xz_fixture() -> (PathBuf, PathBuf) {
    let raw = fixture("trixie", &[]);
    let xz = PathBuf::from(format!("{}.xz", raw.display()));
    if !xz.exists() {
        let tmp = PathBuf::from(format!(
            "{}.tmp{}-{:?}",
            xz.display(),
            std::process::id(),
            std::thread::current().id()
        ));
        let out = std::fs::File::create(&tmp).unwrap();
        let st = Command::new("xz")
            .args(["-T2", "--block-size=8MiB", "-1", "-c"])
            .arg(&raw)
            .stdout(out)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::rename(&tmp, &xz).unwrap();
    }
    (xz, raw)
}

pub struct Env {
    dir: PathBuf,
    cache: PathBuf,
}

pub fn env(name: &str) -> Env {
    let dir = scratch(&format!("fetch-{name}"));
    Env {
        cache: dir.join("cache"),
        dir,
    }
}

pub fn run(e: &Env, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_piprep"))
        .args(args)
        .current_dir(&e.dir)
        .env("PIPREP_CACHE", &e.cache)
        .env("PIPREP_RETRY_DELAY_MS", "50")
        .output()
        .unwrap()
}

pub fn inventory(e: &Env, image: &str) {
    let t = format!(
        "[cluster]\nname = \"c\"\nsubnet = \"10.1.1.0/24\"\ngateway = \"10.1.1.1\"\ndns = [\"10.1.1.1\"]\n\n[image]\n{image}\n\n[user]\nname = \"k8s\"\nssh_authorized_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP t@ci\"]\n\n[[node]]\nname = \"cp-1\"\nip = \"10.1.1.11\"\nrole = \"control-plane\"\n"
    );
    std::fs::write(e.dir.join("piprep.toml"), t).unwrap();
}

pub fn server_with_image() -> (Server, Vec<u8>, String, PathBuf) {
    let (xz, raw) = xz_fixture();
    let data = std::fs::read(&xz).unwrap();
    let sha = sha256_file(&xz);
    let s = Server::start();
    s.add("img.img.xz", data.clone());
    s.add(
        "img.img.xz.sha256",
        format!("{sha}  img.img.xz\n").into_bytes(),
    );
    s.add(
        "wrong.sha256",
        format!("{sha}  other.img.xz\n").into_bytes(),
    );
    (s, data, sha, raw)
}

pub fn cached_images(e: &Env) -> usize {
    std::fs::read_dir(e.cache.join("images"))
        .map(|d| {
            d.flatten()
                .filter(|x| x.path().join("image.img").exists())
                .count()
        })
        .unwrap_or(0)
}

pub fn partials(e: &Env) -> usize {
    std::fs::read_dir(e.cache.join("downloads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn hex_sha(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

pub fn run_env(e: &Env, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_piprep"));
    c.args(args)
        .current_dir(&e.dir)
        .env("PIPREP_CACHE", &e.cache)
        .env("PIPREP_RETRY_DELAY_MS", "50");
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// SIGINT to `child` as soon as `ready` holds (while it still runs), then
/// its exit status.
pub fn interrupt_when(
    child: &mut std::process::Child,
    what: &str,
    ready: impl Fn() -> bool,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what} ended before it could be interrupted"
        );
        assert!(std::time::Instant::now() < deadline, "{what} never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

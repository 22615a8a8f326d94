//! `piprep fetch` against a real HTTP server on 127.0.0.1 that misbehaves on
//! demand: clean fetches, resume, Range ignored, 416, 404, checksum mismatches,
//! sidecars, the OS list, corrupt xz, concurrency, --offline, and the cache.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::Ordering;

use support::http::Server;
use support::*;

/// A multi-block .img.xz of the trixie fixture, and the raw image.
fn xz_fixture() -> (PathBuf, PathBuf) {
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

struct Env {
    dir: PathBuf,
    cache: PathBuf,
}

fn env(name: &str) -> Env {
    let dir = scratch(&format!("fetch-{name}"));
    Env {
        cache: dir.join("cache"),
        dir,
    }
}

fn run(e: &Env, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_piprep"))
        .args(args)
        .current_dir(&e.dir)
        .env("PIPREP_CACHE", &e.cache)
        .env("PIPREP_RETRY_DELAY_MS", "50")
        .output()
        .unwrap()
}

fn inventory(e: &Env, image: &str) {
    let t = format!(
        "[cluster]\nname = \"c\"\nsubnet = \"10.1.1.0/24\"\ngateway = \"10.1.1.1\"\ndns = [\"10.1.1.1\"]\n\n[image]\n{image}\n\n[user]\nname = \"k8s\"\nssh_authorized_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP t@ci\"]\n\n[[node]]\nname = \"cp-1\"\nip = \"10.1.1.11\"\nrole = \"control-plane\"\n"
    );
    std::fs::write(e.dir.join("piprep.toml"), t).unwrap();
}

fn server_with_image() -> (Server, Vec<u8>, String, PathBuf) {
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

fn cached_images(e: &Env) -> usize {
    std::fs::read_dir(e.cache.join("images"))
        .map(|d| {
            d.flatten()
                .filter(|x| x.path().join("image.img").exists())
                .count()
        })
        .unwrap_or(0)
}

fn partials(e: &Env) -> usize {
    std::fs::read_dir(e.cache.join("downloads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn clean_fetch_is_verified_sparse_and_cached_once() {
    let e = env("clean");
    let (s, data, sha, raw) = server_with_image();
    inventory(
        &e,
        &format!("url = \"{}\"\nsha256 = \"{sha}\"", s.url("/f/img.img.xz")),
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = PathBuf::from(stdout(&o).trim());
    assert!(
        cmp_range(&raw, &path, 0, None),
        "cached raw image differs from the original"
    );
    let md = std::fs::metadata(&path).unwrap();
    assert!(
        md.blocks() * 512 < md.len() / 4,
        "not sparse: {} allocated of {}",
        md.blocks() * 512,
        md.len()
    );
    assert_eq!(s.sent.load(Ordering::SeqCst), data.len() as u64);
    assert_eq!(partials(&e), 0, "download left behind");
    // A second fetch neither downloads nor decompresses.
    let before = s.requests.load(Ordering::SeqCst);
    let o = run(&e, &["fetch"]);
    assert!(o.status.success());
    assert_eq!(PathBuf::from(stdout(&o).trim()), path);
    assert_eq!(s.requests.load(Ordering::SeqCst), before);
    // bake records the image's identity in the stamp.
    let o = run(&e, &["bake", "--node", "cp-1", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ins = run(&e, &["inspect", "--json", "out/cp-1.img"]);
    let v: serde_json::Value = serde_json::from_slice(&ins.stdout).unwrap();
    assert_eq!(v["stamp"]["base_image"]["download_sha256"], sha.as_str());
    assert_eq!(v["stamp"]["base_image"]["sha256"], sha256_file(&raw));
    assert_eq!(v["stamp"]["base_image"]["url"], s.url("/f/img.img.xz"));
}

#[test]
fn resumes_after_a_dropped_connection_without_downloading_twice() {
    let e = env("resume");
    let (s, data, sha, _) = server_with_image();
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256 = \"{sha}\"",
            s.url(&format!("/drop1/{}/img.img.xz", data.len() / 3))
        ),
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        s.sent.load(Ordering::SeqCst),
        data.len() as u64,
        "bytes downloaded twice"
    );
    assert!(s.requests.load(Ordering::SeqCst) >= 2);
}

#[test]
fn a_reset_download_is_kept_and_resumed_by_the_next_run() {
    let e = env("reset");
    let (s, data, sha, _) = server_with_image();
    let chunk = data.len() / 10;
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256 = \"{sha}\"",
            s.url(&format!("/dropall/{chunk}/img.img.xz"))
        ),
    );
    let o = run(&e, &["fetch"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the partial download is kept"),
        "{}",
        stderr(&o)
    );
    assert_eq!(partials(&e), 1);
    assert_eq!(cached_images(&e), 0);
    let first = s.sent.load(Ordering::SeqCst);
    inventory(
        &e,
        &format!("url = \"{}\"\nsha256 = \"{sha}\"", s.url("/f/img.img.xz")),
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        s.sent.load(Ordering::SeqCst),
        data.len() as u64,
        "resumed run re-downloaded (first run sent {first})"
    );
}

#[test]
fn ignored_range_restarts_and_416_means_complete() {
    let e = env("range");
    let (s, data, sha, raw) = server_with_image();
    // A partial file, then a server that ignores Range: restart from 0.
    std::fs::create_dir_all(e.cache.join("downloads")).unwrap();
    std::fs::write(
        e.cache.join("downloads").join(format!("{sha}.partial")),
        &data[..1000],
    )
    .unwrap();
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256 = \"{sha}\"",
            s.url("/norange/img.img.xz")
        ),
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(cmp_range(&raw, Path::new(stdout(&o).trim()), 0, None));

    // A partial that is already complete: the server answers 416.
    let e = env("range416");
    std::fs::create_dir_all(e.cache.join("downloads")).unwrap();
    std::fs::write(
        e.cache.join("downloads").join(format!("{sha}.partial")),
        &data,
    )
    .unwrap();
    let sent = s.sent.load(Ordering::SeqCst);
    inventory(
        &e,
        &format!("url = \"{}\"\nsha256 = \"{sha}\"", s.url("/f/img.img.xz")),
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        s.sent.load(Ordering::SeqCst),
        sent,
        "a complete partial was downloaded again"
    );
}

#[test]
fn http_errors_and_bad_checksums_cache_nothing() {
    let (s, _, sha, _) = server_with_image();
    let e = env("404");
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256 = \"{sha}\"",
            s.url("/missing/img.img.xz")
        ),
    );
    let o = run(&e, &["fetch"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("HTTP 404") && stderr(&o).contains("/missing/img.img.xz"),
        "{}",
        stderr(&o)
    );

    let e = env("mismatch");
    let wrong = "0".repeat(64);
    inventory(
        &e,
        &format!("url = \"{}\"\nsha256 = \"{wrong}\"", s.url("/f/img.img.xz")),
    );
    let o = run(&e, &["fetch"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains(&wrong) && stderr(&o).contains(&sha),
        "both digests: {}",
        stderr(&o)
    );
    assert_eq!(cached_images(&e), 0);
    assert_eq!(partials(&e), 0);

    let e = env("sidecar");
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256_url = \"{}\"",
            s.url("/f/img.img.xz"),
            s.url("/f/wrong.sha256")
        ),
    );
    let o = run(&e, &["fetch"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("is for `other.img.xz`, not `img.img.xz`"),
        "{}",
        stderr(&o)
    );
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256_url = \"{}\"",
            s.url("/f/img.img.xz"),
            s.url("/f/img.img.xz.sha256")
        ),
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn corrupt_or_fake_xz_caches_nothing() {
    let (xz, _) = xz_fixture();
    let data = std::fs::read(&xz).unwrap();
    let s = Server::start();
    let truncated = data[..data.len() / 2].to_vec();
    let tsha = hex_sha(&truncated);
    s.add("t.img.xz", truncated);
    let fake = b"this is not xz at all".repeat(1000);
    let fsha = hex_sha(&fake);
    s.add("fake.img.xz", fake);
    for (name, sha, needle) in [
        ("t.img.xz", tsha, "corrupt or truncated xz"),
        ("fake.img.xz", fsha, "not an xz file"),
    ] {
        let e = env(name);
        inventory(
            &e,
            &format!(
                "url = \"{}\"\nsha256 = \"{sha}\"",
                s.url(&format!("/f/{name}"))
            ),
        );
        let o = run(&e, &["fetch"]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
        assert_eq!(cached_images(&e), 0);
        assert_eq!(partials(&e), 0);
    }
}

fn hex_sha(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn os_list_entries_are_resolved_and_verified() {
    let (s, _, sha, raw) = server_with_image();
    let raw_sha = sha256_file(&raw);
    let list = |extract: &str| {
        format!(
            r#"{{"os_list": [{{"name": "Raspberry Pi OS (other)", "subitems": [
            {{"name": "Raspberry Pi OS Lite (64-bit)", "url": "{}", "image_download_sha256": "{sha}",
              "extract_sha256": "{extract}", "extract_size": 1, "release_date": "2025-10-01", "init_format": "systemd"}}]}}]}}"#,
            s.url("/f/img.img.xz")
        )
    };
    s.add("os_list.json", list(&raw_sha).into_bytes());
    s.add("bad_list.json", list(&"1".repeat(64)).into_bytes());
    let e = env("oslist");
    inventory(
        &e,
        &format!(
            "os_list = \"{}\"\nname = \"Raspberry Pi OS Lite (64-bit)\"",
            s.url("/f/os_list.json")
        ),
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(e.cache.join("images").join(&sha).join("meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["release_date"], "2025-10-01");
    assert_eq!(meta["init_format"], "systemd");
    assert_eq!(meta["extract_sha256"], raw_sha.as_str());

    inventory(
        &e,
        &format!(
            "os_list = \"{}\"\nname = \"Raspberry Pi OS Lite 32\"",
            s.url("/f/os_list.json")
        ),
    );
    let o = run(&e, &["fetch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("close names: \"Raspberry Pi OS Lite (64-bit)\""),
        "{}",
        stderr(&o)
    );

    let e = env("oslist-bad-extract");
    inventory(
        &e,
        &format!(
            "os_list = \"{}\"\nname = \"Raspberry Pi OS Lite (64-bit)\"",
            s.url("/f/bad_list.json")
        ),
    );
    let o = run(&e, &["fetch"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("decompressed image has sha256"),
        "{}",
        stderr(&o)
    );
    assert_eq!(cached_images(&e), 0);
}

#[test]
fn concurrent_fetches_share_one_download() {
    let e = env("concurrent");
    let (s, data, sha, raw) = server_with_image();
    inventory(
        &e,
        &format!("url = \"{}\"\nsha256 = \"{sha}\"", s.url("/f/img.img.xz")),
    );
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_piprep"))
            .arg("fetch")
            .current_dir(&e.dir)
            .env("PIPREP_CACHE", &e.cache)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{} / {}",
        stderr(&a),
        stderr(&b)
    );
    assert_eq!(stdout(&a), stdout(&b));
    assert!(cmp_range(&raw, Path::new(stdout(&a).trim()), 0, None));
    assert_eq!(
        s.sent.load(Ordering::SeqCst),
        data.len() as u64,
        "downloaded twice"
    );
}

#[test]
fn offline_uses_the_cache_or_fails_fast() {
    let e = env("offline");
    let (s, _, sha, _) = server_with_image();
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256_url = \"{}\"",
            s.url("/f/img.img.xz"),
            s.url("/f/img.img.xz.sha256")
        ),
    );
    let o = run(&e, &["fetch", "--offline"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("--offline") && stderr(&o).contains("piprep fetch"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        s.requests.load(Ordering::SeqCst),
        0,
        "--offline touched the network"
    );
    assert!(run(&e, &["fetch"]).status.success());
    let before = s.requests.load(Ordering::SeqCst);
    let o = run(&e, &["fetch", "--offline"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&e, &["bake", "--offline", "-n", "cp-1", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s.requests.load(Ordering::SeqCst), before);
    // cache list / clean.
    let o = run(&e, &["cache", "list"]);
    assert!(stdout(&o).contains(&sha[..16]), "{}", stdout(&o));
    let o = run(&e, &["cache", "clean"]);
    assert!(o.status.success() && stdout(&o).contains("freed"));
    assert_eq!(cached_images(&e), 0);
}

#[test]
fn local_xz_paths_are_decompressed_once_and_raw_paths_used_directly() {
    let e = env("local");
    let (xz, raw) = xz_fixture();
    inventory(&e, &format!("path = \"{}\"", xz.display()));
    let o = run(&e, &["fetch", "--offline"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(cmp_range(&raw, Path::new(stdout(&o).trim()), 0, None));
    assert_eq!(cached_images(&e), 1);
    let o = run(
        &e,
        &["fetch", "--offline", "--image", raw.to_str().unwrap()],
    );
    assert_eq!(stdout(&o).trim(), raw.to_str().unwrap());
}

#[test]
fn a_disk_full_during_decompression_caches_nothing() {
    let e = env("fsize");
    let (xz, _) = xz_fixture();
    inventory(&e, &format!("path = \"{}\"", xz.display()));
    // The raw image is larger than this file-size limit: writing it fails (EFBIG).
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 20480; exec {} fetch",
            env!("CARGO_BIN_EXE_piprep")
        ))
        .current_dir(&e.dir)
        .env("PIPREP_CACHE", &e.cache)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(cached_images(&e), 0);
    let leftovers: Vec<_> = std::fs::read_dir(e.cache.join("images"))
        .unwrap()
        .flatten()
        .flat_map(|d| {
            std::fs::read_dir(d.path())
                .unwrap()
                .flatten()
                .map(|f| f.path())
        })
        .filter(|p| p.to_string_lossy().contains("image.img"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn image_section_mistakes_are_config_errors() {
    let e = env("config");
    inventory(&e, "url = \"http://127.0.0.1:1/x.img.xz\"");
    let o = run(&e, &["validate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("piprep.toml:8") && stdout(&o).contains("no checksum"),
        "{}",
        stdout(&o)
    );
    inventory(
        &e,
        "path = \"a.img\"\nurl = \"http://x/y\"\nsha256 = \"00\"",
    );
    let o = run(&e, &["validate"]);
    assert!(stdout(&o).contains("exactly one source"), "{}", stdout(&o));
}

#[test]
fn ctrl_c_keeps_the_partial_download_for_the_next_run() {
    let e = env("sigint");
    // 3 MiB of incompressible data: the slow server needs ~2.5 s for it.
    let mut raw = vec![0u8; 3 << 20];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut raw).unwrap();
    let raw_path = e.dir.join("blob.img");
    std::fs::write(&raw_path, &raw).unwrap();
    let o = Command::new("xz")
        .args(["-0", "-k", "-f"])
        .arg(&raw_path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let data = std::fs::read(e.dir.join("blob.img.xz")).unwrap();
    let sha = hex_sha(&data);
    let s = Server::start();
    s.add("blob.img.xz", data.clone());
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256 = \"{sha}\"",
            s.url("/slow/blob.img.xz")
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_piprep"))
        .arg("fetch")
        .current_dir(&e.dir)
        .env("PIPREP_CACHE", &e.cache)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = e.cache.join("downloads").join(format!("{sha}.partial"));
    let st = interrupt_when(&mut child, "the download", || {
        std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) >= 256 * 1024
    });
    assert!(!st.success());
    let kept = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    assert!(
        kept > 0 && kept < data.len() as u64,
        "partial not kept: {kept}"
    );
    assert_eq!(cached_images(&e), 0);
    // Let the slow server notice the closed connection before counting.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent_before = s.sent.load(Ordering::SeqCst);
    inventory(
        &e,
        &format!("url = \"{}\"\nsha256 = \"{sha}\"", s.url("/f/blob.img.xz")),
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(stdout(&o).trim()).unwrap(), raw);
    // The second run fetched only what the first did not keep.
    assert_eq!(
        s.sent.load(Ordering::SeqCst) - sent_before,
        data.len() as u64 - kept
    );
}

fn run_env(e: &Env, args: &[&str], vars: &[(&str, &str)]) -> Output {
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

/// Refused, timed out, reset, and an HTTP status: each named, and each retry
/// shown as it happens.
#[test]
fn network_errors_name_their_cause() {
    let s = Server::start();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // the listener is gone: nothing listens there now
    let sha = "a".repeat(64);
    for (name, url, want) in [
        (
            "refused",
            format!("http://127.0.0.1:{closed}/x.img.xz"),
            "connection refused",
        ),
        ("stalled", s.url("/stall/x.img.xz"), "timed out"),
        ("reset", s.url("/reset"), "reset"),
        ("status", s.url("/missing/x.img.xz"), "HTTP 404"),
    ] {
        let e = env(&format!("cause-{name}"));
        inventory(&e, &format!("url = \"{url}\"\nsha256 = \"{sha}\""));
        let t = std::time::Instant::now();
        let o = run_env(&e, &["fetch"], &[("PIPREP_HTTP_TIMEOUT_MS", "300")]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{name}: {err}");
        assert!(err.contains(want), "{name}: expected {want:?} in {err}");
        if name != "status" {
            assert!(
                err.contains("retrying in"),
                "{name}: retries not shown: {err}"
            );
        }
        assert!(t.elapsed().as_secs() < 30, "{name} took {:?}", t.elapsed());
    }
}

/// A checksum file that never ends is refused after a bounded read.
#[test]
fn an_endless_checksum_file_is_refused() {
    let s = Server::start();
    let e = env("endless-sidecar");
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256_url = \"{}\"",
            s.url("/f/img.img.xz"),
            s.url("/endless/x.sha256")
        ),
    );
    let o = run(&e, &["fetch"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("larger than 65536 bytes"), "{err}");
    assert!(
        s.sent.load(Ordering::SeqCst) < 64 << 20,
        "read {} bytes",
        s.sent.load(Ordering::SeqCst)
    );
}

/// A body without Content-Length stops before it fills the disk (a 64 MiB
/// tmpfs as the cache), and the partial file is deleted.
#[test]
fn a_body_without_length_stops_before_the_disk_is_full() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let s = Server::start();
    let e = env("endless-body");
    std::fs::create_dir_all(&e.cache).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(&e.cache)
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _u = Unmount(&e.cache);
    inventory(
        &e,
        &format!(
            "url = \"{}\"\nsha256 = \"{}\"",
            s.url("/endless/x.img.xz"),
            "b".repeat(64)
        ),
    );
    let o = run(&e, &["fetch"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("announces no length"), "{err}");
    assert_eq!(partials(&e), 0, "the partial download was kept");
}

/// A given or published checksum is checked for local images too; a
/// malformed digest is a validation error with its line.
#[test]
fn local_checksums_are_never_ignored() {
    let (xz, raw) = xz_fixture();
    let raw_sha = sha256_file(&raw);
    let xz_sha = sha256_file(&xz);
    let zero = "0".repeat(64);
    let e = env("path-sha");
    for (image, want) in [
        (
            format!("path = \"{}\"\nsha256 = \"{zero}\"", raw.display()),
            Some(3),
        ),
        (
            format!("path = \"{}\"\nsha256 = \"{raw_sha}\"", raw.display()),
            Some(0),
        ),
        (
            format!("path = \"{}\"\nsha256 = \"{zero}\"", xz.display()),
            Some(3),
        ),
        (
            format!("path = \"{}\"\nsha256 = \"{xz_sha}\"", xz.display()),
            Some(0),
        ),
        (
            format!("path = \"{}\"\nsha256 = \"00\"", raw.display()),
            Some(2),
        ),
    ] {
        inventory(&e, &image);
        let o = run(&e, &["fetch"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), want, "{image}: {err}");
        match want {
            Some(3) => assert!(
                err.contains("checksum mismatch") && err.contains(&zero),
                "{err}"
            ),
            Some(2) => assert!(
                err.contains("piprep.toml:9") && err.contains("64 hex digits"),
                "{err}"
            ),
            _ => {}
        }
    }
    // A sidecar beside a local .xz is checked when present.
    let dir = e.dir.join("side");
    std::fs::create_dir_all(&dir).unwrap();
    let local = dir.join("os.img.xz");
    std::fs::copy(&xz, &local).unwrap();
    let side = dir.join("os.img.xz.sha256");
    std::fs::write(&side, format!("{zero}  os.img.xz\n")).unwrap();
    let e2 = env("path-sidecar");
    inventory(&e2, &format!("path = \"{}\"", local.display()));
    let o = run(&e2, &["fetch"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("os.img.xz.sha256") && err.contains("checksum mismatch"),
        "{err}"
    );
    assert_eq!(cached_images(&e2), 0);
    std::fs::write(&side, format!("{xz_sha}  os.img.xz\n")).unwrap();
    let o = run(&e2, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// An .xz may hold several streams (`cat a.xz b.xz`, parallel compressors),
/// with NUL padding between: fetch and flash decode all of them, and refuse
/// bytes after the last that are not another stream, instead of writing a
/// truncated image.
#[test]
fn concatenated_xz_streams_are_decoded_whole_by_fetch_and_flash() {
    let e = env("concat");
    let raw = fixture("trixie", &[]);
    let bytes = std::fs::read(&raw).unwrap();
    let cut = [0, bytes.len() / 3, bytes.len() / 2, bytes.len()];
    let mut file = Vec::new();
    for w in cut.windows(2) {
        let mut c = Command::new("xz")
            .args(["-0", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let part = bytes[w[0]..w[1]].to_vec();
        let mut stdin = c.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            std::io::Write::write_all(&mut stdin, &part).unwrap();
        });
        let o = c.wait_with_output().unwrap();
        feeder.join().unwrap();
        assert!(o.status.success());
        file.extend(o.stdout);
        file.extend([0u8; 4]); // stream padding
    }
    let xz = e.dir.join("concat.img.xz");
    std::fs::write(&xz, &file).unwrap();
    let o = run(&e, &["fetch", "--offline", "--image", xz.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = PathBuf::from(stdout(&o).trim());
    assert_eq!(std::fs::metadata(&got).unwrap().len(), bytes.len() as u64);
    assert!(
        cmp_range(&raw, &got, 0, None),
        "fetch decoded a different image"
    );

    let card = e.dir.join("card.img");
    let o = run(
        &e,
        &[
            "flash",
            "--create",
            xz.to_str().unwrap(),
            card.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        cmp_range(&raw, &card, 0, None),
        "flash wrote a different image"
    );

    // Anything else after the last stream: refused, nothing cached or written.
    let before = cached_images(&e);
    let bad = e.dir.join("tail.img.xz");
    file.extend(b"not xz");
    std::fs::write(&bad, &file).unwrap();
    let o = run(
        &e,
        &["fetch", "--offline", "--image", bad.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not another xz stream"),
        "{}",
        stderr(&o)
    );
    assert_eq!(cached_images(&e), before);
    let card2 = e.dir.join("card2.img");
    let o = run(
        &e,
        &[
            "flash",
            "--create",
            bad.to_str().unwrap(),
            card2.to_str().unwrap(),
        ],
    );
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!card2.exists(), "a refused flash left its target");
}

/// SIGINT to `child` as soon as `ready` holds (while it still runs), then
/// its exit status.
fn interrupt_when(
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
fn files_under(dir: &Path) -> Vec<PathBuf> {
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

/// SIGINT while a local .img.xz is being decompressed into the cache: the
/// process stops, and the half-written image is removed, not cached.
#[test]
fn ctrl_c_during_decompression_leaves_nothing_in_the_cache() {
    let e = env("sigint-unpack");
    // 512 MiB of incompressible output, made fast: one 1 MiB random stream,
    // compressed once and concatenated 512 times.
    let mut block = vec![0u8; 1 << 20];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut block,
    )
    .unwrap();
    let raw = e.dir.join("block");
    std::fs::write(&raw, &block).unwrap();
    let o = Command::new("xz")
        .args(["-0", "-k", "-f"])
        .arg(&raw)
        .output()
        .unwrap();
    assert!(o.status.success());
    let one = std::fs::read(e.dir.join("block.xz")).unwrap();
    let xz = e.dir.join("big.img.xz");
    let mut f = std::fs::File::create(&xz).unwrap();
    for _ in 0..512 {
        std::io::Write::write_all(&mut f, &one).unwrap();
    }
    drop(f);
    let mut child = Command::new(env!("CARGO_BIN_EXE_piprep"))
        .args(["fetch", "--offline", "--image"])
        .arg(&xz)
        .current_dir(&e.dir)
        .env("PIPREP_CACHE", &e.cache)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The image being decompressed exists only until it is complete.
    let unpacking = || {
        files_under(&e.cache).iter().any(|p| {
            let s = p.to_string_lossy();
            s.contains(".incoming-") || s.contains(".tmp")
        })
    };
    let st = interrupt_when(&mut child, "decompression", unpacking);
    assert_eq!(st.code(), Some(130), "{st:?}");
    assert_eq!(cached_images(&e), 0);
    let left: Vec<PathBuf> = files_under(&e.cache)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("images"))
        .collect();
    assert!(left.is_empty(), "left in the cache: {left:?}");
}

//! Downloading: resume, Range ignored, 416, HTTP and network errors, endless or unannounced bodies, concurrency, Ctrl-C.

use super::*;

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

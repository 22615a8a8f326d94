//! Decompression into the cache: corrupt or fake xz, concatenated streams, a full disk, Ctrl-C, --offline and local paths.

use super::*;

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
        ("fake.img.xz", fsha, "nor an .xz of one; nothing was cached"),
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

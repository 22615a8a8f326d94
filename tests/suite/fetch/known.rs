//! What fetch already knows: a file's kind by its content (never its name),
//! and a cached image's checksum from the first fetch of the same URL.

use super::*;

#[test]
fn a_gzip_is_refused_by_content_and_nothing_is_cached() {
    let (_, raw) = xz_fixture();
    let e = env("gzip");
    let gz = e.dir.join("x.img.gz");
    let out = std::fs::File::create(&gz).unwrap();
    let st = Command::new("gzip")
        .args(["-1", "-c"])
        .arg(&raw)
        .stdout(out)
        .status()
        .unwrap();
    assert!(st.success());
    let data = std::fs::read(&gz).unwrap();
    let s = Server::start();
    s.add("x.img.gz", data.clone());
    s.add(
        "x.img.gz.sha256",
        format!("{}  x.img.gz\n", hex_sha(&data)).into_bytes(),
    );
    // Downloaded, and given as a local path: both refused, by what the bytes are.
    for image in [s.url("/f/x.img.gz"), gz.display().to_string()] {
        let o = run(&e, &["fetch", "--image", &image]);
        assert_eq!(o.status.code(), Some(3), "{image}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("a gzip file") && err.contains("decompress it first"),
            "{err}"
        );
        assert!(stdout(&o).is_empty(), "printed a path: {}", stdout(&o));
        assert_eq!(cached_images(&e), 0, "{image}");
        assert_eq!(partials(&e), 0, "{image}");
    }
    // The same bytes renamed .img.xz are still gzip.
    s.add("y.img.xz", data.clone());
    s.add(
        "y.img.xz.sha256",
        format!("{}  y.img.xz\n", hex_sha(&data)).into_bytes(),
    );
    let o = run(&e, &["fetch", "--image", &s.url("/f/y.img.xz")]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("a gzip file"), "{}", stderr(&o));
    assert_eq!(cached_images(&e), 0);
}

#[test]
fn a_cached_image_needs_no_network_once_its_checksum_is_known() {
    let e = env("known-sha");
    let (s, _, _, _) = server_with_image();
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
    let before = s.requests.load(Ordering::SeqCst);
    assert!(before >= 2, "the sidecar and the image were fetched");
    // Not --offline: the cached entry's checksum is known for this URL.
    let o = run(&e, &["bake", "--all", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("checksum learnt when it was first fetched"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        s.requests.load(Ordering::SeqCst),
        before,
        "bake asked the server again for a checksum it already knew"
    );
}

#[test]
fn an_os_list_out_of_reach_falls_back_to_the_cached_entry_and_says_so() {
    let (s, _, sha, _) = server_with_image();
    let e = env("oslist-gone");
    // A local OS list (relative to piprep.toml), which can be taken away.
    let list = format!(
        r#"{{"os_list": [{{"name": "Raspberry Pi OS Lite (64-bit)", "url": "{}", "image_download_sha256": "{sha}", "release_date": "2025-10-01"}}]}}"#,
        s.url("/f/img.img.xz")
    );
    std::fs::write(e.dir.join("os_list.json"), list).unwrap();
    inventory(
        &e,
        "os_list = \"os_list.json\"\nname = \"Raspberry Pi OS Lite (64-bit)\"",
    );
    let o = run(&e, &["fetch"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(e.dir.join("os_list.json")).unwrap();
    let before = s.requests.load(Ordering::SeqCst);
    let o = run(&e, &["bake", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cannot read OS list")
            && err.contains("using the cached \"Raspberry Pi OS Lite (64-bit)\" instead"),
        "{err}"
    );
    assert_eq!(
        s.requests.load(Ordering::SeqCst),
        before,
        "downloaded again"
    );
    // Never cached: the failure stands, with its cause.
    let e2 = env("oslist-never");
    inventory(
        &e2,
        "os_list = \"os_list.json\"\nname = \"Raspberry Pi OS Lite (64-bit)\"",
    );
    let o = run(&e2, &["fetch"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot read OS list"), "{}", stderr(&o));
}

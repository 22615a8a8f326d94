//! Verification: checksums, sidecars, the OS list, and mistakes in [image].

use super::*;

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

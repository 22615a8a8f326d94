//! Refusals: unsafe devices, foreign or tampered block maps, what is not an image, files that are missing or worth keeping.

use super::*;

#[test]
fn refuses_unsafe_devices() {
    let dir = scratch("flash-refuse");
    let img = image(&dir);
    let len = std::fs::metadata(&img).unwrap().len();
    let i = img.to_str().unwrap();
    let cases: Vec<(&str, Fake, Vec<&str>, &str)> = vec![
        (
            "mounted",
            fake_disk(&dir.join("a"), len, true, Some("/media/me/bootfs")),
            vec!["--yes"],
            "is mounted at /media/me/bootfs",
        ),
        (
            "root",
            fake_disk(&dir.join("b"), len, true, Some("/")),
            vec!["--yes"],
            "holds the running system's root",
        ),
        (
            "fixed",
            fake_disk(&dir.join("c"), len, false, None),
            vec!["--yes"],
            "not a removable disk; if you really mean it, pass --allow-non-removable",
        ),
        (
            "small",
            fake_disk(&dir.join("d"), len / 2, true, None),
            vec!["--yes"],
            // Sizes people read, with the exact bytes beside them.
            " MiB (",
        ),
        (
            "unconfirmed",
            fake_disk(&dir.join("e"), len, true, None),
            vec![],
            "pass --yes",
        ),
    ];
    for (name, f, extra, needle) in cases {
        let before = std::fs::read(&f.dev).unwrap();
        let mut args = extra.clone();
        args.extend([i, f.dev.to_str().unwrap()]);
        let o = flash(&f, &args, &[]);
        assert_ne!(o.status.code(), Some(0), "{name}");
        assert!(stderr(&o).contains(needle), "{name}: {}", stderr(&o));
        assert_eq!(
            std::fs::read(&f.dev).unwrap(),
            before,
            "{name}: the device was written"
        );
    }
    let f = fake_disk(&dir.join("f"), len, false, None);
    let o = flash(
        &f,
        &["--yes", "--allow-non-removable", i, f.dev.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // A partition is not a disk.
    let f = fake_disk(&dir.join("g"), len, true, None);
    let part = f.dir.join("dev/sdz1");
    std::fs::write(&part, b"x").unwrap();
    std::fs::create_dir_all(f.sysfs.join("class/block/sdz1")).unwrap();
    std::fs::write(f.sysfs.join("class/block/sdz1/partition"), "1\n").unwrap();
    let o = flash(&f, &["--yes", i, part.to_str().unwrap()], &[]);
    assert!(stderr(&o).contains("is a partition"), "{}", stderr(&o));
}

#[test]
fn a_bmap_for_another_image_or_tampered_is_refused() {
    let dir = scratch("flash-bad-bmap");
    let img = image(&dir);
    let bmap = bmaptool_create(&img);
    let f = Fake {
        dir: dir.clone(),
        sysfs: dir.join("no-sys"),
        mountinfo: dir.join("none"),
        dev: dir.join("t.img"),
    };
    let text = std::fs::read_to_string(&bmap).unwrap();
    std::fs::write(
        &bmap,
        text.replacen("<Range chksum=\"", "<Range chksum=\"0", 1),
    )
    .unwrap();
    let o = flash(
        &f,
        &["--create", img.to_str().unwrap(), f.dev.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("BmapFileChecksum mismatch"),
        "{}",
        stderr(&o)
    );
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = bmaptool_create(&fixture_copy("trixie", &["--fat-mib", "40"], &other_dir));
    let o = flash(
        &f,
        &[
            "--create",
            "--bmap",
            other.to_str().unwrap(),
            img.to_str().unwrap(),
            f.dev.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("belongs to another image"),
        "{}",
        stderr(&o)
    );
}

/// What is neither a disk image nor an .xz of one is refused by content,
/// whatever its name, and nothing is written.
#[test]
fn refuses_what_is_not_an_image() {
    let dir = scratch("flash-not-image");
    let f = fake_disk(&dir, 64 << 20, true, None);
    let before = std::fs::read(&f.dev).unwrap();
    let mut gz = vec![0x1f, 0x8b, 0x08, 0x00];
    gz.resize(4096, 0);
    std::fs::write(dir.join("cp-1.img"), &gz).unwrap();
    std::fs::write(dir.join("notes.img"), "not an image\n".repeat(100)).unwrap();
    for (name, needle) in [
        ("cp-1.img", "a gzip file"),
        ("notes.img", "not a disk image"),
    ] {
        let o = flash(&f, &["--yes", name, f.dev.to_str().unwrap()], &[]);
        assert_eq!(o.status.code(), Some(3), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
        assert_eq!(std::fs::read(&f.dev).unwrap(), before, "{name}: written");
    }
}

/// A mistyped device never becomes a file in /dev; a missing file target
/// needs --create.
#[test]
fn missing_targets_are_never_created_by_accident() {
    let dir = scratch("flash-missing");
    let img = image(&dir);
    let i = img.to_str().unwrap();
    let typo = format!("/dev/piprep-no-such-disk-{}", std::process::id());
    let t = plain(&dir, "unused");
    for extra in [vec!["--yes"], vec!["--yes", "--create"]] {
        let mut args = extra.clone();
        args.extend([i, typo.as_str()]);
        let o = flash(&t, &args, &[]);
        assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
        assert!(stderr(&o).contains("no such device"), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("never creates files under /dev"),
            "{}",
            stderr(&o)
        );
        assert!(!Path::new(&typo).exists(), "{typo} was created");
    }
    let o = flash(&t, &[i, "new.img"], &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --create"), "{}", stderr(&o));
    assert!(!dir.join("new.img").exists());
}

/// An existing file worth keeping needs --force; the cache, the image
/// itself and a target named twice are refused outright.
#[test]
fn files_worth_keeping_are_not_overwritten() {
    let dir = scratch("flash-keep");
    let base = image(&dir);
    write_inventory(&dir, &base, "");
    std::fs::create_dir_all(dir.join("o")).unwrap();
    let other = fixture_copy("bookworm", &[], &dir.join("o"));
    let t = plain(&dir, "unused");
    let base_sum = sha256_file(&base);
    let o = flash(&t, &[other.to_str().unwrap(), base.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is the base image of"),
        "{}",
        stderr(&o)
    );
    assert_eq!(sha256_file(&base), base_sum, "the base image was written");
    // A file with a partition table, and --force.
    let disk = dir.join("vm-disk.img");
    std::fs::copy(&other, &disk).unwrap();
    let o = flash(&t, &[base.to_str().unwrap(), disk.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds a partition table; pass --force"),
        "{}",
        stderr(&o)
    );
    let o = flash(
        &t,
        &["--force", base.to_str().unwrap(), disk.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(cmp_range(&base, &disk, 0, None));
    // piprep's cache: refused even with --force.
    let cached = dir.join("cache/images/x.img");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::copy(&other, &cached).unwrap();
    let o = flash(
        &t,
        &["--force", base.to_str().unwrap(), cached.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("image cache"), "{}", stderr(&o));
    // The image onto itself, and one target twice.
    let o = flash(
        &t,
        &["--force", other.to_str().unwrap(), other.to_str().unwrap()],
        &[],
    );
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is the image being flashed"),
        "{}",
        stderr(&o)
    );
    let o = flash(
        &t,
        &[
            "--force",
            base.to_str().unwrap(),
            disk.to_str().unwrap(),
            disk.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("are the same target"), "{}", stderr(&o));
}

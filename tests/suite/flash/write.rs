//! Writing: into a file, from a .bmap or an .img.xz, onto a loop device; read back; interrupted.

use super::*;

#[test]
fn flashes_into_a_regular_file_exactly() {
    let dir = scratch("flash-file");
    let img = image(&dir);
    let f = Fake {
        dir: dir.clone(),
        sysfs: dir.join("no-sys"),
        mountinfo: dir.join("no-mountinfo"),
        dev: dir.join("target.img"),
    };
    std::fs::write(&f.dev, vec![0x55u8; 1 << 20]).unwrap();
    let o = flash(&f, &[img.to_str().unwrap(), f.dev.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("verified"), "{}", stderr(&o));
    assert!(
        cmp_range(&img, &f.dev, 0, None),
        "target differs from the image"
    );
}

#[test]
fn uses_the_bmap_and_writes_only_mapped_blocks() {
    let dir = scratch("flash-bmap");
    let img = image(&dir);
    let bmap = bmaptool_create(&img);
    let len = std::fs::metadata(&img).unwrap().len();
    let f = fake_disk(&dir, len + (8 << 20), true, None);
    let o = flash(
        &f,
        &["--yes", img.to_str().unwrap(), f.dev.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(from the .bmap)"), "{}", stderr(&o));
    // How much was written, readable (not `0 MiB` for 328 KiB).
    assert!(
        stderr(&o).contains("iB in ") && !stderr(&o).contains(": 0 MiB in"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("Generic STORAGE DEVICE"),
        "model shown: {}",
        stderr(&o)
    );
    // Every mapped range is the image's; a block the map leaves out is untouched.
    let ranges = bmap_ranges(&bmap);
    assert_mapped_equal(&img, &f.dev, &ranges);
    let unmapped = (0..len / 4096)
        .find(|blk| !ranges.iter().any(|(a, b)| (a..=b).contains(&blk)))
        .unwrap();
    let dev = std::fs::read(&f.dev).unwrap();
    assert!(
        dev[(unmapped * 4096) as usize..(unmapped * 4096 + 4096) as usize]
            .iter()
            .all(|b| *b == 0xAA),
        "unmapped block {unmapped} was written"
    );
}

#[test]
fn read_back_catches_a_corrupted_write() {
    let dir = scratch("flash-corrupt");
    let img = image(&dir);
    bmaptool_create(&img);
    let len = std::fs::metadata(&img).unwrap().len();
    let f = fake_disk(&dir, len, true, None);
    let boot = partitions(&img)[0];
    let at = (boot.start + 100).to_string();
    let o = flash(
        &f,
        &["--yes", img.to_str().unwrap(), f.dev.to_str().unwrap()],
        &[("PIPREP_FAILPOINT_CORRUPT_WRITE", &at)],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("verification failed"), "{}", stderr(&o));
    // Without a bmap, too.
    let o = flash(
        &f,
        &[
            "--yes",
            "--no-bmap",
            img.to_str().unwrap(),
            f.dev.to_str().unwrap(),
        ],
        &[("PIPREP_FAILPOINT_CORRUPT_WRITE", &at)],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("verification failed"), "{}", stderr(&o));
}

/// An .img.xz is flashed by its content (whatever its name), decoded on the
/// fly; the .bmap of the image it was made from is found and its checksums
/// are checked against the decoded bytes.
#[test]
fn flashes_an_img_xz_with_and_without_its_bmap() {
    let dir = scratch("flash-xz");
    let img = image(&dir);
    let bmap = bmaptool_create(&img);
    let len = std::fs::metadata(&img).unwrap().len();
    let packed = xz(&img, "trixie.img.xz");
    // Found beside it: trixie.img.xz -> trixie.img.bmap.
    let f = fake_disk(&dir.join("a"), len + (8 << 20), true, None);
    let o = flash(
        &f,
        &["--yes", packed.to_str().unwrap(), f.dev.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(from the .bmap)"), "{}", stderr(&o));
    assert_mapped_equal(&img, &f.dev, &bmap_ranges(&bmap));
    // Named like anything, without a bmap, into a new file: every byte, and
    // the zeros stay holes.
    let renamed = dir.join("renamed.bin");
    std::fs::copy(&packed, &renamed).unwrap();
    let t = plain(&dir, "copy.img");
    let o = flash(
        &t,
        &[
            "--create",
            renamed.to_str().unwrap(),
            t.dev.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("(from the .bmap)"), "{}", stderr(&o));
    assert!(cmp_range(&img, &t.dev, 0, None), "decoded copy differs");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&t.dev).unwrap();
    assert_eq!(m.len(), len);
    assert!(m.blocks() * 512 < len / 2, "the copy is not sparse");
    // An image changed after its .bmap was made: the decoded stream does not
    // match the map's checksums.
    let changed = dir.join("changed.img");
    std::fs::copy(&img, &changed).unwrap();
    let boot = partitions(&img)[0];
    {
        use std::os::unix::fs::FileExt;
        let fh = std::fs::OpenOptions::new()
            .write(true)
            .open(&changed)
            .unwrap();
        fh.write_all_at(b"tampered", boot.start + 3 * 512).unwrap();
    }
    let changed_xz = xz(&changed, "changed.img.xz");
    let t = plain(&dir, "changed-target.img");
    let o = flash(
        &t,
        &[
            "--create",
            "--bmap",
            bmap.to_str().unwrap(),
            changed_xz.to_str().unwrap(),
            t.dev.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not match its .bmap"),
        "{}",
        stderr(&o)
    );
    assert!(!t.dev.exists(), "a target was left behind");
    // A corrupt .xz: a flipped byte in the middle of a block.
    let mut bytes = std::fs::read(&packed).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    let bad = dir.join("bad.img.xz");
    std::fs::write(&bad, bytes).unwrap();
    let o = flash(
        &t,
        &[
            "--create",
            "--no-bmap",
            bad.to_str().unwrap(),
            t.dev.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!t.dev.exists(), "a target was left behind");
    assert_eq!(
        dir_names(&dir)
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect::<Vec<_>>(),
        Vec::<String>::new()
    );
}

/// A real block device: a loop device (root only), found through the real
/// sysfs. Loop devices are not removable, so they need --allow-non-removable.
#[test]
fn flashes_a_loop_device() {
    let dir = scratch("flash-loop");
    let img = image(&dir);
    bmaptool_create(&img);
    let len = std::fs::metadata(&img).unwrap().len();
    let backing = dir.join("backing");
    std::fs::write(&backing, vec![0xAAu8; (len + (4 << 20)) as usize]).unwrap();
    let lo = match Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&backing)
        .output()
    {
        Ok(o) if o.status.success() => stdout(&o).trim().to_string(),
        _ => {
            eprintln!("skipped: no loop devices here (losetup needs root)");
            return;
        }
    };
    let f = Fake {
        dir: dir.clone(),
        sysfs: PathBuf::from("/sys"),
        mountinfo: PathBuf::from("/proc/self/mountinfo"),
        dev: PathBuf::from(&lo),
    };
    let refused = flash(&f, &["--yes", img.to_str().unwrap(), &lo], &[]);
    let o = flash(
        &f,
        &["--yes", "--allow-non-removable", img.to_str().unwrap(), &lo],
        &[],
    );
    let _ = Command::new("losetup").args(["-d", &lo]).status();
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("not a removable disk"),
        "{}",
        stderr(&refused)
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(from the .bmap)"), "{}", stderr(&o));
    assert_mapped_equal(
        &img,
        &backing,
        &bmap_ranges(&PathBuf::from(format!("{}.bmap", img.display()))),
    );
}

/// SIGINT during a flash to a file: the temporary beside the target goes,
/// and the target either does not exist or is complete.
#[test]
fn an_interrupted_flash_leaves_no_partial_file() {
    let dir = scratch("flash-signal");
    let img = fixture("bookworm", &["--fill-mib", "400"]);
    let mut interrupted = 0;
    for (i, delay) in [20u64, 150, 400].into_iter().enumerate() {
        let target = dir.join(format!("t{i}.img"));
        let child = Command::new(env!("CARGO_BIN_EXE_piprep"))
            .args(["flash", "--create"])
            .arg(&img)
            .arg(&target)
            .current_dir(&dir)
            .env("PIPREP_CACHE", dir.join("cache"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let o = child.wait_with_output().unwrap();
        let leftovers: Vec<String> = dir_names(&dir)
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "after {delay} ms: {leftovers:?}");
        // 130: piprep took the signal and cleaned up. Killed by SIGINT
        // itself: it came before piprep's handler existed (a slow machine),
        // so nothing was made yet; the checks are the same.
        use std::os::unix::process::ExitStatusExt;
        if o.status.code() == Some(130) || o.status.signal() == Some(2) {
            interrupted += 1;
            assert!(!target.exists(), "after {delay} ms: a target appeared");
        } else {
            assert!(
                o.status.success(),
                "after {delay} ms: {:?} {}",
                o.status,
                stderr(&o)
            );
            assert!(cmp_range(&img, &target, 0, None));
        }
    }
    assert!(
        interrupted > 0,
        "no flash was interrupted: make the image larger"
    );
}

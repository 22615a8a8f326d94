//! `piprep flash` into regular files, into files behind a fake sysfs tree and
//! into loop devices: the bmap path, .img.xz, several cards at once,
//! read-back verification catching an injected bad write, and every safety
//! refusal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::*;

struct Fake {
    dir: PathBuf,
    sysfs: PathBuf,
    mountinfo: PathBuf,
    dev: PathBuf,
}

/// A fake disk `sdz` of `size` bytes with one partition `sdz1`, pre-filled
/// with 0xAA so untouched blocks are recognisable.
fn fake_disk(dir: &Path, size: u64, removable: bool, mounted_at: Option<&str>) -> Fake {
    fake_named_disk(dir, "sdz", 208, size, removable, mounted_at)
}

/// A fake disk `name` (major 8, minor `minor`) in `dir`'s sysfs; several can
/// share one tree.
fn fake_named_disk(
    dir: &Path,
    name: &str,
    minor: u32,
    size: u64,
    removable: bool,
    mounted_at: Option<&str>,
) -> Fake {
    let sysfs = dir.join("sys");
    let d = sysfs.join("class/block").join(name);
    let part = format!("{name}1");
    std::fs::create_dir_all(d.join("device")).unwrap();
    std::fs::create_dir_all(d.join(&part)).unwrap();
    std::fs::write(d.join("size"), format!("{}\n", size / 512)).unwrap();
    std::fs::write(d.join("removable"), if removable { "1\n" } else { "0\n" }).unwrap();
    std::fs::write(d.join("dev"), format!("8:{minor}\n")).unwrap();
    std::fs::write(d.join("device/vendor"), "Generic \n").unwrap();
    std::fs::write(d.join("device/model"), "STORAGE DEVICE  \n").unwrap();
    std::fs::write(d.join(&part).join("partition"), "1\n").unwrap();
    std::fs::write(d.join(&part).join("dev"), format!("8:{}\n", minor + 1)).unwrap();
    let mountinfo = dir.join("mountinfo");
    let mut info = std::fs::read_to_string(&mountinfo).unwrap_or_else(|_| {
        String::from("22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n")
    });
    if let Some(m) = mounted_at {
        info += &format!(
            "90 22 8:{} / {m} rw,relatime - vfat /dev/{part} rw\n",
            minor + 1
        );
    }
    std::fs::write(&mountinfo, info).unwrap();
    std::fs::create_dir_all(dir.join("dev")).unwrap();
    let dev = dir.join("dev").join(name);
    std::fs::write(&dev, vec![0xAAu8; size as usize]).unwrap();
    Fake {
        dir: dir.to_path_buf(),
        sysfs,
        mountinfo,
        dev,
    }
}

/// A target directory with no sysfs: every target there is a plain file.
fn plain(dir: &Path, target: &str) -> Fake {
    Fake {
        dir: dir.to_path_buf(),
        sysfs: dir.join("no-sys"),
        mountinfo: dir.join("no-mountinfo"),
        dev: dir.join(target),
    }
}

fn flash(f: &Fake, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_piprep"));
    c.arg("flash")
        .args(args)
        .current_dir(&f.dir)
        .env("PIPREP_SYSFS", &f.sysfs)
        .env("PIPREP_MOUNTINFO", &f.mountinfo)
        .env("PIPREP_CACHE", f.dir.join("cache"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(std::process::Stdio::null()).output().unwrap()
}

fn bmaptool_create(img: &Path) -> PathBuf {
    require_tool("bmaptool");
    let out = PathBuf::from(format!("{}.bmap", img.display()));
    let o = Command::new("bmaptool")
        .arg("create")
        .arg("-o")
        .arg(&out)
        .arg(img)
        .output()
        .unwrap();
    assert!(o.status.success(), "bmaptool create: {}", stderr(&o));
    out
}

/// The block ranges of a .bmap, read with plain string handling.
fn bmap_ranges(bmap: &Path) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(bmap).unwrap();
    text.lines()
        .filter(|l| l.contains("<Range"))
        .map(|l| {
            let v = l
                .split('>')
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .trim();
            let (a, b) = v.split_once('-').unwrap_or((v, v));
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect()
}

fn assert_mapped_equal(img: &Path, dev: &Path, ranges: &[(u64, u64)]) {
    let len = std::fs::metadata(img).unwrap().len();
    for (a, b) in ranges {
        let start = a * 4096;
        let n = ((b + 1) * 4096).min(len) - start;
        assert!(
            cmp_range(img, dev, start, Some(n)),
            "{}: range {a}-{b} differs",
            dev.display()
        );
    }
}

/// `img` compressed by xz in 1 MiB blocks (several blocks, as pi-gen's
/// `xz -T0` makes), written as `name` beside it.
fn xz(img: &Path, name: &str) -> PathBuf {
    require_tool("xz");
    let out = img.with_file_name(name);
    let o = Command::new("xz")
        .args(["-T2", "--block-size=1MiB", "-1", "-k", "-c"])
        .arg(img)
        .stdout(std::fs::File::create(&out).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "xz: {}", stderr(&o));
    out
}

fn image(dir: &Path) -> PathBuf {
    fixture_copy("trixie", &[], dir)
}

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
            "smaller than the image",
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

#[test]
fn flash_node_bakes_on_the_fly_then_reuses() {
    let dir = scratch("flash-node");
    let base = fixture("bookworm", &[]);
    write_inventory(&dir, &base, "");
    let f = Fake {
        dir: dir.clone(),
        sysfs: dir.join("no-sys"),
        mountinfo: dir.join("none"),
        dev: dir.join("card.img"),
    };
    let o = flash(&f, &["--create", "--node", "worker-1", "card.img"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("baked worker-1"), "{}", stderr(&o));
    assert!(cmp_range(&dir.join("out/worker-1.img"), &f.dev, 0, None));
    // card.img now holds a piprep image: replacing it needs --force.
    let o = flash(&f, &["--node", "worker-1", "card.img"], &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds a piprep image (node worker-1); pass --force"),
        "{}",
        stderr(&o)
    );
    let o = flash(&f, &["--force", "--node", "worker-1", "card.img"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("is up to date"), "{}", stderr(&o));
    assert!(cmp_range(&dir.join("out/worker-1.img"), &f.dev, 0, None));
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

/// One image to two cards from one read: each verified on its own; a card
/// whose write goes bad fails alone.
#[test]
fn several_cards_at_once_with_a_failure_isolated() {
    let dir = scratch("flash-many");
    let img = image(&dir);
    let bmap = bmaptool_create(&img);
    let ranges = bmap_ranges(&bmap);
    let len = std::fs::metadata(&img).unwrap().len();
    let a = fake_named_disk(&dir, "sdy", 224, len, true, None);
    let b = fake_named_disk(&dir, "sdz", 208, len, true, None);
    let boot = partitions(&img)[0];
    let at = format!("{}:/sdz", boot.start + 100);
    let args = [
        "--yes",
        img.to_str().unwrap(),
        a.dev.to_str().unwrap(),
        b.dev.to_str().unwrap(),
    ];
    let o = flash(&b, &args, &[("PIPREP_FAILPOINT_CORRUPT_WRITE", &at)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("1 of 2 targets failed"), "{err}");
    assert!(err.contains("verification failed on"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("-> ") && l.contains("/sdy") && l.contains("verified")),
        "{err}"
    );
    assert_mapped_equal(&img, &a.dev, &ranges);
    // Both at once, both good; the devices are listed before anything is written.
    let o = flash(&b, &args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("target ").count(), 2, "{}", stderr(&o));
    assert_mapped_equal(&img, &a.dev, &ranges);
    assert_mapped_equal(&img, &b.dev, &ranges);
}

/// `--node A --node B DEV1 DEV2`: each node's image to its own target.
#[test]
fn several_nodes_to_their_own_cards() {
    let dir = scratch("flash-nodes");
    let base = fixture("bookworm", &[]);
    write_inventory(&dir, &base, "");
    let t = plain(&dir, "unused");
    let o = flash(
        &t,
        &["--create", "--node", "cp-1", "--node", "worker-1", "a.img"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("one DEVICE per --node"),
        "{}",
        stderr(&o)
    );
    let o = flash(
        &t,
        &[
            "--create", "--node", "cp-1", "--node", "worker-1", "a.img", "b.img",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(cmp_range(
        &dir.join("out/cp-1.img"),
        &dir.join("a.img"),
        0,
        None
    ));
    assert!(cmp_range(
        &dir.join("out/worker-1.img"),
        &dir.join("b.img"),
        0,
        None
    ));
    // The cards' host keys are pinned for status and ssh, as bake does.
    let kh = std::fs::read_to_string(dir.join("out/known_hosts")).unwrap();
    assert!(kh.contains("\ncp-1,10.1.1.11 ssh-ed25519 "), "{kh}");
    assert!(kh.contains("\nworker-1,10.1.1.21 ssh-ed25519 "), "{kh}");
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
        if o.status.code() == Some(130) {
            interrupted += 1;
            assert!(!target.exists(), "after {delay} ms: a target appeared");
        } else {
            assert!(o.status.success(), "{}", stderr(&o));
            assert!(cmp_range(&img, &target, 0, None));
        }
    }
    assert!(
        interrupted > 0,
        "no flash was interrupted: make the image larger"
    );
}

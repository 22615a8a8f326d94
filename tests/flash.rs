//! `piprep flash` into regular files, into files behind a fake sysfs tree and
//! into loop devices: the bmap path, .img.xz, several cards at once,
//! read-back verification catching an injected bad write, and every safety
//! refusal.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

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
    let text = std::fs::read_to_string(&bmap).unwrap();
    let ranges: Vec<(u64, u64)> = text
        .lines()
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
        .collect();
    for (a, b) in &ranges {
        let start = a * 4096;
        let n = ((b + 1) * 4096).min(len) - start;
        assert!(
            cmp_range(&img, &f.dev, start, Some(n)),
            "range {a}-{b} differs"
        );
    }
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

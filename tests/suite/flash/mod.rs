//! `piprep flash` into regular files, into files behind a fake sysfs tree and
//! into loop devices: the bmap path, .img.xz, several cards at once,
//! read-back verification catching an injected bad write, and every safety
//! refusal.

mod cards;
mod fleet;
mod refusals;
mod write;

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

//! Fleet outputs: sparse images, bmaps that bmaptool accepts, SHA256SUMS that
//! sha256sum verifies, the manifest, reproducibility, xz, partial failures and
//! interrupted bakes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::support::*;

const THIRD: &str = "\n[[node]]\nname = \"worker-2\"\nip = \"10.1.1.22\"\nrole = \"worker\"\n";

/// `sha256sum -c SHA256SUMS` run in `out`.
fn sha256sum_check(out: &Path) -> std::process::Output {
    Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(out)
        .output()
        .unwrap()
}

fn allocated(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().blocks() * 512
}

#[test]
fn bake_all_writes_sparse_images_bmaps_sums_and_manifest() {
    let dir = scratch("fleet-all");
    let base = fixture("bookworm", &["--fill-mib", "24"]);
    write_inventory(&dir, &base, THIRD);
    let o = piprep(&dir, &["bake", "--all", "-j", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_fleet(&dir, &base);
    // sha256sum -c catches a tampered image.
    let out = dir.join("out");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(out.join("worker-1.img"))
        .unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"X", 5 << 20).unwrap();
    let check = sha256sum_check(&out);
    assert!(!check.status.success());
    assert!(
        stdout(&check).contains("worker-1.img: FAILED"),
        "{}",
        stdout(&check)
    );
}

#[test]
fn a_boot_partition_off_block_boundaries_bakes_too() {
    // Sector 63 (the old DOS layout): the base digest cannot be reused, so
    // each image is copied alone and read back for its checksums.
    let dir = scratch("fleet-sector63");
    let base = fixture("bookworm", &["--start-sector", "63", "--fill-mib", "8"]);
    assert_eq!(partitions(&base)[0].start, 63 * 512);
    write_inventory(&dir, &base, THIRD);
    let o = piprep(&dir, &["bake", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_fleet(&dir, &base);
}

/// The three nodes of `dir/out`, baked from `base`: SHA256SUMS, manifest,
/// sparseness, bmaps that bmaptool copies, clean FAT.
fn check_fleet(dir: &Path, base: &Path) {
    let out = dir.join("out");
    let check = sha256sum_check(&out);
    assert!(check.status.success(), "{}", stdout(&check));
    assert_eq!(stdout(&check).matches(": OK").count(), 3);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["piprep_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["base"]["raw_sha256"], sha256_file(base));
    for (node, ip, role) in [
        ("cp-1", "10.1.1.11/24", "control-plane"),
        ("worker-1", "10.1.1.21/24", "worker"),
        ("worker-2", "10.1.1.22/24", "worker"),
    ] {
        let img = out.join(format!("{node}.img"));
        let e = &manifest["nodes"][node];
        assert_eq!(e["ip"], ip);
        assert_eq!(e["role"], role);
        assert_eq!(e["sha256"], sha256_file(&img), "{node}");
        assert_eq!(e["config_hash"].as_str().unwrap().len(), 64);
        assert_eq!(
            e["boot_files"],
            serde_json::json!([
                "cmdline.txt",
                "piprep-run.sh",
                "piprep-ssh_host_ed25519_key",
                "piprep-secrets.txt",
                "piprep-stamp.json"
            ])
        );
        // Sparse: at most the base's allocation plus 16 MiB.
        assert!(
            allocated(&img) <= allocated(base) + (16 << 20),
            "{node}: {} > {}",
            allocated(&img),
            allocated(base)
        );
        // bmaptool accepts the map and reproduces the image from it.
        require_tool("bmaptool");
        let copy = dir.join(format!("{node}.copy"));
        let bc = Command::new("bmaptool")
            .args(["copy", "--bmap"])
            .arg(out.join(format!("{node}.img.bmap")))
            .arg(&img)
            .arg(&copy)
            .output()
            .unwrap();
        assert!(bc.status.success(), "bmaptool copy: {}", stderr(&bc));
        assert!(
            cmp_range(&img, &copy, 0, None),
            "{node}: bmaptool copy differs"
        );
        std::fs::remove_file(&copy).unwrap();
        fsck_fat(&img, partitions(&img)[0], dir);
    }
}

#[test]
fn bakes_are_byte_reproducible() {
    let dir = scratch("fleet-repro");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    let o = piprep(&dir, &["bake", "--all", "--check-reproducible"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("reproducible: a second bake gave identical images"),
        "{}",
        stderr(&o)
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = piprep(&dir, &["bake", "--all", "-q", "-o", "again"]);
    assert!(o.status.success());
    for f in [
        "cp-1.img",
        "worker-1.img",
        "cp-1.img.bmap",
        "SHA256SUMS",
        "manifest.json",
    ] {
        assert_eq!(
            sha256_file(&dir.join("out").join(f)),
            sha256_file(&dir.join("again").join(f)),
            "{f} differs between bakes"
        );
    }
    // Up to date: still checked, not skipped.
    let o = piprep(&dir, &["bake", "--all", "--check-reproducible"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("identical images (2 checked)"),
        "{}",
        stderr(&o)
    );
    // And compared for real: a manifest that records other bytes fails it.
    let m = dir.join("out/manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    let sha = sha256_file(&dir.join("out/cp-1.img"));
    std::fs::write(&m, text.replacen(&sha, &"0".repeat(64), 1)).unwrap();
    let o = piprep(&dir, &["bake", "-n", "cp-1", "--check-reproducible"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not reproducible: cp-1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn one_failing_node_leaves_the_others_intact() {
    let dir = scratch("fleet-partial");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, THIRD);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/worker-1.img"), b"not ours").unwrap();
    let o = piprep(&dir, &["bake", "--all"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("node worker-1:"), "{}", stderr(&o));
    let out = dir.join("out");
    for n in ["cp-1", "worker-2"] {
        let img = out.join(format!("{n}.img"));
        fsck_fat(&img, partitions(&img)[0], &dir);
    }
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains("cp-1.img")
            && sums.contains("worker-2.img")
            && !sums.contains("worker-1.img"),
        "{sums}"
    );
    let check = sha256sum_check(&out);
    assert!(check.status.success());
}

#[test]
fn an_interrupted_bake_leaves_no_complete_looking_image() {
    let dir = scratch("fleet-kill");
    let base = fixture("bookworm", &["--fill-mib", "400"]);
    write_inventory(&dir, &base, THIRD);
    let mut child = Command::new(env!("CARGO_BIN_EXE_piprep"))
        .args(["bake", "--all", "-q", "-j", "1"])
        .current_dir(&dir)
        .env("PIPREP_CACHE", dir.join("cache"))
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let partial = std::fs::read_dir(dir.join("out"))
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".partial"));
        if partial {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bake never started copying"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "bake finished before it could be interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let names = dir_names(&dir.join("out"));
    assert!(
        !names.iter().any(|n| n.ends_with(".img")),
        "complete-looking image after a kill: {names:?}"
    );
    // The next run cleans up nothing by accident and bakes everything.
    let o = piprep(&dir, &["bake", "--all", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let check = sha256sum_check(&dir.join("out"));
    assert!(check.status.success(), "{}", stdout(&check));
}

#[test]
fn compress_xz_writes_a_verified_xz_per_node() {
    let dir = scratch("fleet-xz");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    let o = piprep(&dir, &["bake", "-n", "cp-1", "--compress", "xz", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.join("out");
    let xz = out.join("cp-1.img.xz");
    let d = Command::new("xz").args(["-dc"]).arg(&xz).output().unwrap();
    assert!(d.status.success());
    assert_eq!(d.stdout, std::fs::read(out.join("cp-1.img")).unwrap());
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(sums.contains("  cp-1.img.xz\n"), "{sums}");
    let check = sha256sum_check(&out);
    assert!(check.status.success(), "{}", stdout(&check));
}

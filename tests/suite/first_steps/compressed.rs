//! `inspect` and `report` read an .img.xz as bake, render and flash do.

use crate::support::*;

#[test]
fn inspect_and_report_read_an_xz_image() {
    let dir = scratch("inspect-xz");
    let img = fixture_copy("bookworm", &[], &dir);
    write_inventory(&dir, &img, "");
    let cache = dir.join("cache");
    let c = cache.to_str().unwrap();
    let o = piprep(&dir, &["bake", "-n", "worker-1", "-q", "--compress", "xz"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let xz = "out/worker-1.img.xz";
    let o = piprep(&dir, &["--cache-dir", c, "inspect", "--json", xz]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["image"], xz);
    assert_eq!(v["stamp"]["node"], "worker-1", "{v}");
    // The same answer as for the raw image.
    let raw = piprep(&dir, &["inspect", "--json", "out/worker-1.img"]);
    let r: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(v["table"], r["table"]);
    assert_eq!(v["cmdline"], r["cmdline"]);
    // No report yet: exit 6, and stdout still says so for scripts.
    let o = piprep(&dir, &["--cache-dir", c, "report", "--json", xz]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert!(v["report"].is_null() && v["ok"] == false, "{v}");
    assert!(
        stderr(&o).contains("no first-boot report"),
        "{}",
        stderr(&o)
    );
    // The decompressed copy (it holds the node's secrets) is gone.
    let left: Vec<_> = std::fs::read_dir(cache.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    // A gzip is refused by content, with the fix.
    let gz = dir.join("x.img.gz");
    std::fs::write(&gz, [0x1F, 0x8B, 8, 0, 0, 0, 0, 0]).unwrap();
    let o = piprep(&dir, &["inspect", gz.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

//! Many cards: one image to several, each node to its own, a node baked on the fly.

use super::*;

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

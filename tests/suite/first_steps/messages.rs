//! Usage and refusals that tell a newcomer what to type instead.

use crate::support::*;

#[test]
fn bake_without_nodes_names_both_ways() {
    let dir = scratch("bake-usage");
    let o = piprep(&dir, &["bake"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("--all") && err.contains("--node"),
        "usage without --all: {err}"
    );
}

#[test]
fn flash_with_image_and_device_swapped_asks_about_the_swap() {
    let dir = scratch("flash-swapped");
    let img = fixture_copy("bookworm", &[], &dir);
    let before = sha256_file(&img);
    let o = piprep(&dir, &["flash", "-y", "/dev/loop0", img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("swapped")
            && err.contains(&format!("piprep flash {} /dev/loop0", img.display())),
        "{err}"
    );
    assert!(!err.contains("--force"), "{err}");
    assert_eq!(sha256_file(&img), before, "the image was touched");
}

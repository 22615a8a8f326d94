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

#[test]
fn make_demo_installs_nothing_and_says_where_piprep_is() {
    // A dry run of the README's first command, as a user without root runs it.
    let o = std::process::Command::new("make")
        .args(["-n", "-B", "demo"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = stdout(&o);
    assert!(plan.contains("mkimage.sh bookworm"), "{plan}");
    for never in ["apt-get", "sudo", "bmaptool"] {
        assert!(!plan.contains(never), "make demo runs {never}: {plan}");
    }
    assert!(plan.contains("make install"), "{plan}");
    // And `make install` puts every page piprep(1) names beside it.
    let o = std::process::Command::new("make")
        .args(["-n", "install", "PREFIX=/tmp/x"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("man --dir /tmp/x/share/man/man1"),
        "{}",
        stdout(&o)
    );
}

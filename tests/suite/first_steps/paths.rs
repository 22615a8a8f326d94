//! `out/` is beside the inventory, as every other path in it is, whichever
//! directory piprep is run from.

use crate::support::*;

#[test]
fn out_follows_the_inventory_not_the_working_directory() {
    let dir = scratch("out-beside-inventory");
    let cluster = dir.join("cluster");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&cluster).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let img = fixture_copy("bookworm", &[], &cluster);
    write_inventory(&cluster, &img, "");
    let c = "../cluster/piprep.toml";
    let o = piprep(&elsewhere, &["-c", c, "bake", "--all", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(cluster.join("out/cp-1.img").is_file());
    assert!(cluster.join("out/known_hosts").is_file());
    assert!(
        !elsewhere.join("out").exists(),
        "a second out/ in the working directory"
    );
    // status finds known_hosts there (the node itself does not answer here).
    let o = piprep(
        &elsewhere,
        &[
            "-c",
            c,
            "status",
            "--all",
            "--address",
            "cp-1=127.0.0.1:1",
            "--address",
            "worker-1=127.0.0.1:1",
        ],
    );
    assert!(
        !stderr(&o).contains("does not exist"),
        "status looked for known_hosts elsewhere: {}",
        stderr(&o)
    );
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
    // export points ssh at the file that exists.
    let o = piprep(&elsewhere, &["-c", c, "export", "ansible"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = std::fs::canonicalize(cluster.join("out/known_hosts")).unwrap();
    let text = stdout(&o);
    let kh = text
        .split("UserKnownHostsFile=")
        .nth(1)
        .and_then(|t| t.split([' ', '\'', '"', '\n']).next())
        .expect("UserKnownHostsFile in the inventory");
    assert_eq!(
        std::fs::canonicalize(kh).ok().as_deref(),
        Some(want.as_path()),
        "{text}"
    );
    // --out as given stays relative to the working directory.
    let o = piprep(&elsewhere, &["-c", c, "bake", "--all", "-q", "-o", "mine"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(elsewhere.join("mine/cp-1.img").is_file());
}

#[test]
fn export_warns_when_known_hosts_is_not_there_yet() {
    let dir = scratch("export-no-known-hosts");
    let img = fixture_copy("bookworm", &[], &dir);
    write_inventory(&dir, &img, "");
    let o = piprep(&dir, &["export", "ansible"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not exist yet") && stderr(&o).contains("piprep bake"),
        "{}",
        stderr(&o)
    );
}

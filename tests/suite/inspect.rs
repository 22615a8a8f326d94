//! `piprep inspect` on base and baked fixtures, text and JSON, against values
//! known from how the fixtures were built (and from sfdisk, not piprep).

use crate::support::*;

#[test]
fn inspects_a_base_image() {
    for (variant, id, codename, pkg) in [
        ("bookworm", "8acef004", "bookworm", "dphys-swapfile"),
        ("trixie", "7351b90c", "trixie", "rpi-swap"),
    ] {
        let dir = scratch(&format!("inspect-base-{variant}"));
        let img = fixture(variant, &[]);
        let o = piprep(&dir, &["inspect", "--json", img.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["table"]["scheme"], "mbr");
        assert_eq!(v["table"]["disk_id"], id);
        let parts = partitions(&img);
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(v["table"]["partitions"][i]["start"], p.start);
            assert_eq!(v["table"]["partitions"][i]["size"], p.size);
        }
        assert_eq!(v["table"]["partitions"][0]["type_id"], "0x0c");
        assert_eq!(v["table"]["partitions"][0]["label"], "bootfs");
        assert_eq!(v["table"]["partitions"][1]["content"], "ext4");
        assert_eq!(v["table"]["partitions"][1]["label"], "rootfs");
        assert_eq!(v["os"]["codename"], codename);
        assert_eq!(v["boot_mount"], "/boot/firmware");
        assert!(v["installed"].as_array().unwrap().iter().any(|p| p == pkg));
        assert_eq!(v["init"]["mechanism"], "firstrun");
        assert!(v["stamp"].is_null());
        assert!(
            v["cmdline"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["added_by_piprep"] == false)
        );

        let o = piprep(&dir, &["inspect", img.to_str().unwrap()]);
        let text = stdout(&o);
        assert!(
            text.contains(&format!("partition table: MBR, disk id {id}")),
            "{text}"
        );
        assert!(text.contains("piprep stamp: none"), "{text}");
    }
}

#[test]
fn inspects_a_baked_image_and_redacts_secrets() {
    let dir = scratch("inspect-baked");
    let base = fixture("bookworm", &[]);
    write_inventory(&dir, &base, "");
    assert!(
        piprep(&dir, &["bake", "-n", "worker-1", "-q"])
            .status
            .success()
    );
    let img = dir.join("out/worker-1.img");
    let o = piprep(&dir, &["inspect", "--json", img.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stamp"]["node"], "worker-1");
    assert_eq!(v["stamp"]["role"], "worker");
    assert_eq!(v["stamp"]["ip"], "10.1.1.21/24");
    assert_eq!(v["stamp"]["base_image"]["sha256"], sha256_file(&base));
    assert_eq!(v["stamp"]["config_hash"].as_str().unwrap().len(), 64);
    let added: Vec<&str> = v["cmdline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["added_by_piprep"] == true)
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        added,
        [
            "cgroup_memory=1",
            "cgroup_enable=memory",
            "systemd.run=/boot/firmware/piprep-run.sh",
            "systemd.run_success_action=reboot",
            "systemd.unit=kernel-command-line.target"
        ]
    );
    let files: Vec<&str> = v["piprep_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "piprep-run.sh",
            "piprep-ssh_host_ed25519_key",
            "piprep-secrets.txt",
            "piprep-stamp.json"
        ]
    );
    let text = stdout(&piprep(&dir, &["inspect", img.to_str().unwrap()]));
    assert!(text.contains("piprep-secrets.txt   <redacted>"), "{text}");
    assert!(
        text.contains("+cgroup_enable=memory +systemd.run=/boot/firmware/piprep-run.sh"),
        "{text}"
    );
    assert!(
        !text.contains("$6$") && !stdout(&o).contains("$6$"),
        "a secret leaked"
    );
    assert!(
        text.contains("piprep stamp: node worker-1, role worker, ip 10.1.1.21/24"),
        "{text}"
    );
}

#[test]
fn inspect_refuses_non_images() {
    let dir = scratch("inspect-bad");
    std::fs::write(dir.join("zeros.img"), vec![0u8; 4096]).unwrap();
    let o = piprep(&dir, &["inspect", "zeros.img"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("no partition table"));
    let o = piprep(&dir, &["inspect", "nope.img"]);
    assert_eq!(o.status.code(), Some(3));
}

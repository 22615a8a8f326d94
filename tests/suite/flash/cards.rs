//! `piprep cards`: which card is which, read from a fake sysfs and device
//! files, as `flash` reads them.

use super::*;

/// A disk `name` under `sys/devices/PARENT/block/NAME`, linked from
/// class/block as the kernel does, its device file holding `content`.
fn disk(dir: &Path, parent: &str, name: &str, dev: u32, removable: bool, content: &[u8]) {
    let sys = dir.join("sys");
    let real = sys.join("devices").join(parent).join("block").join(name);
    std::fs::create_dir_all(real.join("device")).unwrap();
    std::fs::write(real.join("size"), format!("{}\n", content.len() / 512)).unwrap();
    std::fs::write(
        real.join("removable"),
        if removable { "1\n" } else { "0\n" },
    )
    .unwrap();
    std::fs::write(real.join("dev"), format!("8:{dev}\n")).unwrap();
    std::fs::write(real.join("device/model"), format!("{name} model\n")).unwrap();
    for i in 1..=2 {
        let p = real.join(format!("{name}{i}"));
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("partition"), format!("{i}\n")).unwrap();
        std::fs::write(p.join("dev"), format!("8:{}\n", dev + i)).unwrap();
    }
    std::fs::create_dir_all(sys.join("class/block")).unwrap();
    std::os::unix::fs::symlink(&real, sys.join("class/block").join(name)).unwrap();
    std::fs::create_dir_all(dir.join("dev")).unwrap();
    std::fs::write(dir.join("dev").join(name), content).unwrap();
}

fn cards(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_piprep"))
        .arg("cards")
        .args(args)
        .current_dir(dir)
        .env("PIPREP_SYSFS", dir.join("sys"))
        .env("PIPREP_MOUNTINFO", dir.join("mountinfo"))
        .env("PIPREP_DEV", dir.join("dev"))
        .output()
        .unwrap()
}

#[test]
fn cards_names_each_removable_disk_and_the_node_it_holds() {
    let dir = scratch("cards");
    let base = fixture_copy("bookworm", &[], &dir);
    write_inventory(&dir, &base, "");
    let o = piprep(&dir, &["bake", "-n", "worker-1", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let baked = std::fs::read(dir.join("out/worker-1.img")).unwrap();
    let plain = std::fs::read(&base).unwrap();
    disk(
        &dir,
        "pci0000:00/usb1/1-1/host0/target0:0:0/0:0:0:0",
        "sdz",
        208,
        true,
        &baked,
    );
    disk(
        &dir,
        "platform/mmc0/mmc0:0001",
        "mmcblk0",
        16,
        false,
        &plain,
    );
    disk(
        &dir,
        "pci0000:00/nvme/nvme0",
        "nvme0n1",
        32,
        false,
        &vec![0u8; 1 << 20],
    );
    std::fs::write(
        dir.join("mountinfo"),
        "22 1 8:33 / / rw - ext4 /dev/nvme0n1p1 rw\n90 22 8:209 / /media/u/bootfs rw - vfat /dev/sdz1 rw\n",
    )
    .unwrap();

    let o = cards(&dir, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let row = |name: &str| {
        text.lines()
            .find(|l| l.contains(&format!("/dev/{name} ")))
            .map(str::to_string)
    };
    let sdz = row("sdz").unwrap_or_else(|| panic!("{text}"));
    assert!(sdz.contains("usb"), "{sdz}");
    assert!(
        sdz.contains("piprep image of worker-1 (cluster homelab)"),
        "{sdz}"
    );
    assert!(sdz.contains("mounted: /media/u/bootfs"), "{sdz}");
    // A built-in SD slot is removable whatever sysfs says; the base image has no stamp.
    let sd = row("mmcblk0").unwrap_or_else(|| panic!("{text}"));
    assert!(
        sd.contains(" sd ") && sd.contains("no piprep image"),
        "{sd}"
    );
    assert!(
        row("nvme0n1").is_none(),
        "a fixed disk listed without --all: {text}"
    );

    let o = cards(&dir, &["--all", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), 3, "{v}");
    let nvme = all
        .iter()
        .find(|c| c["device"].as_str().unwrap().ends_with("nvme0n1"))
        .unwrap();
    assert_eq!(nvme["transport"], "nvme");
    assert!(
        nvme["holds"]
            .as_str()
            .unwrap()
            .contains("no partition table"),
        "{nvme}"
    );
    let sdz = all
        .iter()
        .find(|c| c["node"] == "worker-1")
        .expect("worker-1's card");
    assert_eq!(sdz["partitions"], serde_json::json!(["sdz1", "sdz2"]));
    assert_eq!(sdz["size"], baked.len() as u64 / 512 * 512);
    // Nothing was written to any card.
    assert_eq!(std::fs::read(dir.join("dev/sdz")).unwrap(), baked);
}

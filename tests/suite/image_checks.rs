//! What the inventory asks of the base image itself: `[kubernetes]` needs a
//! 64-bit image (validate, bake and render refuse armhf with file:line and the
//! fix; inspect shows the architecture), and a Kubernetes node's Pi 5 boots the
//! 4K-page kernel (config.txt, read back with mtools; fsck.fat clean).

use std::path::{Path, PathBuf};

use crate::support::*;

const KEY: &str = "kubernetes-test-key.asc";

/// tests/data/kubernetes.toml in a scratch directory, baking from `image`.
fn kubernetes_inventory(name: &str, image: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = scratch(&format!("imgchk-{name}"));
    let data = data();
    let text = std::fs::read_to_string(data.join("kubernetes.toml"))
        .unwrap()
        .replace(
            "path = \"unused.img\"",
            &format!("path = {:?}", image.to_str().unwrap()),
        );
    std::fs::write(dir.join("piprep.toml"), edit(text)).unwrap();
    std::fs::copy(data.join(KEY), dir.join(KEY)).unwrap();
    dir
}

/// The line of `[kubernetes]` in the inventory.
fn kubernetes_line(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("piprep.toml")).unwrap();
    text.lines().position(|l| l == "[kubernetes]").unwrap() + 1
}

#[test]
fn kubernetes_on_an_armhf_image_is_refused_with_the_line_and_the_fix() {
    let armhf = fixture("bookworm", &["--arch", "armhf"]);
    let dir = kubernetes_inventory("armhf", &armhf, |t| t);
    let at = format!("piprep.toml:{}", kubernetes_line(&dir));
    // validate finds the image through [image] path, and through --image.
    for args in [
        vec!["validate"],
        vec!["validate", "--image", armhf.to_str().unwrap()],
    ] {
        let o = piprep(&dir, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        let text = stdout(&o);
        assert!(text.contains(&at), "{args:?}: {text}");
        assert!(
            text.contains("is armhf") && text.contains("arm64"),
            "{text}"
        );
    }
    let json = piprep(&dir, &["validate", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(doc["ok"], false);
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "error" && f["message"].as_str().unwrap().contains("armhf"))
    );
    // bake and render refuse it the same way, and nothing is written.
    let o = piprep(&dir, &["bake", "--all"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&at) && stderr(&o).contains("fix: bake from the arm64"));
    assert!(!dir.join("out/cp-1.img").exists());
    let o = piprep(
        &dir,
        &["render", "-n", "cp-1", "--image", armhf.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Without [kubernetes] the same image is fine.
    let plain = kubernetes_inventory("armhf-plain", &armhf, |t| {
        let start = t.find("\n[kubernetes]\n").unwrap();
        let end = start + t[start..].find("\n[[node]]").unwrap();
        format!("{}{}", &t[..start], &t[end..])
    });
    let o = piprep(&plain, &["validate"]);
    assert!(o.status.success(), "{}", stdout(&o));
    // The 64-bit image passes.
    let arm64 = fixture("bookworm", &[]);
    let ok = kubernetes_inventory("arm64", &arm64, |t| t);
    let o = piprep(&ok, &["validate"]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn inspect_shows_the_architecture() {
    let dir = scratch("imgchk-inspect");
    for (args, want) in [(vec![], "arm64"), (vec!["--arch", "armhf"], "armhf")] {
        let img = fixture("trixie", &args);
        let o = piprep(&dir, &["inspect", img.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).contains(&format!("architecture: {want} (from dpkg status")),
            "{}",
            stdout(&o)
        );
        let o = piprep(&dir, &["inspect", "--json", img.to_str().unwrap()]);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(doc["architecture"], want);
    }
}

#[test]
fn a_kubernetes_node_boots_the_4k_page_kernel_on_a_pi5() {
    let base = fixture("bookworm", &[]);
    let dir = kubernetes_inventory("pi5", &base, |t| t);
    let o = piprep(&dir, &["bake", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let parts = partitions(&base);
    let original = mtype(&base, parts[0], "config.txt").unwrap();
    for node in ["cp-1", "worker-1"] {
        let img = dir.join(format!("out/{node}.img"));
        let p = partitions(&img);
        let config = mtype(&img, p[0], "config.txt").unwrap();
        // Every original line kept, then piprep's block, which ends in [all].
        assert!(config.starts_with(&original), "{config}");
        let added: Vec<&str> = config[original.len()..].lines().collect();
        assert_eq!(
            added[1..4],
            ["[pi5]", "kernel=kernel8.img", "[all]"],
            "{config}"
        );
        let fsck = fsck_fat(&img, p[0], &dir);
        assert!(
            !fsck.contains("differ") && !fsck.contains("ERROR"),
            "{fsck}"
        );
        assert!(
            cmp_range(&base, &img, p[1].start, Some(p[1].size)),
            "rootfs changed"
        );
        // The report checks the page size.
        let check = embedded_check(&dir, node);
        assert!(check.contains("\nPAGE_SIZE=4096\n"), "{node}");
    }
    // Baking the baked image again adds nothing; render shows the edit.
    let again = dir.join("again");
    let baked = dir.join("out/cp-1.img");
    let o = piprep(
        &dir,
        &[
            "bake",
            "-n",
            "cp-1",
            "--image",
            baked.to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let twice = mtype(&again.join("cp-1.img"), partitions(&baked)[0], "config.txt").unwrap();
    assert_eq!(twice.matches("[pi5]").count(), 1, "{twice}");
    let o = piprep(&dir, &["render", "-n", "cp-1"]);
    assert!(stdout(&o).contains("==> config.txt <==\n<the image's own settings>\n# piprep"));

    // The profile may say otherwise: no edit, no page-size item.
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    std::fs::write(
        dir.join("profiles/k8s-16k.toml"),
        "extends = \"k8s-node\"\n[kernel]\npi5_4k_kernel = false\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.join("piprep.toml"))
        .unwrap()
        .replace("profile = \"k8s-node\"", "profile = \"k8s-16k\"");
    std::fs::write(dir.join("piprep.toml"), text).unwrap();
    let o = piprep(&dir, &["bake", "-n", "cp-1", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = dir.join("out/cp-1.img");
    assert_eq!(
        mtype(&img, partitions(&img)[0], "config.txt").unwrap(),
        original
    );
    assert!(embedded_check(&dir, "cp-1").contains("\nPAGE_SIZE=\n"));
}

#[test]
fn the_4k_kernel_must_be_on_the_boot_partition() {
    let dir = scratch("imgchk-nokernel-base");
    let base = fixture_copy("trixie", &[], &dir);
    let p = partitions(&base);
    let st = std::process::Command::new("mdel")
        .arg("-i")
        .arg(format!("{}@@{}", base.display(), p[0].start))
        .arg("::kernel8.img")
        .status()
        .unwrap();
    assert!(st.success());
    let inv = kubernetes_inventory("nokernel", &base, |t| t);
    let o = piprep(&inv, &["bake", "--all"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no kernel8.img") && stderr(&o).contains("pi5_4k_kernel = false"));
    assert!(!inv.join("out/cp-1.img").exists());
}

/// The checklist script a baked node carries, as render writes it.
fn embedded_check(dir: &Path, node: &str) -> String {
    let out = dir.join(format!("render-{node}"));
    let o = piprep(dir, &["render", "-n", node, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::read_to_string(out.join("rootfs/usr/local/lib/piprep/check.sh")).unwrap()
}

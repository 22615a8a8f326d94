//! `piprep render`: golden files for a control-plane and a worker node, and the
//! agreement between render and bake. Regenerate goldens with UPDATE_GOLDEN=1.

mod support;

use support::*;

fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {name}; run with UPDATE_GOLDEN=1"));
    if want != actual {
        let diff = std::process::Command::new("diff")
            .arg("-u")
            .arg(&path)
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(actual.as_bytes())?;
                c.wait_with_output()
            })
            .map(|o| stdout(&o))
            .unwrap_or_default();
        panic!(
            "render output differs from tests/golden/{name} (UPDATE_GOLDEN=1 to accept):\n{diff}"
        );
    }
}

#[test]
fn render_matches_golden_for_control_plane_and_worker() {
    let data = root().join("tests/data");
    for node in ["cp-1", "worker-1"] {
        let o = piprep(&data, &["render", "--node", node]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("==> piprep-secrets.txt <==\n<redacted>\n"),
            "secret not redacted"
        );
        assert!(
            !out.contains("$6$AbCd"),
            "the password hash leaked into render output"
        );
        golden(&format!("render-{node}.txt"), &out);
    }
}

#[test]
fn roles_differ_only_where_kubernetes_says() {
    let data = root().join("tests/data");
    let cp = stdout(&piprep(&data, &["render", "--node", "cp-1"]));
    let w = stdout(&piprep(&data, &["render", "--node", "worker-1"]));
    // Both: SSH, kubelet, outbound API server, DNS/NTP/HTTP/HTTPS.
    for s in [
        "port 22 comment",
        "to any port 10250",
        "to 10.1.1.0/24 port 6443",
        "port 53 comment",
        "port 123 comment",
    ] {
        assert!(cp.contains(s) && w.contains(s), "{s}");
    }
    // Control plane only: serving the API server, etcd, scheduler, controller manager.
    for s in [
        "from 10.1.1.0/24 to any port 6443",
        "port 2379:2380",
        "port 10251",
        "port 10252",
        "port 10257",
        "port 10259",
    ] {
        assert!(cp.contains(s), "cp lacks {s}");
        assert!(!w.contains(s), "worker has {s}");
    }
}

#[test]
fn render_out_writes_what_bake_writes() {
    let dir = scratch("render-vs-bake");
    let base = fixture("bookworm", &[]);
    write_inventory(&dir, &base, "");
    let o = piprep(
        &dir,
        &[
            "render",
            "--node",
            "cp-1",
            "--image",
            base.to_str().unwrap(),
            "--out",
            "rendered",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(piprep(&dir, &["bake", "-n", "cp-1", "-q"]).status.success());
    let boot = partitions(&base)[0];
    let img = dir.join("out/cp-1.img");
    let names = dir_names(&dir.join("rendered"));
    assert_eq!(
        names,
        [
            "cmdline.txt",
            "piprep-run.sh",
            "piprep-secrets.txt",
            "piprep-stamp.json"
        ]
    );
    for n in names {
        let rendered = std::fs::read_to_string(dir.join("rendered").join(&n)).unwrap();
        assert_eq!(
            mtype(&img, boot, &n).as_deref(),
            Some(rendered.as_str()),
            "{n} differs between render and bake"
        );
    }
}

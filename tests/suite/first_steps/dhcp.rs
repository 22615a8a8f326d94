//! `ip = "dhcp"`: the router hands out the address (reserved there). The
//! node's connection asks for it, nothing pins an address piprep does not
//! know, the checklist wants an address by DHCP, and status/export reach
//! the node by name (or where --address says).

use std::path::PathBuf;

use crate::support::sandbox::{self, Sandbox};
use crate::support::*;

fn dhcp_inventory(name: &str, extra: &str) -> PathBuf {
    let dir = scratch(&format!("dhcp-{name}"));
    let img = fixture_copy("bookworm", &[], &dir);
    let inv = write_inventory(&dir, &img, "");
    let t = std::fs::read_to_string(&inv)
        .unwrap()
        .replace("ip = \"10.1.1.21\"", "ip = \"dhcp\"");
    std::fs::write(&inv, format!("{t}{extra}")).unwrap();
    dir
}

#[test]
fn a_dhcp_node_asks_the_router_and_is_reached_by_name() {
    let dir = dhcp_inventory("render", "");
    let o = piprep(&dir, &["validate"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = piprep(&dir, &["render", "--node", "worker-1", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let hook = std::fs::read_to_string(dir.join("r/piprep-run.sh")).unwrap();
    let files = embedded_files(&hook);
    let keyfile = &files
        .iter()
        .find(|(p, _)| p.ends_with("piprep-eth0.nmconnection"))
        .expect("the Ethernet profile")
        .1;
    assert!(keyfile.contains("[ipv4]\nmethod=auto\n"), "{keyfile}");
    assert!(!keyfile.contains("address1="), "{keyfile}");
    let check = &files
        .iter()
        .find(|(p, _)| p.ends_with("check.sh"))
        .unwrap()
        .1;
    assert!(
        check.contains("ADDRESS=dhcp\n"),
        "the checklist wants a DHCP address"
    );
    // Every node's /etc/hosts names the static ones only.
    let setup = &files
        .iter()
        .find(|(p, _)| p.ends_with("setup.sh"))
        .unwrap()
        .1;
    assert!(
        setup.contains("10.1.1.11\tcp-1") && !setup.contains("\tworker-1"),
        "{setup}"
    );
    let shown = stdout(&piprep(&dir, &["render", "--node", "worker-1"]));
    assert!(
        shown.starts_with("# node worker-1 (worker, dhcp)"),
        "{}",
        &shown[..80]
    );

    // cloud-init: network-config asks DHCP, no address or route of ours.
    let ci = dhcp_inventory("render-ci", "");
    let inv = ci.join("piprep.toml");
    let t = std::fs::read_to_string(&inv)
        .unwrap()
        .replace("[image]\n", "[image]\ninit = \"cloud-init\"\n");
    std::fs::write(&inv, t).unwrap();
    let o = piprep(&ci, &["render", "--node", "worker-1", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let net = yaml_to_json(&ci.join("r/network-config"));
    let eth = &net["network"]["ethernets"]["eth0"];
    assert_eq!(eth["dhcp4"], true, "{net}");
    assert!(
        eth["addresses"].is_null() && eth["routes"].is_null(),
        "{net}"
    );

    // Baked: the stamp says dhcp; known_hosts pins the name only.
    let o = piprep(&dir, &["bake", "--all", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = piprep(&dir, &["inspect", "--json", "out/worker-1.img"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["stamp"]["ip"], "dhcp");
    let kh = std::fs::read_to_string(dir.join("out/known_hosts")).unwrap();
    assert!(kh.lines().any(|l| l.starts_with("worker-1 ssh-")), "{kh}");
    assert!(
        kh.lines().any(|l| l.starts_with("cp-1,10.1.1.11 ssh-")),
        "{kh}"
    );
    // export: Ansible reaches it by name.
    let o = piprep(&dir, &["export", "ansible"]);
    assert!(
        stdout(&o).contains("worker-1 ansible_host=worker-1\n"),
        "{}",
        stdout(&o)
    );
    let o = piprep(&dir, &["export", "hosts"]);
    assert!(!stdout(&o).contains("worker-1"), "{}", stdout(&o));
    // status: by name unless --address moves it (a closed local port here).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let addr = format!("worker-1=127.0.0.1:{port}");
    let o = piprep(
        &dir,
        &["status", "-n", "worker-1", "--address", &addr, "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["nodes"][0]["address"], "dhcp");
    assert_eq!(v["nodes"][0]["probed"], format!("127.0.0.1:{port}"));
}

#[test]
fn a_control_plane_cannot_take_dhcp_when_the_cluster_forms_itself() {
    let dir = scratch("dhcp-bootstrap");
    let img = fixture_copy("bookworm", &[], &dir);
    let inv = write_inventory(&dir, &img, "");
    let t = std::fs::read_to_string(&inv)
        .unwrap()
        .replace("ip = \"10.1.1.11\"", "ip = \"dhcp\"");
    std::fs::write(
        &inv,
        format!("{t}\n[kubernetes]\nversion = \"1.34\"\ncni = \"flannel\"\npod_cidr = \"10.244.0.0/16\"\nbootstrap = true\n"),
    )
    .unwrap();
    let line = t.lines().position(|l| l == "ip = \"dhcp\"").unwrap() + 1;
    let o = piprep(&dir, &["validate", "--offline"]);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(all.contains(&format!("piprep.toml:{line}:")), "{all}");
    assert!(
        all.contains("cannot form the cluster")
            && all.contains("fix: give control planes static addresses"),
        "{all}"
    );
    // Not an address and not "dhcp": the fix offers both.
    let t2 = t.replace("ip = \"dhcp\"", "ip = \"auto\"");
    std::fs::write(&inv, t2).unwrap();
    let o = piprep(&dir, &["validate"]);
    assert!(
        stdout(&o).contains("or \"dhcp\" for an address the router hands out"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn the_checklist_passes_with_the_routers_address() {
    if let Err(why) = sandbox::available() {
        panic!("this test runs scripts in a chroot: {why}; run it as root (make test does in CI)");
    }
    let dir = dhcp_inventory("check", "");
    let o = piprep(&dir, &["render", "--node", "worker-1", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files = embedded_files(&std::fs::read_to_string(dir.join("r/piprep-run.sh")).unwrap());
    let check = files
        .iter()
        .find(|(p, _)| p.ends_with("check.sh"))
        .unwrap()
        .1
        .clone();
    let sb = Sandbox::new(&dir);
    for (addr, result) in [("192.168.1.50/24", "pass"), ("", "fail")] {
        sb.reset();
        sb.put("/check.sh", check.as_bytes(), 0o755);
        let line = if addr.is_empty() {
            String::new()
        } else {
            format!("echo '2: eth0    inet {addr} brd 192.168.1.255 scope global dynamic eth0'")
        };
        sb.put(
            "/usr/bin/ip",
            format!("#!/bin/sh\n{line}\n").as_bytes(),
            0o755,
        );
        let _ = sb.run(&["/bin/sh", "/check.sh"]);
        let report =
            std::fs::read_to_string(sb.root.join("boot/firmware/piprep-report.txt")).unwrap();
        let row = report
            .lines()
            .find(|l| l.starts_with("address.eth0\t"))
            .unwrap_or_else(|| panic!("{report}"));
        assert!(row.ends_with(&format!("\t{result}")), "{addr:?}: {row}");
        let seen = if result == "pass" {
            "192.168.1.50/24"
        } else {
            "none: no lease"
        };
        assert!(row.contains(&format!("a DHCP address\t{seen}")), "{row}");
    }
}

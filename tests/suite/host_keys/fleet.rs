//! The fleet's view: known_hosts, exports, status.

use super::*;
use std::path::PathBuf;

#[test]
fn known_hosts_install_replaces_stale_lines_and_ssh_keygen_finds_ours() {
    require_tool("ssh-keygen");
    let dir = scratch("hk-install");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    let file = dir.join("user_known_hosts");
    // Stale entries for a node's name (plain) and address (hashed, as
    // Debian's ssh writes them), and someone else's host.
    let stale = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP";
    std::fs::write(
        &file,
        format!("github.example {stale}\ncp-1 {stale}\n10.1.1.21 {stale}\n"),
    )
    .unwrap();
    let st = std::process::Command::new("ssh-keygen")
        .args(["-H", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(st.status.success());
    let mode_before = mode(&file);
    let o = piprep(
        &dir,
        &["known-hosts", "--install", "--file", file.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 stale lines replaced"),
        "{}",
        stderr(&o)
    );
    // The user's file keeps its mode (#26).
    assert_eq!(mode(&file), mode_before);
    // Installed again: our own identical lines are not "stale".
    let o = piprep(
        &dir,
        &["known-hosts", "--install", "--file", file.to_str().unwrap()],
    );
    assert!(
        stderr(&o).contains(", 0 stale lines replaced"),
        "{}",
        stderr(&o)
    );
    let find = |host: &str| {
        let o = std::process::Command::new("ssh-keygen")
            .args(["-F", host, "-f"])
            .arg(&file)
            .output()
            .unwrap();
        stdout(&o)
    };
    assert!(find("cp-1").contains(&pub_key(&dir, "cp-1")));
    assert!(find("10.1.1.11").contains(&pub_key(&dir, "cp-1")));
    assert!(find("10.1.1.21").contains(&pub_key(&dir, "worker-1")));
    assert!(!find("cp-1").contains(stale) && !find("10.1.1.21").contains(stale));
    assert!(
        find("github.example").contains(stale),
        "someone else's line was lost"
    );
    // Hashed output: ssh-keygen finds each name and address.
    let o = piprep(&dir, &["known-hosts", "--hashed"]);
    let hashed = dir.join("hashed");
    std::fs::write(&hashed, stdout(&o)).unwrap();
    assert!(!stdout(&o).contains("cp-1"));
    for host in ["cp-1", "10.1.1.11", "worker-1", "10.1.1.21"] {
        let o = std::process::Command::new("ssh-keygen")
            .args(["-F", host, "-f"])
            .arg(&hashed)
            .output()
            .unwrap();
        assert!(o.status.success(), "{host} not found in hashed output");
    }
}

#[test]
fn exports_parse_back_and_every_node_knows_the_others() {
    let dir = scratch("hk-export");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    let o = piprep(&dir, &["export", "hosts"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "# BEGIN piprep cluster hosts\n10.1.1.11\tcp-1\n10.1.1.21\tworker-1\n# END piprep cluster hosts\n"
    );
    // INI, read back line by line.
    let o = piprep(&dir, &["export", "ansible"]);
    let ini = stdout(&o);
    let mut group = String::new();
    let mut hosts = Vec::new();
    let mut vars = Vec::new();
    for line in ini.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(g) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            group = g.to_string();
        } else if group == "all:vars" {
            vars.push(line.split_once('=').unwrap().0.to_string());
        } else if !group.ends_with(":children") {
            let (h, v) = line.split_once(' ').unwrap();
            hosts.push((group.clone(), h.to_string(), v.to_string()));
        }
    }
    assert_eq!(
        hosts,
        [
            (
                "control_plane".into(),
                "cp-1".into(),
                "ansible_host=10.1.1.11".into()
            ),
            (
                "worker".into(),
                "worker-1".into(),
                "ansible_host=10.1.1.21".into()
            )
        ]
    );
    assert_eq!(vars, ["ansible_user", "ansible_ssh_common_args"]);
    let kh = std::path::absolute(dir.join("out/known_hosts")).unwrap();
    assert!(
        ini.contains(&format!("UserKnownHostsFile={}", kh.display())),
        "{ini}"
    );
    assert!(ini.contains("StrictHostKeyChecking=yes"));
    // YAML, through a YAML parser.
    let o = piprep(&dir, &["export", "ansible", "--format", "yaml"]);
    let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&stdout(&o)).unwrap();
    let groups = &y["all"]["children"]["kubernetes"]["children"];
    assert_eq!(
        groups["control_plane"]["hosts"]["cp-1"]["ansible_host"],
        "10.1.1.11"
    );
    assert_eq!(
        groups["worker"]["hosts"]["worker-1"]["ansible_host"],
        "10.1.1.21"
    );
    assert_eq!(y["all"]["vars"]["ansible_user"], "k8s");
    // Each node installs the same block on every boot, and checks it.
    let o = piprep(&dir, &["render", "-n", "worker-1", "--out", "r"]);
    assert!(o.status.success());
    let setup =
        std::fs::read_to_string(dir.join("r/rootfs/usr/local/lib/piprep/setup.sh")).unwrap();
    assert!(setup.contains("HOSTS_BLOCK='# BEGIN piprep cluster hosts\n10.1.1.11\tcp-1\n10.1.1.21\tworker-1\n# END piprep cluster hosts'"), "{setup}");
    assert!(setup.contains("set_cluster_hosts || log"));
}

#[test]
fn status_shows_an_unreachable_node_as_a_row() {
    require_tool("ssh");
    let dir = scratch("hk-status");
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    // Before any bake there is no known_hosts to check keys against.
    let o = piprep(&dir, &["status", "--all"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("out/known_hosts does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    // A closed port on 127.0.0.1: never the inventory's own addresses.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let addr = format!("cp-1=127.0.0.1:{port}");
    let o = piprep(
        &dir,
        &["status", "-n", "cp-1", "--address", &addr, "--json"],
    );
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = &v["nodes"][0];
    assert_eq!(row["node"], "cp-1");
    assert_eq!(row["reachable"], false);
    assert_eq!(row["ready"], false);
    assert!(row["error"].as_str().unwrap().contains("refused"), "{row}");
    // The inventory's address, and where it was really probed.
    assert_eq!(row["address"], "10.1.1.11");
    assert_eq!(row["probed"], format!("127.0.0.1:{port}"));
    assert_eq!(v["ready"], false);
    let o = piprep(&dir, &["status", "-n", "cp-1", "--address", &addr]);
    assert!(stdout(&o).starts_with("node  role"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!(
            "cp-1  control-plane  10.1.1.11 (via 127.0.0.1:{port})  no"
        )),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("1 of 1 nodes could not be reached"),
        "{}",
        stderr(&o)
    );
    for bad in [
        "cp-1",
        "cp-1=",
        "nobody=127.0.0.1",
        "cp-1=-oProxyCommand=x",
        "cp-1=h:port",
    ] {
        let o = piprep(&dir, &["status", "-n", "cp-1", "--address", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
    }
    // --watch on a terminal (a pseudo-terminal from util-linux `script`):
    // one table redrawn in place, the last frame without "checking again".
    require_tool("script");
    let cmd = format!(
        "{} status -n cp-1 --address {addr} --watch --interval 1 --timeout 3",
        env!("CARGO_BIN_EXE_piprep")
    );
    let o = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(&dir)
        .env(
            "PIPREP_CACHE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .env_remove("PIPREP_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(6), "{text}");
    let redraws = text.matches("\x1b[J").count();
    assert!(redraws >= 2, "{redraws} redraws: {text:?}");
    assert!(
        text.contains("checking again in 1 s (Ctrl-C stops)"),
        "{text:?}"
    );
    let last = text.rsplit("\x1b[J").next().unwrap();
    assert!(
        last.starts_with("status: 0 of 1 nodes ready after"),
        "{last:?}"
    );
    assert!(!last.contains("checking again"), "{last:?}");
    assert!(
        last.contains("cp-1  control-plane  10.1.1.11 (via 127.0.0.1:"),
        "{last:?}"
    );
}

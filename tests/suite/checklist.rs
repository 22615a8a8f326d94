//! The first boot's checklist script (check.sh), run for real in a sandbox: a
//! fake /proc, /sys and /etc under PIPREP_ROOT and stub systemctl/ufw/ip/chronyc
//! on PATH. Proves the report format and that a failing node is reported.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::*;

fn write(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

fn stub(bin: &Path, name: &str, body: &str) {
    let p = bin.join(name);
    write(&p, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// ufw pads its columns; reproduce that so the script's normalisation is tested.
fn ufw_status(rules: &[(&str, &str, &str, &str)]) -> String {
    let mut s = String::from(
        "Status: active\nLogging: on (low)\nDefault: deny (incoming), deny (outgoing), deny (routed)\nNew profiles: skip\n\nTo                         Action      From\n--                         ------      ----\n",
    );
    for (to, action, from, comment) in rules {
        s += &format!("{to:<27}{action:<12}{from:<27}# {comment}\n");
    }
    s
}

struct Sandbox {
    root: std::path::PathBuf,
    bin: std::path::PathBuf,
    script: std::path::PathBuf,
    report: std::path::PathBuf,
}

/// A node's root filesystem and tools as check.sh sees them, each as a
/// prepared node (healthy) or one that fails every check would have them.
fn sandbox(name: &str, healthy: bool) -> Sandbox {
    let dir = scratch(&format!("checklist-{name}"));
    let data = data();
    let rendered = stdout(&piprep(&data, &["render", "--node", "cp-1"]));
    let files = embedded_files(&rendered);
    let check = files
        .iter()
        .find(|(p, _)| p == "/usr/local/lib/piprep/check.sh")
        .unwrap()
        .1
        .clone();
    let script = dir.join("check.sh");
    write(&script, &check);
    let r = dir.join("root");
    fake_kernel(&r, healthy);
    fake_users_and_keys(&r, &data, healthy);
    fake_network(&r, healthy);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake_services(&bin, &data, healthy);
    fake_ufw(&dir, &bin, &check, healthy);
    Sandbox {
        root: r,
        bin,
        script,
        report: dir.join("boot/piprep-report.txt"),
    }
}

/// /proc and /sys: swap, modules, sysctl, cgroups, the command line.
fn fake_kernel(r: &Path, healthy: bool) {
    write(
        &r.join("proc/meminfo"),
        if healthy {
            "MemTotal: 2000000 kB\nSwapTotal:             0 kB\n"
        } else {
            "SwapTotal:        102396 kB\n"
        },
    );
    std::fs::create_dir_all(r.join("sys/module/overlay")).unwrap();
    if healthy {
        std::fs::create_dir_all(r.join("sys/module/br_netfilter")).unwrap();
    }
    for k in [
        "net/bridge/bridge-nf-call-iptables",
        "net/ipv4/ip_forward",
        "net/bridge/bridge-nf-call-ip6tables",
    ] {
        write(
            &r.join("proc/sys").join(k),
            if healthy || !k.contains("forward") {
                "1\n"
            } else {
                "0\n"
            },
        );
    }
    write(
        &r.join("proc/cgroups"),
        "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t74\t1\n",
    );
    write(
        &r.join("sys/fs/cgroup/cgroup.controllers"),
        if healthy {
            "cpuset cpu io memory pids\n"
        } else {
            "cpuset cpu io pids\n"
        },
    );
    write(
        &r.join("proc/cmdline"),
        "console=ttyAMA0 root=PARTUUID=1-02 cgroup_memory=1 cgroup_enable=memory\n",
    );
    write(&r.join("proc/sys/kernel/hostname"), "cp-1\n");
    write(
        &r.join("proc/sys/kernel/random/boot_id"),
        "0f0e0d0c-aaaa-bbbb-cccc-000000000001\n",
    );
}

/// Users, cloud-init, the host key and /etc/hosts.
fn fake_users_and_keys(r: &Path, data: &Path, healthy: bool) {
    // Healthy: the user has a login shell and pi-gen's first user is gone or
    // cannot log in. Unhealthy: the image's nologin shell was kept and
    // cloud-init's fallback created a second, login-capable user.
    let (shell, other) = if healthy {
        (
            "/bin/bash",
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\npi:x:1001:1001::/home/pi:/usr/sbin/nologin\n",
        )
    } else {
        ("/usr/sbin/nologin", "pi:x:1001:1001::/home/pi:/bin/bash\n")
    };
    write(
        &r.join("etc/passwd"),
        &format!("root:x:0:0:root:/root:/bin/bash\nk8s:x:1000:1000::/home/k8s:{shell}\n{other}"),
    );
    write(&r.join("usr/bin/cloud-init"), "");
    if healthy {
        write(&r.join("etc/cloud/cloud-init.disabled"), "");
        write(&r.join("etc/ssh/ssh_host_ed25519_key"), "");
        // The key made at bake time (the test key in tests/data/host-keys).
        let pinned =
            std::fs::read_to_string(data.join(".piprep/secrets/cp-1/ssh_host_ed25519_key.pub"))
                .unwrap();
        write(&r.join("etc/ssh/ssh_host_ed25519_key.pub"), &pinned);
    }
    // Every node by name (healthy), or the block lost (cloud-init rewrote /etc/hosts).
    write(
        &r.join("etc/hosts"),
        if healthy {
            "127.0.0.1\tlocalhost\n# BEGIN piprep cluster hosts\n10.1.1.11\tcp-1\n10.1.1.21\tworker-1\n10.1.1.22\tworker-2\n# END piprep cluster hosts\n"
        } else {
            "127.0.0.1\tlocalhost\n10.1.1.11\tcp-1\n"
        },
    );
}

/// sshd listening, and the user's authorized keys.
fn fake_network(r: &Path, healthy: bool) {
    // sshd on port 22 (0x16): LISTEN (0A) when healthy, only a closed socket otherwise.
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    write(
        &r.join("proc/net/tcp"),
        &format!(
            "{header}   0: 00000000:0016 00000000:0000 {} 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n",
            if healthy { "0A" } else { "07" }
        ),
    );
    write(&r.join("proc/net/tcp6"), header);
    write(
        &r.join("home/k8s/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHXhuxS1HPO5O/MlVNdtjyvhk6uKlqUo+v0GKhliWKZk me@laptop\n",
    );
}

/// systemctl, chronyc, ip, nmcli and ssh-keyscan as the node would answer.
fn fake_services(bin: &Path, data: &Path, healthy: bool) {
    let active = if healthy { "active" } else { "inactive" };
    stub(
        bin,
        "systemctl",
        &format!(
            "case \"$1 $2\" in\n\"is-active chrony.service\") echo {active} ;;\n\"is-enabled dphys-swapfile.service\") echo {} ;;\n\"is-enabled ssh.service\") echo enabled ;;\n\"is-active ssh.service\") echo {active} ;;\n*) echo unknown ;;\nesac",
            if healthy { "disabled" } else { "enabled" }
        ),
    );
    stub(
        bin,
        "chronyc",
        if healthy {
            "printf 'Reference ID    : 0A010101\\nLeap status     : Normal\\n'"
        } else {
            "exit 1"
        },
    );
    stub(
        bin,
        "ip",
        "echo '2: eth0    inet 10.1.1.11/24 brd 10.1.1.255 scope global noprefixroute eth0'",
    );
    // NetworkManager holds eth0 (healthy), or netplan gave it to networkd.
    stub(
        bin,
        "nmcli",
        &format!(
            "[ \"$*\" = '-g GENERAL.STATE device show eth0' ] && echo '{}'",
            if healthy {
                "100 (connected)"
            } else {
                "10 (unmanaged)"
            }
        ),
    );
    // The key sshd serves over the loopback: the pinned one (healthy), or one
    // that something regenerated.
    let pinned =
        std::fs::read_to_string(data.join(".piprep/secrets/cp-1/ssh_host_ed25519_key.pub"))
            .unwrap();
    let served = if healthy {
        pinned
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKqF0Q7tXbmD3zY0xY2Gq5oRRrh7l7zRk1W1Z3uU2b6s".into()
    };
    stub(
        bin,
        "ssh-keyscan",
        &format!("[ \"$*\" = '-T 10 -t ed25519 127.0.0.1' ] && echo '127.0.0.1 {served}'"),
    );
}

/// ufw's status: every rule check.sh wants (healthy), or one missing.
fn fake_ufw(dir: &Path, bin: &Path, check: &str, healthy: bool) {
    // Every rule the profile wants, as ufw would print it (healthy), or one missing.
    // The shell itself reads the quoted assignment back.
    let assign = check
        .split_once("\nUFW_STATUS_LINES=")
        .unwrap()
        .1
        .split_once("\nBACKEND=")
        .unwrap()
        .0;
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("R={assign}\nprintf '%s' \"$R\""))
        .output()
        .unwrap();
    let wanted: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(wanted.len() >= 18, "{wanted:?}");
    let mut rows = Vec::new();
    for line in &wanted {
        let (lhs, comment) = line.split_once(" # ").unwrap();
        let (act_at, act) = if let Some(i) = lhs.find(" ALLOW IN ") {
            (i, "ALLOW IN")
        } else {
            (lhs.find(" ALLOW OUT ").unwrap(), "ALLOW OUT")
        };
        let to = &lhs[..act_at];
        let from = &lhs[act_at + act.len() + 2..];
        rows.push((
            to.to_string(),
            act.to_string(),
            from.to_string(),
            comment.to_string(),
        ));
    }
    if !healthy {
        rows.remove(3);
    }
    let refs: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect();
    write(&dir.join("ufw-status"), &ufw_status(&refs));
    stub(
        bin,
        "ufw",
        &format!("cat '{}'", dir.join("ufw-status").display()),
    );
}

fn run(sb: &Sandbox) -> (bool, Vec<Vec<String>>, String) {
    let o = std::process::Command::new("sh")
        .arg(&sb.script)
        .arg("test")
        .env("PIPREP_ROOT", &sb.root)
        .env("PIPREP_REPORT", &sb.report)
        .env("PATH", format!("{}:/usr/bin:/bin", sb.bin.display()))
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&sb.report)
        .unwrap_or_else(|_| panic!("no report written: {}", stderr(&o)));
    let rows = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    (o.status.success(), rows, text)
}

#[test]
fn a_prepared_node_passes_every_check() {
    let sb = sandbox("pass", true);
    let (ok, rows, text) = run(&sb);
    assert!(ok, "{text}");
    assert!(text.starts_with(
        "# piprep first-boot report\n# format: piprep-report/1\n# node: cp-1\n# phase: test\n"
    ));
    assert!(text.contains("\ncheck\texpected\tobserved\tresult\n"));
    assert!(text.trim_end().ends_with("# result: pass"), "{text}");
    for r in &rows {
        assert_eq!(r.len(), 4, "{r:?}");
        assert_eq!(r[3], "pass", "{r:?}");
    }
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    for want in [
        "swap.total",
        "swap.dphys-swapfile",
        "module.overlay",
        "module.br_netfilter",
        "sysctl.net.bridge.bridge-nf-call-iptables",
        "sysctl.net.ipv4.ip_forward",
        "sysctl.net.bridge.bridge-nf-call-ip6tables",
        "cgroup.memory",
        "cmdline.cgroup_memory=1",
        "cmdline.cgroup_enable=memory",
        "time.chrony",
        "time.sync",
        "firewall.status",
        "firewall.defaults",
        "firewall.logging",
        "firewall.rule.1",
        "firewall.rule.18",
        "hostname",
        "address.eth0",
        "address.eth0.manager",
        "user",
        "user.shell",
        "user.others",
        "ssh.service",
        "ssh.host_keys",
        "ssh.active",
        "ssh.listening",
        "ssh.host_key.ed25519",
        "ssh.host_key.ed25519.served",
        "hosts.cluster",
        "ssh.authorized_keys",
    ] {
        assert!(names.contains(&want), "report lacks {want}: {names:?}");
    }
    let rule1 = rows.iter().find(|r| r[0] == "firewall.rule.1").unwrap();
    assert_eq!(rule1[1], "22/tcp ALLOW IN Anywhere # Allow SSH access");
}

#[test]
fn a_clock_no_server_set_and_a_regenerated_key_fail_with_the_fix() {
    let sb = sandbox("noclock", true);
    // piprep-setup waited for a time server in vain; chrony never synchronised.
    write(&sb.root.join("var/lib/piprep/clock-unsynced"), "300\n");
    stub(&sb.bin, "chronyc", "exit 1");
    // sshd serves a key something made after the pinned one was written.
    stub(
        &sb.bin,
        "ssh-keyscan",
        "echo '127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKqF0Q7tXbmD3zY0xY2Gq5oRRrh7l7zRk1W1Z3uU2b6s'",
    );
    let (ok, rows, text) = run(&sb);
    assert!(!ok, "{text}");
    let row = |n: &str| rows.iter().find(|r| r[0] == n).unwrap().clone();
    let sync = row("time.sync");
    assert_eq!(sync[3], "fail", "{sync:?}");
    assert!(
        sync[2].contains("no time server answered within 300 s (pool.ntp.org)")
            && sync[2].contains("fix: make a [cluster] ntp server reachable"),
        "{sync:?}"
    );
    let served = row("ssh.host_key.ed25519.served");
    assert_eq!(served[3], "fail");
    assert!(served[2].contains("AAAAIKqF0Q7"), "{served:?}");
    // The file on disk is still the pinned one: only the served key differs.
    assert_eq!(row("ssh.host_key.ed25519")[3], "pass");
    // Synchronised again (the next boot): no failure left from the wait.
    std::fs::remove_file(sb.root.join("var/lib/piprep/clock-unsynced")).unwrap();
    write(&sb.root.join("run/systemd/timesync/synchronized"), "");
    let (_, rows, _) = run(&sb);
    let sync = rows.iter().find(|r| r[0] == "time.sync").unwrap();
    assert_eq!(sync[3], "pass", "{sync:?}");
}

#[test]
fn an_unprepared_node_fails_with_reasons() {
    let sb = sandbox("fail", false);
    let (ok, rows, text) = run(&sb);
    assert!(!ok, "check.sh must exit non-zero: {text}");
    let result = |n: &str| {
        rows.iter()
            .find(|r| r[0] == n)
            .unwrap_or_else(|| panic!("no {n}"))
            .clone()
    };
    assert_eq!(
        result("swap.total")[2..],
        ["102396 kB".to_string(), "fail".into()]
    );
    assert_eq!(result("swap.dphys-swapfile")[3], "fail");
    assert_eq!(
        result("module.br_netfilter")[2..],
        ["missing".to_string(), "fail".into()]
    );
    assert_eq!(
        result("sysctl.net.ipv4.ip_forward")[2..],
        ["0".to_string(), "fail".into()]
    );
    assert_eq!(result("cgroup.memory")[3], "fail");
    assert_eq!(
        result("time.chrony")[2..],
        ["inactive".to_string(), "fail".into()]
    );
    assert_eq!(result("time.sync")[3], "warn");
    assert_eq!(
        result("firewall.rule.4")[2..],
        ["missing".to_string(), "fail".into()]
    );
    assert_eq!(result("hostname")[3], "pass");
    assert_eq!(
        result("address.eth0.manager")[2..],
        ["NetworkManager: 10 (unmanaged)".to_string(), "fail".into()]
    );
    assert_eq!(
        result("user.shell")[2..],
        ["/usr/sbin/nologin".to_string(), "fail".into()]
    );
    assert_eq!(
        result("user.others")[2..],
        ["pi".to_string(), "fail".into()]
    );
    assert_eq!(
        result("cloud-init")[2..],
        ["enabled".to_string(), "fail".into()]
    );
    assert_eq!(
        result("ssh.host_keys")[2..],
        ["none".to_string(), "fail".into()]
    );
    assert_eq!(
        result("ssh.active")[2..],
        ["inactive".to_string(), "fail".into()]
    );
    assert_eq!(
        result("ssh.listening")[2..],
        ["not listening".to_string(), "fail".into()]
    );
    assert_eq!(
        result("ssh.host_key.ed25519")[2..],
        ["missing".to_string(), "fail".into()]
    );
    assert_eq!(
        result("hosts.cluster")[2..],
        ["missing: worker-1 worker-2".to_string(), "fail".into()]
    );
    assert!(text.contains("# result: fail (16)"), "{text}");
}

/// Put a report produced by check.sh onto a baked image's boot partition, the
/// way the node does, and read it back with `piprep report`.
fn report_on_image(name: &str, healthy: bool) -> (std::process::Output, std::process::Output) {
    let sb = sandbox(&format!("report-{name}"), healthy);
    run(&sb);
    let dir = scratch(&format!("report-img-{name}"));
    let base = fixture("trixie", &[]);
    write_inventory(&dir, &base, "");
    assert!(piprep(&dir, &["bake", "-n", "cp-1", "-q"]).status.success());
    let img = dir.join("out/cp-1.img");
    let boot = partitions(&img)[0];
    let st = std::process::Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@{}", img.display(), boot.start))
        .arg(&sb.report)
        .arg("::piprep-report.txt")
        .status()
        .unwrap();
    assert!(st.success());
    (
        piprep(&dir, &["report", img.to_str().unwrap()]),
        piprep(&dir, &["report", "--json", img.to_str().unwrap()]),
    )
}

#[test]
fn report_command_reads_a_passing_report() {
    let (text, json) = report_on_image("pass", true);
    assert!(text.status.success(), "{}", stderr(&text));
    let out = stdout(&text);
    assert!(out.contains("node cp-1"), "{out}");
    assert!(out.contains("PASS  swap.total"), "{out}");
    assert!(out.contains("PASS  firewall.rule.1"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["report"]["items"].as_array().unwrap().len() > 30);
}

#[test]
fn report_command_fails_on_a_failing_report_or_none() {
    let (text, json) = report_on_image("fail", false);
    assert_eq!(text.status.code(), Some(5), "{}", stderr(&text));
    assert!(
        stdout(&text).contains("FAIL  module.br_netfilter"),
        "{}",
        stdout(&text)
    );
    assert!(stderr(&text).contains("16 of"), "{}", stderr(&text));
    assert_eq!(json.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["failures"], 16);

    let dir = scratch("report-none");
    let base = fixture("trixie", &[]);
    let o = piprep(&dir, &["report", base.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(6));
    assert!(stderr(&o).contains("no first-boot report"));
}

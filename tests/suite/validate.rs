//! Inventory and profile mistakes: each refused by `validate` and by `bake`
//! with file:line, the node and a fix, exit code 2, and no output written.

use std::path::Path;

use crate::support::*;

const GOOD: &str = r#"[cluster]
name = "homelab"
subnet = "10.1.1.0/24"
gateway = "10.1.1.1"
dns = ["10.1.1.1"]

[user]
name = "k8s"
ssh_authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP test@ci"]

[[node]]
name = "cp-1"
ip = "10.1.1.11"
role = "control-plane"

[[node]]
name = "worker-1"
ip = "10.1.1.21"
role = "worker"
"#;

/// Write `toml` (and optional local profiles), run validate and bake.
fn refuse(name: &str, toml: &str, profiles: &[(&str, &str)], line: usize, needles: &[&str]) {
    let dir = scratch(&format!("validate-{name}"));
    std::fs::write(dir.join("piprep.toml"), toml).unwrap();
    if !profiles.is_empty() {
        std::fs::create_dir_all(dir.join("profiles")).unwrap();
        for (n, t) in profiles {
            std::fs::write(dir.join("profiles").join(format!("{n}.toml")), t).unwrap();
        }
    }
    let o = piprep(&dir, &["validate"]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{name}: {text}");
    let want_loc = format!("piprep.toml:{line}");
    assert!(
        text.contains(&want_loc) || text.contains(&format!(".toml:{line}")),
        "{name}: no {want_loc} in {text}"
    );
    for n in needles {
        assert!(text.contains(n), "{name}: expected {n:?} in {text}");
    }
    // bake runs the same validation first and writes nothing.
    let image = fixture("trixie", &[]);
    let o = piprep(&dir, &["bake", "--all", "--image", image.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{name} bake: {}", stderr(&o));
    for n in needles {
        assert!(
            stderr(&o).contains(n),
            "{name} bake: expected {n:?} in {}",
            stderr(&o)
        );
    }
    assert!(!stderr(&o).contains("panicked"));
    assert!(!dir.join("out").exists(), "{name}: bake created out/");
}

#[test]
fn the_good_inventory_validates() {
    let dir = scratch("validate-good");
    std::fs::write(dir.join("piprep.toml"), GOOD).unwrap();
    let o = piprep(&dir, &["validate"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("ok, 2 nodes"));
    let o = piprep(&dir, &["validate", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["nodes"], serde_json::json!(["cp-1", "worker-1"]));
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let t = GOOD.replace("role = \"worker\"", "role = \"worker\"\nhostname = \"x\"");
    refuse("unknown-key", &t, &[], 20, &["unknown field `hostname`"]);
    let t = GOOD.replace("[user]", "[users]");
    refuse("unknown-table", &t, &[], 7, &["users"]);
}

#[test]
fn syntax_errors_give_file_and_line() {
    let t = GOOD.replace("ip = \"10.1.1.21\"", "ip = 10.1.1.21");
    refuse("syntax", &t, &[], 18, &["piprep.toml:18"]);
}

#[test]
fn duplicate_names_and_ips() {
    let t = GOOD.replace(
        "name = \"worker-1\"\nip = \"10.1.1.21\"",
        "name = \"cp-1\"\nip = \"10.1.1.11\"",
    );
    refuse(
        "duplicates",
        &t,
        &[],
        17,
        &[
            "node cp-1",
            "already used on line 12",
            "already used by node cp-1",
            "fix:",
        ],
    );
}

#[test]
fn addresses_outside_or_reserved() {
    refuse(
        "outside",
        &GOOD.replace("10.1.1.21", "10.2.0.21"),
        &[],
        18,
        &["outside the cluster subnet 10.1.1.0/24", "node worker-1"],
    );
    refuse(
        "gateway",
        &GOOD.replace("10.1.1.21", "10.1.1.1"),
        &[],
        18,
        &["the gateway's address"],
    );
    refuse(
        "broadcast",
        &GOOD.replace("10.1.1.21", "10.1.1.255"),
        &[],
        18,
        &["broadcast address"],
    );
    refuse(
        "network",
        &GOOD.replace("10.1.1.21", "10.1.1.0"),
        &[],
        18,
        &["network address"],
    );
    refuse(
        "cidr",
        &GOOD.replace("10.1.1.0/24", "10.1.1.0/33"),
        &[],
        3,
        &["subnet"],
    );
}

#[test]
fn invalid_hostnames() {
    refuse(
        "hostname",
        &GOOD.replace("\"worker-1\"", "\"Worker_1\""),
        &[],
        17,
        &["not a valid host name (RFC 1123)"],
    );
}

#[test]
fn no_way_to_log_in() {
    let t = GOOD.replace(
        "ssh_authorized_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP test@ci\"]",
        "",
    );
    refuse(
        "no-login",
        &t,
        &[],
        7,
        &["neither ssh_authorized_keys nor password_hash"],
    );
    let t = GOOD.replace(
        "name = \"k8s\"\n",
        "name = \"k8s\"\npassword_hash = \"hunter2\"\n",
    );
    refuse("bad-hash", &t, &[], 9, &["not a crypt(3) hash"]);
}

#[test]
fn password_hashes_never_appear_in_errors() {
    let t = GOOD.replace(
        "name = \"k8s\"\n",
        "name = \"k8s\"\npassword_hash = \"supersecret-not-a-hash\"\n",
    );
    let dir = scratch("validate-secret");
    std::fs::write(dir.join("piprep.toml"), t).unwrap();
    for args in [
        &["validate"][..],
        &["validate", "--json"],
        &["render", "--node", "cp-1"],
    ] {
        let o = piprep(&dir, args);
        assert!(
            !stdout(&o).contains("supersecret") && !stderr(&o).contains("supersecret"),
            "{args:?}"
        );
    }
}

#[test]
fn a_firewall_that_blocks_ssh_is_refused() {
    // ufw applies the first rule that matches: a deny before the allow wins.
    let locked = r#"[firewall]
enable = true
default_incoming = "deny"
default_outgoing = "allow"
[[firewall.rule]]
direction = "in"
action = "deny"
port = "22"
proto = "tcp"
comment = "oops"
[[firewall.rule]]
direction = "in"
port = "22"
proto = "tcp"
"#;
    let t = GOOD.replace("subnet =", "profile = \"locked\"\nsubnet =");
    refuse(
        "ssh-blocked",
        &t,
        &[("locked", locked)],
        5,
        &["would block SSH (22/tcp)", "locked.toml:5"],
    );
    // Open only on the loopback address: nobody on the network gets in.
    let lo = "[firewall]\nenable = true\ndefault_incoming = \"deny\"\ndefault_outgoing = \"allow\"\n[[firewall.rule]]\ndirection = \"in\"\nport = \"22\"\nproto = \"tcp\"\nto = \"127.0.0.1\"\n";
    let t = GOOD.replace("subnet =", "profile = \"lo\"\nsubnet =");
    refuse("ssh-loopback", &t, &[("lo", lo)], 5, &["would block SSH"]);

    // Allowed only from addresses no SSH client ever has (#26): loopback,
    // "this network", multicast, reserved, broadcast, the node itself
    // (cp-1 is 10.1.1.11 in GOOD).
    for (i, from) in [
        "127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.0/4",
        "255.255.255.255",
        "10.1.1.11",
    ]
    .iter()
    .enumerate()
    {
        let p = format!(
            "[firewall]\nenable = true\ndefault_incoming = \"deny\"\ndefault_outgoing = \"allow\"\n[[firewall.rule]]\ndirection = \"in\"\nport = \"22\"\nproto = \"tcp\"\nfrom = \"{from}\"\n"
        );
        let name = format!("nopeer{i}");
        let t = GOOD.replace("subnet =", &format!("profile = \"{name}\"\nsubnet ="));
        refuse(
            &format!("ssh-from-{i}"),
            &t,
            &[(&name, &p)],
            5,
            &["would block SSH"],
        );
    }

    // Without any SSH rule under default-deny.
    let bare =
        "[firewall]\nenable = true\ndefault_incoming = \"deny\"\ndefault_outgoing = \"allow\"\n";
    let t = GOOD.replace("subnet =", "profile = \"bare\"\nsubnet =");
    refuse(
        "ssh-missing",
        &t,
        &[("bare", bare)],
        3,
        &["would block SSH"],
    );

    // Outgoing deny without NTP: chrony could never sync.
    let no_ntp = "[time]\ndaemon = \"chrony\"\n[firewall]\nenable = true\ndefault_outgoing = \"deny\"\n[[firewall.rule]]\ndirection = \"in\"\nport = \"22\"\nproto = \"tcp\"\n[[firewall.rule]]\ndirection = \"out\"\nport = \"53\"\n";
    let t = GOOD.replace("subnet =", "profile = \"nontp\"\nsubnet =");
    refuse(
        "ntp-blocked",
        &t,
        &[("nontp", no_ntp)],
        5,
        &["blocks outgoing NTP"],
    );
}

#[test]
fn unknown_profiles_and_nodes() {
    let t = GOOD.replace("subnet =", "profile = \"k3s\"\nsubnet =");
    refuse(
        "unknown-profile",
        &t,
        &[],
        3,
        &["unknown profile `k3s`", "k8s-node"],
    );

    let dir = scratch("validate-unknown-node");
    std::fs::write(dir.join("piprep.toml"), GOOD).unwrap();
    let o = piprep(&dir, &["bake", "--node", "cp-9", "--image", "x.img"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown node `cp-9`")
            && stderr(&o).contains("known nodes: cp-1, worker-1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn warns_when_no_control_plane() {
    let dir = scratch("validate-no-cp");
    std::fs::write(
        dir.join("piprep.toml"),
        GOOD.replace("\"control-plane\"", "\"worker\""),
    )
    .unwrap();
    let o = piprep(&dir, &["validate"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("warning: no node has role \"control-plane\""),
        "{}",
        stdout(&o)
    );
}

#[test]
fn missing_config_file_says_how_to_fix() {
    let dir = scratch("validate-missing");
    let o = piprep(&dir, &["validate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("piprep.toml") && stderr(&o).contains("--config"),
        "{}",
        stderr(&o)
    );
    let _ = Path::new("");
}

#[test]
fn missing_user_section() {
    let t = GOOD.replace(
        "[user]\nname = \"k8s\"\nssh_authorized_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP test@ci\"]\n",
        "",
    );
    refuse("no-user", &t, &[], 1, &["no [user] section"]);
    let t = GOOD.replace("ssh-ed25519 AAAAC3", "ssh-ed25519 ???");
    refuse("bad-key", &t, &[], 9, &["does not parse", "`test@ci`"]);
}

#[test]
fn sysctl_keys_must_look_like_sysctl_keys() {
    let p = "extends = \"k8s-node\"\n[sysctl]\n\"net ipv4 forward\" = \"1\"\n";
    let t = GOOD.replace("subnet =", "profile = \"badsys\"\nsubnet =");
    refuse(
        "sysctl-key",
        &t,
        &[("badsys", p)],
        3,
        &["`net ipv4 forward` is not a sysctl key", "badsys.toml:3"],
    );
}

#[test]
fn a_firewall_that_blocks_dns_is_refused() {
    let p = "[firewall]\nenable = true\ndefault_outgoing = \"deny\"\n[[firewall.rule]]\ndirection = \"in\"\nport = \"22\"\nproto = \"tcp\"\n";
    let t = GOOD.replace("subnet =", "profile = \"nodns\"\nsubnet =");
    refuse(
        "dns-blocked",
        &t,
        &[("nodns", p)],
        3,
        &["blocks outgoing DNS"],
    );
}

/// Raspberry Pi OS's first boot edits cmdline.txt on substrings (` quiet`,
/// ` resize`); a profile token those edits would damage is refused with the
/// profile's file:line and the reason.
#[test]
fn cmdline_tokens_raspberry_pi_os_would_damage_are_refused() {
    for (token, reason) in [
        ("resize_x=1", "set_partuuid"),
        ("quiet_boot=1", "` quiet`"),
        ("nosplash", "splash"),
        ("foo.firstboot=1", "firstboot"),
        ("init=/bin/sh", "init="),
        ("ds=nocloud", "datasource"),
        ("systemd.unit=rescue.target", "systemd.*"),
    ] {
        let p = format!("extends = \"k8s-node\"\n[kernel]\ncmdline = [\"{token}\"]\n");
        let t = GOOD.replace("subnet =", "profile = \"args\"\nsubnet =");
        refuse(
            &format!("cmdline-{}", token.replace(['=', '/', '.'], "-")),
            &t,
            &[("args", &p)],
            3,
            &[
                &format!("cmdline argument `{token}`"),
                reason,
                "args.toml:3",
            ],
        );
    }
}

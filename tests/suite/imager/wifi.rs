//! Wi-Fi: goldens in both backends, the PSK against `wpa_passphrase`, the
//! passphrase nowhere on the card, and each refusal.

use super::*;
use std::process::Command;

#[test]
fn renders_match_golden_in_both_backends() {
    // tests/data's fixed host keys keep the renders stable.
    let d = data();
    let ci = d.join("imager-cloud-init.toml");
    if !ci.exists() {
        let t = std::fs::read_to_string(d.join("imager.toml")).unwrap();
        std::fs::write(
            &ci,
            t.replace("[image]\n", "[image]\ninit = \"cloud-init\"\n"),
        )
        .unwrap();
    }
    for (config, backend) in [
        ("imager.toml", "firstrun"),
        ("imager-cloud-init.toml", "cloud-init"),
    ] {
        for node in ["cp-1", "worker-1"] {
            let o = piprep(&d, &["--config", config, "render", "--node", node]);
            assert!(o.status.success(), "{}", stderr(&o));
            let text = stdout(&o);
            assert!(
                !text.contains(PASSPHRASE),
                "the passphrase is in render's output"
            );
            assert!(text.contains("cfg80211.ieee80211_regdom=GB"), "{node}");
            golden_in("imager", &format!("{backend}-{node}.txt"), &text);
        }
    }
}

/// `wpa_passphrase SSID PASSPHRASE`'s psk= line.
fn wpa_passphrase(ssid: &str, pass: &str) -> String {
    require_tool("wpa_passphrase");
    let o = Command::new("wpa_passphrase")
        .args([ssid, pass])
        .output()
        .unwrap();
    assert!(o.status.success());
    stdout(&o)
        .lines()
        .find_map(|l| l.trim().strip_prefix("psk="))
        .unwrap()
        .to_string()
}

#[test]
fn the_baked_keyfile_holds_wpa_passphrases_psk_and_never_the_passphrase() {
    let dir = with_image("psk", &[], |t| t);
    let o = piprep(&dir, &["bake", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = format!("{}{}", stdout(&o), stderr(&o));
    let want = wpa_passphrase("Lab Net", PASSPHRASE);
    assert!(!log.contains(&want) && !log.contains(PASSPHRASE), "{log}");
    for node in ["cp-1", "worker-1"] {
        let img = dir.join(format!("out/{node}.img"));
        let p = partitions(&img);
        let fsck = fsck_fat(&img, p[0], &dir);
        assert!(
            fsck.contains("0 errors") || !fsck.contains("error"),
            "{fsck}"
        );
        let keyfile = mtype(&img, p[0], "piprep-wifi.nmconnection").expect("no keyfile");
        let psk = keyfile
            .lines()
            .find_map(|l| l.strip_prefix("psk="))
            .unwrap();
        assert_eq!(psk, want, "{node}: not wpa_passphrase's PSK");
        assert!(keyfile.contains("key-mgmt=wpa-psk"));
        // The SSID as bytes: "Lab Net".
        assert!(
            keyfile.contains("ssid=76;97;98;32;78;101;116;\n"),
            "{keyfile}"
        );
        let cmdline = mtype(&img, p[0], "cmdline.txt").unwrap();
        assert!(
            cmdline.contains(" cfg80211.ieee80211_regdom=GB"),
            "{cmdline}"
        );
        let raw = std::fs::read(&img).unwrap();
        assert!(
            !raw.windows(PASSPHRASE.len())
                .any(|w| w == PASSPHRASE.as_bytes()),
            "{node}: the passphrase itself is on the card"
        );
        // Static on wlan0: the address is in the Wi-Fi keyfile, and no
        // Ethernet profile is written for the node.
        let hook = mtype(&img, p[0], "piprep-run.sh").unwrap();
        if node == "worker-1" {
            assert!(keyfile.contains("interface-name=wlan0\n"), "{keyfile}");
            assert!(
                keyfile.contains("address1=10.1.1.21/24,10.1.1.1\n"),
                "{keyfile}"
            );
            assert!(!hook.contains("piprep-wlan0.nmconnection"));
        } else {
            assert!(keyfile.contains("method=auto\n"), "{keyfile}");
            assert!(hook.contains("piprep-eth0.nmconnection"));
        }
    }
    // The images are the user's to keep private: the out directory is 0700
    // or the images 0600, like every file holding a secret.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("out/cp-1.img"))
        .unwrap()
        .permissions()
        .mode();
    let dmode = std::fs::metadata(dir.join("out"))
        .unwrap()
        .permissions()
        .mode();
    assert!(
        mode & 0o077 == 0 || dmode & 0o077 == 0,
        "{mode:o} in {dmode:o}"
    );
}

#[test]
fn cloud_init_leaves_a_wireless_nodes_network_to_the_keyfile() {
    let dir = inventory("ci-net", |t| {
        t.replace("[image]\n", "[image]\ninit = \"cloud-init\"\n")
    });
    let out = dir.join("r");
    let o = piprep(
        &dir,
        &[
            "render",
            "--node",
            "worker-1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let net = std::fs::read_to_string(out.join("network-config")).unwrap();
    let v: serde_json::Value = serde_yaml_ng::from_str(&net).unwrap();
    assert_eq!(v["network"]["config"], "disabled", "{net}");
    // The keyfile is a secret boot file, not in user-data.
    let ud = std::fs::read_to_string(out.join("user-data")).unwrap();
    assert!(!ud.contains("psk="), "{ud}");
    let kf = std::fs::read_to_string(out.join("piprep-wifi.nmconnection")).unwrap();
    assert!(kf.contains("psk="));
}

#[test]
fn every_wifi_refusal_names_its_line_and_fix() {
    // A wireless static address without [wifi].
    let dir = inventory("no-wifi", |t| {
        let start = t.find("[wifi]").unwrap();
        let end = t.find("[image]").unwrap();
        format!("{}{}", &t[..start], &t[end..])
    });
    let line = line_of(&dir, "interface = \"wlan0\"");
    refused(
        &dir,
        &[],
        line,
        "interface `wlan0` is wireless, but the inventory has no Wi-Fi settings",
    );

    let dir = inventory("long-ssid", |t| {
        t.replace("\"Lab Net\"", &format!("\"{}\"", "x".repeat(33)))
    });
    let line = line_of(&dir, "ssid =");
    refused(
        &dir,
        &[],
        line,
        "wifi ssid is 33 bytes; an SSID has 1 to 32",
    );

    let dir = inventory("country", |t| {
        t.replace("country = \"GB\"", "country = \"XQ\"")
    });
    let line = line_of(&dir, "country =");
    refused(
        &dir,
        &[],
        line,
        "wifi country `XQ` is not an ISO 3166 country code",
    );

    let dir = inventory("short", |t| t);
    std::fs::write(dir.join("wifi.pass"), "short\n").unwrap();
    let line = line_of(&dir, "passphrase_file =");
    refused(
        &dir,
        &[],
        line,
        "is 5 characters long; WPA2-Personal takes 8 to 63",
    );

    let dir = inventory("missing-file", |t| {
        t.replace("\"wifi.pass\"", "\"nowhere.pass\"")
    });
    refused(
        &dir,
        &[],
        line_of(&dir, "passphrase_file ="),
        "nowhere.pass",
    );

    let dir = inventory("env-unset", |t| {
        t.replace(
            "passphrase_file = \"wifi.pass\"",
            "passphrase_env = \"PIPREP_TEST_UNSET_PSK\"",
        )
    });
    refused(
        &dir,
        &[],
        line_of(&dir, "passphrase_env ="),
        "`PIPREP_TEST_UNSET_PSK` is not set",
    );

    let dir = inventory("no-pass", |t| {
        t.replace("passphrase_file = \"wifi.pass\"\n", "")
    });
    refused(&dir, &[], line_of(&dir, "[wifi]"), "wifi has no passphrase");

    // A long passphrase through the environment (64 characters).
    let dir = inventory("env-long", |t| {
        t.replace(
            "passphrase_file = \"wifi.pass\"",
            "passphrase_env = \"PIPREP_TEST_PSK\"",
        )
    });
    let o =
        crate::support::piprep_env(&dir, &["validate"], &[("PIPREP_TEST_PSK", &"p".repeat(64))]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "piprep.toml:{}:",
            line_of(&dir, "passphrase_env =")
        )),
        "{text}"
    );
    assert!(text.contains("is 64 characters long"), "{text}");
    // ... and a good one through it validates, as a node's own override does.
    let o = crate::support::piprep_env(&dir, &["validate"], &[("PIPREP_TEST_PSK", PASSPHRASE)]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_readable_passphrase_file_and_wifi_with_kubernetes_warn() {
    use std::os::unix::fs::PermissionsExt;
    let key = data().join("kubernetes-test-key.asc");
    let dir = inventory("warn", |t| {
        format!(
            "{t}\n[kubernetes]\nversion = \"1.34\"\ncni = \"flannel\"\npod_cidr = \"10.244.0.0/16\"\nrepository_key = \"{}\"\n",
            key.display()
        )
    });
    std::fs::set_permissions(
        dir.join("wifi.pass"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, text) = validate(&dir, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("can be read by other users (mode 0644)"),
        "{text}"
    );
    assert!(text.contains("chmod 600"), "{text}");
    assert!(
        text.contains("Kubernetes over Wi-Fi suits small or lab clusters"),
        "{text}"
    );
}

#[test]
fn a_nodes_own_wifi_replaces_the_clusters() {
    let dir = inventory("override", |t| {
        format!(
            "{t}\n[[node]]\nname = \"pi-zero\"\nip = \"10.1.1.30\"\nrole = \"worker\"\ninterface = \"wlan0\"\n\n[node.wifi]\ncountry = \"de\"\nssid = \"Other\"\npassphrase_env = \"PIPREP_TEST_OTHER\"\nhidden = true\n"
        )
    });
    let env = [("PIPREP_TEST_OTHER", "other passphrase")];
    let o = crate::support::piprep_env(&dir, &["render", "--node", "pi-zero", "--out", "r"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let kf = std::fs::read_to_string(dir.join("r/piprep-wifi.nmconnection")).unwrap();
    assert!(
        kf.contains("ssid=79;116;104;101;114;\n") && kf.contains("hidden=true\n"),
        "{kf}"
    );
    let o2 = crate::support::piprep_env(&dir, &["render", "--node", "pi-zero"], &env);
    assert!(
        stdout(&o2).contains("cfg80211.ieee80211_regdom=DE"),
        "{}",
        stdout(&o2)
    );
    // The other nodes keep the cluster's network.
    let o3 = crate::support::piprep_env(&dir, &["render", "--node", "cp-1"], &env);
    assert!(stdout(&o3).contains("cfg80211.ieee80211_regdom=GB"));
}

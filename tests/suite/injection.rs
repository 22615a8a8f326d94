//! No inventory or profile string can become code. For every string field,
//! random strings built from what breaks shell and YAML (quotes, `$()`,
//! backticks, newlines, here-document delimiters, U+2028, NUL, CR, very long
//! ones) are either refused by `validate` (exit 2, one line per finding) or
//! rendered so that `sh -n` passes, the scripts run as root in a chroot with
//! stub commands without ever creating the canary file, and the cloud-init
//! user-data parses back to the very values given.

use std::path::Path;

use crate::support::sandbox::{self, Sandbox};
use crate::support::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP";

/// Every string field, with a valid default (a field's payload replaces it,
/// or follows the prefix for keys and hashes).
const FIELDS: &[(&str, &str)] = &[
    ("cluster.name", "homelab"),
    ("cluster.profile", "fuzz"),
    ("cluster.subnet", "10.1.1.0/24"),
    ("cluster.gateway", "10.1.1.1"),
    ("cluster.dns", "10.1.1.1"),
    ("cluster.ntp", "pool.ntp.org"),
    ("cluster.interface", "eth0"),
    ("cluster.timezone", "Europe/Berlin"),
    ("cluster.locale", "en_GB.UTF-8"),
    ("cluster.keyboard", "gb"),
    ("wifi.country", "GB"),
    ("wifi.ssid", "Lab Net"),
    ("user.name", "k8s"),
    ("user.key", ""),
    ("user.hash", "$6$AbCdEfGhIjKlMnOp$"),
    ("node.name", "cp-1"),
    ("node.ip", "10.1.1.11"),
    ("node.profile", "fuzz"),
    ("node.interface", "eth0"),
    ("profile.description", "fuzz profile"),
    ("profile.extends", "k8s-node"),
    ("profile.conf_name", "fz"),
    ("profile.module", "dummy"),
    ("profile.cmdline", "fuzz.x=1"),
    ("profile.sysctl_key", "net.ipv4.conf.all.rp_filter"),
    ("profile.sysctl_value", "1"),
    ("profile.logging", "low"),
    ("rule.port", "8080"),
    ("rule.from", "{subnet}"),
    ("rule.to", "any"),
    ("rule.comment", "fuzz rule"),
];

const FRAGMENTS: &[&str] = &[
    "'",
    "\"",
    "$(echo>/canary)",
    "`echo>/canary`",
    ";echo>/canary;",
    "\necho>/canary\n",
    "'\necho>/canary\n'",
    "\nPIPREP_FILE\necho>/canary\n",
    "\nPIPREP_KEYS\necho>/canary\n",
    "\nPIPREP_SYSCTL\necho>/canary\n",
    "\nPIPREP_RULES\necho>/canary\n",
    "\nEOF\necho>/canary\n",
    "\u{2028}echo>/canary",
    "\u{2029}",
    "\0",
    "\r",
    "\\\n",
    "\\",
    "@@NODE_Q@@",
    "@@AUTHORIZED_KEYS_Q@@",
    "${IFS}",
    "|echo>/canary",
    "&&echo>/canary",
    "#",
    " ",
    "x",
    "ü",
    "\t",
    "\u{202e}",
    "': [",
    "{a: b}",
    "- x",
    "&anchor *alias",
    "!!python/object",
];

/// The values the issue names, tried for their fields before the random ones.
const NAMED: &[(&str, &str)] = &[
    ("cluster.name", "home\nlab"),
    ("cluster.name", "home'lab"),
    ("rule.comment", "SSH\u{2028}echo>/canary"),
    ("profile.logging", "low\necho>/canary"),
    ("profile.logging", "low'"),
    ("profile.logging", "low\r"),
    ("profile.logging", "low\\\necho>/canary"),
    ("profile.module", "PIPREP_FILE"),
    ("profile.sysctl_value", "1\nPIPREP_SYSCTL\necho>/canary"),
    ("profile.sysctl_value", "1'$(echo>/canary)'"),
    ("profile.description", "@@NODE_Q@@"),
    ("rule.comment", "it's $(echo>/canary) `echo>/canary`"),
    ("rule.comment", "PIPREP_RULES"),
    ("user.key", " me@laptop\nPIPREP_KEYS\necho>/canary"),
    ("user.key", " it's-me$(echo>/canary)"),
];

/// xorshift64*: reproducible without a crate; PIPREP_FUZZ_SEED varies it.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn payload(rng: &mut Rng, default: &str) -> String {
    let mut s = String::new();
    if rng.below(2) == 0 {
        s.push_str(default);
    }
    for _ in 0..1 + rng.below(4) {
        s.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
    }
    if rng.below(8) == 0 {
        s = s.repeat(1 + 4000 / s.len().max(1));
    }
    s
}

/// A TOML basic string holding exactly `s`.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The inventory and the `fuzz` profile with `field` set to `value`.
fn config(field: &str, value: &str) -> (String, String) {
    let v = |name: &str| {
        let default = FIELDS.iter().find(|(f, _)| *f == name).unwrap().1;
        let s = if name == field {
            match name {
                "user.key" | "user.hash" => format!("{default}{value}"),
                _ => value.to_string(),
            }
        } else {
            default.to_string()
        };
        match name {
            "user.key" => toml_str(&format!(
                "{KEY}{}",
                if name == field { s } else { " test@ci".into() }
            )),
            "user.hash" if name != field => toml_str(
                "$6$AbCdEfGhIjKlMnOp$5vC9Zq1lN7hXk2yJ0tqT8n1oKzjJm2bGxH4Yw3aQeR6uS9dF0gL7pM5cV8bN1xZ3qW6eR9tY2uI5oP8aS1dF4g",
            ),
            _ => toml_str(&s),
        }
    };
    let inventory = format!(
        "[cluster]\nname = {}\nprofile = {}\nsubnet = {}\ngateway = {}\ndns = [{}]\nntp = [{}]\ninterface = {}\n\
         timezone = {}\nlocale = {}\nkeyboard = {}\n\n\
         [wifi]\ncountry = {}\nssid = {}\npassphrase_file = \"wifi.pass\"\n\n\
         [user]\nname = {}\nssh_authorized_keys = [{}]\npassword_hash = {}\n\n\
         [[node]]\nname = {}\nip = {}\nrole = \"control-plane\"\nprofile = {}\ninterface = {}\n",
        v("cluster.name"),
        v("cluster.profile"),
        v("cluster.subnet"),
        v("cluster.gateway"),
        v("cluster.dns"),
        v("cluster.ntp"),
        v("cluster.interface"),
        v("cluster.timezone"),
        v("cluster.locale"),
        v("cluster.keyboard"),
        v("wifi.country"),
        v("wifi.ssid"),
        v("user.name"),
        v("user.key"),
        v("user.hash"),
        v("node.name"),
        v("node.ip"),
        v("node.profile"),
        v("node.interface"),
    );
    let profile = format!(
        "extends = {}\ndescription = {}\nconf_name = {}\n[kernel]\nmodules = [{}]\ncmdline = [{}]\n\
         [sysctl]\n{} = {}\n[firewall]\nlogging = {}\n\
         [[firewall.rule]]\ndirection = \"in\"\nport = {}\nproto = \"tcp\"\nfrom = {}\nto = {}\ncomment = {}\n",
        v("profile.extends"),
        v("profile.description"),
        v("profile.conf_name"),
        v("profile.module"),
        v("profile.cmdline"),
        v("profile.sysctl_key"),
        v("profile.sysctl_value"),
        v("profile.logging"),
        v("rule.port"),
        v("rule.from"),
        v("rule.to"),
        v("rule.comment"),
    );
    (inventory, profile)
}

/// What one case came to.
enum Verdict {
    Refused,
    Rendered,
}

fn check_case(dir: &Path, sb: &Sandbox, field: &str, value: &str) -> Verdict {
    let what: String = format!("{field} = {value:?}").chars().take(300).collect();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    let (inv, prof) = config(field, value);
    std::fs::write(dir.join("piprep.toml"), &inv).unwrap();
    std::fs::write(dir.join("profiles/fuzz.toml"), &prof).unwrap();
    std::fs::write(dir.join("wifi.pass"), "correct horse battery\n").unwrap();
    let o = piprep(dir, &["validate"]);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{what}: {err}");
    match o.status.code() {
        Some(2) => {
            // Every finding stays on its own line: a value never breaks one.
            for l in stdout(&o).lines() {
                assert!(
                    l.contains(": error: ") || l.contains(": warning: "),
                    "{what}: a finding spans lines: {l:?}"
                );
            }
            return Verdict::Refused;
        }
        Some(0) => {}
        c => panic!("{what}: validate exited {c:?}: {err}"),
    }

    // firstrun: the hook and every file it installs.
    let o = piprep(
        dir,
        &["render", "--node", &node_name(field, value), "--out", "r1"],
    );
    assert!(o.status.success(), "{what}: render: {}", stderr(&o));
    let hook = std::fs::read_to_string(dir.join("r1/piprep-run.sh")).unwrap();
    sh_syntax_ok(&hook, dir, "hook.sh");
    let files = embedded_files(&hook);
    assert!(
        files.len() >= 5,
        "{what}: {} files in the hook",
        files.len()
    );
    for (path, body) in &files {
        if path.ends_with(".sh") {
            sh_syntax_ok(body, dir, "embedded.sh");
        }
    }
    sb.reset();
    sb.put(
        "/boot/firmware/cmdline.txt",
        b"console=tty1 root=PARTUUID=0badcafe-02 rootwait cgroup_memory=1 cgroup_enable=memory systemd.run=/boot/firmware/piprep-run.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n",
        0o644,
    );
    sb.put("/boot/firmware/piprep-run.sh", hook.as_bytes(), 0o755);
    // 0755: every file on a vfat mount has the mount's mode.
    for secret in ["piprep-secrets.txt", "piprep-wifi.nmconnection"] {
        if let Ok(s) = std::fs::read(dir.join("r1").join(secret)) {
            sb.put(&format!("/boot/firmware/{secret}"), &s, 0o755);
        }
    }
    // What validation against the base image ensures it has.
    let zone = value_of(field, value, "cluster.timezone");
    sb.put(&format!("/usr/share/zoneinfo/{zone}"), b"TZif2\n", 0o644);
    let locale = value_of(field, value, "cluster.locale");
    sb.put(
        "/usr/share/i18n/SUPPORTED",
        format!("{locale} UTF-8\n").as_bytes(),
        0o644,
    );
    let o = sb.run(&["/bin/sh", "/boot/firmware/piprep-run.sh"]);
    let log = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        o.status.success(),
        "{what}: the hook failed in the sandbox:\n{log}"
    );
    assert!(
        !sb.exists("/canary"),
        "{what}: the hook ran injected code:\n{log}"
    );
    // The Wi-Fi keyfile: placed root-only, gone from the boot partition,
    // and its SSID the bytes given, whatever they are.
    let keyfile = sb
        .root
        .join("etc/NetworkManager/system-connections/piprep-wifi.nmconnection");
    let text = std::fs::read_to_string(&keyfile).unwrap_or_else(|e| panic!("{what}: {e}\n{log}"));
    let ssid: Vec<u8> = text
        .lines()
        .find_map(|l| l.strip_prefix("ssid="))
        .unwrap()
        .split(';')
        .filter(|b| !b.is_empty())
        .map(|b| b.parse().unwrap())
        .collect();
    assert_eq!(
        ssid,
        value_of(field, value, "wifi.ssid").as_bytes(),
        "{what}"
    );
    assert!(
        !sb.exists("/boot/firmware/piprep-wifi.nmconnection"),
        "{what}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&keyfile).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{what}: the Wi-Fi keyfile is {mode:o}");
    // It really ran: the node's name is where the hook writes it.
    let name = node_name(field, value);
    assert_eq!(
        std::fs::read_to_string(sb.root.join("etc/hostname")).unwrap(),
        format!("{name}\n"),
        "{what}"
    );
    for script in [
        "/usr/local/lib/piprep/setup.sh",
        "/usr/local/lib/piprep/check.sh",
    ] {
        let o = sb.run(&["/bin/sh", script]);
        assert!(
            !sb.exists("/canary"),
            "{what}: {script} ran injected code:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    assert!(
        sb.exists("/boot/firmware/piprep-report.txt"),
        "{what}: no report"
    );

    // cloud-init: the YAML parses back to the values given.
    let ci = inv.replace("[user]", "[image]\ninit = \"cloud-init\"\n\n[user]");
    std::fs::write(dir.join("piprep.toml"), ci).unwrap();
    let o = piprep(dir, &["render", "--node", &name, "--out", "r2"]);
    assert!(o.status.success(), "{what}: render: {}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("r2/user-data")).unwrap();
    let ud: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(ud["hostname"], name.as_str(), "{what}");
    let user = &ud["users"][0];
    assert_eq!(
        user["name"],
        value_of(field, value, "user.name").as_str(),
        "{what}"
    );
    let key = match field {
        "user.key" => format!("{KEY}{value}").trim().to_string(),
        _ => format!("{KEY} test@ci"),
    };
    assert_eq!(user["ssh_authorized_keys"][0], key.as_str(), "{what}");
    for wf in ud["write_files"].as_array().unwrap() {
        let path = wf["path"].as_str().unwrap();
        let (_, body) = files
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{what}: {path} only in user-data"));
        let body = body.replace("BACKEND=firstrun", "BACKEND=cloud-init");
        assert_eq!(wf["content"].as_str().unwrap(), body, "{what}: {path}");
    }
    let meta: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("r2/meta-data")).unwrap())
            .unwrap();
    assert_eq!(meta["local-hostname"], name.as_str(), "{what}");
    Verdict::Rendered
}

fn value_of(field: &str, value: &str, which: &str) -> String {
    if field == which {
        value.to_string()
    } else {
        FIELDS
            .iter()
            .find(|(f, _)| *f == which)
            .unwrap()
            .1
            .to_string()
    }
}

fn node_name(field: &str, value: &str) -> String {
    value_of(field, value, "node.name")
}

#[test]
fn no_string_becomes_code() {
    if let Err(why) = sandbox::available() {
        panic!("this test runs scripts in a chroot: {why}; run it as root (make test does in CI)");
    }
    let dir = scratch("injection");
    let sb = Sandbox::new(&dir);
    let seed = std::env::var("PIPREP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de_u64);
    let per_field: usize = std::env::var("PIPREP_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut rng = Rng(seed);
    let mut cases: Vec<(String, String)> = NAMED
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect();
    for (field, default) in FIELDS {
        for _ in 0..per_field {
            cases.push((field.to_string(), payload(&mut rng, default)));
        }
    }
    // The baseline must render, or the test proves nothing.
    let case_dir = dir.join("case");
    assert!(matches!(
        check_case(&case_dir, &sb, "cluster.name", "homelab"),
        Verdict::Rendered
    ));
    let (mut refused, mut rendered) = (0, 0);
    for (field, value) in &cases {
        match check_case(&case_dir, &sb, field, value) {
            Verdict::Refused => refused += 1,
            Verdict::Rendered => rendered += 1,
        }
    }
    eprintln!(
        "{} cases (seed {seed:#x}): {refused} refused by validate, {rendered} rendered and run safely",
        cases.len()
    );
    // Free-text fields let payloads through: quoting, not only validation, is tested.
    assert!(rendered >= 10, "only {rendered} cases got past validation");
    assert!(refused >= cases.len() / 2);
}

//! Time zone, locale and keyboard: checked against the base image's own
//! lists (with the closest match as the fix), and applied by the rendered
//! first boot in a chroot, the checklist then reporting them.

use super::*;
use crate::support::sandbox::{self, Sandbox};

#[test]
fn values_the_image_has_pass_and_others_name_the_closest() {
    let dir = with_image("regional-ok", &[], |t| t);
    let (code, text) = validate(&dir, &["--image", "bookworm.img"]);
    assert_eq!(code, Some(0), "{text}");

    let bad = |t: String| {
        t.replace("\"Europe/Berlin\"", "\"Europe/Berlinn\"")
            .replace("\"en_GB.UTF-8\"", "\"en_GB.UTF8\"")
            .replace("keyboard = \"gb\"", "keyboard = \"fr_\"")
            .replace("\"Europe/London\"", "\"Asia/Tokyo\"")
    };
    // Well-formed names: without the image at hand they pass; the image refuses them.
    assert_eq!(
        validate(&inventory("regional-bad-no-image", bad), &[]).0,
        Some(0)
    );
    let dir = with_image("regional-bad", &[], bad);
    let (code, text) = validate(&dir, &["--image", "bookworm.img"]);
    assert_eq!(code, Some(2), "{text}");
    for (key, needle, fix) in [
        (
            "timezone = \"Europe/Berlinn\"",
            "timezone `Europe/Berlinn` is not in",
            "use timezone = \"Europe/Berlin\", the closest the image has",
        ),
        (
            "locale =",
            "locale `en_GB.UTF8` is not in",
            "use locale = \"en_GB.UTF-8\", the closest the image has",
        ),
        (
            "keyboard =",
            "keyboard `fr_` is not in",
            "use keyboard = \"fr\", the closest the image has",
        ),
        (
            "timezone = \"Asia/Tokyo\"",
            "timezone `Asia/Tokyo` is not in",
            "the closest the image has",
        ),
    ] {
        let line = line_of(&dir, key);
        assert!(
            text.contains(&format!("piprep.toml:{line}:")),
            "{key}: {text}"
        );
        assert!(text.contains(needle), "{needle}: {text}");
        assert!(text.contains(fix), "{fix}: {text}");
    }
    assert!(
        text.contains("[worker-1]") || text.contains("worker-1"),
        "{text}"
    );
    // bake refuses the same, before writing anything.
    let b = piprep(&dir, &["bake", "--all"]);
    assert_eq!(b.status.code(), Some(2), "{}", stderr(&b));
    assert!(
        stderr(&b).contains("timezone `Europe/Berlinn` is not in"),
        "{}",
        stderr(&b)
    );
    assert!(!dir.join("out/cp-1.img").exists());
}

#[test]
fn an_image_without_the_lists_is_refused_by_name() {
    let dir = with_image("regional-none", &["--no-regional"], |t| t);
    let (code, text) = validate(&dir, &["--image", "bookworm.img"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("has no /usr/share/zoneinfo (package tzdata)"),
        "{text}"
    );
    assert!(
        text.contains("has no /usr/share/i18n/SUPPORTED (package locales)"),
        "{text}"
    );
    assert!(text.contains("(package xkb-data)"), "{text}");
    // Without regional settings the same image is fine.
    let dir = with_image("regional-none-unset", &["--no-regional"], |t| {
        t.lines()
            .filter(|l| {
                !l.starts_with("timezone") && !l.starts_with("locale") && !l.starts_with("keyboard")
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let (code, text) = validate(&dir, &["--image", "bookworm.img"]);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn malformed_values_are_refused_without_an_image() {
    for (from, to, prefix, needle) in [
        (
            "\"Europe/Berlin\"",
            "\"../../etc/passwd\"",
            "timezone =",
            "is not a time zone name",
        ),
        (
            "\"en_GB.UTF-8\"",
            "\"en GB\"",
            "locale =",
            "is not a locale name",
        ),
        (
            "keyboard = \"gb\"",
            "keyboard = \"GB;x\"",
            "keyboard =",
            "is not a keyboard layout",
        ),
    ] {
        let dir = inventory("regional-shape", |t| t.replace(from, to));
        refused(&dir, &[], line_of(&dir, prefix), needle);
    }
}

#[test]
fn the_first_boot_applies_them_and_the_checklist_reports_them() {
    if let Err(why) = sandbox::available() {
        panic!("this test runs scripts in a chroot: {why}; run it as root (make test does in CI)");
    }
    let dir = inventory("regional-apply", |t| t);
    let o = piprep(&dir, &["render", "--node", "cp-1", "--out", "r"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sb = Sandbox::new(&dir);
    sb.reset();
    sb.put(
        "/boot/firmware/cmdline.txt",
        b"console=tty1 root=PARTUUID=0badcafe-02 rootwait\n",
        0o644,
    );
    for f in ["piprep-run.sh", "piprep-wifi.nmconnection"] {
        let body = std::fs::read(dir.join("r").join(f)).unwrap();
        sb.put(&format!("/boot/firmware/{f}"), &body, 0o755);
    }
    let o = sb.run(&["/bin/sh", "/boot/firmware/piprep-run.sh"]);
    let log = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{log}");
    let read = |p: &str| std::fs::read_to_string(sb.root.join(p)).unwrap_or_default();
    assert_eq!(
        std::fs::read_link(sb.root.join("etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/Europe/Berlin")
    );
    assert_eq!(read("etc/timezone"), "Europe/Berlin\n");
    assert_eq!(read("etc/default/locale"), "LANG=en_GB.UTF-8\n");
    let locale_gen = read("etc/locale.gen");
    assert!(
        locale_gen.lines().any(|l| l == "en_GB.UTF-8 UTF-8"),
        "{locale_gen}"
    );
    assert!(
        locale_gen.lines().any(|l| l == "# de_DE.UTF-8 UTF-8"),
        "{locale_gen}"
    );
    assert!(
        read("stub.log").contains("locale-gen"),
        "locale-gen never ran"
    );
    let kb = read("etc/default/keyboard");
    assert!(
        kb.contains("XKBLAYOUT=\"gb\"\n") && kb.contains("XKBVARIANT=\"\"\n"),
        "{kb}"
    );
    assert!(kb.contains("XKBMODEL=\"pc105\"\n"), "{kb}");
    // The radio: pi-gen's saved "blocked" turned to unblocked.
    assert_eq!(
        read("var/lib/systemd/rfkill/platform-fe300000.mmcnr:wlan"),
        "0\n"
    );

    // The Wi-Fi watch: installed and enabled; with the connection down and
    // the radio on, it brings the connection up; while it is up, nothing.
    assert!(
        read("stub.log").contains("systemctl enable --quiet piprep-wifi-watch.timer"),
        "{}",
        read("stub.log")
    );
    assert!(read("etc/systemd/system/piprep-wifi-watch.timer").contains("OnUnitActiveSec=30s"));
    for (state, brought_up) in [("", true), ("activated", false)] {
        sb.put(
            "/usr/bin/nmcli",
            format!(
                "#!/bin/sh\necho \"nmcli $*\" >>/nmcli.log\ncase \"$*\" in *GENERAL.STATE*) echo '{state}' ;; 'radio wifi') echo enabled ;; esac\n"
            )
            .as_bytes(),
            0o755,
        );
        let _ = std::fs::remove_file(sb.root.join("nmcli.log"));
        let o = sb.run(&["/bin/sh", "/usr/local/lib/piprep/wifi-watch.sh"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let calls = read("nmcli.log");
        assert_eq!(
            calls.contains("connection up piprep-wifi"),
            brought_up,
            "state {state:?}: {calls}"
        );
    }
    sb.put(
        "/usr/bin/nmcli",
        b"#!/bin/sh\necho \"nmcli $*\" >>/stub.log\n",
        0o755,
    );
    let o = sb.run(&["/bin/sh", "/usr/local/lib/piprep/check.sh"]);
    let _ = o;
    let report = read("boot/firmware/piprep-report.txt");
    for row in [
        "timezone\tEurope/Berlin\tEurope/Berlin\tpass",
        "locale\ten_GB.UTF-8\ten_GB.UTF-8\tpass",
        "locale.generated\tgenerated\tgenerated\tpass",
        "keyboard\tgb\tgb\tpass",
        "cmdline.cfg80211.ieee80211_regdom=GB\tpresent",
        "wifi.radio\tunblocked",
        "wifi.connection\tactivated",
    ] {
        assert!(report.contains(row), "{row:?} not in\n{report}");
    }
}

//! A profile's own packages, files and commands (#30 item 11): validated with
//! file:line, carried byte for byte by both backends (PyYAML and the hook's
//! put_file read back), applied in a chroot (files, owners, commands once
//! each, nothing else run), and reported by the checklist.

use std::path::{Path, PathBuf};

use crate::support::sandbox::{self, Sandbox};
use crate::support::*;

/// Content no generated script may run: command substitutions, quotes, the
/// delimiters piprep's own scripts use, a line without a final newline.
const MOTD: &str = "Welcome to $(touch /canary) `touch /canary` 'quoted' \"double\"\nPIPREP_FILE\nOWNERS\nEOF\n\\no final newline";
const APP: &str = "a: 1\nb: 'two'\n";

const PROFILE: &str = r#"extends = "k8s-node"
packages = ["htop", "nfs-common=1:2.6.2-4"]
run = [
  "echo ran >> /root/count",
  "exit 3",
]

[[file]]
path = "/etc/motd"
content = "MOTD"

[[file]]
path = "/opt/app/config.yaml"
mode = "0640"
owner = "k8s:k8s"
source = "app.yaml"
"#;

/// An inventory using the `extra` profile (its `[image]` with `image_extra`).
fn setup(name: &str, profile: &str, image_extra: &str) -> PathBuf {
    let dir = scratch(&format!("extras-{name}"));
    let img = fixture_copy("bookworm", &[], &dir);
    let inv = write_inventory(&dir, &img, "");
    let t = std::fs::read_to_string(&inv).unwrap();
    let t = t
        .replace("profile = \"k8s-node\"", "profile = \"extra\"")
        .replace("[image]\n", &format!("[image]\n{image_extra}"));
    std::fs::write(&inv, t).unwrap();
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    let motd = toml_string(MOTD);
    std::fs::write(
        dir.join("profiles/extra.toml"),
        profile.replace("\"MOTD\"", &motd),
    )
    .unwrap();
    std::fs::write(dir.join("profiles/app.yaml"), APP).unwrap();
    dir
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            '\n' => out += "\\n",
            c => out.push(c),
        }
    }
    out + "\""
}

fn render(dir: &Path, out: &str) -> String {
    let o = piprep(dir, &["render", "--node", "cp-1", "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&piprep(dir, &["render", "--node", "cp-1"]))
}

#[test]
fn files_reach_both_backends_byte_for_byte() {
    let dir = setup("backends", PROFILE, "");
    let shown = render(&dir, "r");
    assert!(
        shown.contains("# profile extra adds: packages htop nfs-common=1:2.6.2-4; files /etc/motd (0644 root:root), /opt/app/config.yaml (0640 k8s:k8s); 2 command(s) run once"),
        "{}",
        &shown[..600]
    );
    let files = embedded_files(&std::fs::read_to_string(dir.join("r/piprep-run.sh")).unwrap());
    let get = |p: &str| files.iter().find(|(f, _)| f == p).map(|(_, c)| c.clone());
    assert_eq!(get("/etc/motd").as_deref(), Some(MOTD));
    assert_eq!(get("/opt/app/config.yaml").as_deref(), Some(APP));
    let setup_sh = get("/usr/local/lib/piprep/setup.sh").unwrap();
    assert!(
        setup_sh.contains("pkgs='chrony ufw htop nfs-common=1:2.6.2-4'"),
        "{setup_sh}"
    );

    // cloud-init: the same bytes through write_files, read by PyYAML.
    let ci = setup("backends-ci", PROFILE, "init = \"cloud-init\"\n");
    render(&ci, "r");
    let ud = yaml_to_json(&ci.join("r/user-data"));
    let wf = ud["write_files"].as_array().unwrap();
    let find = |p: &str| wf.iter().find(|f| f["path"] == p).cloned().unwrap();
    assert_eq!(find("/etc/motd")["content"], MOTD);
    assert_eq!(find("/opt/app/config.yaml")["content"], APP);
    assert_eq!(find("/opt/app/config.yaml")["permissions"], "0640");
    // Written root's; the owner is set after the packages (accounts may come with them).
    assert_eq!(find("/opt/app/config.yaml")["owner"], "root:root");
    let ci_setup = find("/usr/local/lib/piprep/setup.sh")["content"]
        .as_str()
        .unwrap()
        .to_string();
    // (Other inventories, other host keys: the profile's parts are the same.)
    let extras = |s: &str| {
        let from = s.find("pkgs=").unwrap();
        let to = s.find("# Every node of the cluster by name").unwrap();
        s[from..to].to_string()
    };
    assert!(
        extras(&ci_setup) == extras(&setup_sh),
        "the backends' setup.sh differ"
    );

    // Baked: the hook on the FAT carries them; the FAT is clean.
    let o = piprep(&dir, &["bake", "-n", "cp-1", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = dir.join("out/cp-1.img");
    let p = partitions(&img)[0];
    let hook = mtype(&img, p, "piprep-run.sh").unwrap();
    let baked = embedded_files(&hook);
    assert!(baked.iter().any(|(f, c)| f == "/etc/motd" && c == MOTD));
    fsck_fat(&img, p, &dir);
}

#[test]
fn the_first_boot_installs_them_runs_each_command_once_and_reports_them() {
    if let Err(why) = sandbox::available() {
        panic!("this test runs scripts in a chroot: {why}; run it as root (make test does in CI)");
    }
    let dir = setup("apply", PROFILE, "");
    render(&dir, "r");
    let sb = Sandbox::new(&dir);
    sb.reset();
    sb.put(
        "/boot/firmware/cmdline.txt",
        b"console=tty1 root=PARTUUID=0badcafe-02 rootwait\n",
        0o644,
    );
    let hook = std::fs::read(dir.join("r/piprep-run.sh")).unwrap();
    sb.put("/boot/firmware/piprep-run.sh", &hook, 0o755);
    std::fs::create_dir_all(sb.root.join("root")).unwrap();
    // stat(1) names owners from these, as on a node.
    sb.put("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644);
    sb.put("/etc/group", b"root:x:0:\n", 0o644);
    let o = sb.run(&["/bin/sh", "/boot/firmware/piprep-run.sh"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let read = |p: &str| std::fs::read_to_string(sb.root.join(p)).unwrap_or_default();
    assert_eq!(read("etc/motd"), MOTD);
    assert_eq!(read("opt/app/config.yaml"), APP);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(sb.root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("opt/app/config.yaml"), 0o640);
    assert_eq!(mode("etc/motd"), 0o644);

    let setup = "/usr/local/lib/piprep/setup.sh";
    for _ in 0..2 {
        let o = sb.run(&["/bin/sh", setup]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
    assert!(!sb.exists("/canary"), "file content ran as code");
    // Each command once, however many boots; its exit status kept.
    assert_eq!(read("root/count"), "ran\n");
    let states = std::fs::read_dir(sb.root.join("var/lib/piprep/run")).unwrap();
    let mut codes: Vec<(String, String)> = states
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    codes.sort();
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert!(
        codes[0].0.starts_with("1-") && codes[0].1 == "0\n",
        "{codes:?}"
    );
    assert!(
        codes[1].0.starts_with("2-") && codes[1].1 == "3\n",
        "{codes:?}"
    );
    assert!(
        read("stub.log").contains("chown k8s:k8s /opt/app/config.yaml"),
        "{}",
        read("stub.log")
    );
    assert!(
        read("stub.log").contains("apt-get install") || !read("stub.log").contains("apt-get"),
        "packages are installed through the networked step's apt"
    );

    let _ = sb.run(&["/bin/sh", "/usr/local/lib/piprep/check.sh"]);
    let report = read("boot/firmware/piprep-report.txt");
    let row = |name: &str| {
        report
            .lines()
            .find(|l| l.split('\t').next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} row in\n{report}"))
            .to_string()
    };
    assert!(row("package.htop").ends_with("\tpass"), "{report}");
    assert!(row("package.nfs-common").ends_with("\tpass"), "{report}");
    assert!(
        row("file./etc/motd").ends_with("\tpass"),
        "{}",
        row("file./etc/motd")
    );
    // chown is a stub here: the checklist sees root's file, not k8s's.
    let app = row("file./opt/app/config.yaml");
    assert!(
        app.contains("mode 640 k8s:k8s")
            && app.contains("mode 640 root:root")
            && app.ends_with("\tfail"),
        "{app}"
    );
    let runs: Vec<&str> = report.lines().filter(|l| l.starts_with("run.")).collect();
    assert_eq!(runs.len(), 2, "{report}");
    assert!(
        runs[0].ends_with("\tpass") && runs[1].contains("exit 3\tfail"),
        "{runs:?}"
    );
}

#[test]
fn mistakes_are_refused_with_the_profile_line_and_a_fix() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "packages = [\"htop; rm -rf /\"]",
            "packages",
            "not a Debian package name",
        ),
        (
            "packages = [\"xx=$(boom)\"]",
            "packages",
            "not a Debian version",
        ),
        (
            "[[file]]\npath = \"etc/motd\"\ncontent = \"x\"",
            "[[file]]",
            "not an absolute path",
        ),
        (
            "[[file]]\npath = \"/etc/../shadow\"\ncontent = \"x\"",
            "[[file]]",
            "`..`",
        ),
        (
            "[[file]]\npath = \"/usr/local/lib/piprep/setup.sh\"\ncontent = \"x\"",
            "[[file]]",
            "piprep writes its own files",
        ),
        (
            "[[file]]\npath = \"/etc/x\"\nmode = \"644; boom\"\ncontent = \"x\"",
            "[[file]]",
            "mode",
        ),
        (
            "[[file]]\npath = \"/etc/x\"\nowner = \"root; boom\"\ncontent = \"x\"",
            "[[file]]",
            "owner",
        ),
        (
            "[[file]]\npath = \"/etc/x\"\ncontent = \"x\"\nsource = \"app.yaml\"",
            "[[file]]",
            "both `content` and `source`",
        ),
        (
            "[[file]]\npath = \"/etc/x\"",
            "[[file]]",
            "neither `content` nor `source`",
        ),
        (
            "[[file]]\npath = \"/etc/x\"\nsource = \"missing.txt\"",
            "[[file]]",
            "cannot read `source = \"missing.txt\"`",
        ),
        ("run = [\"  \"]", "run", "is empty"),
    ];
    for (i, (body, key, needle)) in cases.iter().enumerate() {
        let profile = format!("extends = \"k8s-node\"\n{body}\n");
        let dir = setup(&format!("refuse-{i}"), &profile, "");
        let line = profile.lines().position(|l| l.starts_with(key)).unwrap() + 1;
        let o = piprep(&dir, &["validate"]);
        let text = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(2), "{body}: {text}");
        assert!(
            text.contains(&format!("extra.toml:{line}")),
            "{body}: no extra.toml:{line} in {text}"
        );
        assert!(text.contains(needle), "{body}: {needle:?} not in {text}");
        assert!(!text.contains("panicked"), "{text}");
        // Bake refuses it before writing anything.
        let o = piprep(&dir, &["bake", "--all", "-q"]);
        assert_eq!(o.status.code(), Some(2), "{body}");
        assert!(!dir.join("out/cp-1.img").exists());
    }
}

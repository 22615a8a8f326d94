//! Usage and refusals that tell a newcomer what to type instead.

use crate::support::*;

#[test]
fn bake_without_nodes_names_both_ways() {
    let dir = scratch("bake-usage");
    let o = piprep(&dir, &["bake"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("--all") && err.contains("--node"),
        "usage without --all: {err}"
    );
}

#[test]
fn flash_with_image_and_device_swapped_asks_about_the_swap() {
    let dir = scratch("flash-swapped");
    let img = fixture_copy("bookworm", &[], &dir);
    let before = sha256_file(&img);
    let o = piprep(&dir, &["flash", "-y", "/dev/loop0", img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("swapped")
            && err.contains(&format!("piprep flash {} /dev/loop0", img.display())),
        "{err}"
    );
    assert!(!err.contains("--force"), "{err}");
    assert_eq!(sha256_file(&img), before, "the image was touched");
}

#[test]
fn make_demo_installs_nothing_and_says_where_piprep_is() {
    // A dry run of the README's first command, as a user without root runs it.
    let o = std::process::Command::new("make")
        .args(["-n", "-B", "demo"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = stdout(&o);
    assert!(plan.contains("mkimage.sh bookworm"), "{plan}");
    for never in ["apt-get", "sudo", "bmaptool"] {
        assert!(!plan.contains(never), "make demo runs {never}: {plan}");
    }
    assert!(plan.contains("make install"), "{plan}");
    // And `make install` puts every page piprep(1) names beside it.
    let o = std::process::Command::new("make")
        .args(["-n", "install", "PREFIX=/tmp/x"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("man --dir /tmp/x/share/man/man1"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn parser_and_key_mistakes_carry_a_fix() {
    let dir = scratch("parser-fixes");
    let img = fixture_copy("bookworm", &[], &dir);
    let inv = write_inventory(&dir, &img, "");
    let good = std::fs::read_to_string(&inv).unwrap();
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP test@ci";
    let cases = [
        (
            good.replace(&format!("[\"{key}\"]"), &format!("\"{key}\"")),
            "fix: write the value as a list in brackets",
        ),
        (
            good.replace("ip = \"10.1.1.21\"\n", ""),
            "fix: add `ip = …` to this table",
        ),
        (
            good.replace(key, "~/.ssh/id_ed25519.pub"),
            "is a file name (`~/.ssh/id_ed25519.pub`), not a key line: paste the line the file holds, as `cat ~/.ssh/id_ed25519.pub` prints it",
        ),
        (
            good.replace("name = \"worker-1\"", "name = \"Worker_2\""),
            "fix: use lowercase letters, digits and hyphens, such as \"worker-2\"",
        ),
    ];
    for (text, needle) in cases {
        std::fs::write(&inv, &text).unwrap();
        let o = piprep(&dir, &["validate"]);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(2), "{needle}: {all}");
        assert!(all.contains(needle), "{needle:?} not in {all}");
        // Each hint once.
        assert_eq!(
            all.matches("use lowercase letters").count().min(1),
            all.matches("use lowercase letters").count(),
            "{all}"
        );
    }
    // A missing image: the next bake's failure, said now (bake --image may
    // still give it, so a warning).
    std::fs::write(
        &inv,
        good.replace(&img.display().to_string(), "no-such.img"),
    )
    .unwrap();
    let o = piprep(&dir, &["validate"]);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("warning: [image] path ") && all.contains("no-such.img does not exist"),
        "{all}"
    );
}

#[test]
fn bake_ends_with_what_to_do_next() {
    let dir = scratch("bake-next");
    let img = fixture_copy("bookworm", &[], &dir);
    write_inventory(&dir, &img, "");
    let o = piprep(&dir, &["bake", "--all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("2 image(s) ready in out: cp-1.img, worker-1.img"),
        "{err}"
    );
    for next in [
        "piprep cards",
        "piprep flash --node cp-1 /dev/sdX",
        "piprep known-hosts --install",
        "piprep status --all --watch",
    ] {
        assert!(err.contains(next), "{next} not in {err}");
    }
    // -q stays quiet.
    let o = piprep(&dir, &["bake", "--all", "-q"]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // Run with another inventory and --out: the commands carry them, so they
    // work as printed.
    let parent = dir.parent().unwrap();
    let inv = format!("{}/piprep.toml", dir.file_name().unwrap().to_str().unwrap());
    let o = piprep(parent, &["-c", &inv, "bake", "--all", "--out", "elsewhere"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "piprep -c {inv} flash --node cp-1 --out elsewhere /dev/sdX"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "piprep -c {inv} status --all --watch --out elsewhere"
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(parent.join("elsewhere"));
}

#[test]
fn export_offers_kubesprays_layout() {
    let dir = scratch("export-kubespray");
    let img = fixture_copy("bookworm", &[], &dir);
    write_inventory(&dir, &img, "");
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    let o = piprep(&dir, &["export", "ansible", "--layout", "kubespray"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ini = dir.join("inventory.ini");
    std::fs::write(&ini, stdout(&o)).unwrap();
    // Python's configparser, as an INI reader that is not piprep's.
    let script = "import configparser,json,sys\n\
c=configparser.ConfigParser(allow_no_value=True,delimiters=('=',' '))\n\
c.optionxform=str\n\
c.read(sys.argv[1])\n\
print(json.dumps({s: list(c[s].keys()) for s in c.sections()}))";
    let o = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&ini)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kube_control_plane"], serde_json::json!(["cp-1"]));
    assert_eq!(v["kube_node"], serde_json::json!(["worker-1"]));
    assert_eq!(
        v["etcd:children"],
        serde_json::json!(["kube_control_plane"])
    );
    assert_eq!(
        v["k8s_cluster:children"],
        serde_json::json!(["kube_control_plane", "kube_node"])
    );
    let text = std::fs::read_to_string(&ini).unwrap();
    assert!(
        text.contains("cp-1 ansible_host=10.1.1.11 ip=10.1.1.11"),
        "{text}"
    );
}

#[test]
fn bash_completes_node_names() {
    let dir = scratch("complete-nodes");
    let img = fixture_copy("bookworm", &[], &dir);
    write_inventory(&dir, &img, "");
    let script = stdout(&piprep(&dir, &["completions", "bash"]));
    std::fs::write(dir.join("piprep.bash"), script).unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_piprep"))
        .parent()
        .unwrap()
        .to_path_buf();
    let o = std::process::Command::new("bash")
        .args([
            "-c",
            "source ./piprep.bash; COMP_WORDS=(piprep bake --node w); COMP_CWORD=3; _piprep piprep w --node; printf '%s\\n' \"${COMPREPLY[@]}\"",
        ])
        .current_dir(&dir)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "worker-1\n", "{}", stderr(&o));
}

#[test]
fn the_readmes_status_table_is_the_real_one() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let block = readme
        .split("**`piprep status [--node NAME… | --all] [--json] [--watch]`**")
        .nth(1)
        .and_then(|t| t.split("```\n").nth(1))
        .expect("the status example in the README");
    let words = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let readme_head = words(block.lines().next().unwrap());
    // The example inventory, baked, each node "reached" at a closed port.
    let dir = scratch("readme-status");
    let img = fixture_copy("bookworm", &[], &dir);
    let text = std::fs::read_to_string(root().join("examples/piprep.toml"))
        .unwrap()
        .replace(
            "../images/raspios-bookworm-sample.img",
            img.to_str().unwrap(),
        );
    std::fs::write(dir.join("piprep.toml"), text).unwrap();
    assert!(piprep(&dir, &["bake", "--all", "-q"]).status.success());
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let mut args = vec!["status".to_string(), "--all".into()];
    for n in ["cp-1", "worker-1", "worker-2"] {
        args.push("--address".into());
        args.push(format!("{n}=127.0.0.1:{port}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = piprep(&dir, &args);
    let real = stdout(&o);
    assert_eq!(
        words(real.lines().next().unwrap_or("")),
        readme_head,
        "{real}"
    );
}

#[test]
fn on_a_terminal_bake_names_what_it_prepares_and_writes() {
    require_tool("script");
    let dir = scratch("bake-pty");
    let img = fixture_copy("bookworm", &[], &dir);
    write_inventory(&dir, &img, "");
    let cmd = format!("{} bake --all --force", env!("CARGO_BIN_EXE_piprep"));
    let o = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .current_dir(&dir)
        .env_remove("PIPREP_CONFIG")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    // From the first moment: what is being prepared, by name (not "2 nodes").
    assert!(text.contains("preparing cp-1, worker-1"), "{text:?}");
    assert!(!text.contains("2 nodes"), "{text:?}");
    assert!(text.contains("next:"), "{text:?}");
}

//! `piprep init`: driven by flags without a terminal (it asks nothing), and
//! by answers typed into a pseudo-terminal (util-linux `script`); what it
//! writes validates, and it never replaces a file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::*;

/// A scratch directory with a home holding `keys` SSH key pairs.
fn home_with_keys(name: &str, keys: usize) -> (PathBuf, PathBuf) {
    let dir = scratch(&format!("init-{name}"));
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    for i in 0..keys {
        let st = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                &format!("key{i}@laptop"),
                "-f",
            ])
            .arg(home.join(format!(".ssh/id_{i}")))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let work = dir.join("cluster");
    std::fs::create_dir_all(&work).unwrap();
    (home, work)
}

/// `piprep init ARGS` in `dir`, HOME=`home`, stdin from /dev/null.
fn init(dir: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_piprep"))
        .arg("init")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("USER", "carol")
        .env_remove("PIPREP_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn inventory(dir: &Path) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(dir.join("piprep.toml")).unwrap()).unwrap()
}

fn validates(dir: &Path) {
    let o = piprep(dir, &["validate"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn flags_alone_write_an_inventory_that_validates() {
    require_tool("ssh-keygen");
    let (home, dir) = home_with_keys("flags", 1);
    let img = fixture_copy("bookworm", &[], &dir);
    let pubkey = home.join(".ssh/id_0.pub");
    let o = init(
        &dir,
        &home,
        &[
            "--cluster",
            "lab",
            "--names",
            "a-1,b-1,b-2,b-3",
            "--control-planes",
            "1",
            "--subnet",
            "192.168.7.0/24",
            "--gateway",
            "192.168.7.254",
            "--ssh-key",
            pubkey.to_str().unwrap(),
            "--user",
            "bob",
            "--image",
            img.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Nothing was asked: no prompt on either stream.
    assert!(!stderr(&o).contains("["), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("piprep validate") && out.contains("piprep bake --all"),
        "{out}"
    );
    assert!(out.contains("piprep flash --node a-1 /dev/sdX"), "{out}");
    let v = inventory(&dir);
    assert_eq!(v["cluster"]["name"].as_str(), Some("lab"));
    assert_eq!(v["cluster"]["gateway"].as_str(), Some("192.168.7.254"));
    assert_eq!(v["user"]["name"].as_str(), Some("bob"));
    assert_eq!(v["image"]["path"].as_str(), img.to_str());
    let key = std::fs::read_to_string(&pubkey).unwrap();
    assert_eq!(
        v["user"]["ssh_authorized_keys"][0].as_str(),
        Some(key.trim())
    );
    let nodes = v["node"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = nodes
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap(),
                n["ip"].as_str().unwrap(),
                n["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a-1", "192.168.7.11", "control-plane"),
            ("b-1", "192.168.7.21", "worker"),
            ("b-2", "192.168.7.22", "worker"),
            ("b-3", "192.168.7.23", "worker"),
        ]
    );
    validates(&dir);
    // Against the image too.
    let o = piprep(&dir, &["validate", "--image", img.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn defaults_take_every_key_in_ssh_and_never_replace_a_file() {
    require_tool("ssh-keygen");
    let (home, dir) = home_with_keys("defaults", 2);
    let o = init(&dir, &home, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = inventory(&dir);
    assert_eq!(
        v["user"]["ssh_authorized_keys"].as_array().unwrap().len(),
        2
    );
    assert_eq!(v["user"]["name"].as_str(), Some("carol"));
    assert_eq!(v["node"].as_array().unwrap().len(), 3);
    assert_eq!(
        v["image"]["name"].as_str(),
        Some("Raspberry Pi OS Lite (64-bit)")
    );
    validates(&dir);
    let before = std::fs::read(dir.join("piprep.toml")).unwrap();
    let o = init(&dir, &home, &["--nodes", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.join("piprep.toml")).unwrap(), before);
}

#[test]
fn bad_answers_write_nothing() {
    require_tool("ssh-keygen");
    let (home, dir) = home_with_keys("bad", 1);
    for (args, needle) in [
        (
            vec!["--subnet", "10.1.1.0/33"],
            "--subnet `10.1.1.0/33` is not valid",
        ),
        (
            vec!["--nodes", "3", "--control-planes", "4"],
            "4 control planes among 3 nodes",
        ),
        (vec!["--names", "cp_1,w"], "is not a valid host name"),
        (
            vec!["--subnet", "10.9.9.0/30", "--nodes", "3"],
            "too few addresses",
        ),
        (
            vec!["--image", "nowhere.img"],
            "the image nowhere.img does not exist",
        ),
        (vec!["--ssh-key", "missing.pub"], "--ssh-key missing.pub"),
    ] {
        let o = init(&dir, &home, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
        assert_eq!(dir_names(&dir), Vec::<String>::new(), "{args:?} left files");
    }
    let empty = dir.join("nokeys");
    std::fs::create_dir_all(&empty).unwrap();
    let o = init(&dir, &empty, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no SSH public key in"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("ssh-keygen -t ed25519"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn on_a_terminal_it_asks_and_uses_the_answers() {
    require_tool("ssh-keygen");
    require_tool("script");
    let (home, dir) = home_with_keys("pty", 1);
    // Cluster, node count, control planes, names, subnet, gateway (Enter:
    // the default), image (Enter: Imager's list), user.
    let answers = "lab\n4\n2\nm-1 m-2 n-1 n-2\n192.168.50.0/24\n\n\nalice\n";
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!("{} init", env!("CARGO_BIN_EXE_piprep")))
        .arg("/dev/null")
        .current_dir(&dir)
        .env("HOME", &home)
        .env_remove("PIPREP_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{text}");
    for prompt in [
        "Cluster name [homelab]",
        "How many nodes [3]",
        "The router's address [192.168.50.1]",
    ] {
        assert!(text.contains(prompt), "{prompt:?} not asked: {text}");
    }
    let v = inventory(&dir);
    assert_eq!(v["cluster"]["name"].as_str(), Some("lab"));
    assert_eq!(v["cluster"]["gateway"].as_str(), Some("192.168.50.1"));
    assert_eq!(v["user"]["name"].as_str(), Some("alice"));
    let roles: Vec<&str> = v["node"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["control-plane", "control-plane", "worker", "worker"]
    );
    assert_eq!(v["node"][1]["ip"].as_str(), Some("192.168.50.12"));
    validates(&dir);
}

//! Test helpers: fixture images built by tests/support/mkimage.sh (cached per
//! script version), the real piprep binary, and independent tools (sfdisk,
//! fsck.fat, mtools, cmp) to check what it wrote.

pub mod http;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory unique to one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("scratch")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args([
            "-c",
            &format!("command -v {tool} || PATH=$PATH:/usr/sbin:/sbin command -v {tool}"),
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing; run `make test` (it installs the test tools) or apt-get install fdisk dosfstools mtools e2fsprogs"
    );
}

fn tool(name: &str) -> Command {
    let mut c = Command::new(name);
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("{path}:/usr/sbin:/sbin"));
    c
}

/// Build (or reuse) a fixture image; `args` are mkimage.sh options.
pub fn fixture(variant: &str, args: &[&str]) -> PathBuf {
    for t in ["sfdisk", "mkfs.vfat", "mcopy", "mkfs.ext4"] {
        require_tool(t);
    }
    let script = root().join("tests/support/mkimage.sh");
    let text = std::fs::read(&script).unwrap();
    let key = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(&text);
        h.update(variant.as_bytes());
        for a in args {
            h.update(a.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..8])
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    let out = dir.join(format!("{variant}-{key}.img"));
    if !out.exists() {
        // mkimage.sh renames into place, so concurrent tests never see half an image.
        let st = Command::new(&script)
            .args(args)
            .arg(variant)
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success(), "mkimage.sh {variant} {args:?} failed");
    }
    out
}

/// A private copy of a fixture that a test may modify.
pub fn fixture_copy(variant: &str, args: &[&str], dir: &Path) -> PathBuf {
    let src = fixture(variant, args);
    let dst = dir.join(format!("{variant}.img"));
    let st = Command::new("cp")
        .args(["--sparse=always"])
        .arg(&src)
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    dst
}

pub fn piprep(dir: &Path, args: &[&str]) -> Output {
    piprep_env(dir, args, &[])
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub start: u64,
    pub size: u64,
}

/// Partitions as sfdisk (not piprep) sees them, in bytes.
pub fn partitions(img: &Path) -> Vec<Part> {
    let o = tool("sfdisk").arg("--json").arg(img).output().unwrap();
    assert!(o.status.success(), "sfdisk --json failed: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ss = v["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Part {
            start: p["start"].as_u64().unwrap() * ss,
            size: p["size"].as_u64().unwrap() * ss,
        })
        .collect()
}

/// `fsck.fat -n` on a copy of the partition; returns its output, panics unless clean.
pub fn fsck_fat(img: &Path, p: Part, scratch: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let part = scratch.join("fat.part");
    let mut f = std::fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(p.start)).unwrap();
    let mut buf = vec![0u8; p.size as usize];
    f.read_exact(&mut buf).unwrap();
    std::fs::write(&part, buf).unwrap();
    let o = tool("fsck.fat").arg("-n").arg(&part).output().unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    std::fs::remove_file(&part).unwrap();
    assert!(o.status.success(), "fsck.fat -n reports problems:\n{text}");
    text
}

pub fn mtype(img: &Path, p: Part, name: &str) -> Option<String> {
    let o = tool("mtype")
        .arg("-i")
        .arg(format!("{}@@{}", img.display(), p.start))
        .arg(format!("::{name}"))
        .output()
        .unwrap();
    o.status.success().then(|| stdout(&o))
}

pub fn mdir(img: &Path, p: Part) -> String {
    let o = tool("mdir")
        .args(["-a", "-b", "-i"])
        .arg(format!("{}@@{}", img.display(), p.start))
        .arg("::/")
        .output()
        .unwrap();
    assert!(o.status.success(), "mdir failed: {}", stderr(&o));
    stdout(&o)
}

/// `cmp` of a byte range of two files (independent of piprep).
pub fn cmp_range(a: &Path, b: &Path, start: u64, len: Option<u64>) -> bool {
    let mut c = Command::new("cmp");
    c.arg(format!("--ignore-initial={start}"));
    if let Some(n) = len {
        c.arg(format!("--bytes={n}"));
    }
    c.arg(a).arg(b).status().unwrap().success()
}

/// The names in `dir`, sorted.
/// The names in `dir`, sorted; without the marker piprep leaves in a
/// directory it made (`render --out`), which is no output of its own.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".piprep-owned")
        .collect();
    names.sort();
    names
}

pub fn sha256_file(p: &Path) -> String {
    let o = Command::new("sha256sum").arg(p).output().unwrap();
    stdout(&o).split_whitespace().next().unwrap().to_string()
}

/// Write an inventory into `dir`, pointing at `image`.
pub fn write_inventory(dir: &Path, image: &Path, extra_nodes: &str) -> PathBuf {
    let text = format!(
        r#"[cluster]
name = "homelab"
profile = "k8s-node"
subnet = "10.1.1.0/24"
gateway = "10.1.1.1"
dns = ["10.1.1.1"]
ntp = ["pool.ntp.org"]

[image]
path = "{}"

[user]
name = "k8s"
ssh_authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvC9g79Q/1zy3wNXWr90MTxgA8kZg04ujqedx4kB2aP test@ci"]
password_hash = "$6$AbCdEfGhIjKlMnOp$5vC9Zq1lN7hXk2yJ0tqT8n1oKzjJm2bGxH4Yw3aQeR6uS9dF0gL7pM5cV8bN1xZ3qW6eR9tY2uI5oP8aS1dF4g"

[[node]]
name = "cp-1"
ip = "10.1.1.11"
role = "control-plane"

[[node]]
name = "worker-1"
ip = "10.1.1.21"
role = "worker"
{extra_nodes}"#,
        image.display()
    );
    let p = dir.join("piprep.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Files the hook installs into the root filesystem: (path, content) pairs
/// parsed from its `put_file PATH MODE <<'PIPREP_FILE'` blocks.
pub fn embedded_files(hook: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = hook;
    while let Some(i) = rest.find("\tput_file ") {
        let mut chars = rest[i + "\tput_file ".len()..].chars().peekable();
        let mut words = Vec::new();
        while words.len() < 3 {
            // One shell word: bare characters, '…' runs and \' escapes.
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                match c {
                    ' ' | '\n' => break,
                    '\'' => {
                        chars.next();
                        for q in chars.by_ref() {
                            if q == '\'' {
                                break;
                            }
                            w.push(q);
                        }
                    }
                    '\\' => {
                        chars.next();
                        w.extend(chars.next());
                    }
                    _ => {
                        w.push(c);
                        chars.next();
                    }
                }
            }
            words.push(w);
            if chars.peek() != Some(&' ') {
                break;
            }
            chars.next();
        }
        let consumed =
            rest.len() - i - "\tput_file ".len() - chars.clone().map(char::len_utf8).sum::<usize>();
        if words.len() == 3 && words[1].starts_with('0') {
            out.push((words[0].clone(), words[2].clone()));
        }
        rest = &rest[i + "\tput_file ".len() + consumed..];
    }
    out
}

/// The named shell functions of a generated script (`name() {` to the first
/// line that is only `}`), concatenated, to run them alone in a sandbox.
pub fn shell_functions(script: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            let start = script
                .find(&format!("\n{n}() {{\n"))
                .unwrap_or_else(|| panic!("no function {n}"));
            let body = &script[start + 1..];
            let end = body.find("\n}\n").unwrap() + 3;
            body[..end].to_string()
        })
        .collect()
}

/// `sh -n` (dash on Debian) on a script text.
pub fn sh_syntax_ok(script: &str, scratch: &Path, name: &str) {
    let p = scratch.join(name);
    std::fs::write(&p, script).unwrap();
    let o = Command::new("sh").arg("-n").arg(&p).output().unwrap();
    assert!(o.status.success(), "sh -n {name}: {}", stderr(&o));
}

/// Compare `actual` with tests/golden/SUBDIR/NAME (`subdir` may be empty),
/// with a unified diff on mismatch; UPDATE_GOLDEN=1 rewrites the file.
pub fn golden_in(subdir: &str, name: &str, actual: &str) {
    let path = root().join("tests/golden").join(subdir).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {name}; run with UPDATE_GOLDEN=1"));
    if want != actual {
        let diff = std::process::Command::new("diff")
            .arg("-u")
            .arg(&path)
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(actual.as_bytes())?;
                c.wait_with_output()
            })
            .map(|o| stdout(&o))
            .unwrap_or_default();
        panic!(
            "{} differs from what was rendered (UPDATE_GOLDEN=1 to accept):\n{diff}",
            path.display()
        );
    }
}

/// A private copy of tests/data for this test process, with the test host
/// keys (tests/data/host-keys) in `.piprep/secrets` at the modes piprep
/// requires: golden renders need fixed keys, and nothing is written into
/// the source tree.
pub fn data() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let src = root().join("tests/data");
        let dst = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "data-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dst);
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(&src).unwrap().flatten() {
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
        let secrets = dst.join(".piprep/secrets");
        for node in std::fs::read_dir(src.join("host-keys")).unwrap().flatten() {
            if !node.file_type().unwrap().is_dir() {
                continue;
            }
            let d = secrets.join(node.file_name());
            std::fs::create_dir_all(&d).unwrap();
            for f in std::fs::read_dir(node.path()).unwrap().flatten() {
                let to = d.join(f.file_name());
                std::fs::copy(f.path(), &to).unwrap();
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
        dst
    })
    .clone()
}

/// `piprep` as `piprep()` runs it, with `vars` in its environment.
pub fn piprep_env(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_piprep"))
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("PIPREP_CONFIG")
        .env(
            "PIPREP_CACHE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

/// Parse YAML with PyYAML (an independent reader) and give it back as JSON.
pub fn yaml_to_json(path: &Path) -> serde_json::Value {
    let o = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "PyYAML could not parse {}: {}",
        path.display(),
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

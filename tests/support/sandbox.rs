//! A chroot in which generated first-boot scripts really run, as root, without
//! touching this machine: dash and harmless file tools copied in, and a stub
//! for every command that would change the system (systemctl, useradd,
//! sysctl, modprobe, hostname, ufw, apt-get, ...). Stubs log their arguments
//! and answer like a healthy Raspberry Pi OS would.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Real programs copied into the chroot: they only read and write files.
const TOOLS: &[&str] = &[
    "sh",
    "cat",
    "mkdir",
    "chmod",
    "mv",
    "rm",
    "cp",
    "ln",
    "ls",
    "dirname",
    "sed",
    "grep",
    "awk",
    "tr",
    "cut",
    "head",
    "tail",
    "readlink",
    "wc",
    "mktemp",
    "date",
    "sleep",
    "sync",
    "dd",
    "env",
    "true",
    "false",
    "sha256sum",
    "stat",
];

/// Commands that change the system: each logs `name args` to /stub.log.
const STUBS: &[(&str, &str)] = &[
    (
        "systemctl",
        "case \"$1\" in is-active) echo active ;; is-enabled) echo enabled ;; list-unit-files) ;; esac",
    ),
    ("dpkg-query", "echo 'install ok installed'"),
    (
        "getent",
        "case \"$1\" in passwd) echo \"$2:x:1000:1000::/home/$2:/bin/bash\" ;; group) echo \"$2:x:1000:\" ;; esac",
    ),
    ("id", "case \"$1\" in -gn) echo users ;; esac"),
    ("useradd", ":"),
    ("usermod", ":"),
    ("groupmod", ":"),
    ("chpasswd", "cat >/dev/null"),
    ("chown", ":"),
    ("hostname", ":"),
    ("modprobe", ":"),
    ("sysctl", ":"),
    ("swapoff", ":"),
    ("dphys-swapfile", ":"),
    // A healthy node's keys: a private key's public half is its .pub
    // file, and sshd serves the keys it has.
    (
        "ssh-keygen",
        "[ \"$1 $2\" != '-y -f' ] || cat \"$3.pub\" 2>/dev/null",
    ),
    // `ssh-keyscan -T SECS -t KIND HOST`, as the scripts call it.
    (
        "ssh-keyscan",
        "sed \"s/^/$5 /\" \"/etc/ssh/ssh_host_$4_key.pub\" 2>/dev/null",
    ),
    ("apt-get", ":"),
    (
        "ufw",
        "case \"$1\" in status) echo 'Status: active' ;; esac",
    ),
    ("chronyc", "echo 'Leap status     : Normal'"),
    ("ip", ":"),
    ("cloud-init", ":"),
    ("locale-gen", ":"),
    (
        "locale",
        "case \"$1\" in -a) echo C.utf8; sed -n 's/^\\([^# ][^ ]*\\) .*/\\1/p' /etc/locale.gen ;; esac",
    ),
    ("rfkill", ":"),
    ("nmcli", ":"),
];

pub struct Sandbox {
    pub root: PathBuf,
}

fn copy_with_libs(bin: &Path, root: &Path, as_name: &Path) {
    let real = std::fs::canonicalize(bin).unwrap();
    let dst = root.join(as_name.strip_prefix("/").unwrap());
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(&real, &dst).unwrap();
    let o = Command::new("ldd").arg(&real).output().unwrap();
    for lib in String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let d = root.join(lib.trim_start_matches('/'));
        if !d.exists() {
            std::fs::create_dir_all(d.parent().unwrap()).unwrap();
            std::fs::copy(lib, &d).unwrap();
        }
    }
}

/// The program file (not a shell builtin) called `name`.
fn which(name: &str) -> PathBuf {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed"))
}

/// Whether this process may chroot (root, or a user namespace as root).
pub fn available() -> Result<(), String> {
    let probe = Command::new("unshare")
        .args(["-r", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if is_root() || probe {
        Ok(())
    } else {
        Err("neither root nor user namespaces: cannot chroot".into())
    }
}

impl Sandbox {
    pub fn new(dir: &Path) -> Sandbox {
        let root = dir.join("chroot");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        for t in TOOLS {
            let src = if *t == "sh" { which("dash") } else { which(t) };
            copy_with_libs(&src, &root, &Path::new("/bin").join(t));
        }
        for d in ["usr/bin", "usr/sbin", "sbin", "usr/lib/userconf-pi"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (name, body) in STUBS
            .iter()
            .copied()
            .chain([("userconf", ":")].iter().copied())
        {
            let path = if name == "userconf" {
                root.join("usr/lib/userconf-pi/userconf")
            } else {
                root.join("usr/bin").join(name)
            };
            std::fs::write(
                &path,
                format!("#!/bin/sh\necho \"{name} $*\" >>/stub.log\n{body}\nexit 0\n"),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        make_devices(&root);
        Sandbox { root }
    }

    /// A fresh writable system: everything but the programs is removed.
    pub fn reset(&self) {
        for e in std::fs::read_dir(&self.root).unwrap() {
            let e = e.unwrap();
            let n = e.file_name();
            if !["bin", "lib", "lib64", "usr", "sbin", "dev"].contains(&n.to_str().unwrap()) {
                let p = e.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).unwrap();
                } else {
                    std::fs::remove_file(&p).unwrap();
                }
            }
        }
        let _ = std::fs::remove_dir_all(self.root.join("usr/local"));
        for d in ["etc/ssh", "tmp", "var/lib", "home", "boot/firmware", "run"] {
            std::fs::create_dir_all(self.root.join(d)).unwrap();
        }
        std::fs::write(self.root.join("etc/hosts"), "127.0.0.1\tlocalhost\n").unwrap();
        // What tzdata, locales and keyboard-configuration leave on the image.
        self.put("/usr/share/zoneinfo/Etc/UTC", b"TZif2\n", 0o644);
        self.put("/usr/share/zoneinfo/Europe/Berlin", b"TZif2\n", 0o644);
        self.put(
            "/usr/share/i18n/SUPPORTED",
            b"en_GB.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n",
            0o644,
        );
        self.put(
            "/etc/locale.gen",
            b"# en_GB.UTF-8 UTF-8\n# de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n",
            0o644,
        );
        self.put(
            "/etc/default/keyboard",
            b"XKBMODEL=\"pc105\"\nXKBLAYOUT=\"us\"\nXKBVARIANT=\"intl\"\nXKBOPTIONS=\"\"\nBACKSPACE=\"guess\"\n",
            0o644,
        );
        self.put(
            "/var/lib/systemd/rfkill/platform-fe300000.mmcnr:wlan",
            b"1\n",
            0o644,
        );
        std::fs::write(
            self.root.join("etc/fstab"),
            "proc /proc proc defaults 0 0\n/var/swap none swap sw 0 0\n",
        )
        .unwrap();
    }

    /// Write `text` at `path` inside the chroot.
    pub fn put(&self, path: &str, text: &[u8], mode: u32) {
        let p = self.root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Run `args` (a program inside the chroot) as root there, bounded in
    /// time: a script still running after a minute is a failure.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = if is_root() {
            Command::new("timeout")
        } else {
            let mut c = Command::new("unshare");
            c.args(["-r", "timeout"]);
            c
        };
        let o = c
            .args(["60", "chroot"])
            .arg(&self.root)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
            .output()
            .unwrap();
        assert_ne!(
            o.status.code(),
            Some(124),
            "{args:?} was still running after 60 s in the sandbox:\n{}",
            String::from_utf8_lossy(&o.stdout)
        );
        o
    }

    pub fn exists(&self, path: &str) -> bool {
        self.root.join(path.trim_start_matches('/')).exists()
    }
}

/// /dev/null, /dev/zero and /dev/urandom: without them every `2>/dev/null`
/// fails and skips its command, and the scripts take paths no node takes.
/// Device nodes need root; in a user namespace, plain files stand in.
fn make_devices(root: &Path) {
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    for (name, minor) in [("null", "3"), ("zero", "5"), ("urandom", "9")] {
        let p = dev.join(name);
        let made = is_root()
            && Command::new("mknod")
                .args(["-m", "666"])
                .arg(&p)
                .args(["c", "1", minor])
                .status()
                .is_ok_and(|s| s.success());
        if !made {
            std::fs::write(&p, "").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

//! `piprep init`: a starter piprep.toml from flags, prompts (on a terminal)
//! and the user's SSH public keys; validated, then written without ever
//! replacing a file.

use std::io::{BufRead, IsTerminal, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::context::Ctx;
use crate::cli::InitArgs;
use crate::config::Config;
use crate::config::net::Ipv4Net;
use crate::config::starter::{self, Starter};
use crate::error::{Error, Result};
use crate::interrupt::TempPath;
use crate::io::atomic::{Holds, temp_beside, write_synced};

/// Asks on a terminal, or takes the default without one.
struct Asker {
    interactive: bool,
}

impl Asker {
    /// The answer to `question`, `default` when Enter (or no terminal).
    fn ask(&self, question: &str, default: &str) -> Result<String> {
        if !self.interactive {
            return Ok(default.to_string());
        }
        eprint!("{question} [{default}]: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::config(format!("cannot read the answer: {e}")))?;
        if n == 0 {
            return Err(Error::config(
                "no answer (end of input); nothing was written",
            ));
        }
        let a = line.trim();
        Ok(if a.is_empty() { default } else { a }.to_string())
    }
}

fn usage(msg: String) -> Error {
    Error::config(msg)
}

/// `~/.ssh/*.pub` (sorted), or the files given.
fn ssh_keys(files: &[PathBuf]) -> Result<Vec<String>> {
    let files: Vec<PathBuf> = if files.is_empty() {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let dir = home.join(".ssh");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        if found.is_empty() {
            return Err(usage(format!(
                "no SSH public key in {}; make one with `ssh-keygen -t ed25519`, or pass --ssh-key FILE",
                dir.display()
            )));
        }
        found
    } else {
        files.to_vec()
    };
    let mut keys = Vec::new();
    for f in &files {
        let text = crate::io::input::read_text(f, 64 << 10)
            .map_err(|e| usage(format!("--ssh-key {}: {e}", f.display())))?;
        let before = keys.len();
        keys.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
        if keys.len() == before {
            return Err(usage(format!(
                "{} holds no public key; pass the .pub file of a key pair",
                f.display()
            )));
        }
    }
    Ok(keys)
}

fn parse<T: std::str::FromStr>(what: &str, s: &str, example: &str) -> Result<T> {
    s.trim().parse().map_err(|_| {
        usage(format!(
            "{what} `{}` is not valid; write it like {example}",
            s.escape_debug()
        ))
    })
}

/// The user's login name when it is a fine Linux user name, else `pi`.
fn default_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u != "root"
                && u.len() <= 32
                && u.starts_with(|c: char| c.is_ascii_lowercase())
                && u.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c))
        })
        .unwrap_or_else(|| "pi".to_string())
}

/// Flags first; what they leave open asked (or defaulted).
fn answers(a: &InitArgs, ask: &Asker) -> Result<Starter> {
    let cluster = match &a.cluster {
        Some(c) => c.clone(),
        None => ask.ask("Cluster name", "homelab")?,
    };
    let count: usize = match (a.nodes, a.names.len()) {
        (Some(n), _) => n,
        (None, 0) => parse("node count", &ask.ask("How many nodes", "3")?, "3")?,
        (None, n) => n,
    };
    if count == 0 || count > 250 {
        return Err(usage(format!("{count} nodes: piprep init writes 1 to 250")));
    }
    let cps: usize = match a.control_planes {
        Some(n) => n,
        None => parse(
            "control-plane count",
            &ask.ask("How many of them are control planes", "1")?,
            "1",
        )?,
    };
    if cps == 0 || cps > count {
        return Err(usage(format!(
            "{cps} control planes among {count} nodes: give between 1 and {count}"
        )));
    }
    let nodes = if a.names.is_empty() {
        let default = starter::default_names(count, cps).join(" ");
        ask.ask("Node names, control planes first", &default)?
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        a.names.clone()
    };
    if nodes.len() != count {
        return Err(usage(format!(
            "{} names for {count} nodes: give one name per node",
            nodes.len()
        )));
    }
    let subnet: Ipv4Net = match &a.subnet {
        Some(s) => parse("--subnet", s, "10.1.1.0/24")?,
        None => parse(
            "subnet",
            &ask.ask("The nodes' network", "10.1.1.0/24")?,
            "10.1.1.0/24",
        )?,
    };
    let first = Ipv4Addr::from(u32::from(subnet.network) + 1).to_string();
    let gateway: Ipv4Addr = match &a.gateway {
        Some(g) => parse("--gateway", g, "10.1.1.1")?,
        None => parse("gateway", &ask.ask("The router's address", &first)?, &first)?,
    };
    let image = match &a.image {
        Some(p) => Some(p.display().to_string()),
        None => {
            let p = ask.ask(
                "Base image (a local .img or .img.xz; Enter: Raspberry Pi OS Lite from Imager's list)",
                "",
            )?;
            (!p.is_empty()).then_some(p)
        }
    };
    if let Some(p) = &image
        && !Path::new(p).is_file()
    {
        return Err(usage(format!(
            "the image {p} does not exist; give the path of a downloaded Raspberry Pi OS image, or leave it out"
        )));
    }
    let user = match &a.user {
        Some(u) => u.clone(),
        None => ask.ask("Login user on the nodes", &default_user())?,
    };
    Ok(Starter {
        cluster,
        subnet,
        gateway,
        nodes,
        control_planes: cps,
        user,
        ssh_keys: ssh_keys(&a.ssh_key)?,
        image,
    })
}

pub fn init(ctx: &Ctx, a: &InitArgs) -> Result<()> {
    let path = &ctx.config;
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(usage(format!(
            "{} already exists; piprep init never replaces it: edit it, or run init in another directory",
            path.display()
        )));
    }
    let ask = Asker {
        interactive: std::io::stdin().is_terminal(),
    };
    let s = answers(a, &ask)?;
    let text = starter::render(&s).ok_or_else(|| {
        usage(format!(
            "the subnet {} has too few addresses for {} nodes beside the gateway; give a larger --subnet",
            s.subnet,
            s.nodes.len()
        ))
    })?;
    // Validated as the file it will be, beside it, before it exists.
    let tmp = TempPath::new(temp_beside(path));
    write_synced(tmp.path(), text.as_bytes(), Holds::Public)
        .map_err(|e| Error::output_io(tmp.path(), "write", &e))?;
    let cfg = Config::load(tmp.path())?;
    let v = cfg.validate();
    if v.has_errors() {
        let lines: Vec<String> = v
            .errors()
            .map(|f| {
                f.to_string().replace(
                    &tmp.path().display().to_string(),
                    &path.display().to_string(),
                )
            })
            .collect();
        return Err(usage(format!(
            "the answers make an inventory that does not validate; nothing was written:\n{}",
            lines.join("\n")
        )));
    }
    // A hard link never replaces: another init that won the race keeps its file.
    std::fs::hard_link(tmp.path(), path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            usage(format!(
                "{} appeared meanwhile; it was left as it is",
                path.display()
            ))
        } else {
            Error::output_io(path, "write", &e)
        }
    })?;
    drop(tmp);
    crate::io::atomic::sync_parent(path);
    let cp = &s.nodes[0];
    println!(
        "wrote {} ({} nodes: {}; {} SSH key{})",
        path.display(),
        s.nodes.len(),
        s.nodes.join(", "),
        s.ssh_keys.len(),
        if s.ssh_keys.len() == 1 { "" } else { "s" }
    );
    let next = [
        (
            "piprep validate".to_string(),
            "check it (with --image, against the image too)".to_string(),
        ),
        (
            "piprep bake --all".to_string(),
            "one image per node in out/".to_string(),
        ),
        (
            format!("piprep flash --node {cp} /dev/sdX"),
            format!("write {cp}'s card (see `piprep flash --help`)"),
        ),
    ];
    let width = next.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    println!("\nNext:");
    for (c, why) in next {
        println!("  {c:width$}   # {why}");
    }
    Ok(())
}

//! `piprep inspect`: what an image (base, baked, or a card) holds and what it
//! will do, read-only. Problems that do not stop the inspection are listed.

use std::path::Path;

use serde::Serialize;

use crate::config::inventory::InitMode;
use crate::contract::{self, HOOK_SCRIPT, REPORT_FILE, SECRETS_FILE, STAMP_FILE, Stamp};
use crate::error::Result;
use crate::image::ext4::{self, OsRelease};
use crate::image::table::{Partition, Table};
use crate::image::{fat, table};
use crate::io::open_readonly;
use crate::render::{Backend, Evidence, choose};

#[derive(Debug, Serialize)]
pub struct Token {
    pub text: String,
    pub added_by_piprep: bool,
}

#[derive(Debug, Serialize)]
pub struct BootFileInfo {
    pub name: String,
    pub present: bool,
    pub size: Option<u64>,
    pub secret: bool,
}

#[derive(Debug, Serialize)]
pub struct Init {
    pub mechanism: &'static str,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub image: String,
    pub size: u64,
    pub table: Table,
    pub os: Option<OsRelease>,
    pub boot_mount: Option<String>,
    pub boot_mount_source: Option<String>,
    /// The Debian architecture (`arm64`, `armhf`), with how it was read.
    pub architecture: Option<String>,
    pub architecture_source: Option<String>,
    pub installed: Vec<String>,
    pub init: Option<Init>,
    pub cmdline: Option<Vec<Token>>,
    pub stamp: Option<Stamp>,
    pub piprep_files: Vec<BootFileInfo>,
    pub report_present: bool,
    pub problems: Vec<String>,
}

/// The boot-partition files a stamp says piprep placed, plus what the node adds.
fn placed_files(stamp: Option<&Stamp>, view: &fat::BootView) -> Vec<BootFileInfo> {
    let mut names: Vec<String> = stamp
        .map(|s| {
            s.boot_files
                .iter()
                .filter(|n| *n != "cmdline.txt")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // Without a stamp, still show any piprep file found.
    for n in [HOOK_SCRIPT, SECRETS_FILE, STAMP_FILE] {
        if !names.iter().any(|x| x == n) && view.entry(n).is_some() {
            names.push(n.to_string());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let e = view.entry(&name);
            BootFileInfo {
                present: e.is_some(),
                size: e.map(|e| e.len),
                secret: contract::is_secret_file(&name),
                name,
            }
        })
        .collect()
}

fn mark_tokens(line: &str, stamp: Option<&Stamp>) -> Vec<Token> {
    let added: &[String] = stamp.map(|s| s.cmdline_added.as_slice()).unwrap_or(&[]);
    let hook_present = line.contains(&format!("/{HOOK_SCRIPT}"));
    line.split_whitespace()
        .map(|t| {
            let ours_hook = hook_present && contract::is_hook_token(t);
            Token {
                text: t.to_string(),
                added_by_piprep: ours_hook || added.iter().any(|a| a == t),
            }
        })
        .collect()
}

pub fn inspect(path: &Path) -> Result<Inspection> {
    let (file, size) = open_readonly(path)?;
    let table = table::read(&file, path, size)?;
    let mut problems = Vec::new();
    let boot: Option<Partition> = match table.boot(path) {
        Ok(b) => Some(b.clone()),
        Err(e) => {
            problems.push(e.message);
            None
        }
    };
    let mut facts = None;
    if let Some(root) = table.root() {
        match ext4::open(&file, path, root) {
            Ok(fs) => match boot.as_ref().map(|b| ext4::facts(&fs, b)) {
                Some(Err(why)) => problems.push(format!("root filesystem: {why}")),
                f => facts = f.and_then(Result::ok),
            },
            Err(e) => problems.push(e.message),
        }
    } else {
        problems.push("no ext4 root partition".into());
    }
    let mut ins = Inspection {
        image: path.display().to_string(),
        size,
        table: table.clone(),
        os: facts.as_ref().map(|f| f.os.clone()),
        boot_mount: facts.as_ref().map(|f| f.boot_mount.clone()),
        boot_mount_source: facts.as_ref().map(|f| f.boot_mount_source.clone()),
        architecture: facts.as_ref().and_then(|f| f.architecture.clone()),
        architecture_source: facts.as_ref().map(|f| f.architecture_source.clone()),
        installed: facts
            .as_ref()
            .map(|f| f.installed.iter().cloned().collect())
            .unwrap_or_default(),
        init: None,
        cmdline: None,
        stamp: None,
        piprep_files: Vec::new(),
        report_present: false,
        problems,
    };
    let Some(boot) = boot else { return Ok(ins) };
    let (view, contents) = match fat::read(&file, path, &boot, &["cmdline.txt", STAMP_FILE]) {
        Ok(x) => x,
        Err(e) => {
            ins.problems.push(e.message);
            return Ok(ins);
        }
    };
    let stamp = contents[1].as_ref().and_then(|b| match Stamp::parse(b) {
        Ok(v) => Some(v),
        Err(e) => {
            ins.problems.push(e);
            None
        }
    });
    match &contents[0] {
        Some(c) => ins.cmdline = Some(mark_tokens(&String::from_utf8_lossy(c), stamp.as_ref())),
        None => ins
            .problems
            .push("the boot partition has no cmdline.txt".into()),
    }
    ins.init = Some(match stamp.as_ref().filter(|s| !s.backend.is_empty()) {
        Some(st) => Init {
            mechanism: Backend::from_name(&st.backend).name(),
            reason: format!("baked by piprep for {}: {}", st.backend, st.backend_reason),
        },
        None => {
            let installed = ins.installed.iter().cloned().collect();
            let evidence = Evidence::read(&installed, &view, None);
            let choice = choose(InitMode::Auto, Some(&evidence));
            Init {
                mechanism: choice.backend.name(),
                reason: choice.reason,
            }
        }
    });
    ins.piprep_files = placed_files(stamp.as_ref(), &view);
    ins.report_present = view.entry(REPORT_FILE).is_some();
    ins.stamp = stamp;
    Ok(ins)
}

pub fn render_text(i: &Inspection) -> String {
    let mut s = format!(
        "image: {} ({}, {} bytes)\n",
        i.image,
        crate::image::human_size(i.size),
        i.size
    );
    s += &format!(
        "partition table: {}, disk id {}\n",
        i.table.scheme.name(),
        i.table.disk_id
    );
    s += "  #  start         size          type  content  label\n";
    for p in &i.table.partitions {
        s += &format!(
            "  {:<2} {:<13} {:<13} {:<5} {:<8} {}\n",
            p.number,
            p.start,
            format!("{} ", crate::image::human_size(p.size)),
            p.type_id,
            p.content.name(),
            p.label.as_deref().unwrap_or("-")
        );
    }
    if let Some(os) = &i.os {
        s += &format!(
            "os: {} (id {}, version {}, codename {})\n",
            os.pretty_name.as_deref().unwrap_or("unknown"),
            os.id.as_deref().unwrap_or("?"),
            os.version_id.as_deref().unwrap_or("?"),
            os.codename.as_deref().unwrap_or("?")
        );
    }
    if let Some(m) = &i.boot_mount {
        s += &format!(
            "boot partition mounted at: {m} (from {})\n",
            i.boot_mount_source.as_deref().unwrap_or("?")
        );
    }
    if let Some(src) = &i.architecture_source {
        s += &format!(
            "architecture: {} (from {src})\n",
            i.architecture.as_deref().unwrap_or("unknown")
        );
    }
    if !i.installed.is_empty() {
        s += &format!("relevant packages: {}\n", i.installed.join(", "));
    }
    if let Some(init) = &i.init {
        s += &format!("init mechanism: {} ({})\n", init.mechanism, init.reason);
    }
    if let Some(tokens) = &i.cmdline {
        s += "cmdline.txt (+ marks what piprep added):\n ";
        for t in tokens {
            s += &format!(" {}{}", if t.added_by_piprep { "+" } else { "" }, t.text);
        }
        s += "\n";
    }
    match &i.stamp {
        Some(st) => {
            s += &format!(
                "piprep stamp: node {}, role {}, ip {}, profile {}, config hash {}, piprep {}, base image sha256 {}\n",
                st.node,
                st.role,
                st.ip,
                st.profile,
                st.config_hash,
                st.piprep_version,
                st.base_image.sha256.as_deref().unwrap_or("unknown")
            );
            if let Some(k) = &st.kubernetes {
                s += &format!("beyond the guide: {}\n", k.summary());
            }
        }
        None => s += "piprep stamp: none (not baked by piprep)\n",
    }
    if !i.piprep_files.is_empty() {
        s += "boot files placed by piprep:\n";
        for f in &i.piprep_files {
            let state = match (f.present, f.secret) {
                (true, true) => "<redacted> (removed by the first boot)".to_string(),
                (true, false) => format!("{} bytes", f.size.unwrap_or(0)),
                (false, _) => "gone (the first boot removes it)".to_string(),
            };
            s += &format!("  {:<20} {state}\n", f.name);
        }
    }
    if i.report_present {
        s += &format!(
            "first-boot report: present; read it with `piprep report {}`\n",
            i.image
        );
    }
    for p in &i.problems {
        s += &format!("problem: {p}\n");
    }
    terminal_safe(&s)
}

/// Text with strings from an image in it, made safe for a terminal: every
/// control character but the newline (ESC starts ANSI and OSC sequences,
/// which can retitle, recolour or rewrite the screen) is shown escaped.
fn terminal_safe(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let raw = c == '\n' || !c.is_control();
            let shown: Vec<char> = if raw {
                vec![c]
            } else {
                c.escape_default().collect()
            };
            shown
        })
        .collect()
}

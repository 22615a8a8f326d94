//! Render: NodePlan → the exact cmdline.txt and files bake puts on the boot
//! partition. Pure: no I/O, so `piprep render` and golden tests see precisely
//! what an image would get.

pub mod backend;
pub mod cloudinit;
pub mod cmdline;
pub mod firewall;
pub mod firstboot;
pub mod network;
pub mod shell;

use serde::Serialize;

use crate::config::plan::NodePlan;
pub use backend::Backend;

/// Written by the first boot: the checklist report.
pub const REPORT_FILE: &str = "piprep-report.txt";
/// Secrets (password hash) for the hook; deleted by the first boot.
pub const SECRETS_FILE: &str = "piprep-secrets.txt";
/// What piprep baked, for `inspect`; not secret, stays after boot.
pub const STAMP_FILE: &str = "piprep-stamp.json";

/// Facts about the target image that change what is rendered.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where the running system mounts the FAT partition (`/boot/firmware`).
    pub boot_mount: String,
    /// The image's cmdline.txt, when an image is at hand.
    pub cmdline: Option<String>,
    /// The base image's identity, recorded in the stamp.
    pub base: Option<crate::source::Identity>,
    /// The first-boot mechanism, with the reason it was chosen.
    pub backend: (Backend, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BootFile {
    pub name: String,
    pub content: Vec<u8>,
    /// Never printed or logged; removed from the FAT partition by the first boot.
    pub secret: bool,
    /// A secret inside an otherwise printable file (a password hash in
    /// user-data): shown as <redacted>.
    pub redact: Option<String>,
}

impl BootFile {
    /// The content as it may be shown to a person.
    pub fn printable(&self) -> Vec<u8> {
        if self.secret {
            return b"<redacted>\n".to_vec();
        }
        match &self.redact {
            Some(s) => String::from_utf8_lossy(&self.content)
                .replace(s.as_str(), "<redacted>")
                .into_bytes(),
            None => self.content.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rendered {
    /// The new cmdline.txt, when the original was known.
    pub cmdline: Option<String>,
    /// Arguments piprep adds: the profile's permanent ones, then the hook's.
    pub cmdline_added: Vec<String>,
    /// Files for the FAT root, in write order.
    pub files: Vec<BootFile>,
}

#[derive(Serialize)]
struct Stamp<'a> {
    format: &'static str,
    piprep_version: &'static str,
    cluster: &'a str,
    node: &'a str,
    role: &'a str,
    ip: String,
    profile: &'a str,
    backend: &'static str,
    backend_reason: &'a str,
    config_hash: String,
    cmdline_added: &'a [String],
    boot_files: Vec<&'a str>,
    base_image: BaseIdentity<'a>,
}

#[derive(Serialize)]
struct BaseIdentity<'a> {
    /// sha256 of the raw .img baked from.
    sha256: Option<&'a str>,
    /// sha256 of the file as published (the .img.xz), when it was fetched.
    download_sha256: Option<&'a str>,
    url: Option<&'a str>,
    release_date: Option<&'a str>,
    init_format: Option<&'a str>,
}

pub fn render(plan: &NodePlan, target: &Target) -> Result<Rendered, String> {
    let own_hook = cmdline::hook_tokens(&target.boot_mount);
    let (backend, reason) = (target.backend.0, target.backend.1.as_str());
    let (hook, stale) = match backend {
        Backend::Firstrun => (own_hook, Vec::new()),
        Backend::CloudInit => (Vec::new(), own_hook),
    };
    let mut permanent = plan.profile.cmdline.clone();
    if backend == Backend::CloudInit {
        permanent.push(cloudinit::datasource_token(plan));
    }
    let cmdline = match &target.cmdline {
        Some(orig) => Some(cmdline::edit(orig, &permanent, &hook, &stale)?),
        None => None,
    };
    let mut files = Vec::new();
    match backend {
        Backend::Firstrun => {
            files.push(BootFile {
                name: cmdline::HOOK_SCRIPT.to_string(),
                content: firstboot::hook_script(plan, &target.boot_mount).into_bytes(),
                secret: false,
                redact: None,
            });
            if let Some(hash) = &plan.user.password_hash {
                files.push(BootFile {
                    name: SECRETS_FILE.to_string(),
                    content: format!("{}:{hash}\n", plan.user.name).into_bytes(),
                    secret: true,
                    redact: None,
                });
            }
        }
        Backend::CloudInit => {
            // These replace the image's template seed files, not append to them.
            files.push(BootFile {
                name: "user-data".into(),
                content: cloudinit::user_data(plan, &target.boot_mount).into_bytes(),
                secret: false,
                redact: plan.user.password_hash.clone(),
            });
            for (name, content) in [
                ("meta-data", cloudinit::meta_data(plan)),
                ("network-config", cloudinit::network_config(plan)),
            ] {
                files.push(BootFile {
                    name: name.into(),
                    content: content.into_bytes(),
                    secret: false,
                    redact: None,
                });
            }
        }
    }
    let mut cmdline_added = permanent;
    cmdline_added.extend(hook.iter().cloned());
    let mut names: Vec<&str> = vec!["cmdline.txt"];
    names.extend(files.iter().map(|f| f.name.as_str()));
    names.push(STAMP_FILE);
    let stamp = Stamp {
        format: "piprep-stamp/1",
        piprep_version: env!("CARGO_PKG_VERSION"),
        cluster: &plan.cluster,
        node: &plan.name,
        role: plan.role.as_str(),
        ip: format!("{}/{}", plan.address, plan.prefix),
        profile: &plan.profile.name,
        backend: backend.name(),
        backend_reason: reason,
        config_hash: plan.config_hash(),
        cmdline_added: &cmdline_added,
        boot_files: names,
        base_image: {
            let b = target.base.as_ref();
            BaseIdentity {
                sha256: b.and_then(|b| b.raw_sha256.as_deref()),
                download_sha256: b.and_then(|b| b.sha256.as_deref()),
                url: b.and_then(|b| b.url.as_deref()),
                release_date: b.and_then(|b| b.release_date.as_deref()),
                init_format: b.and_then(|b| b.init_format.as_deref()),
            }
        },
    };
    let stamp = serde_json::to_string_pretty(&stamp).expect("stamp serialises") + "\n";
    files.push(BootFile {
        name: STAMP_FILE.to_string(),
        content: stamp.into_bytes(),
        secret: false,
        redact: None,
    });
    Ok(Rendered {
        cmdline,
        cmdline_added,
        files,
    })
}

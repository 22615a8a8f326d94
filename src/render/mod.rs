//! Render: NodePlan → the exact cmdline.txt and files bake puts on the boot
//! partition. Pure: no I/O, so `piprep render` and golden tests see precisely
//! what an image would get.

pub mod cmdline;
pub mod firewall;
pub mod firstboot;
pub mod network;
pub mod shell;

use serde::Serialize;

use crate::config::plan::NodePlan;

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
}

#[derive(Debug, Clone, PartialEq)]
pub struct BootFile {
    pub name: String,
    pub content: Vec<u8>,
    /// Never printed or logged; removed from the FAT partition by the first boot.
    pub secret: bool,
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
    let hook = cmdline::hook_tokens(&target.boot_mount);
    let cmdline = match &target.cmdline {
        Some(orig) => Some(cmdline::edit(orig, &plan.profile.cmdline, &hook)?),
        None => None,
    };
    let mut files = vec![BootFile {
        name: cmdline::HOOK_SCRIPT.to_string(),
        content: firstboot::hook_script(plan, &target.boot_mount).into_bytes(),
        secret: false,
    }];
    if let Some(hash) = &plan.user.password_hash {
        files.push(BootFile {
            name: SECRETS_FILE.to_string(),
            content: format!("{}:{hash}\n", plan.user.name).into_bytes(),
            secret: true,
        });
    }
    let mut cmdline_added = plan.profile.cmdline.clone();
    cmdline_added.extend(hook);
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
    });
    Ok(Rendered {
        cmdline,
        cmdline_added,
        files,
    })
}

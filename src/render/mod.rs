//! Render: NodePlan → the exact cmdline.txt and files bake puts on the boot
//! partition. Pure: no I/O, so `piprep render` and golden tests see precisely
//! what an image would get.

pub mod backend;
pub mod cloudinit;
pub mod cmdline;
pub mod config_txt;
pub mod firewall;
pub mod firstboot;
pub mod hosts;
pub mod kubernetes;
pub mod network;
pub mod scripts;
pub mod setup;
pub mod shell;
pub mod yaml;

use crate::config::plan::NodePlan;
use crate::contract::{SECRETS_FILE, STAMP_FILE, STAMP_FORMAT, Stamp, StampBase};
pub use backend::{Backend, Evidence};

use crate::config::inventory::InitMode;
use crate::image::BaseImage;

/// Facts about the target image that change what is rendered.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where the running system mounts the FAT partition (`/boot/firmware`).
    pub boot_mount: String,
    /// The image's cmdline.txt, when an image is at hand.
    pub cmdline: Option<String>,
    /// The image's config.txt (empty when it has none), when an image is at hand.
    pub config_txt: Option<String>,
    /// The boot partition holds the 4K-page kernel (`kernel8.img`).
    pub has_4k_kernel: bool,
    /// The base image's identity, recorded in the stamp.
    pub base: Option<crate::source::Identity>,
    /// The first-boot mechanism, with the reason it was chosen.
    pub backend: (Backend, String),
}

impl Target {
    /// For a node image built from `base`.
    pub fn of_base(base: &BaseImage, mode: InitMode) -> Target {
        let evidence = Evidence::read(
            &base.facts.installed,
            &base.boot_view,
            base.identity.init_format.as_deref(),
        );
        Target {
            boot_mount: base.facts.boot_mount.clone(),
            cmdline: Some(base.cmdline.clone()),
            config_txt: Some(base.config_txt.clone()),
            has_4k_kernel: base.boot_view.entry(config_txt::KERNEL).is_some(),
            base: Some(base.identity.clone()),
            backend: backend::choose(mode, Some(&evidence)),
        }
    }

    /// With no image at hand: Raspberry Pi OS's mount point, the command
    /// line unknown.
    pub fn without_image(mode: InitMode) -> Target {
        Target {
            boot_mount: "/boot/firmware".into(),
            cmdline: None,
            config_txt: None,
            has_4k_kernel: true,
            base: None,
            backend: backend::choose(mode, None),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BootFile {
    pub name: String,
    pub content: Vec<u8>,
    /// Never printed or logged; removed from the FAT partition by the first boot.
    pub secret: bool,
    /// Secrets inside an otherwise printable file (a password hash, lines of
    /// a private host key in user-data): each shown as <redacted>.
    pub redact: Vec<String>,
}

impl BootFile {
    /// Whether the file holds a secret, whole or in part: then it is 0600
    /// wherever piprep writes it.
    pub fn holds(&self) -> crate::io::atomic::Holds {
        if self.secret || !self.redact.is_empty() {
            crate::io::atomic::Holds::Secret
        } else {
            crate::io::atomic::Holds::Public
        }
    }

    /// The content as it may be shown to a person.
    pub fn printable(&self) -> Vec<u8> {
        if self.secret {
            return b"<redacted>\n".to_vec();
        }
        if self.redact.is_empty() {
            return self.content.clone();
        }
        let mut text = String::from_utf8_lossy(&self.content).into_owned();
        for s in self.redact.iter().filter(|s| !s.is_empty()) {
            text = text.replace(s.as_str(), "<redacted>");
        }
        text.into_bytes()
    }
}

#[derive(Debug, Clone)]
pub struct Rendered {
    /// The new cmdline.txt, when the original was known.
    pub cmdline: Option<String>,
    /// Arguments piprep adds: the profile's permanent ones, then the hook's.
    pub cmdline_added: Vec<String>,
    /// What piprep appends to config.txt, if anything (shown without an image).
    pub config_added: Option<String>,
    /// Files for the FAT root, in write order.
    pub files: Vec<BootFile>,
    /// What the first boot installs into the root filesystem.
    pub rootfs: Vec<setup::RootFile>,
}

/// The body lines of the node's private host keys (what must never be shown).
fn private_key_lines(plan: &NodePlan) -> impl Iterator<Item = String> + '_ {
    plan.host_keys.iter().flat_map(|k| {
        k.private
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
}

pub fn render(plan: &NodePlan, target: &Target) -> Result<Rendered, String> {
    if plan
        .kubernetes
        .as_ref()
        .is_some_and(|k| k.key.armored.is_none())
    {
        // load_plans resolves it; a caller that did not is a bug.
        return Err("the [kubernetes] repository key was never read".into());
    }
    let own_hook = crate::contract::hook_tokens(&target.boot_mount);
    let (backend, reason) = (target.backend.0, target.backend.1.as_str());
    let (hook, stale) = match backend {
        Backend::Firstrun => (own_hook, Vec::new()),
        Backend::CloudInit => (Vec::new(), own_hook),
    };
    let mut permanent = plan.profile.cmdline.clone();
    if backend == Backend::CloudInit {
        permanent.push(cloudinit::datasource_token(plan));
        permanent.push(cloudinit::seed_mount_token(&target.boot_mount));
    }
    let cmdline = match &target.cmdline {
        Some(orig) => Some(
            cmdline::edit(orig, &permanent, &hook, &stale)
                .map_err(|m| format!("cmdline.txt: {m}"))?,
        ),
        None => None,
    };
    let four_k = plan.profile.pi5_4k_kernel;
    if four_k && !target.has_4k_kernel {
        return Err(format!(
            "config.txt: the boot partition has no {}, the 4K-page kernel a Pi 5 needs for Kubernetes; use a 64-bit Raspberry Pi OS image, or set `pi5_4k_kernel = false` under [kernel] in profile {}",
            config_txt::KERNEL,
            plan.profile.name
        ));
    }
    let setup = setup::node_setup(plan, &target.boot_mount, backend);
    let mut files = Vec::new();
    // config.txt only when it changes: nodes without the block keep the image's.
    if let Some(orig) = &target.config_txt {
        let edited = config_txt::edit(orig, four_k);
        if &edited != orig {
            files.push(BootFile {
                name: "config.txt".into(),
                content: edited.into_bytes(),
                secret: false,
                redact: Vec::new(),
            });
        }
    }
    match backend {
        Backend::Firstrun => {
            files.push(BootFile {
                name: crate::contract::HOOK_SCRIPT.to_string(),
                content: firstboot::hook_script(plan, &setup, &target.boot_mount).into_bytes(),
                secret: false,
                redact: Vec::new(),
            });
            for k in &plan.host_keys {
                files.push(BootFile {
                    name: crate::contract::host_key_file(&k.kind),
                    content: k.private.clone().into_bytes(),
                    secret: true,
                    redact: Vec::new(),
                });
            }
            if let Some(hash) = &plan.user.password_hash {
                files.push(BootFile {
                    name: SECRETS_FILE.to_string(),
                    content: format!("{}:{hash}\n", plan.user.name).into_bytes(),
                    secret: true,
                    redact: Vec::new(),
                });
            }
        }
        Backend::CloudInit => {
            // These replace the image's template seed files, not append to them.
            files.push(BootFile {
                name: "user-data".into(),
                content: cloudinit::user_data(plan, &setup).into_bytes(),
                secret: false,
                redact: plan
                    .user
                    .password_hash
                    .iter()
                    .cloned()
                    .chain(private_key_lines(plan))
                    .collect(),
            });
            for (name, content) in [
                ("meta-data", cloudinit::meta_data(plan)),
                ("network-config", cloudinit::network_config(plan)),
            ] {
                files.push(BootFile {
                    name: name.into(),
                    content: content.into_bytes(),
                    secret: false,
                    redact: Vec::new(),
                });
            }
        }
    }
    let mut cmdline_added = permanent;
    cmdline_added.extend(hook.iter().cloned());
    let mut boot_files = vec!["cmdline.txt".to_string()];
    boot_files.extend(files.iter().map(|f| f.name.clone()));
    boot_files.push(STAMP_FILE.to_string());
    let b = target.base.as_ref();
    let stamp = Stamp {
        format: STAMP_FORMAT.into(),
        piprep_version: env!("CARGO_PKG_VERSION").into(),
        cluster: plan.cluster.clone(),
        node: plan.name.clone(),
        role: plan.role.as_str().into(),
        ip: format!("{}/{}", plan.address, plan.prefix),
        profile: plan.profile.name.clone(),
        backend: backend.name().into(),
        backend_reason: reason.into(),
        config_hash: plan.config_hash(),
        cmdline_added: cmdline_added.clone(),
        boot_files,
        base_image: StampBase {
            sha256: b.and_then(|b| b.raw_sha256.clone()),
            download_sha256: b.and_then(|b| b.sha256.clone()),
            url: b.and_then(|b| b.url.clone()),
            release_date: b.and_then(|b| b.release_date.clone()),
            init_format: b.and_then(|b| b.init_format.clone()),
        },
        kubernetes: plan.kubernetes.as_ref().map(kubernetes::stamp),
    };
    files.push(BootFile {
        name: STAMP_FILE.to_string(),
        content: stamp.to_json().into_bytes(),
        secret: false,
        redact: Vec::new(),
    });
    Ok(Rendered {
        cmdline,
        cmdline_added,
        config_added: four_k.then(config_txt::block),
        files,
        rootfs: setup.files,
    })
}

//! Render: NodePlan → the exact cmdline.txt and files bake puts on the boot
//! partition. Pure: no I/O, so `piprep render` and golden tests see precisely
//! what an image would get.

mod backend;
#[cfg(test)]
mod backends_agree;
pub mod boot_file;
pub mod boot_files;
pub mod cloudinit;
pub mod cmdline;
pub mod config_txt;
pub mod firewall;
pub mod firstboot;
pub mod hosts;
pub mod kubeadm;
pub mod network;
pub mod node;
pub mod shell;
pub mod stamp;
mod target;
pub mod yaml;

pub use backend::{Backend, Evidence, choose};
pub use boot_file::BootFile;
pub use target::Target;

use crate::config::plan::NodePlan;
use crate::contract::STAMP_FILE;

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
    pub rootfs: Vec<node::model::RootFile>,
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
    if plan
        .bootstrap()
        .is_some_and(|b| b.cni_origin.is_some() && b.cni.is_none())
    {
        return Err("the [kubernetes] CNI manifest was never read".into());
    }
    let setup = node::node_setup(plan, &target.boot_mount, target.backend.backend);
    let boot = boot_files::writer(target.backend.backend)(plan, &setup, &target.boot_mount);
    let mut permanent = plan.profile.cmdline.clone();
    permanent.extend(setup.cmdline.iter().cloned());
    permanent.extend(boot.permanent);
    let cmdline = match &target.cmdline {
        Some(orig) => Some(
            cmdline::edit(orig, &permanent, &boot.hook, &boot.stale)
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
    let mut files = Vec::new();
    // config.txt only when it changes: nodes without the block keep the image's.
    if let Some(orig) = &target.config_txt {
        let edited = config_txt::edit(orig, four_k);
        if &edited != orig {
            files.push(BootFile::public("config.txt", edited));
        }
    }
    files.extend(boot.files);
    // Secrets the shared node setup carries, the same in both backends.
    files.extend(
        setup
            .secrets
            .iter()
            .map(|p| BootFile::secret(p.boot_name.clone(), p.content.clone())),
    );
    let mut cmdline_added = permanent;
    cmdline_added.extend(boot.hook);
    let mut boot_files = vec!["cmdline.txt".to_string()];
    boot_files.extend(files.iter().map(|f| f.name.clone()));
    boot_files.push(STAMP_FILE.to_string());
    let stamp = stamp::stamp(plan, target, &cmdline_added, boot_files);
    files.push(BootFile::public(STAMP_FILE, stamp.to_json()));
    Ok(Rendered {
        cmdline,
        cmdline_added,
        config_added: four_k.then(config_txt::block),
        files,
        rootfs: setup.files,
    })
}

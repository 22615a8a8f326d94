//! The image a node is rendered for, as far as it changes what is rendered.

use super::backend::{BackendChoice, Evidence, choose};
use super::config_txt;
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
    pub backend: BackendChoice,
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
            backend: choose(mode, Some(&evidence)),
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
            backend: choose(mode, None),
        }
    }
}

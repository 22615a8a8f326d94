//! Which first-boot mechanism a node image uses: Raspberry Pi Imager's
//! `systemd.run=` hook ("firstrun"), or cloud-init's NoCloud seed on the boot
//! partition, which current Raspberry Pi OS images expect (a bare hook races
//! cloud-init there).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::config::inventory::InitMode;
use crate::image::fat::BootView;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    Firstrun,
    CloudInit,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Firstrun => "firstrun",
            Backend::CloudInit => "cloud-init",
        }
    }

    /// The backend a stamp names; stamps only ever name these two.
    pub fn from_name(name: &str) -> Backend {
        if name == Backend::CloudInit.name() {
            Backend::CloudInit
        } else {
            Backend::Firstrun
        }
    }
}

/// What the image says about cloud-init.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// cloud-init is installed in the root filesystem.
    pub installed: bool,
    /// The boot partition holds a NoCloud seed (user-data and meta-data).
    pub seeded: bool,
    /// `init_format` from the OS list, when the image came from it.
    pub init_format: Option<String>,
}

impl Evidence {
    /// What a root filesystem's packages and a boot partition's files say.
    pub fn read(installed: &BTreeSet<String>, boot: &BootView, init_format: Option<&str>) -> Self {
        Evidence {
            installed: installed.contains("cloud-init"),
            seeded: ["user-data", "meta-data"]
                .iter()
                .all(|n| boot.entry(n).is_some()),
            init_format: init_format.map(str::to_string),
        }
    }
}

/// The backend and, in words, why: the one place that decides it, for
/// render, bake and inspect. Without evidence (no image at hand), `auto`
/// means firstrun.
pub fn choose(mode: InitMode, e: Option<&Evidence>) -> (Backend, String) {
    match mode {
        InitMode::Firstrun => (Backend::Firstrun, "[image] init = \"firstrun\"".into()),
        InitMode::CloudInit => (Backend::CloudInit, "[image] init = \"cloud-init\"".into()),
        InitMode::Auto => {
            let Some(e) = e else {
                return (
                    Backend::Firstrun,
                    "auto, without an image: firstrun (pass --image to decide from the image)"
                        .into(),
                );
            };
            if let Some(f) = e
                .init_format
                .as_deref()
                .filter(|f| f.starts_with("cloudinit"))
            {
                (
                    Backend::CloudInit,
                    format!("auto: the OS list gives init_format \"{f}\""),
                )
            } else if e.installed && e.seeded {
                (
                    Backend::CloudInit,
                    "auto: cloud-init is installed and the boot partition holds a NoCloud seed"
                        .into(),
                )
            } else if e.installed {
                (
                    Backend::Firstrun,
                    "auto: cloud-init is installed but not seeded from the boot partition".into(),
                )
            } else {
                (
                    Backend::Firstrun,
                    "auto: no cloud-init in the root filesystem".into(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_by_evidence_and_override() {
        let none = Evidence::default();
        assert_eq!(choose(InitMode::Auto, Some(&none)).0, Backend::Firstrun);
        let seeded = Evidence {
            installed: true,
            seeded: true,
            init_format: None,
        };
        assert_eq!(choose(InitMode::Auto, Some(&seeded)).0, Backend::CloudInit);
        let unseeded = Evidence {
            installed: true,
            seeded: false,
            init_format: None,
        };
        assert_eq!(choose(InitMode::Auto, Some(&unseeded)).0, Backend::Firstrun);
        let listed = Evidence {
            init_format: Some("cloudinit-rpi".into()),
            ..Default::default()
        };
        assert_eq!(choose(InitMode::Auto, Some(&listed)).0, Backend::CloudInit);
        let systemd = Evidence {
            init_format: Some("systemd".into()),
            ..Default::default()
        };
        assert_eq!(choose(InitMode::Auto, Some(&systemd)).0, Backend::Firstrun);
        assert_eq!(
            choose(InitMode::Firstrun, Some(&seeded)).0,
            Backend::Firstrun
        );
        assert_eq!(
            choose(InitMode::CloudInit, Some(&none)).0,
            Backend::CloudInit
        );
        assert_eq!(choose(InitMode::Auto, None).0, Backend::Firstrun);
        assert_eq!(choose(InitMode::CloudInit, None).0, Backend::CloudInit);
    }
}

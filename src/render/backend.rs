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

/// The backend a node image uses, and in words why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendChoice {
    pub backend: Backend,
    pub reason: String,
}

impl BackendChoice {
    fn new(backend: Backend, reason: impl Into<String>) -> BackendChoice {
        BackendChoice {
            backend,
            reason: reason.into(),
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
pub fn choose(mode: InitMode, e: Option<&Evidence>) -> BackendChoice {
    let (backend, reason) = match mode {
        InitMode::Firstrun => (Backend::Firstrun, "[image] init = \"firstrun\"".into()),
        InitMode::CloudInit => (Backend::CloudInit, "[image] init = \"cloud-init\"".into()),
        InitMode::Auto => match e {
            None => (
                Backend::Firstrun,
                "auto, without an image: firstrun (pass --image to decide from the image)".into(),
            ),
            Some(e) => auto(e),
        },
    };
    BackendChoice::new(backend, reason)
}

fn auto(e: &Evidence) -> (Backend, String) {
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
            "auto: cloud-init is installed and the boot partition holds a NoCloud seed".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_by_evidence_and_override() {
        let none = Evidence::default();
        assert_eq!(
            choose(InitMode::Auto, Some(&none)).backend,
            Backend::Firstrun
        );
        let seeded = Evidence {
            installed: true,
            seeded: true,
            init_format: None,
        };
        assert_eq!(
            choose(InitMode::Auto, Some(&seeded)).backend,
            Backend::CloudInit
        );
        let unseeded = Evidence {
            installed: true,
            seeded: false,
            init_format: None,
        };
        assert_eq!(
            choose(InitMode::Auto, Some(&unseeded)).backend,
            Backend::Firstrun
        );
        let listed = Evidence {
            init_format: Some("cloudinit-rpi".into()),
            ..Default::default()
        };
        assert_eq!(
            choose(InitMode::Auto, Some(&listed)).backend,
            Backend::CloudInit
        );
        let systemd = Evidence {
            init_format: Some("systemd".into()),
            ..Default::default()
        };
        assert_eq!(
            choose(InitMode::Auto, Some(&systemd)).backend,
            Backend::Firstrun
        );
        assert_eq!(
            choose(InitMode::Firstrun, Some(&seeded)).backend,
            Backend::Firstrun
        );
        assert_eq!(
            choose(InitMode::CloudInit, Some(&none)).backend,
            Backend::CloudInit
        );
        assert_eq!(choose(InitMode::Auto, None).backend, Backend::Firstrun);
        assert_eq!(
            choose(InitMode::CloudInit, None).backend,
            Backend::CloudInit
        );
    }
}

//! Which first-boot mechanism a node image uses: Raspberry Pi Imager's
//! `systemd.run=` hook ("firstrun"), or cloud-init's NoCloud seed on the boot
//! partition, which current Raspberry Pi OS images expect (a bare hook races
//! cloud-init there).

use serde::Serialize;

use crate::config::inventory::InitMode;

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

/// The backend and, in words, why.
pub fn choose(mode: InitMode, e: &Evidence) -> (Backend, String) {
    match mode {
        InitMode::Firstrun => (Backend::Firstrun, "[image] init = \"firstrun\"".into()),
        InitMode::CloudInit => (Backend::CloudInit, "[image] init = \"cloud-init\"".into()),
        InitMode::Auto => {
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
        assert_eq!(choose(InitMode::Auto, &none).0, Backend::Firstrun);
        let seeded = Evidence {
            installed: true,
            seeded: true,
            init_format: None,
        };
        assert_eq!(choose(InitMode::Auto, &seeded).0, Backend::CloudInit);
        let unseeded = Evidence {
            installed: true,
            seeded: false,
            init_format: None,
        };
        assert_eq!(choose(InitMode::Auto, &unseeded).0, Backend::Firstrun);
        let listed = Evidence {
            init_format: Some("cloudinit-rpi".into()),
            ..Default::default()
        };
        assert_eq!(choose(InitMode::Auto, &listed).0, Backend::CloudInit);
        let systemd = Evidence {
            init_format: Some("systemd".into()),
            ..Default::default()
        };
        assert_eq!(choose(InitMode::Auto, &systemd).0, Backend::Firstrun);
        assert_eq!(choose(InitMode::Firstrun, &seeded).0, Backend::Firstrun);
        assert_eq!(choose(InitMode::CloudInit, &none).0, Backend::CloudInit);
    }
}

//! The node's Wi-Fi: the regulatory domain on the kernel command line (as
//! Raspberry Pi Imager sets it; Raspberry Pi OS keeps the radio blocked
//! without one), and the NetworkManager keyfile, which holds the PSK and so
//! travels as a secret. The offline preparation unblocks the radio.

use super::model::{Check, Part, PlacedSecret};
use crate::config::plan::NodePlan;
use crate::render::network;

/// The keyfile's name on the boot partition.
pub const WIFI_BOOT_FILE: &str = "piprep-wifi.nmconnection";

pub fn part(plan: &NodePlan) -> Part {
    let Some(w) = &plan.wifi else {
        return Part::default();
    };
    let regdom = format!("cfg80211.ieee80211_regdom={}", w.country);
    Part {
        cmdline: vec![regdom.clone()],
        secrets: vec![PlacedSecret {
            boot_name: WIFI_BOOT_FILE.to_string(),
            dest: network::WIFI_KEYFILE_PATH.to_string(),
            content: network::wifi_keyfile(plan, w),
        }],
        checks: vec![Check::Cmdline(vec![regdom]), Check::Wifi],
        ..Part::default()
    }
}

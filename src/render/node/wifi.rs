//! The node's Wi-Fi: the regulatory domain on the kernel command line (as
//! Raspberry Pi Imager sets it; Raspberry Pi OS keeps the radio blocked
//! without one), and the NetworkManager keyfile, which holds the PSK and so
//! travels as a secret. The offline preparation unblocks the radio.

use super::model::{Check, Part, PlacedSecret, RootFile};
use crate::config::plan::NodePlan;
use crate::render::network;
use crate::render::shell::fill;

pub const WATCH_PATH: &str = "/usr/local/lib/piprep/wifi-watch.sh";
const WATCH: &str = include_str!("../templates/wifi-watch.sh");
const WATCH_SERVICE: &str = include_str!("../templates/piprep-wifi-watch.service");
const WATCH_TIMER: &str = include_str!("../templates/piprep-wifi-watch.timer");

/// The keyfile's name on the boot partition.
pub const WIFI_BOOT_FILE: &str = "piprep-wifi.nmconnection";

pub fn part(plan: &NodePlan) -> Part {
    let Some(w) = &plan.wifi else {
        return Part::default();
    };
    let regdom = format!("cfg80211.ieee80211_regdom={}", w.country);
    // NetworkManager gives up a connection whose handshake failed once (no
    // secret agent on a headless node): a timer brings it up again. Enabled
    // by the offline preparation's set_wifi.
    let watch = fill(
        WATCH,
        &[("WIFI_CONNECTION", network::WIFI_CONNECTION.to_string())],
    );
    Part {
        files: vec![
            RootFile::root(WATCH_PATH, "0755", watch),
            RootFile::root(
                "/etc/systemd/system/piprep-wifi-watch.service",
                "0644",
                WATCH_SERVICE.to_string(),
            ),
            RootFile::root(
                "/etc/systemd/system/piprep-wifi-watch.timer",
                "0644",
                WATCH_TIMER.to_string(),
            ),
        ],
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

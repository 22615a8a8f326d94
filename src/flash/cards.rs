//! `piprep cards`: the removable disks a card could be in, as `flash` sees
//! them, and which node's image each holds (its piprep stamp), so the right
//! card goes into the right Pi.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::device::{self, SystemView};

#[derive(Debug, Serialize)]
pub struct Card {
    pub device: PathBuf,
    pub model: String,
    pub size: u64,
    pub transport: &'static str,
    pub removable: bool,
    pub partitions: Vec<String>,
    pub mounted: Vec<String>,
    /// What is on it: `piprep image of NODE (cluster C)`, `partitioned`,
    /// `empty`, or why it could not be read.
    pub holds: String,
    /// The node whose piprep image it holds.
    pub node: Option<String>,
    pub cluster: Option<String>,
}

/// The disks under `sys` (removable ones, or all with `all`), their device
/// nodes in `dev_dir`.
pub fn list(sys: &SystemView, dev_dir: &Path, all: bool) -> Vec<Card> {
    device::disks(sys)
        .into_iter()
        .filter(|(d, _)| all || d.removable)
        .map(|(d, transport)| {
            let path = dev_dir.join(&d.name);
            let (holds, stamp) = holds(&path);
            Card {
                mounted: device::mount_points(&d, sys),
                device: path,
                model: d.model.clone(),
                size: d.size,
                transport,
                removable: d.removable,
                partitions: d.partitions.iter().map(|(n, _)| n.clone()).collect(),
                holds,
                node: stamp.as_ref().map(|s| s.node.clone()),
                cluster: stamp.map(|s| s.cluster),
            }
        })
        .collect()
}

fn holds(path: &Path) -> (String, Option<crate::contract::Stamp>) {
    let head = match crate::source::content::head(path) {
        Ok(h) => h,
        Err(e)
            if e.kind() == std::io::ErrorKind::PermissionDenied
                // SAFETY: geteuid has no preconditions and cannot fail.
                && unsafe { libc::geteuid() } != 0 =>
        {
            return (
                "cannot read it (join the `disk` group, or run as root)".into(),
                None,
            );
        }
        Err(e) => return (format!("cannot read it: {e}"), None),
    };
    if head.iter().all(|b| *b == 0) {
        return ("no partition table (empty or wiped)".into(), None);
    }
    if !crate::source::content::has_partition_table(&head) {
        return ("no partition table".into(), None);
    }
    match crate::contract::read_stamp(path) {
        Some(s) => (
            format!("piprep image of {} (cluster {})", s.node, s.cluster),
            Some(s),
        ),
        None => ("partitioned, no piprep image".into(), None),
    }
}

/// The table `piprep cards` prints.
pub fn table(cards: &[Card]) -> String {
    let rows: Vec<[String; 6]> = cards
        .iter()
        .map(|c| {
            [
                c.device.display().to_string(),
                crate::image::human_size(c.size),
                c.transport.to_string(),
                c.model.clone(),
                if c.mounted.is_empty() {
                    c.partitions.len().to_string()
                } else {
                    format!("{} (mounted: {})", c.partitions.len(), c.mounted.join(" "))
                },
                c.holds.clone(),
            ]
        })
        .collect();
    let head = ["DEVICE", "SIZE", "BUS", "MODEL", "PARTITIONS", "HOLDS"];
    let mut w = head.map(str::len);
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 5 {
                s += c;
            } else {
                s += &format!("{c:<width$}  ", width = w[i]);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head);
    for r in &rows {
        out += &line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
    out
}

//! What the root filesystem offers for the regional settings: its time
//! zones (/usr/share/zoneinfo), supported locales (/usr/share/i18n/SUPPORTED)
//! and keyboard layouts (XKB's evdev.lst). None where the image lacks them.

use std::collections::BTreeSet;

use ext4_view::Ext4;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionalFacts {
    pub zones: Option<BTreeSet<String>>,
    pub locales: Option<BTreeSet<String>>,
    pub keyboards: Option<BTreeSet<String>>,
}

const ZONEINFO: &str = "/usr/share/zoneinfo";
pub const SUPPORTED: &str = "/usr/share/i18n/SUPPORTED";
pub const EVDEV_LST: &str = "/usr/share/X11/xkb/rules/evdev.lst";
/// More names than any tzdata has: past it the directory is damage.
const MAX_ZONES: usize = 5000;

pub fn read(
    fs: &Ext4,
    read_text: impl Fn(&Ext4, &str) -> Result<Option<String>, String>,
) -> Result<RegionalFacts, String> {
    Ok(RegionalFacts {
        zones: zones(fs)?,
        locales: read_text(fs, SUPPORTED)?.map(|t| supported_locales(&t)),
        keyboards: read_text(fs, EVDEV_LST)?.map(|t| evdev_layouts(&t)),
    })
}

/// Zone names: files and links under zoneinfo whose every component starts
/// with a capital (`Europe/Berlin`, `UTC`; not `posix/…`, `zone.tab`).
fn zones(fs: &Ext4) -> Result<Option<BTreeSet<String>>, String> {
    match fs.exists(ZONEINFO) {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read {ZONEINFO} in the root filesystem: {e}"
            ));
        }
    }
    let mut out = BTreeSet::new();
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        let dir = format!("{ZONEINFO}{rel}");
        let entries = fs
            .read_dir(dir.as_str())
            .map_err(|e| format!("cannot read {dir} in the root filesystem: {e}"))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| format!("cannot read {dir} in the root filesystem: {e}"))?;
            let Ok(name) = entry.file_name().as_str().map(str::to_string) else {
                continue;
            };
            if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue;
            }
            let path = format!("{rel}/{name}");
            let kind = entry
                .file_type()
                .map_err(|e| format!("cannot read {ZONEINFO}{path} in the root filesystem: {e}"))?;
            if kind.is_dir() {
                if path.matches('/').count() < 4 {
                    dirs.push(path);
                }
            } else if kind.is_regular_file() || kind.is_symlink() {
                out.insert(path[1..].to_string());
            }
            if out.len() > MAX_ZONES {
                return Err(format!(
                    "{ZONEINFO} in the root filesystem has more than {MAX_ZONES} entries; it is damaged"
                ));
            }
        }
    }
    Ok(Some(out))
}

/// `en_GB.UTF-8 UTF-8` lines: the locale is the first field.
pub fn supported_locales(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The `! layout` section of evdev.lst: `  gb              English (UK)`.
pub fn evdev_layouts(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in text.lines() {
        if let Some(section) = line.strip_prefix('!') {
            inside = section.trim() == "layout";
        } else if inside && let Some(name) = line.split_whitespace().next() {
            out.insert(name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_come_from_their_section_only() {
        let t = "! model\n  pc105  Generic\n\n! layout\n  us   English (US)\n  gb   English (UK)\n\n! variant\n  extd  gb: English (UK, extended)\n";
        let l = evdev_layouts(t);
        assert_eq!(l.into_iter().collect::<Vec<_>>(), ["gb", "us"]);
    }

    #[test]
    fn supported_takes_the_first_field() {
        let l = supported_locales("# comment\nen_GB.UTF-8 UTF-8\nen_GB ISO-8859-1\n");
        assert!(l.contains("en_GB.UTF-8") && l.contains("en_GB") && l.len() == 2);
    }
}

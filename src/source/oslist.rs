//! Raspberry Pi Imager's OS list (`os_list_imagingutility_v4.json`): entries are
//! nested in `subitems`; an entry names its image `url`, checksums and
//! `init_format`.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Entry {
    #[serde(default)]
    pub name: String,
    pub url: Option<String>,
    pub image_download_sha256: Option<String>,
    pub image_download_size: Option<u64>,
    pub extract_sha256: Option<String>,
    pub extract_size: Option<u64>,
    pub release_date: Option<String>,
    pub init_format: Option<String>,
    #[serde(default)]
    pub subitems: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct List {
    os_list: Vec<Entry>,
}

fn flatten<'a>(entries: &'a [Entry], out: &mut Vec<&'a Entry>) {
    for e in entries {
        if e.url.is_some() {
            out.push(e);
        }
        flatten(&e.subitems, out);
    }
}

/// Find the image entry named `name` (case-insensitive). The error lists the
/// closest names.
pub fn find(json: &str, name: &str) -> Result<Entry, String> {
    let list: List = serde_json::from_str(json)
        .map_err(|e| format!("not a Raspberry Pi Imager OS list: {e}"))?;
    let mut all = Vec::new();
    flatten(&list.os_list, &mut all);
    if let Some(e) = all.iter().find(|e| e.name.eq_ignore_ascii_case(name)) {
        return Ok((*e).clone());
    }
    let lname = name.to_lowercase();
    let mut scored: Vec<(usize, &str)> = all
        .iter()
        .map(|e| {
            let n = e.name.to_lowercase();
            let shared = lname.split_whitespace().filter(|w| n.contains(w)).count();
            (shared, e.name.as_str())
        })
        .filter(|(s, _)| *s > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let close: Vec<&str> = scored.iter().take(5).map(|(_, n)| *n).collect();
    Err(if close.is_empty() {
        format!(
            "no image named \"{name}\" in the OS list ({} images)",
            all.len()
        )
    } else {
        format!(
            "no image named \"{name}\" in the OS list; close names: \"{}\"",
            close.join("\", \"")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"{"os_list": [
        {"name": "Raspberry Pi OS (64-bit)", "url": "https://x/full.img.xz", "image_download_sha256": "aa"},
        {"name": "Raspberry Pi OS (other)", "subitems": [
            {"name": "Raspberry Pi OS Lite (64-bit)", "url": "https://x/lite.img.xz", "image_download_sha256": "bb",
             "extract_sha256": "cc", "extract_size": 100, "release_date": "2025-10-01", "init_format": "cloudinit-rpi"},
            {"name": "Raspberry Pi OS Lite (Legacy, 64-bit)", "url": "https://x/legacy.img.xz", "image_download_sha256": "dd", "init_format": "systemd"}
        ]}
    ]}"#;

    #[test]
    fn finds_nested_entries_and_suggests() {
        let e = find(LIST, "raspberry pi os lite (64-bit)").unwrap();
        assert_eq!(e.url.as_deref(), Some("https://x/lite.img.xz"));
        assert_eq!(e.init_format.as_deref(), Some("cloudinit-rpi"));
        assert_eq!(e.release_date.as_deref(), Some("2025-10-01"));
        let err = find(LIST, "Raspberry Pi OS Lite 32-bit").unwrap_err();
        assert!(err.contains("Raspberry Pi OS Lite (64-bit)"), "{err}");
        assert!(find("{}", "x").is_err());
    }
}

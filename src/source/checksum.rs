//! The sha256 a base image must have: given in the inventory, or read from a
//! `sha256sum`-format sidecar beside the file or the URL.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A sidecar in `sha256sum` format: `HASH  NAME`. The name must match the file.
pub fn parse_sidecar(text: &str, url: &str) -> std::result::Result<String, String> {
    let want_name = url.rsplit('/').next().unwrap_or(url);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or("the checksum file is empty")?;
    let mut parts = line.split_whitespace();
    let hash = parts.next().unwrap_or("").to_lowercase();
    let name = parts
        .next()
        .map(|n| n.trim_start_matches('*'))
        .unwrap_or("");
    if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        let shown: String = line.chars().take(80).collect();
        return Err(format!(
            "`{}{}` is not in sha256sum format (HASH  NAME)",
            shown.escape_debug(),
            if line.chars().count() > 80 { "…" } else { "" }
        ));
    }
    if !name.is_empty() && name.rsplit('/').next() != Some(want_name) {
        return Err(format!(
            "the checksum file is for `{name}`, not `{want_name}`"
        ));
    }
    Ok(hash)
}

/// The sha256 a local image must have, and who says so.
pub struct Expected {
    sha256: String,
    from: String,
}

impl Expected {
    pub fn check(&self, path: &Path, got: &str) -> Result<()> {
        if got == self.sha256 {
            return Ok(());
        }
        Err(Error::image(format!(
            "checksum mismatch for {}: {} says sha256 {}, the file has {got}; nothing was cached (use the right file, or fix the checksum)",
            path.display(),
            self.from,
            self.sha256
        )))
    }
}

/// `[image] sha256` for a path, else a `FILE.sha256` sidecar beside it.
pub fn expected_sha(path: &Path, given: Option<&str>) -> Result<Option<Expected>> {
    if let Some(s) = given {
        let sha = valid_sha(s).ok_or_else(|| {
            Error::config(format!(
                "[image] sha256 `{}` is not 64 hex digits",
                s.escape_debug()
            ))
        })?;
        return Ok(Some(Expected {
            sha256: sha,
            from: "[image] sha256".into(),
        }));
    }
    let mut side = path.as_os_str().to_owned();
    side.push(".sha256");
    let side = PathBuf::from(side);
    let text = match read_capped(&side, 64 << 10) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::image_io(&side, "cannot read", &e)),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sha = parse_sidecar(&text, &name)
        .map_err(|e| Error::image(format!("{}: {e}", side.display())))?;
    Ok(Some(Expected {
        sha256: sha,
        from: side.display().to_string(),
    }))
}

/// A small text file, refused past `cap` bytes (a checksum file is one line).
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<String> {
    crate::io::input::read_text(path, cap)
}

pub fn valid_sha(s: &str) -> Option<String> {
    let s = s.trim().to_lowercase();
    (s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())).then_some(s)
}

//! What Raspberry Pi Imager customises: Wi-Fi (the PSK checked against
//! `wpa_passphrase`, the keyfile read back with mtools, every refusal with
//! file:line), time zone, locale and keyboard (validated against the base
//! image's own lists, applied by the rendered scripts in a chroot), in both
//! backends. Regenerate goldens with UPDATE_GOLDEN=1.

mod regional;
mod wifi;

use crate::support::*;
use std::path::{Path, PathBuf};

pub const PASSPHRASE: &str = "correct horse battery";

/// A scratch directory with tests/data/imager.toml (`edit` applied) and its
/// passphrase file (0600).
pub fn inventory(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch(&format!("imager-{name}"));
    let text = std::fs::read_to_string(data().join("imager.toml")).unwrap();
    std::fs::write(dir.join("piprep.toml"), edit(text)).unwrap();
    let pass = dir.join("wifi.pass");
    std::fs::write(&pass, format!("{PASSPHRASE}\n")).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

/// The inventory pointed at a fixture image built with `args`.
pub fn with_image(name: &str, args: &[&str], edit: impl Fn(String) -> String) -> PathBuf {
    let dir = inventory(name, edit);
    let img = fixture_copy("bookworm", args, &dir);
    let t = std::fs::read_to_string(dir.join("piprep.toml")).unwrap();
    std::fs::write(
        dir.join("piprep.toml"),
        t.replace(
            "path = \"unused.img\"",
            &format!("path = \"{}\"", img.display()),
        ),
    )
    .unwrap();
    dir
}

/// `piprep validate` in `dir` (extra args appended): exit code and all output.
pub fn validate(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["validate"];
    args.extend(extra);
    let o = piprep(dir, &args);
    (o.status.code(), format!("{}{}", stdout(&o), stderr(&o)))
}

/// The 1-based line of the first line of piprep.toml in `dir` starting with `prefix`.
pub fn line_of(dir: &Path, prefix: &str) -> usize {
    let t = std::fs::read_to_string(dir.join("piprep.toml")).unwrap();
    t.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}

/// Refused with exit 2, at `piprep.toml:LINE:`, with a fix and `needle`.
pub fn refused(dir: &Path, extra: &[&str], line: usize, needle: &str) {
    let (code, text) = validate(dir, extra);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!("piprep.toml:{line}:")),
        "no line {line}: {text}"
    );
    assert!(text.contains("fix: "), "{text}");
    assert!(text.contains(needle), "expected {needle:?} in {text}");
    assert!(!text.contains("panicked"), "{text}");
}

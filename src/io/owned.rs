//! What piprep may delete or replace: only what it marked as its own. A
//! directory piprep makes for its output (a `render --out` tree, a scratch
//! directory) gets a marker file when it is made; one without the marker is
//! the user's, and piprep refuses to touch it instead of guessing.

use std::path::Path;

use super::atomic::{Holds, create_private_dir, write_atomic};

/// The marker's name, inside a directory piprep made.
pub const MARKER: &str = ".piprep-owned";

const MARKER_TEXT: &[u8] =
    b"piprep made this directory and may replace or remove it; remove this file to keep it from piprep\n";

/// Whether `dir` carries piprep's marker (a regular file, not a link).
pub fn is_marked(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file())
        && std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
}

/// Make `dir` piprep's: created 0700 and marked when new or empty; kept when
/// already marked. A directory that holds anything else, or a path that is
/// not a directory, is the user's: Err(why), with the fix.
pub fn claim_dir(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
        Ok(m) if !m.is_dir() => {
            return Err(format!(
                "{} exists and is not a directory; choose a new directory",
                dir.display()
            ));
        }
        Ok(_) if is_marked(dir) => return Ok(()),
        Ok(_) => {
            let empty = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                .next()
                .is_none();
            if !empty {
                return Err(format!(
                    "{} is not empty and piprep did not make it (no {MARKER} in it), so piprep will not write or remove anything there; choose a new or empty directory",
                    dir.display()
                ));
            }
        }
    }
    write_atomic(&dir.join(MARKER), MARKER_TEXT, Holds::Public)
        .map_err(|e| format!("cannot write {}: {e}", dir.join(MARKER).display()))
}

/// Remove `dir` and all in it, if piprep marked it; a directory without the
/// marker is left alone (Ok(false)).
pub fn remove_marked(dir: &Path) -> std::io::Result<bool> {
    if !is_marked(dir) {
        return Ok(false);
    }
    std::fs::remove_dir_all(dir).map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_marked_directories_are_piprep_s() {
        let t = tempfile::tempdir().unwrap();
        let new = t.path().join("new");
        claim_dir(&new).unwrap();
        assert!(is_marked(&new));
        claim_dir(&new).unwrap(); // again: still ours
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        let users = t.path().join("users");
        std::fs::create_dir(&users).unwrap();
        std::fs::write(users.join("thesis.tex"), "mine").unwrap();
        let why = claim_dir(&users).unwrap_err();
        assert!(
            why.contains("not empty and piprep did not make it"),
            "{why}"
        );
        assert!(!remove_marked(&users).unwrap());
        assert!(users.join("thesis.tex").exists());

        // A marker that is a link is not a marker.
        std::os::unix::fs::symlink(new.join(MARKER), users.join(MARKER)).unwrap();
        assert!(!is_marked(&users));

        assert!(remove_marked(&new).unwrap());
        assert!(!new.exists());
    }
}

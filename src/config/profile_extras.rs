//! What a profile adds beyond the guide, as sdm's plugins and cloud-init's
//! `packages`/`write_files`/`runcmd` do: Debian packages, files (inline or
//! from a file beside the profile) and commands run once after the network
//! is up. The files and commands are the user's own content, delivered as
//! written; only `run` is code, and only what the user wrote there.

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::toml_file::{Location, SourceFile};
use crate::error::{Error, Result};

/// `[[file]]` as written in a profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLayer {
    path: String,
    mode: Option<String>,
    owner: Option<String>,
    content: Option<String>,
    /// A file relative to the profile's own file.
    source: Option<String>,
}

/// A file a profile installs, its content read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProfileFile {
    pub path: String,
    pub mode: String,
    pub owner: String,
    pub content: String,
    #[serde(skip)]
    pub at: Option<Location>,
}

pub const DEFAULT_MODE: &str = "0644";
pub const DEFAULT_OWNER: &str = "root:root";

/// The largest file a profile may carry: it rides in a script on the boot
/// partition.
pub const MAX_FILE_BYTES: usize = 256 << 10;

impl FileLayer {
    pub(super) fn load(self, at: Location, src: &SourceFile) -> Result<ProfileFile> {
        let content = match (self.content, self.source) {
            (Some(c), None) => c,
            (None, Some(s)) => read_source(&s, &at, src)?,
            (Some(_), Some(_)) => {
                return Err(Error::config(format!(
                    "{at}: file {} has both `content` and `source`; keep one",
                    self.path
                )));
            }
            (None, None) => {
                return Err(Error::config(format!(
                    "{at}: file {} has neither `content` nor `source`; add `content = \"…\"` or `source = \"FILE\"` (relative to the profile)",
                    self.path
                )));
            }
        };
        Ok(ProfileFile {
            path: self.path,
            mode: self.mode.unwrap_or_else(|| DEFAULT_MODE.into()),
            owner: self.owner.unwrap_or_else(|| DEFAULT_OWNER.into()),
            content,
            at: Some(at),
        })
    }
}

fn read_source(rel: &str, at: &Location, src: &SourceFile) -> Result<String> {
    if src.name.starts_with("<built-in>") {
        return Err(Error::config(format!(
            "{at}: a built-in profile cannot read `source` files"
        )));
    }
    let dir = Path::new(&src.name).parent().unwrap_or(Path::new(""));
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::config(format!(
            "{at}: cannot read `source = \"{rel}\"` ({}): {e}; the path is relative to the profile's file",
            path.display()
        ))
    })?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Error::config(format!(
            "{at}: {} is {} bytes, more than the {MAX_FILE_BYTES} a profile file may carry; install large files with a package or a `run` command",
            path.display(),
            bytes.len()
        )));
    }
    String::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(|| {
            Error::config(format!(
                "{at}: {} is not text (UTF-8 without NUL bytes); piprep carries text files only: install binaries with a package",
                path.display()
            ))
        })
}

/// Merge `files` into `into`: a later layer's file replaces an earlier one
/// at the same path, in its place.
pub(super) fn merge_files(
    into: &mut Vec<ProfileFile>,
    files: Vec<Spanned<FileLayer>>,
    src: &SourceFile,
) -> Result<()> {
    for f in files {
        let at = src.at(f.span().start);
        let f = f.into_inner().load(at, src)?;
        match into.iter_mut().find(|x| x.path == f.path) {
            Some(old) => *old = f,
            None => into.push(f),
        }
    }
    Ok(())
}

/// Append what is not there yet, in order.
pub(super) fn append_new(into: &mut Vec<String>, items: Vec<String>) {
    for i in items {
        if !into.contains(&i) {
            into.push(i);
        }
    }
}

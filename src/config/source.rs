//! A loaded TOML file remembered with its text, so any byte span or key can be
//! turned into `file:line` for error messages.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Shown to the user: the path as given, or `<built-in>/NAME.toml`.
    pub name: String,
    pub text: String,
}

/// A position for a message: `piprep.toml:17`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let fix = if e.kind() == std::io::ErrorKind::NotFound {
                "; create it (see README) or pass --config PATH"
            } else {
                ""
            };
            Error::config(format!("cannot read {}: {e}{fix}", path.display()))
        })?;
        Ok(SourceFile {
            name: path.display().to_string(),
            text,
        })
    }

    pub fn builtin(name: &str, text: &str) -> Self {
        SourceFile {
            name: format!("<built-in>/{name}.toml"),
            text: text.to_string(),
        }
    }

    pub fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    pub fn at(&self, offset: usize) -> Location {
        Location {
            file: self.name.clone(),
            line: self.line_at(offset),
        }
    }

    /// The first line that mentions `needle` (for keys we do not keep spans of).
    pub fn find(&self, needle: &str) -> Location {
        let offset = self.text.find(needle).unwrap_or(0);
        self.at(offset)
    }

    /// Parse with serde; an error becomes `file:line: message`, naming unknown keys.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        toml::from_str(&self.text).map_err(|e| {
            let line = e.span().map(|s| self.line_at(s.start)).unwrap_or(1);
            let msg = e.message().trim().replace('\n', " ");
            Error::config(format!("{}:{line}: {msg}", self.name))
        })
    }
}

/// Directory the inventory lives in; relative paths in it are resolved from here.
pub fn base_dir(config_path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

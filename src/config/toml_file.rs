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

/// A config file that could not be read or parsed, with where and why: the
/// one-line error of every command, and a finding of `validate --json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadError {
    pub file: String,
    /// 0 when the file could not be read at all.
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}; {}", self.message, self.fix)
        } else {
            write!(
                f,
                "{}:{}: {}; fix: {}",
                self.file, self.line, self.message, self.fix
            )
        }
    }
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Error {
        Error::config(e.to_string())
    }
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self> {
        Ok(Self::read_detailed(path)?)
    }

    pub fn read_detailed(path: &Path) -> Result<Self, LoadError> {
        let text = crate::io::input::read_text(path, crate::io::input::TEXT_CAP).map_err(|e| {
            LoadError {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read {}: {e}", path.display()),
                fix: if e.kind() == std::io::ErrorKind::NotFound {
                    "create it (see README) or pass --config PATH".into()
                } else {
                    "make it a readable UTF-8 text file".into()
                },
            }
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
        Ok(self.parse_detailed()?)
    }

    pub fn parse_detailed<T: DeserializeOwned>(&self) -> Result<T, LoadError> {
        toml::from_str(&self.text).map_err(|e| {
            let start = e.span().map_or(0, |s| s.start.min(self.text.len()));
            let line = self.line_at(start);
            let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
            LoadError {
                file: self.name.clone(),
                line,
                column: self.text[line_start..start].chars().count() + 1,
                message: e.message().trim().replace('\n', " "),
                fix: fix_for(e.message()),
            }
        })
    }
}

/// The fix for a TOML or type error, by what the parser said.
fn fix_for(message: &str) -> String {
    let m = message.trim();
    if m.contains("expected a sequence") {
        "write the value as a list in brackets, such as [\"…\"], even for one item".into()
    } else if let Some(field) = m
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        format!("add `{field} = …` to this table (see README for what it takes)")
    } else if m.starts_with("unknown field") {
        "remove or rename the key: the keys this table takes are listed above".into()
    } else if m.contains("expected a string") {
        "put the value in double quotes".into()
    } else if m.contains("expected a boolean") {
        "write true or false, without quotes".into()
    } else if m.contains("expected an integer") || m.contains("expected u") {
        "write a number, without quotes".into()
    } else {
        "correct the TOML at that line (see README for the keys)".into()
    }
}

/// Directory the inventory lives in; relative paths in it are resolved from here.
pub fn base_dir(config_path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

//! The findings collector every part of validation writes to.

use toml::Spanned;

use crate::config::Config;
use crate::config::finding::{Finding, Severity};
use crate::config::toml_file::Location;

/// Collects findings; shared by the checks of each part.
pub struct Checker<'a> {
    pub cfg: &'a Config,
    pub out: Vec<Finding>,
}

impl Checker<'_> {
    pub fn at<T>(&self, s: &Spanned<T>) -> Location {
        self.cfg.source.at(s.span().start)
    }
    pub fn push(
        &mut self,
        severity: Severity,
        at: Location,
        node: Option<&str>,
        msg: String,
        fix: &str,
    ) {
        let f = Finding {
            severity,
            at,
            node: node.map(str::to_string),
            message: msg,
            fix: fix.to_string(),
        };
        if !self.out.contains(&f) {
            self.out.push(f);
        }
    }
    pub fn error(&mut self, at: Location, node: Option<&str>, msg: String, fix: &str) {
        self.push(Severity::Error, at, node, msg, fix);
    }
    pub fn errors(&self) -> usize {
        self.out
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

//! What validation reports: findings with a severity, a place, the node and
//! a fix, and the plans of the nodes that passed.

use std::fmt;

use serde::Serialize;

use super::plan::NodePlan;
use super::toml_file::Location;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub at: Location,
    pub node: Option<String>,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {sev}: ", self.at)?;
        if let Some(n) = &self.node {
            write!(f, "node {}: ", one_line(n))?;
        }
        write!(f, "{}; fix: {}", one_line(&self.message), self.fix)
    }
}

/// A message as one printable line, whatever value it quotes.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                c.escape_unicode().to_string()
            }
            c => c.to_string(),
        })
        .collect()
}

/// The outcome of validating an inventory: plans for valid nodes plus findings.
#[derive(Debug, Default)]
pub struct Validated {
    pub plans: Vec<NodePlan>,
    pub findings: Vec<Finding>,
}

impl Validated {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

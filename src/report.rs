//! The first-boot report (`piprep-report.txt`): the format check.sh writes,
//! parsed back for `piprep report`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub check: String,
    pub expected: String,
    pub observed: String,
    pub result: Outcome,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub node: Option<String>,
    pub phase: Option<String>,
    pub generated: Option<String>,
    pub boot_id: Option<String>,
    pub items: Vec<Item>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.result == Outcome::Fail)
            .count()
    }
}

pub const FORMAT: &str = "piprep-report/1";

pub fn parse(text: &str) -> Result<Report, String> {
    let mut r = Report::default();
    let mut format = None;
    let mut header_seen = false;
    for (n, line) in text.lines().enumerate() {
        if let Some(meta) = line.strip_prefix("# ") {
            if let Some((k, v)) = meta.split_once(": ") {
                let v = Some(v.trim().to_string());
                match k {
                    "format" => format = v,
                    "node" => r.node = v,
                    "phase" => r.phase = v,
                    "generated" => r.generated = v,
                    "boot-id" => r.boot_id = v,
                    _ => {}
                }
            }
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if !header_seen {
            if line != "check\texpected\tobserved\tresult" {
                return Err(format!(
                    "line {}: expected the column header, found `{line}`",
                    n + 1
                ));
            }
            header_seen = true;
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 4 {
            return Err(format!(
                "line {}: expected 4 tab-separated fields, found {}",
                n + 1,
                f.len()
            ));
        }
        let result = match f[3] {
            "pass" => Outcome::Pass,
            "warn" => Outcome::Warn,
            "fail" => Outcome::Fail,
            other => return Err(format!("line {}: unknown result `{other}`", n + 1)),
        };
        r.items.push(Item {
            check: f[0].into(),
            expected: f[1].into(),
            observed: f[2].into(),
            result,
        });
    }
    match format.as_deref() {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "unsupported report format `{other}` (this piprep reads {FORMAT})"
            ));
        }
        None => return Err("not a piprep report (no `# format:` line)".into()),
    }
    if r.items.is_empty() {
        return Err("the report has no checks".into());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let text = "# piprep first-boot report\n# format: piprep-report/1\n# node: cp-1\n# phase: setup\ncheck\texpected\tobserved\tresult\nswap.total\t0 kB\t0 kB\tpass\ntime.sync\tsynchronised\tnot yet\twarn\n# result: pass\n";
        let r = parse(text).unwrap();
        assert_eq!(r.node.as_deref(), Some("cp-1"));
        assert_eq!(r.items.len(), 2);
        assert_eq!(r.failures(), 0);
        assert!(parse(&text.replace("\tpass\n", "\tok\n")).is_err());
        assert!(parse(&text.replace("piprep-report/1", "piprep-report/9")).is_err());
        assert!(parse("hello\n").is_err());
    }
}

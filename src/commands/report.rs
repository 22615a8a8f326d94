//! `piprep report`: the first boot's checklist, read back from a card.

use super::context::{Ctx, print, seekable};
use crate::cli::ReportArgs;
use crate::contract::REPORT_FILE;
use crate::error::{Error, Kind, Result};

pub fn report(ctx: &Ctx, args: &ReportArgs) -> Result<()> {
    use crate::report::Outcome;
    let path = &args.image;
    let (readable, _guard) = seekable(ctx, path)?;
    let mut contents = crate::image::read_boot_files(&readable, &[REPORT_FILE])?;
    let Some(bytes) = contents.remove(0) else {
        if args.json {
            // Scripts read stdout: say "no report" there too, not only in the exit code.
            let doc = serde_json::json!({ "image": path.display().to_string(), "report": null, "failures": null, "ok": false });
            print(&(serde_json::to_string_pretty(&doc).expect("json") + "\n"))?;
        }
        return Err(Error::new(
            Kind::NoReport,
            format!(
                "{}: no first-boot report ({}) yet; boot the node with its network cable in, wait for it to settle (it reboots once or twice), then check again",
                path.display(),
                REPORT_FILE
            ),
        ));
    };
    let r = crate::report::parse(&String::from_utf8_lossy(&bytes))
        .map_err(|e| Error::image(format!("{}: {}: {e}", path.display(), REPORT_FILE)))?;
    if args.json {
        let doc = serde_json::json!({ "image": path.display().to_string(), "report": r, "failures": r.failures(), "ok": r.failures() == 0 });
        print(&(serde_json::to_string_pretty(&doc).expect("json") + "\n"))?;
    } else {
        let mut s = format!(
            "node {} — phase {}, written {}\n",
            r.node.as_deref().unwrap_or("?"),
            r.phase.as_deref().unwrap_or("?"),
            r.generated.as_deref().unwrap_or("?")
        );
        let w = r
            .items
            .iter()
            .map(|i| i.check.len())
            .max()
            .unwrap_or(5)
            .max(5);
        s += &format!(
            "{:<4}  {:<w$}  {:<30}  {}\n",
            "", "check", "observed", "expected"
        );
        for i in &r.items {
            let mark = match i.result {
                Outcome::Pass => "PASS",
                Outcome::Warn => "WARN",
                Outcome::Fail => "FAIL",
            };
            s += &format!(
                "{mark:<4}  {:<w$}  {:<30}  {}\n",
                i.check, i.observed, i.expected
            );
        }
        print(&s)?;
    }
    let failures = r.failures();
    if failures > 0 {
        let pending = if r.phase.as_deref() == Some("first-boot-hook") {
            "; this report is from the first-boot hook, before the networked setup ran: boot the node with network and check again"
        } else {
            ""
        };
        return Err(Error::new(
            Kind::ChecksFailed,
            format!(
                "{}: {failures} of {} checks failed{pending}",
                path.display(),
                r.items.len()
            ),
        ));
    }
    Ok(())
}

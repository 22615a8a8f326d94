//! `piprep inspect`: what an image or card holds, read-only.

use super::context::print;
use crate::cli::InspectArgs;
use crate::error::{Error, Result};

pub fn inspect(args: &InspectArgs) -> Result<()> {
    let ins = crate::inspect::inspect(&args.image)?;
    if args.json {
        print(&(serde_json::to_string_pretty(&ins).expect("json") + "\n"))?;
    } else {
        print(&crate::inspect::render_text(&ins))?;
    }
    // Everything readable was shown; a problem still fails the command, so
    // scripts never take a damaged image for a good one.
    match ins.problems.first() {
        Some(p) => Err(Error::image(p.clone())),
        None => Ok(()),
    }
}

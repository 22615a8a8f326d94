//! `piprep inspect`: what an image or card holds, read-only.

use super::context::{Ctx, print, seekable};
use crate::cli::InspectArgs;
use crate::error::{Error, Result};

pub fn inspect(ctx: &Ctx, args: &InspectArgs) -> Result<()> {
    let (readable, _guard) = seekable(ctx, &args.image)?;
    let mut ins = crate::inspect::inspect(&readable)?;
    ins.image = args.image.display().to_string();
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

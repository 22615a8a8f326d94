//! `bake --check-reproducible`: bake again into a scratch directory and
//! compare the images' sha256 values with the manifest's, for the nodes baked
//! now and those already up to date.

use super::Options;
use super::digest::BaseDigest;
use super::parallel::bake_parallel;
use crate::config::plan::NodePlan;
use crate::error::{Error, Result};
use crate::image::BaseImage;

/// The scratch directory's name, before the process id.
pub const SCRATCH_PREFIX: &str = ".reproducibility-check.";

/// Bake the nodes again into a scratch directory and compare sha256 values.
pub fn check_reproducible(
    base: &BaseImage,
    todo: &[&NodePlan],
    digest: Option<&BaseDigest>,
    first: &dyn Fn(&str) -> Option<String>,
    time: fatfs::DateTime,
    opts: &Options,
) -> Result<()> {
    let guard = crate::interrupt::TempPath::new(
        opts.out_dir
            .join(format!("{SCRATCH_PREFIX}{}", std::process::id())),
    );
    let scratch = guard.path().to_path_buf();
    // Marked as piprep's, so a later bake may remove it if this one is killed.
    crate::io::owned::claim_dir(&scratch).map_err(Error::output)?;
    let again = bake_parallel(
        base,
        todo,
        digest,
        &scratch,
        time,
        &Options {
            compress: false,
            check_reproducible: false,
            ..opts.clone()
        },
    );
    drop(guard);
    let mut diffs = Vec::new();
    for (name, r) in again {
        let second = r?;
        let first = first(&name);
        if first.as_deref() != Some(second.entry.sha256.as_str()) {
            diffs.push(format!(
                "{name}: {} then {}",
                first.unwrap_or_default(),
                second.entry.sha256
            ));
        }
    }
    if diffs.is_empty() {
        crate::reporter::say(format!(
            "reproducible: a second bake gave identical images ({} checked)",
            todo.len()
        ));
        Ok(())
    } else {
        Err(Error::internal(format!(
            "not reproducible: {}",
            diffs.join("; ")
        )))
    }
}

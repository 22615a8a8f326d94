//! The profile's own packages, files and commands (`packages`, `[[file]]`,
//! `run`): files go where piprep's go (both backends), packages into the
//! networked step's list, commands run once each after the packages, and
//! the checklist reports each of them.

use sha2::{Digest, Sha256};

use super::model::{Check, ExtrasCheck, Part, RootFile};
use crate::config::plan::NodePlan;

pub fn part(plan: &NodePlan) -> Part {
    let p = &plan.profile;
    if p.packages.is_empty() && p.files.is_empty() && p.run.is_empty() {
        return Part::default();
    }
    let run: Vec<(String, String)> = p
        .run
        .iter()
        .enumerate()
        .map(|(i, cmd)| (run_key(i, cmd), cmd.clone()))
        .collect();
    let check = ExtrasCheck {
        packages: p
            .packages
            .iter()
            .map(|x| x.split('=').next().unwrap_or(x).to_string())
            .collect(),
        files: p
            .files
            .iter()
            .map(|f| {
                let mode = f.mode.trim_start_matches('0');
                format!(
                    "{} {} {} {}",
                    hex::encode(Sha256::digest(f.content.as_bytes())),
                    if mode.is_empty() { "0" } else { mode },
                    f.owner,
                    f.path
                )
            })
            .collect(),
        run: run.iter().map(|(k, _)| k.clone()).collect(),
    };
    Part {
        // Written as root:root by either backend (cloud-init's write_files runs
        // before accounts exist); the owner is set after the packages.
        files: p
            .files
            .iter()
            .map(|f| RootFile::root(f.path.clone(), &f.mode, f.content.clone()))
            .collect(),
        packages: p.packages.clone(),
        owners: p
            .files
            .iter()
            .filter(|f| !matches!(f.owner.as_str(), "root" | "root:root"))
            .map(|f| (f.owner.clone(), f.path.clone()))
            .collect(),
        run,
        checks: vec![Check::Extras(check)],
        ..Part::default()
    }
}

/// `N-HASH`: the command's place and content, so an edited command runs
/// again on a re-flashed node and an unchanged one never twice.
fn run_key(i: usize, cmd: &str) -> String {
    format!(
        "{}-{}",
        i + 1,
        &hex::encode(Sha256::digest(cmd.as_bytes()))[..12]
    )
}

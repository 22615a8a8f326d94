//! The secrets directory's mechanics, shared by the nodes' host keys and the
//! cluster's CAs: private directories (0700, a `.gitignore` of everything),
//! a lock so that two bakes never make two different sets, and sets of files
//! replaced all at once.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Directory 0700 with a `.gitignore` of everything; an existing one must be
/// private to this user.
fn prepare(dir: &Path) -> Result<()> {
    if let Some((why, fix)) = crate::config::secrets::untrusted_dir(dir) {
        return Err(Error::config(format!(
            "the secrets directory {} {why}, so it cannot hold private keys; fix: {fix}",
            dir.display()
        )));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::output_io(dir, "cannot create", &e))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        crate::io::atomic::write_atomic(
            &ignore,
            b"# Private keys of the nodes and the cluster (piprep): never commit them.\n*\n",
            crate::io::atomic::Holds::Public,
        )
        .map_err(|e| Error::output_io(&ignore, "cannot write", &e))?;
    }
    Ok(())
}

/// Held while keys are looked up or made: a flock on the secrets directory,
/// so that two bakes at once never make two different keys.
pub struct StoreLock(#[allow(dead_code)] std::fs::File);

pub fn lock(dir: &Path) -> Result<StoreLock> {
    use rustix::fs::{FlockOperation, flock};
    prepare(dir)?;
    let f = std::fs::File::open(dir).map_err(|e| Error::output_io(dir, "cannot open", &e))?;
    flock(&f, FlockOperation::LockExclusive)
        .map_err(|e| Error::output(format!("cannot lock {}: {e}", dir.display())))?;
    Ok(StoreLock(f))
}

/// Write `files` (paths relative to `dir/name`, all 0600, directories 0700)
/// as `name`'s whole set, all at once: into a new private directory beside
/// it, which then takes its place in one rename (or one exchange, when a set
/// is replaced), so a kill leaves the old set or the new one, never a new
/// public half beside an old private key.
pub fn replace(dir: &Path, name: &str, files: &[(String, Vec<u8>)]) -> Result<()> {
    use crate::io::atomic::{Holds, write_synced};
    prepare(dir)?;
    let target = dir.join(name);
    let tmp = crate::interrupt::TempPath::new(crate::io::atomic::temp_beside(&target));
    let io = |e: std::io::Error| Error::output_io(tmp.path(), "cannot write", &e);
    let _ = std::fs::remove_dir_all(tmp.path());
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(tmp.path())
        .map_err(io)?;
    for (rel, bytes) in files {
        let path = tmp.path().join(rel);
        if let Some(parent) = path.parent().filter(|p| !p.exists()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io)?;
        }
        write_synced(&path, bytes, Holds::Secret).map_err(io)?;
        crate::io::atomic::sync_parent(&path);
    }
    let swap = if target.exists() {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            tmp.path(),
            rustix::fs::CWD,
            &target,
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .map_err(std::io::Error::from)
    } else {
        std::fs::rename(tmp.path(), &target)
    };
    swap.map_err(|e| Error::output_io(&target, "cannot put the new keys in place in", &e))?;
    crate::io::atomic::sync_parent(&target);
    // After an exchange the old set is in the temporary: dropped with it.
    let _ = std::fs::remove_dir_all(tmp.path());
    Ok(())
}

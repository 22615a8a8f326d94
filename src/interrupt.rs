//! Ctrl-C, SIGTERM and SIGHUP: every temporary file piprep made is removed
//! before it exits. The signals are blocked in every thread and taken by one
//! thread with sigwait, so cleaning up is ordinary code (no async-signal
//! rules), and each temporary path is registered before the file exists.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Block the signals and start the thread that handles them. Call first in
/// main, before any other thread exists (threads inherit the mask).
pub fn install() {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid signal set; sig is written on success.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                let n = remove_all();
                if n > 0 {
                    eprintln!("piprep: interrupted; removed {n} temporary file(s)");
                } else {
                    eprintln!("piprep: interrupted");
                }
                std::process::exit(128 + sig);
            }
        }
    });
}

fn registry() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves a usable list.
    TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

fn remove_all() -> usize {
    let paths = std::mem::take(&mut *registry());
    paths
        .iter()
        .filter(|p| {
            if p.is_dir() {
                std::fs::remove_dir_all(p).is_ok()
            } else {
                std::fs::remove_file(p).is_ok()
            }
        })
        .count()
}

/// A temporary file or directory: registered for removal on a signal, and
/// removed when dropped unless `persist`ed (renamed into place).
#[derive(Debug)]
pub struct TempPath {
    path: Option<PathBuf>,
}

impl TempPath {
    /// Register `path`; create the file only after this.
    pub fn new(path: PathBuf) -> TempPath {
        registry().push(path.clone());
        TempPath { path: Some(path) }
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("a live temp path")
    }

    /// The file now lives on under another name (or is wanted): forget it.
    pub fn persist(mut self) {
        if let Some(p) = self.path.take() {
            unregister(&p);
        }
    }
}

fn unregister(p: &Path) {
    let mut r = registry();
    if let Some(i) = r.iter().position(|x| x == p) {
        r.swap_remove(i);
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
            unregister(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_paths_are_removed_unless_persisted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let a = TempPath::new(dir.join("a"));
        std::fs::write(a.path(), b"x").unwrap();
        let b = TempPath::new(dir.join("b"));
        std::fs::write(b.path(), b"y").unwrap();
        assert!(registry().contains(&dir.join("a")));
        drop(a);
        assert!(!dir.join("a").exists());
        b.persist();
        assert!(dir.join("b").exists());
        assert!(!registry().iter().any(|p| p.starts_with(&dir)));
        // What is still registered goes on a signal.
        let c = TempPath::new(dir.join("c"));
        std::fs::write(c.path(), b"z").unwrap();
        assert!(remove_all() >= 1);
        assert!(!dir.join("c").exists());
        std::mem::forget(c);
    }
}

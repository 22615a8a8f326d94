//! One error type for the whole tool. Every error is a single line that says what
//! went wrong, where, and how to fix it; its kind decides the process exit code.

use std::fmt;
use std::path::Path;

/// Exit codes are part of the CLI contract (documented in `--help` and README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Unexpected failure (I/O on something that is neither input nor output).
    Internal,
    /// Bad command line, inventory or profile; validation findings.
    Config,
    /// The input image is missing, unreadable or not a usable Raspberry Pi OS image.
    Image,
    /// The output cannot be written: exists without --force, disk full, permissions.
    Output,
    /// A node's report shows failing checks.
    ChecksFailed,
    /// A node has not written its report yet.
    NoReport,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Internal => 1,
            Kind::Config => 2,
            Kind::Image => 3,
            Kind::Output => 4,
            Kind::ChecksFailed => 5,
            Kind::NoReport => 6,
        }
    }
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    /// Set by `output_io` for a full disk or a refused write, which the
    /// caller may answer with its own alternative (`--out`, `--cache-dir`).
    elsewhere: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            elsewhere: false,
        }
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config, message)
    }
    pub fn image(message: impl Into<String>) -> Self {
        Self::new(Kind::Image, message)
    }
    pub fn output(message: impl Into<String>) -> Self {
        Self::new(Kind::Output, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }

    /// An I/O error while writing an output file: disk-full and permission errors
    /// get an explicit fix.
    pub fn output_io(path: &Path, what: &str, e: &std::io::Error) -> Self {
        use rustix::io::Errno;
        let code = e.raw_os_error();
        let is = |errno: Errno| code == Some(errno.raw_os_error());
        let hint = if is(Errno::NOSPC) || is(Errno::DQUOT) {
            "; free space on that filesystem"
        } else if is(Errno::ACCESS) || is(Errno::PERM) || is(Errno::ROFS) {
            "; check the directory's permissions"
        } else {
            ""
        };
        let mut err = Self::output(format!("{what} {}: {e}{hint}", path.display()));
        err.elsewhere = !hint.is_empty();
        err
    }

    /// For a full disk or a refused write, add the caller's way around it
    /// (`choose another --out directory`).
    pub fn or_instead(mut self, alternative: &str) -> Self {
        if self.elsewhere {
            self.message = format!("{} or {alternative}", self.message);
            self.elsewhere = false;
        }
        self
    }

    /// An I/O error while reading the input image.
    pub fn image_io(path: &Path, what: &str, e: &std::io::Error) -> Self {
        Self::image(format!("{what} {}: {e}", path.display()))
    }

    /// Prefix the message with a context such as `node cp-1`.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_hints_are_generic_until_the_caller_adds_its_own() {
        let p = Path::new("/x/out/cp-1.img");
        let full = std::io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error());
        let e = Error::output_io(p, "cannot write", &full);
        assert!(
            e.message.ends_with("; free space on that filesystem"),
            "{e}"
        );
        let e = e.or_instead("choose another --out directory");
        assert!(
            e.message
                .ends_with("free space on that filesystem or choose another --out directory"),
            "{e}"
        );
        // Added once, and never to an error without such a hint.
        let e = e.or_instead("again");
        assert!(!e.message.ends_with("again"), "{e}");
        let other = std::io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error());
        let e = Error::output_io(p, "cannot write", &other).or_instead("choose another");
        assert!(!e.message.contains("choose another"), "{e}");
    }
}

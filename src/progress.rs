//! Progress bars on stderr, one look for every long wait: hidden with `-q` or
//! when stderr is not a terminal (scripts and logs get no escape codes).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub fn visible(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// `label [=====>    ] 1.2 GiB/2.0 GiB 800 MiB/s ETA 1s`
pub fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

/// A bar for `len` bytes (unknown: `None`) labelled `label`.
pub fn bar(quiet: bool, len: Option<u64>, label: &str) -> ProgressBar {
    if !visible(quiet) {
        return ProgressBar::hidden();
    }
    len.map_or_else(ProgressBar::no_length, ProgressBar::new)
        .with_style(style())
        .with_prefix(label.to_string())
}

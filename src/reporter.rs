//! The one reporter for what piprep tells a person on stderr: informational
//! lines, warnings and progress bars. Set once from the command line
//! (`-q`, `--json`), so no stage carries a quiet flag through its signatures.
//! Errors are not reported here: main prints them, whatever the mode.

use std::io::IsTerminal;
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Informational lines, and progress bars when stderr is a terminal.
    Terminal,
    /// Nothing but errors (`-q`).
    Quiet,
    /// stdout is a JSON document; stderr keeps lines, never bars.
    Json,
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// Set the mode for the whole run; the first call wins.
pub fn init(mode: Mode) {
    let _ = MODE.set(mode);
}

pub fn mode() -> Mode {
    *MODE.get().unwrap_or(&Mode::Terminal)
}

/// Whether informational lines and warnings are shown.
pub fn speaks() -> bool {
    mode() != Mode::Quiet
}

/// An informational line or a warning, unless quiet.
pub fn say(line: impl std::fmt::Display) {
    if speaks() {
        eprintln!("{line}");
    }
}

/// Whether bars are drawn: a person is watching a terminal.
pub fn bars_visible() -> bool {
    mode() == Mode::Terminal && std::io::stderr().is_terminal()
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
pub fn bar(len: Option<u64>, label: &str) -> ProgressBar {
    if !bars_visible() {
        return ProgressBar::hidden();
    }
    len.map_or_else(ProgressBar::no_length, ProgressBar::new)
        .with_style(style())
        .with_prefix(label.to_string())
}

/// A spinner for a wait of unknown length, labelled `label`; hidden as `bar` is.
pub fn spinner(label: &str) -> ProgressBar {
    if !bars_visible() {
        return ProgressBar::hidden();
    }
    let style =
        ProgressStyle::with_template("{spinner} {prefix} ({elapsed})").expect("a valid template");
    let pb = ProgressBar::new_spinner()
        .with_style(style)
        .with_prefix(label.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// Bars drawn together (one per node or card); hidden as `bar` is.
pub fn multi() -> MultiProgress {
    if bars_visible() {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    }
}

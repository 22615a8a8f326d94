//! The command line itself: help text, exit codes for usage errors, shell
//! completions and the man page.

use crate::support::*;

#[test]
fn help_explains_commands_and_exit_codes() {
    let dir = scratch("cli-help");
    let o = piprep(&dir, &["--help"]);
    assert!(o.status.success());
    let h = stdout(&o);
    for s in [
        "bake",
        "render",
        "validate",
        "inspect",
        "report",
        "flash",
        "completions",
        "man",
        "Exit status:",
        "5  report",
    ] {
        assert!(h.contains(s), "--help lacks {s}");
    }
    let o = piprep(&dir, &["flash", "--help"]);
    assert!(stdout(&o).contains("--allow-non-removable") && !stdout(&o).contains("--sysfs"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = scratch("cli-usage");
    assert_eq!(piprep(&dir, &["bake"]).status.code(), Some(2));
    assert_eq!(piprep(&dir, &["bogus"]).status.code(), Some(2));
    assert_eq!(
        piprep(&dir, &["bake", "--all", "--node", "x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn completions_and_man_page() {
    let dir = scratch("cli-completions");
    for (shell, needle) in [
        ("bash", "_piprep()"),
        ("zsh", "#compdef piprep"),
        ("fish", "complete -c piprep"),
    ] {
        let o = piprep(&dir, &["completions", shell]);
        assert!(o.status.success());
        assert!(stdout(&o).contains(needle), "{shell}");
        assert!(stdout(&o).contains("bake"), "{shell} completes subcommands");
    }
    let o = piprep(&dir, &["man"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with(".ie") || stdout(&o).contains(".TH piprep"),
        "{}",
        &stdout(&o)[..200]
    );
    assert!(stdout(&o).contains("flash"));
}

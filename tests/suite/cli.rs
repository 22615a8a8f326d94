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
    // piprep(1) says what piprep.toml is.
    let page = stdout(&o);
    let files = page.split(".SH FILES").nth(1).expect("a FILES section");
    assert!(
        files.contains("piprep.toml") && files.contains("[[node]]"),
        "{files}"
    );
    // Every page piprep(1) names is written by `man --dir` (make install).
    let pages = dir.join("man1");
    let o = piprep(&dir, &["man", "--dir", pages.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let named: Vec<String> = page
        .split("piprep\\-")
        .skip(1)
        .filter_map(|t| t.split_once("(1)").map(|(n, _)| n.replace("\\-", "-")))
        .collect();
    assert!(named.len() >= 15, "{named:?}");
    for n in named.iter().chain(std::iter::once(&"".to_string())) {
        let file = if n.is_empty() {
            pages.join("piprep.1")
        } else {
            pages.join(format!("piprep-{n}.1"))
        };
        assert!(
            file.is_file(),
            "{} is named but not written",
            file.display()
        );
    }
    let bake = std::fs::read_to_string(pages.join("piprep-bake.1")).unwrap();
    assert!(bake.contains("\\-\\-all"), "{bake}");
    // man(1) itself renders the installed page.
    if let Ok(o) = std::process::Command::new("man")
        .arg("-l")
        .arg(pages.join("piprep.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        && o.status.success()
    {
        assert!(stdout(&o).contains("FILES"), "{}", stdout(&o));
    }
}

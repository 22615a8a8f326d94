//! `piprep completions` and `piprep man`.

use std::io::Write;

use crate::cli::{CompletionsArgs, ManArgs};
use crate::error::{Error, Result};

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "piprep", &mut script);
    let script = String::from_utf8_lossy(&script);
    std::io::stdout()
        .write_all(node_names(args.shell, &script).as_bytes())
        .map_err(|e| Error::internal(format!("cannot write the completion script: {e}")))
}

/// Where the generated script completes `--node`/`-n` with file names, it
/// completes the inventory's node names instead (`piprep nodes`).
fn node_names(shell: clap_complete::Shell, script: &str) -> String {
    use clap_complete::Shell;
    const LIST: &str = "piprep nodes 2>/dev/null";
    let mut out = String::with_capacity(script.len());
    let mut after_node = false;
    for line in script.split_inclusive('\n') {
        let t = line.trim();
        let replaced = match shell {
            Shell::Bash if after_node && t == "COMPREPLY=($(compgen -f \"${cur}\"))" => {
                Some(line.replace(
                    "compgen -f \"${cur}\"",
                    &format!("compgen -W \"$({LIST})\" -- \"${{cur}}\""),
                ))
            }
            Shell::Zsh if t.contains("--node=[") || t.contains("'*-n+[") || t.contains("'-n+[") => {
                Some(line.replace(
                    ":NAME:_default'",
                    &format!(":NAME:{{compadd -- $({LIST})}}'"),
                ))
            }
            Shell::Fish if t.contains(" -l node ") => {
                Some(format!("{} -f -a \"({LIST})\"\n", line.trim_end()))
            }
            _ => None,
        };
        after_node = shell == Shell::Bash && (t == "--node)" || t == "-n)");
        out += replaced.as_deref().unwrap_or(line);
    }
    out
}

/// `piprep nodes`: the inventory's node names, one per line.
pub fn nodes(ctx: &super::Ctx) -> Result<()> {
    let cfg = crate::config::Config::load(&ctx.config)?;
    let names: String = cfg
        .inventory
        .nodes
        .iter()
        .map(|n| format!("{}\n", n.get_ref().name.get_ref()))
        .collect();
    super::context::print(&names)
}

/// What clap cannot say about piprep: the files it reads and writes.
const FILES: &str = r#".SH FILES
.TP
\fBpiprep.toml\fR
The cluster inventory (\fB\-\-config\fR, \fBPIPREP_CONFIG\fR): \fB[cluster]\fR (name, subnet, gateway, dns, ntp, profile, timezone, locale, keyboard), \fB[image]\fR (path, url with sha256 or sha256_url, or an OS list entry), \fB[user]\fR (name, ssh_authorized_keys, password_hash), \fB[kubernetes]\fR, \fB[wifi]\fR and one \fB[[node]]\fR per Pi (name, ip, role, and what it overrides). \fBpiprep init\fR writes a starter; \fBpiprep validate\fR checks it, naming file:line and the fix. Every relative path in it is relative to the file itself.
.TP
\fBprofiles/NAME.toml\fR
Profiles beside the inventory (or built in, such as \fBk8s\-node\fR): kernel modules, sysctls, cmdline tokens, firewall rules, packages, files and commands each node gets.
.TP
\fBout/\fR
Beside the inventory unless \fB\-\-out\fR: \fINODE\fR.img (with .bmap, and .img.xz with \fB\-\-compress xz\fR), manifest.json, SHA256SUMS and known_hosts, the nodes' pinned host keys.
.TP
\fB.piprep/secrets/\fR
Beside the inventory unless \fB[secrets] dir\fR, 0700: the nodes' SSH host keys and, with \fBbootstrap = true\fR, the cluster's CAs and token. Keep it: a bake without it makes new keys.
.TP
\fB~/.cache/piprep/\fR
Downloaded and decompressed base images, by sha256 (\fB\-\-cache\-dir\fR, \fBPIPREP_CACHE\fR, \fBXDG_CACHE_HOME\fR); \fBpiprep cache list|clean\fR.
"#;

pub fn man(args: &ManArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let fail = |e: std::io::Error| Error::internal(format!("cannot write the man page: {e}"));
    let Some(dir) = &args.dir else {
        return main_page(&cmd, &mut std::io::stdout()).map_err(fail);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::output_io(dir, "cannot create", &e))?;
    let write = |name: String, page: &dyn Fn(&mut dyn Write) -> std::io::Result<()>| {
        let path = dir.join(name);
        let mut text = Vec::new();
        page(&mut text).map_err(fail)?;
        crate::io::atomic::write_atomic(&path, &text, crate::io::atomic::Holds::Public)
            .map_err(|e| Error::output_io(&path, "cannot write", &e))
    };
    write("piprep.1".into(), &|w| main_page(&cmd, w))?;
    // Every page piprep(1) names under COMMANDS, so none is a dead link.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = clap_mangen::Man::new(sub.clone());
        write(man.get_filename(), &|w| man.render(w))?;
    }
    Ok(())
}

/// piprep(1): clap's sections, then FILES, then exit status and examples.
fn main_page(cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    man.render_subcommands_section(w)?;
    w.write_all(FILES.as_bytes())?;
    man.render_extra_section(w)?;
    man.render_version_section(w)
}

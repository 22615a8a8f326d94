//! piprep: bake Kubernetes-ready Raspberry Pi OS images per node, without root.

mod bake;
mod bmap;
mod cli;
mod cluster_pki;
mod commands;
mod config;
mod contract;
mod error;
mod flash;
mod fleet;
mod host_keys;
mod image;
mod inspect;
mod interrupt;
mod io;
mod multihash;
mod render;
mod report;
mod reporter;
mod secrets_dir;
mod source;

use clap::Parser;

use cli::{Cli, Command};

fn main() {
    interrupt::install();
    let cli = Cli::parse();
    reporter::init(cli.reporter_mode());
    let ctx = commands::Ctx {
        config: cli.config.clone(),
        cache_dir: source::cache_dir(cli.cache_dir.as_deref()),
        offline: cli.offline,
    };
    let result = match &cli.command {
        Command::Bake(a) => commands::bake(&ctx, a),
        Command::Render(a) => commands::render(&ctx, a),
        Command::Validate(a) => commands::validate(&ctx, a),
        Command::Inspect(a) => commands::inspect(&ctx, a),
        Command::Report(a) => commands::report(&ctx, a),
        Command::Flash(a) => commands::flash(&ctx, a),
        Command::Cards(a) => commands::cards(a),
        Command::Completions(a) => commands::completions(a),
        Command::Nodes => commands::nodes(&ctx),
        Command::Man(a) => commands::man(a),
        Command::Fetch(a) => commands::fetch(&ctx, a),
        Command::Cache(a) => commands::cache(&ctx, a),
        Command::Status(a) => commands::status(&ctx, a),
        Command::KnownHosts(a) => commands::known_hosts(&ctx, a),
        Command::Rekey(a) => commands::rekey(&ctx, a),
        Command::Export(a) => commands::export(&ctx, a),
        Command::Kubeconfig(a) => commands::kubeconfig(&ctx, a),
        Command::Init(a) => commands::init(&ctx, a),
    };
    if let Err(e) = result {
        for line in e.message.lines() {
            eprintln!("piprep: error: {line}");
        }
        std::process::exit(e.kind.exit_code());
    }
}

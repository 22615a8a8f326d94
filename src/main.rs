//! piprep: bake Kubernetes-ready Raspberry Pi OS images per node, without root.

mod bake;
mod cli;
mod commands;
mod config;
mod error;
mod image;
mod render;

use clap::Parser;

use cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bake(a) => commands::bake(&cli.config, a, cli.quiet),
        Command::Render(a) => commands::render(&cli.config, a, cli.quiet),
        Command::Validate(a) => commands::validate(&cli.config, a),
    };
    if let Err(e) = result {
        for line in e.message.lines() {
            eprintln!("piprep: error: {line}");
        }
        std::process::exit(e.kind.exit_code());
    }
}

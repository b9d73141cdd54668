//! The `taskforce` binary: argument parsing and wiring only. Each subcommand lives in its own
//! module and calls into the library crates.

mod cli;
mod hunt_cmd;
mod notify_cmd;
mod probe_cmd;
mod rules_cmd;
mod sample_cmd;
mod service_cmd;
mod upload;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Hunt(args) => hunt_cmd::run(args),
        cli::Command::Probe(args) => probe_cmd::run(args),
        cli::Command::Rules(args) => rules_cmd::run(args),
        cli::Command::Serve(args) => service_cmd::serve(args),
        cli::Command::Ingest(args) => service_cmd::ingest(args),
        cli::Command::Token(args) => service_cmd::token(args),
        cli::Command::Notify(args) => notify_cmd::run(args),
        cli::Command::User(args) => service_cmd::user(args),
        cli::Command::Completions { shell } => {
            let mut cmd = <cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "taskforce", &mut std::io::stdout());
            Ok(0)
        }
        cli::Command::Sample(args) => sample_cmd::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("taskforce: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

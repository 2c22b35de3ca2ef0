//! `attest`: parse the command line, load the configuration, run the command.

#![allow(clippy::print_stderr)] // the binary reports fatal errors on standard error

use std::process::ExitCode;

use attest_app::cli::{Cli, Command};
use attest_app::commands::{self, EXIT_CONFIG};
use attest_app::telemetry;
use attest_config::{Config, Overrides};
use clap::Parser as _;

fn main() -> ExitCode {
    // One TLS crypto provider for everything (server, database, mail), installed first.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen, .. } => listen.clone(),
        _ => None,
    };
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        listen,
    };
    // The only place the process environment is read.
    let cfg = match Config::load(cli.config.as_deref(), std::env::vars(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init_logging(&cfg);
    telemetry::install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(commands::run(cli.command, cfg, cli.config.as_deref()))
}

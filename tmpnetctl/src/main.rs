//! `tmpnetctl`: start, stop, restart and inspect temporary networks.
//!
//! A thin shell over `tmpnet-fixture`: parse, call the library, print. Every
//! failure is one line on stderr and exit code 1.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use output::note;

fn main() -> ExitCode {
    // tmpnetctl embeds the reference node: a node it starts is a copy of it.
    if let Some(code) = tmpnet_fixture::serve_embedded_node_if_asked() {
        return code;
    }
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(e) => return cli::usage_error(e),
    };
    tmpnet_fixture::cli::init_tracing("warn");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            note!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            note!("error: {e}");
            match e {
                // 128 + the signal, as shells and the harness report it.
                tmpnet_fixture::Error::Interrupted { exit_code } => ExitCode::from(exit_code),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

//! The `cni-fix` binary: parse the command line, run it, and exit with its status.

use std::process::ExitCode;

use clap::Parser;
use cni_fix_cli::{args::Cli, OK, UNKNOWN};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { UNKNOWN } else { OK });
        }
    };
    match cni_fix_cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "cni-fix: {}",
                    cni_fix_core::quote::escape_text(&describe(&e))
                );
            }
            ExitCode::from(UNKNOWN)
        }
    }
}

/// An error and its causes, `: `-separated; I/O errors as short messages
/// (`no such file or directory`), the way every report words them.
fn describe(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| match c.downcast_ref::<std::io::Error>() {
            Some(io) => cni_fix_core::node::io_message(io),
            None => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

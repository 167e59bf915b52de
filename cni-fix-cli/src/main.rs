//! `cni-fix`: the command-line interface. It parses arguments into validated options, hands
//! them to `cni-fix-core`, and renders the result.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

mod args;
mod commands;
mod human;

use args::{CheckRun, Cli, Cmd, ColorChoice, Format};
use cni_fix_core::FindingId;

/// Exit status: nothing reached --fail-on.
pub(crate) const OK: u8 = 0;
/// Exit status: a finding reached --fail-on.
pub(crate) const PROBLEM: u8 = 1;
/// Exit status: the check could not run.
pub(crate) const UNKNOWN: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { UNKNOWN } else { OK });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(OK),
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("cni-fix: {e:#}");
            }
            ExitCode::from(UNKNOWN)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Cmd::Check(a) => check(a.validate()?),
        Cmd::Rewrite(a) => commands::rewrite(a.validate()?),
        Cmd::Generate(a) => commands::generate(a),
        Cmd::Explain { id } => explain(id.as_deref()),
    }
}

fn check(run: CheckRun) -> Result<u8> {
    let report = cni_fix_core::check(&run.options)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match run.format {
        Format::Json => {
            // serde_json wraps I/O errors; unwrap them so a closed pipe is recognised.
            serde_json::to_writer_pretty(&mut out, &report).map_err(io::Error::from)?;
            writeln!(out)?;
        }
        Format::Human => {
            let color = match run.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
            human::render(&mut out, &report, color)?;
        }
    }
    out.flush()?;
    let failed = run.fail_on.is_some_and(|t| report.fails(t));
    Ok(if failed { PROBLEM } else { OK })
}

fn explain(id: Option<&str>) -> Result<u8> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match id {
        Some(id) => {
            let id: FindingId = args::finding_id(id)?;
            out.write_all(id.explanation().as_bytes())?;
        }
        None => {
            let width = FindingId::ALL
                .iter()
                .map(|i| i.as_str().len())
                .max()
                .unwrap_or(0);
            for id in FindingId::ALL {
                writeln!(out, "{:<width$}  {}", id.as_str(), id.summary())?;
            }
        }
    }
    out.flush()?;
    Ok(OK)
}

//! `cni-fix`, the command-line interface of `cni-fix-core`: it parses arguments into validated
//! options, hands them to the core, and renders the result. The binary is a thin `main` over
//! [`run`]; the pieces are a library so that benchmarks and tests can reach the renderers.

use std::io::{self, Write};

use anyhow::Result;

pub mod args;
pub mod commands;
pub mod human;
pub mod workloads;

use args::{CheckRun, Cli, Cmd, ColorChoice, Format};
use cni_fix_core::FindingId;

/// Exit status: nothing reached --fail-on.
pub const OK: u8 = 0;
/// Exit status: a finding reached --fail-on.
pub const PROBLEM: u8 = 1;
/// Exit status: the check could not run, or could not read everything the runtime reads.
pub const UNKNOWN: u8 = 2;
/// Exit status of `rewrite --dry-run --exit-code`: some file needs input or cannot be fixed.
pub const NEEDS_ATTENTION: u8 = 3;

/// Finish a command whose verdict is `status`. A reader that closed the pipe early (`| head`)
/// does not change the verdict: the status is kept, as if the output had been read.
pub fn keep_status(status: u8, printed: io::Result<()>) -> Result<u8> {
    match printed {
        Ok(()) => Ok(status),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(status),
        Err(e) => Err(e.into()),
    }
}

/// Run a parsed command line; the exit status, or the error that stopped it.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Cmd::Check(a) => check(a.validate()?),
        Cmd::Rewrite(a) => commands::rewrite(a.validate()?),
        Cmd::Generate(a) => commands::generate(a),
        Cmd::Restore(a) => commands::restore(a.validate()?),
        Cmd::Workloads(a) => workloads::run(a.validate()?),
        Cmd::Explain { id } => explain(id.as_deref()),
    }
}

/// Whether human output is coloured: `--color always` and `never` decide; `auto` colours a
/// terminal unless `NO_COLOR` is set to something.
/// `auto` follows anstream: a terminal, unless `NO_COLOR` is set (or `CLICOLOR=0`, or
/// `TERM=dumb`); `CLICOLOR_FORCE` colours a pipe too.
pub fn use_color(choice: ColorChoice, stdout: &io::Stdout) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => anstream::AutoStream::choice(stdout) != anstream::ColorChoice::Never,
    }
}

fn check(run: CheckRun) -> Result<u8> {
    let report = cni_fix_core::check(&run.options)?;
    let failed = run.fail_on.is_some_and(|t| report.fails(t));
    let status = if !report.incomplete.is_empty() {
        UNKNOWN
    } else if failed {
        PROBLEM
    } else {
        OK
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let printed = (|| -> io::Result<()> {
        match run.format {
            Format::Json => {
                // serde_json wraps I/O errors; unwrap them so a closed pipe is recognised.
                serde_json::to_writer_pretty(&mut out, &report).map_err(io::Error::from)?;
                writeln!(out)?;
            }
            Format::Human => {
                let color = use_color(run.color, &io::stdout());
                human::render(&mut out, &report, color)?;
            }
        }
        out.flush()
    })();
    keep_status(status, printed)
}

fn explain(id: Option<&str>) -> Result<u8> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let id = id.map(args::finding_id).transpose()?;
    let printed = (|| -> io::Result<()> {
        match id {
            Some(id) => out.write_all(id.explanation().as_bytes())?,
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
        out.flush()
    })();
    keep_status(OK, printed)
}

//! `cni-fix`, the command-line interface of `cni-fix-core`: it parses arguments into validated
//! options, hands them to the core, and renders the result. The binary is a thin `main` over
//! [`run`]; the pieces are a library so that benchmarks and tests can reach the renderers.

use std::io::{self, Write};

use anyhow::{Context, Result};

pub mod args;
pub mod commands;
pub mod fleet;
pub mod human;
pub mod verify;
pub mod workloads;

use args::{CheckFormat, CheckRun, Cli, Cmd, ColorChoice};
use cni_fix_core::report::{FindingIds, Summary};
use cni_fix_core::stream::Event;
use cni_fix_core::{FindingId, Severity};

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
        Cmd::Verify(a) => verify::run(a.validate()?),
        Cmd::Scan(a) => fleet::scan(a.validate()?),
        Cmd::Collect(a) => fleet::collect(a.validate()?),
        Cmd::Completions { shell } => completions(shell),
        Cmd::Manpages { dir } => manpages(&dir),
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

/// The exit status of a report: 2 when it could not read everything, 1 when a finding reaches
/// the threshold, 0 otherwise.
pub fn verdict(incomplete: bool, failed: bool) -> u8 {
    if incomplete {
        UNKNOWN
    } else if failed {
        PROBLEM
    } else {
        OK
    }
}

/// `n` and the word for it: `1 node`, `2 nodes`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Print with standard output locked, buffered and flushed, keeping `status` whatever a closed
/// pipe does (see [`keep_status`]). Standard output is line-buffered on its own: a report of
/// thousands of lines would be as many writes.
pub fn print(status: u8, body: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let printed = body(&mut out).and_then(|()| out.flush());
    keep_status(status, printed)
}

/// `value` as pretty JSON and a newline; serde_json's I/O errors unwrapped so that a closed pipe
/// is recognised.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}

fn check(run: CheckRun) -> Result<u8> {
    if let Some(scan) = run.many {
        return fleet::scan(scan);
    }
    loop {
        let status = check_once(&run)?;
        match run.interval {
            Some(every) => std::thread::sleep(every),
            None => return Ok(status),
        }
    }
}

/// `--format summary`: the verdict, the counts, and the finding ids, most severe first (in
/// report order within a severity, as [`cni_fix_core::Report::finding_ids`] gives them).
fn summary_line(s: &Summary, ids: &[FindingId], unread: usize, status: u8) -> String {
    let verdict = match status {
        OK => "OK",
        PROBLEM => "FAIL",
        _ => "UNKNOWN",
    };
    let ids: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
    let mut line = format!(
        "{verdict}: {} error(s), {} warning(s)",
        s.errors, s.warnings
    );
    if !ids.is_empty() {
        line.push_str(&format!(": {}", ids.join(", ")));
    }
    if unread > 0 {
        line.push_str(&format!("; {unread} path(s) unread"));
    }
    line.push('\n');
    line
}

/// Formats written as the check goes: each event of a streamed check as it comes.
enum Streamed {
    /// A line of JSON per event.
    Ndjson,
    /// The human report.
    Human(human::Streamed),
    /// One line at the end, with the fail-on threshold.
    Summary(FindingIds, Option<Severity>),
}

impl Streamed {
    fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()> {
        match self {
            Streamed::Ndjson => {
                serde_json::to_writer(&mut *out, &event).map_err(io::Error::from)?;
                out.write_all(b"\n")
            }
            Streamed::Human(h) => h.event(out, event),
            Streamed::Summary(seen, fail_on) => match event {
                Event::File { findings, .. } => {
                    findings.iter().for_each(|f| seen.add(f));
                    Ok(())
                }
                Event::End {
                    findings,
                    summary,
                    incomplete,
                } => {
                    findings.iter().for_each(|f| seen.add(f));
                    let failed = fail_on.is_some_and(|t| summary.fails(t));
                    let status = verdict(!incomplete.is_empty(), failed);
                    let ids = std::mem::take(seen).most_severe_first();
                    let line = summary_line(&summary, &ids, incomplete.len(), status);
                    out.write_all(line.as_bytes())
                }
                _ => Ok(()),
            },
        }
    }
}

/// Run a streamed check, writing it in `format` as it goes. A reader that closes the pipe early
/// does not stop the check, which goes on to its verdict (see [`keep_status`]).
fn check_streamed(run: &CheckRun, mut format: Streamed, out: &mut dyn Write) -> Result<u8> {
    use cni_fix_core::stream::check_each;
    let (mut failed, mut incomplete, mut closed) = (false, false, false);
    check_each(&run.options, |event| {
        if let Event::End {
            summary,
            incomplete: unread,
            ..
        } = &event
        {
            failed = run.fail_on.is_some_and(|t| summary.fails(t));
            incomplete = !unread.is_empty();
        }
        if closed {
            return Ok(());
        }
        match format.event(out, event) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                closed = true;
                Ok(())
            }
            other => other,
        }
    })?;
    Ok(verdict(incomplete, failed))
}

/// The formats written from the whole report.
enum Whole {
    Json,
    Sarif,
    Prometheus,
}

fn check_once(run: &CheckRun) -> Result<u8> {
    let whole = match run.format {
        CheckFormat::Json => Whole::Json,
        CheckFormat::Sarif => Whole::Sarif,
        CheckFormat::Prometheus => Whole::Prometheus,
        CheckFormat::Summary => {
            return check_streamed_to(run, |_| {
                Streamed::Summary(FindingIds::default(), run.fail_on)
            })
        }
        CheckFormat::Ndjson => return check_streamed_to(run, |_| Streamed::Ndjson),
        CheckFormat::Human => {
            return check_streamed_to(run, |color| Streamed::Human(human::Streamed::new(color)))
        }
    };
    check_whole(run, whole)
}

/// A streamed check written to `--output` (into the file that is renamed into place, so that
/// it is never held whole) or to standard output; `format` is made for the colour in effect.
fn check_streamed_to(run: &CheckRun, format: impl FnOnce(bool) -> Streamed) -> Result<u8> {
    match &run.output {
        Some(path) if path.as_os_str() != "-" => {
            let format = format(run.color == ColorChoice::Always);
            let mut status = Ok(OK);
            cni_fix_core::write::write_new_or_replace_with(path, |out| {
                status = check_streamed(run, format, out);
                // A check that could not run leaves the file as it was.
                match &status {
                    Ok(_) => Ok(()),
                    Err(_) => Err(io::Error::other("the check stopped")),
                }
            })
            .or_else(|e| match status {
                Ok(_) => Err(anyhow::Error::from(e)),
                // The check's own error says more than the write's.
                Err(_) => Ok(()),
            })
            .with_context(|| format!("--output {}", path.display()))?;
            status
        }
        _ => {
            let stdout = io::stdout();
            let format = format(use_color(run.color, &stdout));
            let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
            let status = check_streamed(run, format, &mut out)?;
            keep_status(status, out.flush())
        }
    }
}

/// A check whose report is written whole, once it is complete.
fn check_whole(run: &CheckRun, whole: Whole) -> Result<u8> {
    let report = cni_fix_core::check(&run.options)?;
    let failed = run.fail_on.is_some_and(|t| report.fails(t));
    let status = verdict(!report.incomplete.is_empty(), failed);
    let render = |out: &mut dyn Write| -> io::Result<()> {
        match whole {
            Whole::Json => write_json(out, &report),
            Whole::Sarif => write_json(out, &cni_fix_core::export::sarif::check_log(&report)),
            Whole::Prometheus => {
                let options = cni_fix_core::export::prometheus::MetricsOptions::new(
                    std::time::SystemTime::now(),
                    run.fail_on,
                );
                out.write_all(
                    cni_fix_core::export::prometheus::render(&report, &options).as_bytes(),
                )
            }
        }
    };
    match &run.output {
        Some(path) => {
            let mut bytes = Vec::new();
            render(&mut bytes)?;
            fleet::write_output(path, &bytes)?;
            Ok(status)
        }
        None => print(status, render),
    }
}

fn completions(shell: clap_complete::Shell) -> Result<u8> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "cni-fix", &mut out);
    print(OK, |w| w.write_all(&out))
}

/// The manual pages: `cni-fix.1`, and `cni-fix-SUB.1` for each visible subcommand.
fn manpages(dir: &std::path::Path) -> Result<u8> {
    use anyhow::Context;
    use clap::CommandFactory;
    let cmd = Cli::command();
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let mut pages = vec![("cni-fix".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("cni-fix-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut bytes)
            .with_context(|| name.clone())?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, bytes).with_context(|| path.display().to_string())?;
    }
    Ok(OK)
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

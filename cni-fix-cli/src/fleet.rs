//! `cni-fix scan` (and `check` over several roots) and `cni-fix collect`: many nodes in, a line
//! per node out as each is done, and the finding ids across nodes at the end.

use std::ffi::OsStr;
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use cni_fix_core::fleet::{self, NodeOutcome, Tally, Verdict};
use cni_fix_core::quote::escape_text;
use cni_fix_core::Severity;
use serde::Serialize;

use crate::args::{CollectRun, ScanFormat, ScanRun};
use crate::human::{look, Style};
use crate::{keep_status, plural, use_color, verdict, OK};

/// The schema of `scan --format json` lines.
pub const SCAN_SCHEMA: &str = "cni-fix.scan/v1";

/// One node in `scan --format json`.
#[derive(Serialize)]
struct NodeLine<'a> {
    schema: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    input: String,
    input_kind: &'static str,
    hostname: Option<&'a str>,
    verdict: Verdict,
    error: Option<&'a str>,
    report: Option<&'a cni_fix_core::Report>,
}

/// The closing line of `scan --format json`.
#[derive(Serialize)]
struct SummaryLine<'a> {
    schema: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    fail_on: Option<&'static str>,
    #[serde(flatten)]
    tally: &'a Tally,
}

const NODE_WIDTH: usize = 40;

fn node_name(o: &NodeOutcome) -> String {
    let path = escape_text(&o.input.to_string_lossy()).into_owned();
    match &o.hostname {
        Some(h) => format!("{path} ({})", escape_text(h)),
        None => path,
    }
}

fn header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<NODE_WIDTH$}  {:<7}  {:>6}  {:>8}  TOP FINDINGS",
        "NODE", "VERDICT", "ERRORS", "WARNINGS"
    )
}

/// A node's row: name, verdict, counts, and its finding ids (most severe first, at most 3).
fn row(out: &mut dyn Write, style: &Style, o: &NodeOutcome, verdict: Verdict) -> io::Result<()> {
    let v = match verdict {
        Verdict::Ok => style.paint(look::OK, &format!("{:<7}", "ok")),
        Verdict::Problem => style.paint(look::ERROR, &format!("{:<7}", "problem")),
        Verdict::Unknown => style.paint(look::UNKNOWN, &format!("{:<7}", "unknown")),
    };
    let name = node_name(o);
    match &o.result {
        Ok(r) => {
            let ids = r.finding_ids();
            let mut top: Vec<&str> = ids.iter().take(3).map(|i| i.as_str()).collect();
            let more = ids.len().saturating_sub(3);
            let more = format!("+{more}");
            if ids.len() > 3 {
                top.push(&more);
            }
            let mut tail = top.join(", ");
            if !r.incomplete.is_empty() {
                if !tail.is_empty() {
                    tail.push_str("; ");
                }
                tail.push_str(&format!("{} path(s) unread", r.incomplete.len()));
            }
            let line = format!(
                "{name:<NODE_WIDTH$}  {v}  {:>6}  {:>8}  {tail}",
                r.summary.errors, r.summary.warnings
            );
            writeln!(out, "{}", line.trim_end())
        }
        Err(e) => writeln!(
            out,
            "{name:<NODE_WIDTH$}  {v}  {:>6}  {:>8}  not checked: {}",
            "-",
            "-",
            escape_text(e)
        ),
    }
}

fn summary(out: &mut dyn Write, style: &Style, tally: &Tally) -> io::Result<()> {
    writeln!(out)?;
    let ranked = tally.ranked();
    if !ranked.is_empty() {
        let width = ranked
            .iter()
            .map(|t| t.id.as_str().len())
            .max()
            .unwrap_or(0);
        for t in ranked {
            writeln!(
                out,
                "{:<width$}  {}  on {} of {} nodes ({} in all)",
                t.id.as_str(),
                style.severity(t.severity),
                t.nodes,
                tally.nodes,
                t.occurrences
            )?;
        }
        writeln!(out)?;
    }
    let line = format!(
        "{}: {} ok, {} with problems, {} unknown ({} not checked)",
        plural(tally.nodes, "node", "nodes"),
        tally.ok,
        tally.problem,
        tally.unknown,
        tally.not_checked
    );
    let look = if tally.unknown > 0 {
        look::UNKNOWN
    } else if tally.problem > 0 {
        look::ERROR
    } else {
        look::OK
    };
    writeln!(out, "{}", style.paint(look, &line))?;
    if !tally.findings.is_empty() {
        writeln!(out, "`cni-fix explain ID` explains a finding.")?;
    }
    Ok(())
}

/// The paths a `--from` list names, one per line, read as they are wanted. Blank lines are
/// skipped; a line is a path as it is, bytes and all, but for a closing `\r`. A read error
/// ends the list and is kept in `error`.
struct PathList {
    reader: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl Iterator for PathList {
    type Item = PathBuf;

    fn next(&mut self) -> Option<PathBuf> {
        loop {
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                    return None;
                }
            }
            let mut line = self.line.as_slice();
            line = line.strip_suffix(b"\n").unwrap_or(line);
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Some(PathBuf::from(OsStr::from_bytes(line)));
            }
        }
    }
}

/// Open a `--from` list: a file, or standard input for `-`.
fn path_list(from: &Path) -> Result<(PathList, Arc<Mutex<Option<io::Error>>>)> {
    let reader: Box<dyn BufRead + Send> = if from.as_os_str() == "-" {
        Box::new(io::BufReader::new(io::stdin()))
    } else {
        let file =
            std::fs::File::open(from).with_context(|| format!("--from {}", from.display()))?;
        Box::new(io::BufReader::new(file))
    };
    let error = Arc::new(Mutex::new(None));
    let list = PathList {
        reader,
        line: Vec::new(),
        error: Arc::clone(&error),
    };
    Ok((list, error))
}

/// Run a scan, writing as each node is done.
pub fn scan(run: ScanRun) -> Result<u8> {
    let (listed, list_error) = match &run.from {
        Some(from) => {
            let (list, error) = path_list(from)?;
            (Some(list), Some(error))
        }
        None => (None, None),
    };
    let inputs = run
        .paths
        .iter()
        .cloned()
        .chain(listed.into_iter().flatten());
    let stdout = io::stdout();
    let color = use_color(run.color, &stdout);
    let style = Style { color };
    let mut out = stdout.lock();
    let mut tally = Tally::default();
    let mut printed: io::Result<()> = match run.format {
        ScanFormat::Human => header(&mut out),
        ScanFormat::Json => Ok(()),
    };
    fleet::scan(inputs, &run.options, |o| {
        let verdict = Verdict::of(&o.result, run.fail_on);
        tally.add(&o.result, verdict);
        if printed.is_err() {
            return;
        }
        printed = match run.format {
            ScanFormat::Human => row(&mut out, &style, &o, verdict),
            ScanFormat::Json => {
                let line = NodeLine {
                    schema: SCAN_SCHEMA,
                    kind: "node",
                    index: o.index,
                    input: o.input.to_string_lossy().into_owned(),
                    input_kind: o.kind,
                    hostname: o.hostname.as_deref(),
                    verdict,
                    error: o.result.as_ref().err().map(String::as_str),
                    report: o.result.as_ref().ok(),
                };
                serde_json::to_writer(&mut out, &line)
                    .map_err(io::Error::from)
                    .and_then(|()| writeln!(out))
            }
        }
        .and_then(|()| out.flush());
    });
    let printed = printed.and_then(|()| match run.format {
        ScanFormat::Human => summary(&mut out, &style, &tally),
        ScanFormat::Json => {
            let line = SummaryLine {
                schema: SCAN_SCHEMA,
                kind: "summary",
                fail_on: run.fail_on.map(Severity::as_str),
                tally: &tally,
            };
            serde_json::to_writer(&mut out, &line)
                .map_err(io::Error::from)
                .and_then(|()| writeln!(out))
        }
    });
    let printed = printed.and_then(|()| out.flush());
    if let (Some(from), Some(error)) = (&run.from, list_error) {
        if let Some(e) = error.lock().unwrap_or_else(PoisonError::into_inner).take() {
            // The nodes read before it were checked and printed; the rest were not.
            return Err(anyhow::Error::new(e).context(format!(
                "--from {}: the list could not be read to its end; the paths after the first {} were not checked",
                from.display(),
                tally.nodes.saturating_sub(run.paths.len())
            )));
        }
    }
    keep_status(verdict(tally.unknown > 0, tally.problem > 0), printed)
}

/// Write `bytes` to `path` atomically (a temporary file beside it, renamed over it), or to
/// standard output for `-`.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.as_os_str() == "-" {
        let mut out = io::stdout().lock();
        out.write_all(bytes)?;
        return Ok(out.flush()?);
    }
    cni_fix_core::write::write_new_or_replace(path, bytes)
        .with_context(|| format!("--output {}", path.display()))
}

/// Run `cni-fix collect`.
pub fn collect(run: CollectRun) -> Result<u8> {
    let collection = cni_fix_core::collect::collect(&run.options)?;
    let mut bytes = Vec::new();
    collection
        .write_tar_gz(&mut bytes)
        .context("writing the archive")?;
    write_output(&run.output, &bytes)?;
    let m = &collection.manifest;
    let files: usize = collection.files.len();
    let redacted = m
        .paths
        .values()
        .filter(|p| matches!(&p.read, Some(cni_fix_core::collect::Looked::Ok(c)) if c.redacted))
        .count();
    let a = &m.answers;
    let answers = a.exec.len()
        + a.static_readings.len()
        + a.kubelet_version.len()
        + a.cri_dockerd_version.len()
        + usize::from(a.containerd_version.is_some());
    let s = &collection.report.summary;
    let mut err = io::stderr().lock();
    let _ = writeln!(
        err,
        "collected {} ({}): {}{}, {} looked at, {}, {} bytes; its check: {}, {}{}",
        escape_text(&run.output.to_string_lossy()),
        escape_text(m.hostname.as_deref().unwrap_or("no host name")),
        plural(files, "file", "files"),
        if redacted > 0 {
            format!(" ({redacted} with secrets redacted)")
        } else {
            String::new()
        },
        plural(m.paths.len(), "path", "paths"),
        plural(answers, "program answer", "program answers"),
        bytes.len(),
        plural(s.errors, "error", "errors"),
        plural(s.warnings, "warning", "warnings"),
        if collection.report.incomplete.is_empty() {
            ""
        } else {
            "; incomplete: cni-fix could not read everything the runtime reads"
        },
    );
    Ok(OK)
}

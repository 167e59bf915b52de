//! `cni-fix workloads`: read the inputs, scan them with the core, and print the report as text
//! for people, JSON (schema `cni-fix.workloads/v1`) or SARIF 2.1.0 for code scanning.

use std::io::{self, Write};

use anyhow::Result;
use cni_fix_core::quote::escape_text;
use cni_fix_core::workloads::{read_paths, scan, Workload, WorkloadFinding, WorkloadReport};
use cni_fix_core::Severity;

use crate::args::{WorkloadsFormat, WorkloadsRun};
use crate::human::{look, Style};
use crate::{plural, print, use_color, verdict, write_json};

/// Run `cni-fix workloads`.
pub fn run(run: WorkloadsRun) -> Result<u8> {
    let stdin = io::stdin();
    let mut lock = stdin.lock();
    let (inputs, read_errors) = read_paths(&run.paths, &mut lock, run.max_input_bytes);
    let report = scan(&inputs).with_errors(read_errors);
    let failed = run.fail_on.is_some_and(|t| report.fails(t));
    let status = verdict(!report.errors.is_empty(), failed);
    print(status, |out| match run.format {
        WorkloadsFormat::Json => write_json(out, &report),
        WorkloadsFormat::Sarif => {
            write_json(out, &cni_fix_core::export::sarif::workloads_log(&report))
        }
        WorkloadsFormat::Human => {
            let color = use_color(run.color, &io::stdout());
            render(out, &report, color)
        }
    })
}

fn place(file: &str, location: Option<cni_fix_core::Location>) -> String {
    let file = cni_fix_core::quote::quote_path(file.as_bytes());
    match location {
        Some(l) => format!("{file}:{}:{}", l.line, l.column),
        None => file.into_owned(),
    }
}

fn workload_header(out: &mut dyn Write, style: &Style, w: &Workload) -> io::Result<()> {
    let mut extra = Vec::new();
    if w.pods > 0 {
        extra.push(plural(w.pods, "pod", "pods"));
    }
    if w.inferred {
        extra.push("inferred from its pods' ReplicaSet".to_string());
    }
    if let Some(m) = &w.managed_by {
        extra.push(format!("managed by {}", escape_text(m)));
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("  ({})", extra.join(", "))
    };
    writeln!(
        out,
        "{}{extra}  {}",
        style.paint(look::BOLD, &escape_text(&w.display_name())),
        style.paint(look::DIM, &place(&w.file, w.location))
    )
}

fn finding(out: &mut dyn Write, style: &Style, f: &WorkloadFinding) -> io::Result<()> {
    let mut about = Vec::new();
    if let Some(c) = &f.container {
        about.push(format!("container {}", escape_text(c)));
    }
    if let Some(v) = &f.volume {
        about.push(format!("volume {}", escape_text(v)));
    }
    if let Some(h) = &f.host_path {
        about.push(format!("host path {}", escape_text(h)));
    }
    if let Some(a) = f.agent {
        about.push(format!("agent {a}"));
    }
    let about = if about.is_empty() {
        String::new()
    } else {
        format!("  ({})", about.join(", "))
    };
    writeln!(
        out,
        "  {} {}{about}",
        style.severity(f.severity),
        style.paint(look::BOLD, f.id.as_str())
    )?;
    writeln!(out, "          {}", escape_text(&f.message))?;
    if let Some(l) = f.location {
        writeln!(
            out,
            "          {} line {}, column {}",
            style.paint(look::DIM, "at:"),
            l.line,
            l.column
        )?;
    }
    writeln!(
        out,
        "          {} {}",
        style.paint(look::DIM, "remedy:"),
        escape_text(&f.remedy)
    )?;
    if let Some(link) = f.link {
        writeln!(out, "          {} {link}", style.paint(look::DIM, "guide:"))?;
    }
    Ok(())
}

/// The human report: each workload with findings, by namespace, kind and name; then what could
/// not be read; then a summary saying what to do first.
pub fn render(out: &mut dyn Write, report: &WorkloadReport, color: bool) -> io::Result<()> {
    let style = Style { color };
    let mut shown = 0;
    for w in report.workloads.iter().filter(|w| !w.findings.is_empty()) {
        if shown > 0 {
            writeln!(out)?;
        }
        shown += 1;
        workload_header(out, &style, w)?;
        for f in &w.findings {
            finding(out, &style, f)?;
        }
    }
    if !report.errors.is_empty() {
        if shown > 0 {
            writeln!(out)?;
        }
        writeln!(
            out,
            "{}",
            style.paint(look::UNKNOWN, "Could not read (exit status 2):")
        )?;
        for e in &report.errors {
            writeln!(
                out,
                "  {}: {}",
                place(&e.file, e.location),
                escape_text(&e.message)
            )?;
        }
    }
    if shown > 0 || !report.errors.is_empty() {
        writeln!(out)?;
    }
    summary(out, &style, report)
}

fn summary(out: &mut dyn Write, style: &Style, report: &WorkloadReport) -> io::Result<()> {
    let s = &report.summary;
    let read = format!(
        "{} ({}) in {}",
        plural(s.workloads, "workload", "workloads"),
        plural(s.pods, "pod", "pods"),
        plural(report.inputs.len(), "input", "inputs")
    );
    if s.affected == 0 {
        let verdict = if report.errors.is_empty() {
            style.paint(look::OK, "No workload depends on Docker Engine")
        } else {
            style.paint(look::UNKNOWN, "No workload read depends on Docker Engine")
        };
        return writeln!(out, "{verdict}: {read}.");
    }
    writeln!(
        out,
        "{}: {} of {read} ({}, {}, {}).",
        style.paint(
            if s.errors > 0 {
                look::ERROR
            } else {
                look::WARNING
            },
            "Depend on Docker Engine"
        ),
        s.affected,
        plural(s.errors, "error", "errors"),
        plural(s.warnings, "warning", "warnings"),
        plural(s.infos, "info", "infos")
    )?;
    // First: the workload with the most errors (then warnings), and its worst finding.
    let first = report
        .workloads
        .iter()
        .filter(|w| w.worst().is_some_and(|s| s >= Severity::Warning))
        .max_by_key(|w| {
            let n = |sev| w.findings.iter().filter(|f| f.severity == sev).count();
            (
                n(Severity::Error),
                n(Severity::Warning),
                std::cmp::Reverse(w.display_name()),
            )
        });
    if let Some(w) = first {
        let f = &w.findings[0];
        writeln!(
            out,
            "First: {}, {} {}; see `cni-fix explain {}`.",
            escape_text(&w.display_name()),
            f.severity,
            f.id,
            f.id
        )?;
    }
    Ok(())
}

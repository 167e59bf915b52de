//! The human format of a check report: grouped by file, the active network first, then the
//! node, the plugins, and a one-line verdict.

use std::io::{self, Write};

use cni_fix_core::report::{FileReport, Report};
use cni_fix_core::{Finding, Severity};

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(&self, s: Severity) -> String {
        let padded = format!("{:<7}", s.as_str());
        match s {
            Severity::Error => self.paint("1;31", &padded),
            Severity::Warning => self.paint("1;33", &padded),
            Severity::Info => self.paint("36", &padded),
        }
    }
}

fn file_line(f: &FileReport) -> String {
    let mut parts = vec![format!("[{}]", serde_plain(&f.status))];
    if let Some(name) = &f.name {
        parts.push(format!("network {name:?}"));
    }
    if f.name.is_some() {
        parts.push(match &f.cni_version {
            Some(v) => format!("cniVersion {v:?}"),
            None => "no cniVersion".to_string(),
        });
    }
    if !f.plugins.is_empty() {
        parts.push(f.plugins.join(" → "));
    }
    parts.join("  ")
}

fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn finding(out: &mut dyn Write, style: &Style, f: &Finding) -> io::Result<()> {
    let plugin = f
        .plugin
        .as_deref()
        .map(|p| format!("  ({p})"))
        .unwrap_or_default();
    writeln!(
        out,
        "  {} {}{plugin}",
        style.severity(f.severity),
        style.paint("1", f.id.as_str())
    )?;
    writeln!(out, "          {}", f.message)?;
    if let Some(e) = &f.runtime_error {
        writeln!(out, "          {} {e}", style.paint("2", "runtime says:"))?;
    }
    let fixable = if f.fixable {
        " [cni-fix rewrite can fix this]"
    } else {
        ""
    };
    writeln!(
        out,
        "          {} {}{fixable}",
        style.paint("2", "remedy:"),
        f.remedy
    )?;
    Ok(())
}

/// Write `report` for people. `color` turns on ANSI colours.
pub fn render(out: &mut dyn Write, report: &Report, color: bool) -> io::Result<()> {
    let style = Style { color };
    let n = &report.node;
    let rt = &n.runtime;
    let runtime = match &rt.version {
        Some(v) => {
            let from = match serde_plain(&rt.source).as_str() {
                "flag" => "--containerd-version",
                "exec" => "containerd --version",
                _ => "unknown",
            };
            let libcni = rt
                .libcni
                .as_deref()
                .map(|l| format!(", libcni {l}"))
                .unwrap_or_default();
            format!("containerd {v} (from {from}{libcni})")
        }
        None => "containerd, version unknown".to_string(),
    };
    writeln!(out, "{} {}", style.paint("1", "cni-fix check"), n.root)?;
    writeln!(out, "  runtime       {runtime}")?;
    writeln!(
        out,
        "  containerd    {}",
        n.containerd_config
            .as_deref()
            .unwrap_or("no config file (defaults)")
    )?;
    writeln!(
        out,
        "  conf dir      {}  (max_conf_num {})",
        n.conf_dir, n.max_conf_num
    )?;
    writeln!(out, "  plugin dirs   {}", n.bin_dirs.join(", "))?;
    if let Some(e) = &n.load_error {
        writeln!(out, "  {}  {e}", style.paint("1;31", "load fails"))?;
    }

    for f in &report.files {
        writeln!(out)?;
        writeln!(out, "{}  {}", style.paint("1", &f.path), file_line(f))?;
        for finding_ in report
            .findings
            .iter()
            .filter(|x| x.file.as_deref() == Some(&f.path))
        {
            finding(out, &style, finding_)?;
        }
    }
    // Findings about files not listed (containerd's config) and about the node as a whole.
    let listed = |p: &str| report.files.iter().any(|f| f.path == p);
    let rest: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|x| x.file.as_deref().is_none_or(|p| !listed(p)))
        .collect();
    if !rest.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.paint("1", "node"))?;
        for f in rest {
            if let Some(file) = &f.file {
                writeln!(out, "  {}", style.paint("2", file))?;
            }
            finding(out, &style, f)?;
        }
    }

    if !report.plugins.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.paint("1", "plugins"))?;
        let width = report
            .plugins
            .iter()
            .map(|p| p.plugin_type.len())
            .max()
            .unwrap_or(0);
        for p in &report.plugins {
            let versions = match (&p.supported_versions, p.confidence) {
                (Some(v), Some(c)) => format!(
                    "{} ({}, {} confidence: {})",
                    v.join(" "),
                    serde_plain(&p.source),
                    serde_plain(&c),
                    p.evidence.as_deref().unwrap_or("")
                ),
                (Some(v), None) => format!("{} ({})", v.join(" "), serde_plain(&p.source)),
                (None, _) => "versions unknown".to_string(),
            };
            writeln!(
                out,
                "  {:<width$}  {}  {versions}",
                p.plugin_type,
                p.path.as_deref().unwrap_or("not found"),
            )?;
        }
    }

    writeln!(out)?;
    let s = &report.summary;
    let counts = format!(
        "{} error{}, {} warning{}, {} info",
        s.errors,
        if s.errors == 1 { "" } else { "s" },
        s.warnings,
        if s.warnings == 1 { "" } else { "s" },
        s.infos
    );
    let verdict = if s.errors > 0 {
        style.paint(
            "1;31",
            &format!("FAIL: {counts}: pods on this node will fail to start or to stop"),
        )
    } else if s.warnings > 0 {
        style.paint(
            "1;33",
            &format!("WARN: {counts}: pods can start and stop, but see the warnings"),
        )
    } else {
        style.paint(
            "1;32",
            &format!("OK: {counts}: pods on this node can start and stop"),
        )
    };
    writeln!(out, "{verdict}")?;
    if !report.findings.is_empty() {
        writeln!(out, "`cni-fix explain ID` explains a finding.")?;
    }
    Ok(())
}

//! The human format of a check report: grouped by file, the active network first, then the
//! node, the plugins, and a one-line verdict.

use std::io::{self, Write};

use std::collections::HashMap;

use cni_fix_core::quote::{escape_text, quote_path};
use cni_fix_core::report::{FileReport, NodeReport, PluginReport, Report, Summary, UnreadReport};
use cni_fix_core::stream::Event;
use cni_fix_core::{Finding, Severity};

/// The styles of the report (anstyle), used only when colour is on.
pub(crate) mod look {
    use anstyle::{AnsiColor, Style};

    pub const BOLD: Style = Style::new().bold();
    pub const DIM: Style = Style::new().dimmed();
    pub const ERROR: Style = Style::new()
        .bold()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
    pub const WARNING: Style = Style::new()
        .bold()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
    pub const INFO: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
    pub const OK: Style = Style::new()
        .bold()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
    pub const UNKNOWN: Style = Style::new()
        .bold()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Magenta)));
}

pub(crate) struct Style {
    pub(crate) color: bool,
}

impl Style {
    pub(crate) fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    pub(crate) fn severity(&self, s: Severity) -> String {
        let padded = format!("{:<7}", s.as_str());
        match s {
            Severity::Error => self.paint(look::ERROR, &padded),
            Severity::Warning => self.paint(look::WARNING, &padded),
            Severity::Info => self.paint(look::INFO, &padded),
        }
    }
}

fn file_line(f: &FileReport) -> String {
    let mut parts = vec![format!("[{}]", serde_plain(&f.status))];
    if let Some(name) = &f.name {
        parts.push(format!("network {:?}", escape_text(name)));
    }
    if f.name.is_some() {
        parts.push(match &f.cni_version {
            Some(v) => format!("cniVersion {:?}", escape_text(v)),
            None => "no cniVersion".to_string(),
        });
    }
    if !f.plugins.is_empty() {
        parts.push(escape_text(&f.plugins.join(" → ")).into_owned());
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
        .map(|p| format!("  ({})", escape_text(p)))
        .unwrap_or_default();
    writeln!(
        out,
        "  {} {}{plugin}",
        style.severity(f.severity),
        style.paint(look::BOLD, f.id.as_str())
    )?;
    writeln!(out, "          {}", escape_text(&f.message))?;
    if let Some(e) = &f.runtime_error {
        writeln!(
            out,
            "          {} {}",
            style.paint(look::DIM, "runtime says:"),
            escape_text(e)
        )?;
    }
    let fixable = if f.fixable {
        " [cni-fix rewrite can fix this]"
    } else {
        ""
    };
    writeln!(
        out,
        "          {} {}{fixable}",
        style.paint(look::DIM, "remedy:"),
        escape_text(&f.remedy)
    )?;
    Ok(())
}

/// A path from the report, quoted as git quotes paths when it holds anything but plain
/// printable text; exact bytes come from `path_bytes` where the path is not UTF-8.
fn shown_path(path: &str, bytes: Option<&str>) -> String {
    use base64::Engine;
    let raw = bytes
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_else(|| path.as_bytes().to_vec());
    quote_path(&raw).into_owned()
}

/// How a plugin's versions were learnt, for the plugins table.
fn versions_line(p: &PluginReport) -> String {
    let source = serde_plain(&p.source);
    match &p.supported_versions {
        Some(v) => {
            let from = match source.as_str() {
                "exec" => "from its VERSION answer".to_string(),
                "assumed" => format!(
                    "from the release table of containernetworking/plugins {}",
                    p.release.as_deref().unwrap_or("?")
                ),
                "static" => format!(
                    "read from the binary, {} confidence: {}",
                    p.confidence.map(|c| serde_plain(&c)).unwrap_or_default(),
                    p.evidence.as_deref().unwrap_or("")
                ),
                other => other.to_string(),
            };
            let earlier = match (&p.problem, source.as_str()) {
                (Some(problem), "assumed") => format!("; the probe failed first: {problem}"),
                _ => String::new(),
            };
            escape_text(&format!("{} ({from}{earlier})", v.join(" "))).into_owned()
        }
        None => match &p.problem {
            Some(problem) => escape_text(&format!("versions unknown: {problem}")).into_owned(),
            None => "versions unknown".to_string(),
        },
    }
}

/// Write `report` for people. `color` turns on ANSI colours.
pub fn render(out: &mut dyn Write, report: &Report, color: bool) -> io::Result<()> {
    let style = Style { color };
    node_header(out, &style, &report.node)?;
    files_and_findings(out, &style, report)?;
    plugins_table(out, &style, &report.plugins)?;
    writeln!(out)?;
    incomplete_and_verdict(
        out,
        &style,
        &report.summary,
        &report.incomplete,
        !report.findings.is_empty(),
    )
}

/// The human format written as a streamed check goes: each event as it comes, the same text
/// [`render`] writes of the whole report.
pub struct Streamed {
    style: Style,
    /// The plugins, from the start, written after the files.
    plugins: Vec<PluginReport>,
    /// Whether any file had a finding.
    any: bool,
}

impl Streamed {
    /// Start writing; `color` turns on ANSI colours.
    pub fn new(color: bool) -> Streamed {
        Streamed {
            style: Style { color },
            plugins: Vec::new(),
            any: false,
        }
    }

    /// Write one event.
    pub fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()> {
        let style = &self.style;
        match event {
            Event::Start { node, plugins, .. } => {
                self.plugins = plugins;
                node_header(out, style, &node)
            }
            Event::File { file, findings } => {
                self.any |= !findings.is_empty();
                file_block(out, style, &file, findings.iter())
            }
            Event::End {
                findings,
                summary,
                incomplete,
            } => {
                node_findings(out, style, &findings)?;
                plugins_table(out, style, &self.plugins)?;
                writeln!(out)?;
                let any = self.any || !findings.is_empty();
                incomplete_and_verdict(out, style, &summary, &incomplete, any)
            }
            // A kind of event this version does not write.
            _ => Ok(()),
        }
    }
}

/// The node as cni-fix saw it: root, runtime, config, directories, load error.
fn node_header(out: &mut dyn Write, style: &Style, n: &NodeReport) -> io::Result<()> {
    let rt = &n.runtime;
    let flag = match rt.name {
        "cri-dockerd" => "--cri-dockerd-version",
        "dockershim" => "--kubelet-version",
        _ => "--containerd-version",
    };
    let loads = match rt.load {
        "first-valid" => ", loads the first valid network",
        _ => "",
    };
    let runtime = match &rt.version {
        Some(v) => {
            let from = match serde_plain(&rt.source).as_str() {
                "flag" => flag.to_string(),
                "exec" => format!("{} --version", rt.name),
                "kubelet" => "the kubelet's version".to_string(),
                _ => "unknown".to_string(),
            };
            let libcni = rt
                .libcni
                .as_deref()
                .map(|l| format!(", libcni {l}"))
                .unwrap_or_default();
            format!(
                "{} {} (from {from}{libcni}){loads}",
                rt.name,
                escape_text(v)
            )
        }
        None => format!("{}, version unknown{loads}", rt.name),
    };
    writeln!(
        out,
        "{} {}",
        style.paint(look::BOLD, "cni-fix check"),
        shown_path(&n.root, None)
    )?;
    writeln!(out, "  runtime       {runtime}")?;
    writeln!(
        out,
        "  containerd    {}",
        n.containerd_config
            .as_deref()
            .map(|c| shown_path(c, None))
            .unwrap_or_else(|| "no config file (defaults)".to_string())
    )?;
    match rt.network_plugin.as_deref() {
        None => writeln!(
            out,
            "  conf dir      {}  (max_conf_num {})",
            shown_path(&n.conf_dir, None),
            n.max_conf_num
        )?,
        Some(plugin) => writeln!(
            out,
            "  conf dir      {}  (--network-plugin={})",
            shown_path(&n.conf_dir, None),
            escape_text(plugin)
        )?,
    }
    let dirs: Vec<String> = n.bin_dirs.iter().map(|d| shown_path(d, None)).collect();
    writeln!(out, "  plugin dirs   {}", dirs.join(", "))?;
    kubelet_block(out, n)?;
    if let Some(why) = &n.cni_not_checked {
        writeln!(out, "  cni rules     not checked: {}", escape_text(why))?;
    }
    if let Some(e) = &n.load_error {
        writeln!(
            out,
            "  {}  {}",
            style.paint(look::ERROR, "load fails"),
            escape_text(e)
        )?;
    }

    Ok(())
}

/// The kubelet, Docker and the Node object: the runtime migration's side of the node.
fn kubelet_block(out: &mut dyn Write, n: &NodeReport) -> io::Result<()> {
    let k = &n.kubelet;
    let version = match &k.version {
        Some(v) => {
            let from = match serde_plain(&k.version_source).as_str() {
                "flag" => "--kubelet-version",
                "exec" => "kubelet --version",
                "node-object" => "the Node object",
                _ => "unknown",
            };
            format!("{} (from {from})", escape_text(v))
        }
        None => "version unknown".to_string(),
    };
    if !k.found {
        writeln!(out, "  kubelet       not found ({version})")?;
    } else {
        writeln!(
            out,
            "  kubelet       {version}, runtime {}",
            serde_plain(&k.runtime)
        )?;
        let endpoint = match (&k.endpoint, &k.source) {
            (Some(e), Some(src)) => {
                let from = match src {
                    cni_fix_core::snapshot::SettingSource::Flag { at } => {
                        format!("set at {}", escape_text(at))
                    }
                    cni_fix_core::snapshot::SettingSource::ConfigFile { path } => {
                        format!("set in {}", shown_path(path, None))
                    }
                    _ => "default".to_string(),
                };
                format!("{} ({from})", escape_text(e))
            }
            _ => "none".to_string(),
        };
        writeln!(out, "    endpoint    {endpoint}")?;
        if let Some(r) = &k.running_endpoint {
            writeln!(
                out,
                "    running     {} (the kubelet has not been restarted since)",
                escape_text(r)
            )?;
        }
        writeln!(
            out,
            "    cgroups     {}",
            k.cgroup_driver
                .as_deref()
                .map(escape_text)
                .unwrap_or("unknown (the config file was not read)".into())
        )?;
        if let Some(c) = &k.config {
            writeln!(out, "    config      {}", shown_path(c, None))?;
        }
    }
    let d = &n.docker;
    if d.engine || d.cri_dockerd_socket.is_some() {
        let cri = match &d.cri_dockerd_socket {
            Some(s) => format!("; cri-dockerd serves {}", escape_text(s)),
            None => String::new(),
        };
        writeln!(
            out,
            "  docker        Docker Engine {}{cri}",
            if d.engine {
                "installed"
            } else {
                "not installed"
            }
        )?;
    }
    if let Some(o) = &n.node_object {
        let field = |v: &Option<String>| -> String {
            v.as_deref()
                .map(|s| escape_text(s).into_owned())
                .unwrap_or_else(|| "none".into())
        };
        writeln!(
            out,
            "  node object   {}: cri-socket {}, runtime {}",
            shown_path(&o.file, None),
            field(&o.cri_socket),
            field(&o.container_runtime_version)
        )?;
    }
    Ok(())
}

/// Each file with its findings, in report order; then the findings about the node. One pass
/// over the findings.
fn files_and_findings(out: &mut dyn Write, style: &Style, report: &Report) -> io::Result<()> {
    let mut by_file: HashMap<&str, Vec<&Finding>> = HashMap::with_capacity(report.files.len());
    for f in &report.files {
        by_file.entry(f.path.as_str()).or_default();
    }
    let mut rest: Vec<&Finding> = Vec::new();
    for x in &report.findings {
        match x.file.as_deref().and_then(|p| by_file.get_mut(p)) {
            Some(list) => list.push(x),
            None => rest.push(x),
        }
    }
    for f in &report.files {
        // Each path's list is printed once, under its first entry.
        let list = by_file
            .get_mut(f.path.as_str())
            .map(std::mem::take)
            .unwrap_or_default();
        file_block(out, style, f, list.into_iter())?;
    }
    node_findings(out, style, rest)
}

/// A file with its findings.
fn file_block<'a>(
    out: &mut dyn Write,
    style: &Style,
    f: &FileReport,
    findings: impl Iterator<Item = &'a Finding>,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{}  {}",
        style.paint(look::BOLD, &shown_path(&f.path, f.path_bytes.as_deref())),
        file_line(f)
    )?;
    for finding_ in findings {
        finding(out, style, finding_)?;
    }
    Ok(())
}

/// The findings about the node rather than a conf dir file, each under the file it names.
fn node_findings<'a>(
    out: &mut dyn Write,
    style: &Style,
    rest: impl IntoIterator<Item = &'a Finding>,
) -> io::Result<()> {
    let mut rest = rest.into_iter().peekable();
    if rest.peek().is_some() {
        writeln!(out)?;
        writeln!(out, "{}", style.paint(look::BOLD, "node"))?;
        for f in rest {
            if let Some(file) = &f.file {
                writeln!(out, "  {}", style.paint(look::DIM, &shown_path(file, None)))?;
            }
            finding(out, style, f)?;
        }
    }
    Ok(())
}

/// The plugins the networks need, where they are, and their versions with their source.
fn plugins_table(out: &mut dyn Write, style: &Style, plugins: &[PluginReport]) -> io::Result<()> {
    if !plugins.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.paint(look::BOLD, "plugins"))?;
        let width = plugins
            .iter()
            .map(|p| p.plugin_type.len())
            .max()
            .unwrap_or(0);
        for p in plugins {
            writeln!(
                out,
                "  {:<width$}  {}  {}",
                escape_text(&p.plugin_type),
                p.path
                    .as_deref()
                    .map(|x| shown_path(x, None))
                    .unwrap_or_else(|| "not found".to_string()),
                versions_line(p),
            )?;
        }
    }

    Ok(())
}

/// What cni-fix could not read, and the one-line verdict.
fn incomplete_and_verdict(
    out: &mut dyn Write,
    style: &Style,
    s: &Summary,
    incomplete: &[UnreadReport],
    any_findings: bool,
) -> io::Result<()> {
    let counts = format!(
        "{} error{}, {} warning{}, {} info",
        s.errors,
        if s.errors == 1 { "" } else { "s" },
        s.warnings,
        if s.warnings == 1 { "" } else { "s" },
        s.infos
    );
    if !incomplete.is_empty() {
        writeln!(
            out,
            "{}",
            style.paint(look::UNKNOWN, "cni-fix could not read")
        )?;
        for u in incomplete {
            writeln!(
                out,
                "  {} {}: {}",
                u.what,
                shown_path(&u.path, None),
                escape_text(&u.reason)
            )?;
        }
        writeln!(out)?;
    }
    let verdict = if !incomplete.is_empty() {
        style.paint(
            look::UNKNOWN,
            &format!(
                "UNKNOWN: {counts} in what cni-fix could read; it could not read everything the runtime reads, so the verdict is unknown"
            ),
        )
    } else if s.errors > 0 {
        style.paint(
            look::ERROR,
            &format!("FAIL: {counts}: pods on this node will fail to start or to stop"),
        )
    } else if s.warnings > 0 {
        style.paint(
            look::WARNING,
            &format!("WARN: {counts}: pods can start and stop, but see the warnings"),
        )
    } else {
        style.paint(
            look::OK,
            &format!("OK: {counts}: pods on this node can start and stop"),
        )
    };
    writeln!(out, "{verdict}")?;
    if any_findings {
        writeln!(out, "`cni-fix explain ID` explains a finding.")?;
    }
    Ok(())
}

//! `cni-fix verify`: run the core's verification and print it for people or as JSON (schema
//! `cni-fix.verify/v1`).

use std::io::{self, Write};

use anyhow::Result;
use cni_fix_core::quote::escape_text;
use cni_fix_core::verify::{
    verify, NetworkReport, Outcome, ResultSummary, Status, Step, VerifyError, VerifyReport,
};

use crate::args::{Format, VerifyRun};
use crate::human::{look, Style};
use crate::{print, use_color, write_json, OK, PROBLEM, UNKNOWN};

/// Run `cni-fix verify`.
pub fn run(run: VerifyRun) -> Result<u8> {
    let report = match verify(&run.options) {
        Ok(r) => r,
        Err(e @ VerifyError::NotPermitted(_)) => anyhow::bail!(e),
        Err(e) => return Err(e.into()),
    };
    let status = if report.summary.failed > 0 {
        PROBLEM
    } else {
        OK
    };
    debug_assert!(status != UNKNOWN);
    print(status, |out| match run.format {
        Format::Json => write_json(out, &report),
        Format::Human => {
            let color = use_color(run.color, &io::stdout());
            render(out, &report, color)
        }
    })
}

fn summary_line(r: &ResultSummary) -> String {
    let mut parts = Vec::new();
    for ip in &r.ips {
        let iface = ip
            .interface
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| r.interfaces.get(n))
            .map(|i| i.name.as_str())
            .unwrap_or("");
        let gw = ip
            .gateway
            .as_deref()
            .map(|g| format!(" via {g}"))
            .unwrap_or_default();
        parts.push(format!("{iface} {}{gw}", ip.address).trim().to_string());
    }
    if parts.is_empty() {
        let names: Vec<&str> = r.interfaces.iter().map(|i| i.name.as_str()).collect();
        if !names.is_empty() {
            parts.push(format!("interfaces {}", names.join(", ")));
        } else {
            parts.push("no interfaces or addresses".to_string());
        }
    }
    if !r.routes.is_empty() {
        let routes: Vec<String> = r
            .routes
            .iter()
            .map(|rt| match &rt.gw {
                Some(gw) => format!("{} via {gw}", rt.dst),
                None => rt.dst.clone(),
            })
            .collect();
        parts.push(format!("routes {}", routes.join(", ")));
    }
    if !r.dns.nameservers.is_empty() {
        parts.push(format!("dns {}", r.dns.nameservers.join(", ")));
    }
    format!("cniVersion {}: {}", r.cni_version, parts.join("; "))
}

fn step_lines(
    out: &mut dyn Write,
    style: &Style,
    s: &Step,
    predicted: Option<&[cni_fix_core::FindingId]>,
) -> io::Result<()> {
    let outcome = match s.outcome {
        Outcome::Passed => style.paint(look::OK, "passed "),
        Outcome::Failed => style.paint(look::ERROR, "failed "),
        Outcome::Skipped => style.paint(look::DIM, "skipped"),
    };
    let label = format!("{:<9}", s.step.label());
    let mut first = String::new();
    if let Some(r) = &s.result {
        first = escape_text(&summary_line(r)).into_owned();
    }
    if let (Some(n), None) = (&s.note, &s.error) {
        first = escape_text(n).into_owned();
    }
    if let Some(e) = &s.error {
        first = escape_text(&e.runtime_message).into_owned();
    }
    writeln!(
        out,
        "{}",
        format!("    {label}  {outcome}  {first}").trim_end()
    )?;
    let pad = " ".repeat(4 + 9 + 2 + 7 + 2);
    if let Some(e) = &s.error {
        if let Some(obj) = &e.object {
            writeln!(
                out,
                "{pad}the plugin's error: {}",
                escape_text(&obj.to_string())
            )?;
        }
        if let Some(last) = s.runs.last() {
            if !last.stderr.is_empty() && e.object.is_none() {
                writeln!(out, "{pad}its stderr: {}", escape_text(&last.stderr))?;
            }
        }
    }
    if let Some(id) = s.finding {
        let told = match predicted {
            Some(p) if p.contains(&id) => "as check predicted; ",
            Some(_) => "which check did not predict; ",
            None => "",
        };
        writeln!(
            out,
            "{pad}finding: {} ({told}see `cni-fix explain {}`)",
            style.paint(look::BOLD, id.as_str()),
            id.as_str()
        )?;
    }
    if let Some(b) = &s.known_bug {
        writeln!(
            out,
            "{pad}a known {} bug, fixed in its release {}: {}",
            b.plugin, b.fixed_in, b.what
        )?;
    }
    if s.error.is_some() {
        if let Some(n) = &s.note {
            writeln!(out, "{pad}{}", escape_text(n))?;
        }
    }
    Ok(())
}

fn network(out: &mut dyn Write, style: &Style, n: &NetworkReport) -> io::Result<()> {
    let (mark, verdict) = match n.status {
        Status::Verified => (
            style.paint(look::OK, "✓"),
            style.paint(look::OK, "verified"),
        ),
        Status::Failed => (
            style.paint(look::ERROR, "✗"),
            style.paint(look::ERROR, "failed"),
        ),
        Status::NotRun => (
            style.paint(look::DIM, "-"),
            style.paint(look::DIM, "not run"),
        ),
    };
    let from = match &n.file {
        Some(f) => cni_fix_core::quote::quote_path(f.as_bytes()).into_owned(),
        None => "the runtime's built-in loopback network".to_string(),
    };
    let version = if n.cni_version.is_empty() {
        "no cniVersion".to_string()
    } else {
        format!("cniVersion {}", escape_text(&n.cni_version))
    };
    let name = if n.name.is_empty() {
        "(unnamed)".to_string()
    } else {
        escape_text(&n.name).into_owned()
    };
    writeln!(
        out,
        "{mark} {} ({from}, {version}): {verdict}",
        style.paint(look::BOLD, &name)
    )?;
    if !n.plugins.is_empty() {
        let plugins: Vec<String> = n
            .plugins
            .iter()
            .map(|p| escape_text(p).into_owned())
            .collect();
        writeln!(out, "    plugins: {}", plugins.join(" → "))?;
    }
    if !n.dummies.is_empty() {
        writeln!(
            out,
            "    stand-in links for host devices: {}",
            escape_text(&n.dummies.join(", "))
        )?;
    }
    if let Some(nr) = &n.not_run {
        writeln!(out, "    {}", escape_text(&nr.reason))?;
        if let Some(t) = &nr.to_run {
            writeln!(out, "    to verify it: {}", escape_text(t))?;
        }
    }
    for s in &n.steps {
        step_lines(out, style, s, n.predicted.as_deref())?;
    }
    if let Some(h) = &n.host {
        let list = |s: &cni_fix_core::verify::HostState| {
            let mut parts = Vec::new();
            parts.extend(s.links.iter().map(|l| format!("link {l}")));
            parts.extend(s.addresses.iter().map(|a| format!("address {a}")));
            parts.extend(s.rules.iter().map(|r| format!("rule {r}")));
            parts
        };
        let during = list(&h.during_pod);
        if !during.is_empty() {
            writeln!(out, "    while the pod lived, the stand-in host gained:")?;
            for p in during {
                writeln!(out, "      {}", escape_text(&p))?;
            }
        }
        let left = list(&h.left_after_del);
        if !left.is_empty() {
            writeln!(out, "    left behind after DEL:")?;
            for p in left {
                writeln!(out, "      {}", escape_text(&p))?;
            }
        }
    }
    let unpredicted_ok: Vec<&str> = match (&n.predicted, n.status) {
        (Some(p), Status::Verified) => p.iter().map(|id| id.as_str()).collect(),
        _ => Vec::new(),
    };
    if !unpredicted_ok.is_empty() {
        writeln!(
            out,
            "    check reports {} for it; verify's replay did not hit it (see `cni-fix check`)",
            unpredicted_ok.join(", ")
        )?;
    }
    for note in &n.notes {
        writeln!(out, "    note: {}", escape_text(note))?;
    }
    writeln!(out)
}

/// Write the human report.
pub fn render(out: &mut dyn Write, r: &VerifyReport, color: bool) -> io::Result<()> {
    let style = Style { color };
    let version = r.runtime.version.as_deref().unwrap_or("of unknown version");
    let assumed = if r.runtime.assumed {
        " (behaviour assumed from its oldest known release)"
    } else {
        ""
    };
    writeln!(
        out,
        "cni-fix verify: as {} {} with libcni {}{assumed}; plugins from {}",
        r.runtime.program,
        escape_text(version),
        r.runtime.libcni,
        escape_text(&r.runtime.cni_path.join(":"))
    )?;
    writeln!(out)?;
    for n in &r.networks {
        network(out, &style, n)?;
    }
    let s = r.summary;
    let mut line = format!(
        "{} verified, {} failed, {} not run",
        s.verified, s.failed, s.not_run
    );
    if s.check_failed > 0 {
        line.push_str(&format!(
            " ({} verified with a failed CHECK, which the runtime never calls)",
            s.check_failed
        ));
    }
    let painted = if s.failed > 0 {
        style.paint(look::ERROR, &line)
    } else {
        style.paint(look::OK, &line)
    };
    writeln!(out, "{painted}")
}

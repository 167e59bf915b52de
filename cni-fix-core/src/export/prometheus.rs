//! A check report as Prometheus metrics in the text exposition format, for node_exporter's
//! textfile collector (a `*.prom` file in its `--collector.textfile.directory`).
//!
//! | metric | labels | value |
//! |---|---|---|
//! | `cni_fix_check_success` | | 1 when the check read everything and no finding reached the threshold |
//! | `cni_fix_check_complete` | | 1 when the check read everything the runtime reads |
//! | `cni_fix_findings` | `severity` | findings of each severity |
//! | `cni_fix_finding` | `id`, `severity`, `file` | findings of that id and severity about that file (`""`: the node) |
//! | `cni_fix_runtime_info` | `runtime`, `runtime_version`, `containerd_version`, `kubelet_version`, `libcni`, `version` | 1 |
//! | `cni_fix_last_run_timestamp_seconds` | | when the check ran |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use crate::finding::Severity;
use crate::report::Report;

/// What the metrics need besides the report.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MetricsOptions {
    /// When the check ran.
    pub now: SystemTime,
    /// The severity that fails the check (`None`: nothing fails), as `--fail-on` sets it.
    pub threshold: Option<Severity>,
}

impl MetricsOptions {
    /// Metrics of a check run at `now` that fails on `threshold`.
    pub fn new(now: SystemTime, threshold: Option<Severity>) -> MetricsOptions {
        MetricsOptions { now, threshold }
    }
}

/// A label value, escaped as the exposition format requires (`\`, `"` and newlines).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// The report as metrics text.
pub fn render(report: &Report, options: &MetricsOptions) -> String {
    let mut out = String::with_capacity(1024 + report.findings.len() * 96);
    let complete = report.incomplete.is_empty();
    let failed = options.threshold.is_some_and(|t| report.fails(t));
    header(
        &mut out,
        "cni_fix_check_success",
        "1 when the last cni-fix check read everything the runtime reads and no finding reached its --fail-on severity, else 0.",
    );
    let _ = writeln!(
        out,
        "cni_fix_check_success {}",
        u8::from(complete && !failed)
    );
    header(
        &mut out,
        "cni_fix_check_complete",
        "1 when the last cni-fix check read everything the runtime reads, else 0.",
    );
    let _ = writeln!(out, "cni_fix_check_complete {}", u8::from(complete));

    header(
        &mut out,
        "cni_fix_findings",
        "Findings of the last cni-fix check, by severity.",
    );
    for s in [Severity::Error, Severity::Warning, Severity::Info] {
        let n = report.findings.iter().filter(|f| f.severity == s).count();
        let _ = writeln!(out, "cni_fix_findings{{severity=\"{}\"}} {n}", s.as_str());
    }

    header(
        &mut out,
        "cni_fix_finding",
        "Findings of the last cni-fix check with that id and severity about that file (\"\" for the node as a whole); `cni-fix explain ID` tells what each id means.",
    );
    let mut by_series: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for f in &report.findings {
        *by_series
            .entry((
                f.id.as_str(),
                f.severity.as_str(),
                f.file.as_deref().unwrap_or(""),
            ))
            .or_default() += 1;
    }
    for ((id, severity, file), n) in by_series {
        let _ = writeln!(
            out,
            "cni_fix_finding{{id=\"{id}\",severity=\"{severity}\",file=\"{}\"}} {n}",
            label(file)
        );
    }

    let node = &report.node;
    let runtime_version = node.runtime.version.as_deref().unwrap_or("");
    let containerd_version = if node.runtime.name == "containerd" {
        runtime_version
    } else {
        ""
    };
    header(
        &mut out,
        "cni_fix_runtime_info",
        "The node's container runtime and kubelet as the last cni-fix check found them (\"\" where unknown).",
    );
    let _ = writeln!(
        out,
        "cni_fix_runtime_info{{runtime=\"{}\",runtime_version=\"{}\",containerd_version=\"{}\",kubelet_version=\"{}\",libcni=\"{}\",version=\"{}\"}} 1",
        label(node.runtime.name),
        label(runtime_version),
        label(containerd_version),
        label(node.kubelet.version.as_deref().unwrap_or("")),
        label(node.runtime.libcni.as_deref().unwrap_or("")),
        env!("CARGO_PKG_VERSION"),
    );

    header(
        &mut out,
        "cni_fix_last_run_timestamp_seconds",
        "When the last cni-fix check ran, in seconds since the Unix epoch.",
    );
    let secs = options
        .now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let _ = writeln!(out, "cni_fix_last_run_timestamp_seconds {secs:.3}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(
            label("/etc/cni/net.d/\\xff.conf"),
            "/etc/cni/net.d/\\\\xff.conf"
        );
    }
}

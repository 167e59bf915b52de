//! Reports as SARIF 2.1.0 logs, for code scanning: one rule per finding id of the report's
//! scope (its explanation as help), one result per finding, located at file, line and column.

use serde_json::{json, Map, Value};

use crate::finding::{FindingId, Location, Scope, Severity};
use crate::report::Report;
use crate::workloads::{WorkloadReport, WORKLOADS_SCHEMA};

/// The `$schema` the logs name.
pub const SARIF_SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The base that node paths in a check's log are relative to: the `--root` it read.
pub const NODE_ROOT: &str = "NODEROOT";

/// A path as a SARIF artifact URI: relative paths stay relative (to the repository root, where
/// a scan runs), absolute ones become `file://` URIs; bytes outside the unreserved set and
/// `/` are percent-encoded.
pub fn artifact_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let rel = path.strip_prefix("./").unwrap_or(path);
    if rel.starts_with('/') {
        out.push_str("file://");
    }
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The SARIF level of a severity.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn rules(scope: Scope) -> (Vec<FindingId>, Vec<Value>) {
    let ids: Vec<FindingId> = FindingId::ALL
        .iter()
        .copied()
        .filter(|i| i.scope() == scope)
        .collect();
    let rules = ids
        .iter()
        .map(|id| {
            json!({
                "id": id.as_str(),
                "shortDescription": { "text": id.summary() },
                "help": { "text": id.explanation(), "markdown": id.explanation() },
                "defaultConfiguration": { "level": level(id.default_severity()) },
            })
        })
        .collect();
    (ids, rules)
}

fn region(l: Location) -> Value {
    json!({ "startLine": l.line, "startColumn": l.column })
}

/// The log around a run's rules, results and notifications.
fn log(run: Map<String, Value>) -> Value {
    json!({
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [Value::Object(run)],
    })
}

fn run(
    rules: Vec<Value>,
    results: Vec<Value>,
    notifications: Vec<Value>,
    ok: bool,
) -> Map<String, Value> {
    let mut run = Map::new();
    run.insert(
        "tool".into(),
        json!({ "driver": {
            "name": "cni-fix",
            "version": env!("CARGO_PKG_VERSION"),
            "informationUri": env!("CARGO_PKG_REPOSITORY"),
            "rules": rules,
        }}),
    );
    run.insert("columnKind".into(), json!("unicodeCodePoints"));
    run.insert(
        "invocations".into(),
        json!([{ "executionSuccessful": ok, "toolExecutionNotifications": notifications }]),
    );
    run.insert("results".into(), Value::Array(results));
    run
}

/// A check report as a SARIF log. File locations are node paths relative to the node's root
/// (uriBaseId `NODEROOT`, whose URI is the root read): a check of a repository with `--root .`
/// points into the repository. A finding about a file without a place in it points at its
/// first line; a finding about the node as a whole has no location.
pub fn check_log(report: &Report) -> Value {
    let (ids, rules) = rules(Scope::Node);
    let located = |file: &str, at: Option<Location>| {
        json!({ "physicalLocation": {
            "artifactLocation": {
                "uri": artifact_uri(file.trim_start_matches('/')),
                "uriBaseId": NODE_ROOT,
            },
            "region": region(at.unwrap_or(Location { line: 1, column: 1 })),
        }})
    };
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut locations: Vec<Value> = Vec::new();
            if let Some(file) = &f.file {
                locations.push(located(file, f.location));
            }
            let related: Vec<Value> = f
                .files
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut l = located(p, None);
                    l["id"] = json!(i);
                    l
                })
                .collect();
            let mut text = f.message.clone();
            if let Some(e) = &f.runtime_error {
                text.push_str(&format!(" The runtime logs: {e}"));
            }
            text.push(' ');
            text.push_str(&f.remedy);
            let mut r = json!({
                "ruleId": f.id.as_str(),
                "ruleIndex": ids.iter().position(|i| *i == f.id),
                "level": level(f.severity),
                "message": { "text": text },
                "locations": locations,
            });
            if !related.is_empty() {
                r["relatedLocations"] = Value::Array(related);
            }
            if let Some(p) = &f.plugin {
                r["properties"] = json!({ "plugin": p });
            }
            r
        })
        .collect();
    let notifications: Vec<Value> = report
        .incomplete
        .iter()
        .map(|u| {
            json!({
                "level": "error",
                "message": { "text": format!("{} {}: {}", u.what, u.path, u.reason) },
            })
        })
        .collect();
    let mut run = run(rules, results, notifications, report.incomplete.is_empty());
    let root = std::path::Path::new(&report.node.root);
    let root_uri = match std::path::absolute(root) {
        Ok(abs) => {
            let mut u = artifact_uri(&abs.to_string_lossy());
            if !u.ends_with('/') {
                u.push('/');
            }
            u
        }
        Err(_) => "file:///".to_string(),
    };
    run.insert(
        "originalUriBaseIds".into(),
        json!({ NODE_ROOT: { "uri": root_uri } }),
    );
    run.insert(
        "properties".into(),
        json!({ "schema": crate::report::SCHEMA, "summary": report.summary }),
    );
    log(run)
}

/// A workloads report as a SARIF log.
pub fn workloads_log(report: &WorkloadReport) -> Value {
    let (ids, rules) = rules(Scope::Workload);
    let mut results = Vec::new();
    for w in &report.workloads {
        for f in &w.findings {
            let mut physical = json!({ "artifactLocation": { "uri": artifact_uri(&f.file) } });
            if let Some(l) = f.location {
                physical["region"] = region(l);
            }
            let mut logical = w.display_name();
            if let Some(c) = &f.container {
                logical.push('/');
                logical.push_str(c);
            }
            results.push(json!({
                "ruleId": f.id.as_str(),
                "ruleIndex": ids.iter().position(|i| *i == f.id),
                "level": level(f.severity),
                "message": { "text": format!("{}: {} {}", w.display_name(), f.message, f.remedy) },
                "locations": [{
                    "physicalLocation": physical,
                    "logicalLocations": [{ "fullyQualifiedName": logical, "kind": "object" }],
                }],
            }));
        }
    }
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            let mut loc = json!({ "physicalLocation": { "artifactLocation": { "uri": artifact_uri(&e.file) } } });
            if let Some(l) = e.location {
                loc["physicalLocation"]["region"] = region(l);
            }
            json!({ "level": "error", "message": { "text": e.message }, "locations": [loc] })
        })
        .collect();
    let mut run = run(rules, results, notifications, report.errors.is_empty());
    run.insert(
        "properties".into(),
        json!({ "schema": WORKLOADS_SCHEMA, "summary": report.summary }),
    );
    log(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(artifact_uri("deploy/a b.yaml"), "deploy/a%20b.yaml");
        assert_eq!(artifact_uri("./x.yaml"), "x.yaml");
        assert_eq!(artifact_uri("/srv/m/ä.yaml"), "file:///srv/m/%C3%A4.yaml");
    }
}

//! Every scenario node tree in `testdata/scenarios`, checked by the real binary in both
//! formats, with insta snapshots of the output and the exit status. Each case is a test of its
//! own (`cargo test --test scenarios -- shadowed-config/containerd-1.7` runs one), so a failing
//! case hides none of the others.
//!
//! Each case is also run with `--format ndjson`, whose events must hold the JSON report, with
//! `--format summary`, whose line must say what the report says, and
//! through `cni-fix rewrite --dry-run`, whose diff is snapshotted.
//!
//! A scenario is a directory with `node/` (the node tree), `cases` (one `name: arguments`
//! line per run of `cni-fix check`; the test adds `--root`), a README, and optionally `modes`
//! (`node-path octal-mode` lines, since git keeps only the execute bit).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cni_fix_core::{FindingId, Scope};
use common::{copy_node, run_check, scenarios_dir};
use libtest_mimic::{Arguments, Failed, Trial};

/// One line of a scenario's `cases`.
#[derive(Clone)]
struct Case {
    scenario: String,
    dir: PathBuf,
    name: String,
    args: Vec<String>,
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<_> = std::fs::read_dir(scenarios_dir())
        .expect("testdata/scenarios")
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 15, "scenarios missing: {dirs:?}");
    let mut out = Vec::new();
    for dir in dirs {
        let scenario = dir.file_name().unwrap().to_string_lossy().into_owned();
        let cases = std::fs::read_to_string(dir.join("cases"))
            .unwrap_or_else(|e| panic!("{scenario}/cases: {e}"));
        for line in cases
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (name, args) = line.split_once(':').expect("case: args");
            out.push(Case {
                scenario: scenario.clone(),
                dir: dir.clone(),
                name: name.trim().to_string(),
                args: args.split_whitespace().map(str::to_string).collect(),
            });
        }
    }
    out
}

/// The scenario's node tree in a new temporary root, with its modes.
fn tree(case: &Case) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_node(&case.dir.join("node"), tmp.path());
    if let Ok(modes) = std::fs::read_to_string(case.dir.join("modes")) {
        common::apply_modes(tmp.path(), &modes);
    }
    tmp
}

/// The finding ids a case's JSON report holds.
fn ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn run_case(case: &Case) -> Result<(), Failed> {
    let (name, id) = (&case.scenario, &case.name);
    let tmp = tree(case);
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let human = run_check(tmp.path(), &args, "human");
    let json = run_check(tmp.path(), &args, "json");
    if human.code != json.code {
        return Err(format!("{name}/{id}: formats disagree on the exit status").into());
    }
    let report: serde_json::Value = serde_json::from_str(&json.stdout)
        .map_err(|e| format!("{name}/{id}: JSON output: {e}\n{}", json.stdout))?;
    // The streamed check holds the same report, a line per event.
    let ndjson = run_check(tmp.path(), &args, "ndjson");
    if ndjson.code != json.code {
        return Err(format!("{name}/{id}: ndjson and json disagree on the exit status").into());
    }
    let gathered = common::gather_ndjson(&ndjson.stdout)
        .map_err(|e| format!("{name}/{id}: ndjson output: {e}\n{}", ndjson.stdout))?;
    if gathered != report {
        return Err(format!(
            "{name}/{id}: the ndjson events do not hold the JSON report\n{}",
            ndjson.stdout
        )
        .into());
    }
    // The summary line says what the report says.
    let summary = run_check(tmp.path(), &args, "summary");
    if summary.code != json.code || summary.stdout != common::summary_of(&report, json.code) {
        return Err(format!(
            "{name}/{id}: the summary line disagrees with the report: {}",
            summary.stdout
        )
        .into());
    }
    let snap = format!("{name}__{id}");
    insta::assert_snapshot!(
        format!("{snap}__human"),
        format!(
            "$ cni-fix check {}\nexit status {}\n\n{}{}",
            args.join(" "),
            human.code,
            human.stdout,
            human.stderr
        )
    );
    insta::assert_snapshot!(format!("{snap}__json"), json.stdout);

    // What `rewrite` would change: the diff, each file's outcome, the status.
    let root_s = tmp.path().to_str().unwrap();
    let mut rw = vec!["rewrite", "--root", root_s, "--dry-run"];
    rw.extend(args.iter().copied());
    let dry = common::cni_fix(&rw);
    insta::assert_snapshot!(
        format!("{snap}__rewrite"),
        format!(
            "$ cni-fix rewrite --dry-run {}\nexit status {}\n\n{}\n--- stderr ---\n{}",
            args.join(" "),
            dry.code,
            dry.stdout.replace(root_s, "<root>"),
            dry.stderr.replace(root_s, "<root>")
        )
    );
    let fixable = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["fix"].is_object());
    if fixable == dry.stdout.is_empty() {
        return Err(format!(
            "{name}/{id}: findings carry a fix exactly when rewrite has a diff (fix: {fixable})"
        )
        .into());
    }
    Ok(())
}

/// Every node finding id is produced by some case (workload ids by the workloads fixtures,
/// in `tests/workloads.rs`).
fn every_id_has_a_scenario(cases: &[Case]) -> Result<(), Failed> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for case in cases {
        let tmp = tree(case);
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let json = run_check(tmp.path(), &args, "json");
        let report: serde_json::Value =
            serde_json::from_str(&json.stdout).map_err(|e| e.to_string())?;
        seen.extend(ids(&report));
    }
    let missing: Vec<&str> = FindingId::ALL
        .iter()
        .filter(|i| i.scope() == Scope::Node)
        .map(|i| i.as_str())
        .filter(|i| !seen.contains(*i))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("no scenario produces {missing:?}").into())
    }
}

fn example_node_from_the_readme() -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/example-node");
    let out = run_check(
        &root,
        &["--containerd-version", "1.6.3", "--probe", "exec"],
        "json",
    );
    if out.code != 1 {
        return Err(format!("exit {}: {}", out.code, out.stderr).into());
    }
    let report: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| e.to_string())?;
    let ids = ids(&report);
    if ids.iter().any(|i| i == "missing-version")
        && ids.iter().any(|i| i == "loopback-incompatible")
    {
        Ok(())
    } else {
        Err(format!("{ids:?}").into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let cases = cases();
    let mut trials: Vec<Trial> = cases
        .iter()
        .cloned()
        .map(|c| {
            let name = format!("{}/{}", c.scenario, c.name);
            Trial::test(name, move || run_case(&c))
        })
        .collect();
    trials.push(Trial::test("every_finding_id_has_a_scenario", move || {
        every_id_has_a_scenario(&cases)
    }));
    trials.push(Trial::test(
        "example_node_from_the_readme",
        example_node_from_the_readme,
    ));
    libtest_mimic::run(&args, trials).exit();
}

//! Every scenario node tree in `testdata/scenarios`, checked by the real binary in both
//! formats, with insta snapshots of the output and the exit status.
//!
//! Each case is also run through `cni-fix rewrite --dry-run`, whose diff is snapshotted.
//!
//! A scenario is a directory with `node/` (the node tree), `cases` (one `name: arguments`
//! line per run of `cni-fix check`; the test adds `--root`), a README, and optionally `modes`
//! (`node-path octal-mode` lines, since git keeps only the execute bit).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use cni_fix_core::FindingId;
use common::{copy_node, run_check, scenarios_dir};

#[test]
fn scenarios() {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut dirs: Vec<_> = std::fs::read_dir(scenarios_dir())
        .expect("testdata/scenarios")
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 15, "scenarios missing: {dirs:?}");
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let cases = std::fs::read_to_string(dir.join("cases"))
            .unwrap_or_else(|e| panic!("{name}/cases: {e}"));
        let tmp = tempfile::tempdir().unwrap();
        copy_node(&dir.join("node"), tmp.path());
        if let Ok(modes) = std::fs::read_to_string(dir.join("modes")) {
            common::apply_modes(tmp.path(), &modes);
        }
        for line in cases
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (case, args) = line.split_once(':').expect("case: args");
            let args: Vec<&str> = args.split_whitespace().collect();
            let human = run_check(tmp.path(), &args, "human");
            let json = run_check(tmp.path(), &args, "json");
            assert_eq!(
                human.code, json.code,
                "{name}/{case}: formats disagree on the exit status"
            );
            let report: serde_json::Value = serde_json::from_str(&json.stdout)
                .unwrap_or_else(|e| panic!("{name}/{case}: JSON output: {e}\n{}", json.stdout));
            for f in report["findings"].as_array().unwrap() {
                seen.insert(f["id"].as_str().unwrap().to_string());
            }
            let snap = format!("{name}__{case}");
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
            let mut rw = vec![
                "rewrite",
                "--root",
                tmp.path().to_str().unwrap(),
                "--dry-run",
            ];
            rw.extend(args.iter().copied());
            let dry = common::cni_fix(&rw);
            let root_s = tmp.path().to_str().unwrap();
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
            assert_eq!(
                fixable,
                !dry.stdout.is_empty(),
                "{name}/{case}: findings carry a fix exactly when rewrite has a diff"
            );
        }
    }
    let all: BTreeSet<String> = FindingId::ALL
        .iter()
        .map(|i| i.as_str().to_string())
        .collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "no scenario produces {missing:?}");
}

#[test]
fn example_node_from_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/example-node");
    let out = run_check(
        &root,
        &["--containerd-version", "1.6.3", "--probe", "exec"],
        "json",
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"missing-version") && ids.contains(&"loopback-incompatible"),
        "{ids:?}"
    );
}

//! The manifests in `deploy/`: valid for every Kubernetes release from 1.24 to the newest that
//! `kubernetes-validate` ships (strict: no unknown field), and the commands they run work as
//! written, against the example node standing in for the host's `/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn manifests() -> Vec<PathBuf> {
    [
        "deploy/daemonset.yaml",
        "deploy/job.yaml",
        "deploy/node-problem-detector/configmap.yaml",
    ]
    .iter()
    .map(|m| repo().join(m))
    .collect()
}

/// The Kubernetes releases a kubernetes-validate installation ships schemas for.
fn shipped(python_path: Option<&Path>) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import kubernetes_validate, os; d = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema'); print('\\n'.join(sorted(x[1:-len('-local-strict')] for x in os.listdir(d) if x.endswith('-local-strict'))))",
    ]);
    if let Some(p) = python_path {
        cmd.env("PYTHONPATH", p);
    }
    let out = cmd.output().expect("python3");
    assert!(
        out.status.success(),
        "kubernetes-validate is not installed (the README's test command installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn validate(version: &str, python_path: Option<&Path>, files: &[PathBuf]) -> (bool, String) {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "kubernetes_validate",
        "--strict",
        "--no-warn",
        "-k",
        version,
    ]);
    cmd.args(files);
    if let Some(p) = python_path {
        cmd.env("PYTHONPATH", p);
    }
    let out = cmd.output().expect("python3 -m kubernetes_validate");
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

fn minor(v: &str) -> u32 {
    v.split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

#[test]
fn manifests_are_valid_from_1_24_to_the_newest() {
    // The newest kubernetes-validate ships the newest releases; an older one, installed by the
    // test command beside it, ships 1.24.
    let older = repo().join("target/kubernetes-validate-1.30");
    let mut checked = Vec::new();
    for (path, versions) in [
        (None, shipped(None)),
        (Some(older.as_path()), shipped(Some(&older))),
    ] {
        for v in versions.iter().filter(|v| minor(v) >= 24) {
            if checked.contains(v) {
                continue;
            }
            let (ok, said) = validate(v, path, &manifests());
            assert!(ok, "Kubernetes {v}: {said}");
            checked.push(v.clone());
        }
    }
    checked.sort_by_key(|v| minor(v));
    assert_eq!(
        checked.first().map(String::as_str),
        Some("1.24.0"),
        "{checked:?}"
    );
    assert!(checked.len() >= 10, "{checked:?}");
    // The validator does refuse: an unknown field in the pod spec.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    let text = std::fs::read_to_string(repo().join("deploy/job.yaml")).unwrap();
    std::fs::write(
        &bad,
        text.replace(
            "restartPolicy: Never",
            "restartPolicy: Never\n      hostNetwrok: true",
        ),
    )
    .unwrap();
    assert!(!validate(checked.last().unwrap(), None, &[bad]).0);
}

/// The container's arguments in a manifest.
fn args_of(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(manifest)).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let doc = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet" || d["kind"] == "Job")
        .unwrap();
    doc["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn example() -> String {
    repo()
        .join("testdata/example-node")
        .to_str()
        .unwrap()
        .to_string()
}

/// Run cni-fix with `args` as a manifest writes them, the example node standing for the host's
/// `/` mounted at `/host`.
fn run_as_written(args: impl IntoIterator<Item = String>) -> std::process::Output {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.replace("/host", &example()))
        .collect();
    Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args(&args)
        .output()
        .unwrap()
}

#[test]
fn the_daemonset_writes_metrics_promtool_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("cni-fix.prom");
    let args: Vec<String> = args_of("deploy/daemonset.yaml")
        .into_iter()
        .filter(|a| !a.starts_with("--interval"))
        .map(|a| a.replace("/textfile/cni-fix.prom", prom.to_str().unwrap()))
        .collect();
    assert!(args.contains(&"--probe=static".to_string()), "{args:?}");
    let out = run_as_written(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("cni_fix_finding{id=\"missing-version\""),
        "{text}"
    );
    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&prom).unwrap())
        .output()
        .expect("promtool");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The alert rules load.
    let rules = Command::new("promtool")
        .args(["check", "rules"])
        .arg(repo().join("deploy/prometheus-rules.yaml"))
        .output()
        .unwrap();
    assert!(
        rules.status.success(),
        "{}",
        String::from_utf8_lossy(&rules.stdout)
    );
}

#[test]
fn the_interval_rewrites_the_file_and_needs_one() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("x.prom");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args([
            "check",
            "--root",
            &example(),
            "--format",
            "prometheus",
            "--interval",
            "1",
        ])
        .args([
            "--containerd-version",
            "1.6.3",
            "--output",
            prom.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let stamp = |t: &str| -> f64 {
        t.lines()
            .find_map(|l| l.strip_prefix("cni_fix_last_run_timestamp_seconds "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut seen = Vec::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(t) = std::fs::read_to_string(&prom) {
            let s = stamp(&t);
            if !seen.contains(&s.to_bits()) {
                seen.push(s.to_bits());
            }
            if seen.len() >= 2 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen.len() >= 2, "the file was not rewritten");
    let run = common::cni_fix(&["check", "--interval", "5"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--output"), "{}", run.stderr);
}

#[test]
fn the_job_and_node_problem_detector_run_as_written() {
    let out = run_as_written(args_of("deploy/job.yaml"));
    // The example node is broken: the Job fails, and its log is the human report.
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("missing-version"));

    let json =
        std::fs::read_to_string(repo().join("deploy/node-problem-detector/cni-fix-monitor.json"))
            .unwrap();
    let monitor: Value = serde_json::from_str(&json).unwrap();
    // The ConfigMap carries the same monitor.
    let cm: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo().join("deploy/node-problem-detector/configmap.yaml"))
            .unwrap(),
    )
    .unwrap();
    let in_cm: Value =
        serde_json::from_str(cm["data"]["cni-fix-monitor.json"].as_str().unwrap()).unwrap();
    assert_eq!(in_cm, monitor);
    let rule = &monitor["rules"][0];
    assert_eq!(rule["condition"], "CNIConfigProblem");
    assert_eq!(monitor["conditions"][0]["type"], "CNIConfigProblem");
    assert_eq!(rule["path"], "/host/usr/bin/cni-fix");
    let args = rule["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string());
    // node-problem-detector's custom plugins: 0 OK, 1 problem, 2 unknown; the message is the
    // first line of the output, within max_output_length.
    let out = run_as_written(args);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("FAIL: "), "{text}");
    assert!(
        text.len()
            <= monitor["pluginConfig"]["max_output_length"]
                .as_u64()
                .unwrap() as usize
    );
    let broken_root = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args(["check", "--root=/nonexistent", "--format=summary"])
        .output()
        .unwrap();
    assert_eq!(broken_root.status.code(), Some(2));
}

#[test]
fn completions_and_manual_pages() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef cni-fix"),
        ("fish", "complete -c cni-fix"),
    ] {
        let run = common::cni_fix(&["completions", shell]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..run.stdout.len().min(200)]
        );
        for sub in ["check", "scan", "collect", "rewrite", "verify"] {
            assert!(run.stdout.contains(sub), "{shell} completes no {sub}");
        }
    }
    let bad = common::cni_fix(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
    let tmp = tempfile::tempdir().unwrap();
    let run = common::cni_fix(&["manpages", tmp.path().to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for page in [
        "cni-fix.1",
        "cni-fix-check.1",
        "cni-fix-scan.1",
        "cni-fix-collect.1",
    ] {
        let text = std::fs::read_to_string(tmp.path().join(page)).unwrap();
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
    // Hidden commands get no page.
    assert!(!tmp.path().join("cni-fix-manpages.1").exists());
}

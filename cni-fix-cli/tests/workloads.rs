//! `cni-fix workloads` over the manifests in `testdata/workloads`: real ones as their projects ship
//! them (`real-world`, with provenance in its INDEX) and small written cases (`cases`).
//!
//! - Every file's report is snapshotted, human and JSON.
//! - The Kubernetes documentation's own check, `kubectl get pods -A -o jsonpath=… | sort | grep
//!   '/var/run/docker.sock'`, is run with the real kubectl (against a stub API server,
//!   `tests/seed/apiserver.go`, that serves the pods the manifests create) and must find nothing
//!   cni-fix misses; what cni-fix finds beyond it is snapshotted.
//! - Hostile input (alias bombs, deep nesting, 1 GiB on standard input, bytes that are not
//!   UTF-8) is refused with a message naming the input, and the other inputs are still read.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cni_fix_core::{FindingId, Scope};
use serde_json::{json, Value};

fn workloads_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/workloads")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `cni-fix workloads ARGS`, run in `testdata/workloads` (so that paths print relative), with
/// `stdin` as standard input.
fn workloads(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .arg("workloads")
        .args(args)
        .current_dir(workloads_dir())
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cni-fix");
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The reader may stop early (a refused input): a broken pipe is expected then.
        let _ = input.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("wait for cni-fix");
    writer.join().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_report(args: &[&str], stdin: &[u8]) -> (Run, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let run = workloads(&all, stdin);
    let v = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run, v)
}

/// Every manifest file of the fixtures, relative to `testdata/workloads`, in name order.
fn fixture_files() -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["real-world", "cases"] {
        for e in walkdir::WalkDir::new(workloads_dir().join(sub)).sort_by_file_name() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().is_file()
                && matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("yaml" | "yml" | "json")
                )
            {
                out.push(
                    p.strip_prefix(workloads_dir())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    assert!(out.len() >= 15, "fixtures missing: {out:?}");
    out
}

fn ids(report: &Value) -> BTreeSet<String> {
    report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["findings"].as_array().unwrap())
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_fixture_report() {
    for file in fixture_files() {
        let human = workloads(&["--color", "never", &file], b"");
        let (json, report) = json_report(&[&file], b"");
        assert_eq!(human.code, json.code, "{file}: formats disagree");
        assert!(
            report["errors"].as_array().unwrap().is_empty(),
            "{file}: {report}"
        );
        let name = file.replace(['/', '.'], "_");
        insta::assert_snapshot!(
            format!("{name}__human"),
            format!(
                "$ cni-fix workloads {file}\nexit status {}\n\n{}{}",
                human.code, human.stdout, human.stderr
            )
        );
        insta::assert_snapshot!(format!("{name}__json"), json.stdout);
    }
}

#[test]
fn every_workload_id_has_a_fixture() {
    let mut seen = BTreeSet::new();
    for file in fixture_files() {
        seen.extend(ids(&json_report(&[&file], b"").1));
    }
    let missing: Vec<&str> = FindingId::ALL
        .iter()
        .filter(|i| i.scope() == Scope::Workload)
        .map(|i| i.as_str())
        .filter(|i| !seen.contains(*i))
        .collect();
    assert!(missing.is_empty(), "no fixture produces {missing:?}");
}

#[test]
fn directories_lists_and_standard_input() {
    // A directory is read recursively; its report is every file's.
    let (run, dir) = json_report(&["real-world"], b"");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(dir["schema"], "cni-fix.workloads/v1");
    assert_eq!(dir["inputs"].as_array().unwrap().len(), 11);
    // Standard input is the default, as `kubectl get pods -A -o json | cni-fix workloads`.
    let pods = std::fs::read(workloads_dir().join("cases/cluster-pods.json")).unwrap();
    let (run, report) = json_report(&[], &pods);
    assert_eq!(run.code, 1);
    assert_eq!(report["inputs"][0]["file"], "-");
    let found: Vec<(String, u64, bool)> = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                format!(
                    "{}/{}/{}",
                    w["namespace"].as_str().unwrap_or(""),
                    w["kind"].as_str().unwrap(),
                    w["name"].as_str().unwrap()
                ),
                w["pods"].as_u64().unwrap(),
                w["inferred"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("datadog/DaemonSet/datadog-agent".to_string(), 2, false),
            ("default/Pod/debug".to_string(), 1, false),
            ("kube-system/Pod/etcd-control-plane-1".to_string(), 1, false),
            ("logging/Deployment/log-router".to_string(), 3, true),
            ("ops/CronJob/registry-gc".to_string(), 1, false),
        ]
    );
    // --fail-on decides the status.
    assert_eq!(workloads(&["--fail-on", "never"], &pods).code, 0);
    assert_eq!(
        workloads(&["--fail-on", "warning", "real-world/fluentd"], b"").code,
        0,
        "info only"
    );
    assert_eq!(
        workloads(
            &["--fail-on", "warning", "cases/env-and-commands.yaml"],
            b""
        )
        .code,
        1
    );
    assert_eq!(workloads(&["cases/not-docker.yaml"], b"").code, 0);
}

#[test]
fn sarif_for_code_scanning() {
    let run = workloads(
        &[
            "--format",
            "sarif",
            "real-world",
            "cases/parents-and-subpaths.yaml",
        ],
        b"",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let log: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run0 = &log["runs"][0];
    let rules: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules.len(), 6);
    let results = run0["results"].as_array().unwrap();
    let (_, report) = json_report(&["real-world", "cases/parents-and-subpaths.yaml"], b"");
    let findings: usize = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["findings"].as_array().unwrap().len())
        .sum();
    assert_eq!(results.len(), findings);
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i], r["ruleId"].as_str().unwrap());
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(workloads_dir().join(uri).is_file(), "{uri}");
        // Every finding in YAML points at a line, and that line says what the finding is about.
        let line = loc["region"]["startLine"].as_u64().unwrap() as usize;
        let text = std::fs::read_to_string(workloads_dir().join(uri)).unwrap();
        assert!(line >= 1 && line <= text.lines().count(), "{uri}:{line}");
    }
    let stdin = workloads(&["--format", "sarif"], b"");
    assert_eq!(stdin.code, 2);
    assert!(
        stdin.stderr.contains("not standard input"),
        "{}",
        stdin.stderr
    );
}

#[test]
fn hostile_input_is_refused_and_named() {
    // An alias bomb, beside a good file: the bomb is refused, the good file still reported.
    let (run, report) = json_report(
        &["hostile/alias-bomb.yaml", "real-world/weave-scope/ds.yaml"],
        b"",
    );
    assert_eq!(run.code, 2);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["file"], "hostile/alias-bomb.yaml");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("alias bomb"),
        "{report}"
    );
    assert_eq!(report["workloads"].as_array().unwrap().len(), 1);

    // Nesting far beyond any object's.
    let deep = format!(
        "kind: List\nitems: {}{}\n",
        "[{kind: List, items: ".repeat(3000),
        "}]".repeat(3000)
    );
    let run = workloads(&[], deep.as_bytes());
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("-:") && run.stdout.contains("nested deeper than 100 levels"),
        "{}",
        run.stdout
    );

    // 1 GiB on standard input: refused after the limit, without reading it all.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args(["workloads", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'#'; 1 << 20];
        let mut sent = 0u64;
        for _ in 0..1024 {
            if input.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });
    let out = child.wait_with_output().unwrap();
    let sent = writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"][0]["file"], "-");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("larger than 256 MiB"),
        "{report}"
    );
    assert!(sent < 1 << 30, "cni-fix read the whole GiB");

    // A smaller limit, and bytes that are not UTF-8.
    let run = workloads(&["--max-input-size", "1K"], &[b' '; 2048]);
    assert!(
        run.stdout.contains("larger than 1024 bytes"),
        "{}",
        run.stdout
    );
    let run = workloads(&[], b"kind: Pod\nmetadata: {name: \xff}\n");
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("-: not UTF-8"), "{}", run.stdout);
    // A path that does not exist is named.
    let run = workloads(&["no/such/dir"], b"");
    assert_eq!(run.code, 2);
    assert!(
        run.stdout
            .contains("no/such/dir: no such file or directory"),
        "{}",
        run.stdout
    );
}

/// The pods a manifest's workloads would create: each pod template (a CronJob's job template's
/// too) as a Pod named after its workload, in its namespace. A Pod stays itself.
fn pods_of(doc: &Value, out: &mut Vec<Value>) {
    if let Some(items) = doc["items"].as_array() {
        for i in items {
            pods_of(i, out);
        }
    }
    let kind = doc["kind"].as_str().unwrap_or("");
    let template = match kind {
        "Pod" => {
            // Compared pod by pod: without owners, cni-fix reports each pod on its own.
            let mut pod = doc.clone();
            pod["metadata"]
                .as_object_mut()
                .map(|m| m.remove("ownerReferences"));
            out.push(pod);
            return;
        }
        "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"],
        _ => &doc["spec"]["template"],
    };
    if !template["spec"].is_object() {
        return;
    }
    let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = format!("{}-seed", doc["metadata"]["name"].as_str().unwrap_or("x"));
    out.push(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": ns },
        "spec": template["spec"],
    }));
}

/// The documentation's line, verbatim, run by the real kubectl against the stub API server
/// serving `pods`.
fn seed_check(pods: &Value, tmp: &Path) -> Vec<String> {
    let server = tmp.join("apiserver");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&server)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seed/apiserver.go"))
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", tmp.join("gocache"))
        .env("HOME", tmp)
        .output()
        .expect("go (golang-go) is needed: scripts/test.sh installs it");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let pods_file = tmp.join("pods.json");
    std::fs::write(&pods_file, serde_json::to_vec(pods).unwrap()).unwrap();
    let addr_file = tmp.join("addr");
    let mut child = Command::new(&server)
        .arg(&pods_file)
        .arg(&addr_file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut addr = String::new();
    for _ in 0..500 {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            if !a.is_empty() {
                addr = a;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!addr.is_empty(), "the stub API server did not start");
    let script = r#"kubectl --server "http://$ADDR" get pods --all-namespaces \
-o=jsonpath='{range .items[*]}{"\n"}{.metadata.namespace}{":\t"}{.metadata.name}{":\t"}{range .spec.volumes[*]}{.hostPath.path}{", "}{end}{end}' \
| sort \
| grep '/var/run/docker.sock'"#;
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", script])
        .env("ADDR", &addr)
        .env("HOME", tmp)
        .env("KUBECONFIG", tmp.join("kubeconfig"))
        .output()
        .expect("bash");
    let _ = child.kill();
    let _ = child.wait();
    let code = out.status.code();
    // grep's status 1 is "no line matched"; anything else is kubectl failing.
    assert!(
        code == Some(0) || (code == Some(1) && out.stderr.is_empty()),
        "kubectl (kubernetes-client) is needed, and must run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut parts = l.split(":\t");
            let ns = parts.next().unwrap_or("");
            let name = parts.next().unwrap_or("");
            format!("{ns}/{name}")
        })
        .collect()
}

#[test]
fn the_documentations_check_finds_nothing_cni_fix_misses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pods = Vec::new();
    for file in fixture_files() {
        let text = std::fs::read_to_string(workloads_dir().join(&file)).unwrap();
        let docs: Vec<Value> = if file.ends_with(".json") {
            vec![serde_json::from_str(&text).unwrap()]
        } else {
            serde_saphyr::from_multiple::<Value>(&text).unwrap()
        };
        for d in &docs {
            pods_of(d, &mut pods);
        }
    }
    assert!(pods.len() >= 20, "{}", pods.len());
    let list = json!({ "apiVersion": "v1", "kind": "List", "metadata": {}, "items": pods });
    let seed: BTreeSet<String> = seed_check(&list, tmp.path()).into_iter().collect();
    assert!(
        seed.len() >= 5,
        "the check found too little to compare: {seed:?}"
    );

    // cni-fix over the very same pods.
    let (_, report) = json_report(&[], &serde_json::to_vec(&list).unwrap());
    let mut direct = BTreeSet::new();
    let mut beyond = BTreeSet::new();
    for w in report["workloads"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            w["namespace"].as_str().unwrap(),
            w["name"].as_str().unwrap()
        );
        for f in w["findings"].as_array().unwrap() {
            match f["id"].as_str().unwrap() {
                "docker-socket-mount" => {
                    direct.insert(key.clone());
                }
                "docker-socket-parent-mount" | "docker-host-env" | "docker-cli-in-command" => {
                    beyond.insert(key.clone());
                }
                _ => {}
            }
        }
    }
    let missed: Vec<&String> = seed.difference(&direct).collect();
    assert!(
        missed.is_empty(),
        "the check finds what cni-fix misses: {missed:?}"
    );
    // What cni-fix finds that the check does not.
    let only_cni_fix: Vec<&String> = beyond.difference(&seed).collect();
    assert!(
        only_cni_fix.iter().any(|p| p.contains("datadog")),
        "{only_cni_fix:?}"
    );
    insta::assert_snapshot!(
        "seed_comparison",
        format!(
            "the documentation's check finds ({}):\n{}\n\ncni-fix finds beyond it ({}):\n{}\n",
            seed.len(),
            seed.iter().cloned().collect::<Vec<_>>().join("\n"),
            only_cni_fix.len(),
            only_cni_fix
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        )
    );
}

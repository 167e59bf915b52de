//! The fleet side: `collect`, `scan` (and `check` over several roots), and `check`'s Prometheus
//! and SARIF output, validated with the tools that read them (Debian's `promtool`, and
//! `check-jsonschema` with the SARIF 2.1.0 schema), which the README's test command installs.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cni_fix, copy_node, scenarios_dir, Run};
use serde_json::Value;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/example-node")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const EXAMPLE: &[&str] = &["--containerd-version", "1.6.3", "--probe", "exec"];

/// The archive's entries: name and bytes.
fn entries(archive: &Path) -> Vec<(String, Vec<u8>)> {
    let out = Command::new("tar")
        .args(["-tzf", s(archive)])
        .output()
        .expect("tar");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|name| {
            let bytes = Command::new("tar")
                .args(["-xzOf", s(archive), name])
                .output()
                .unwrap()
                .stdout;
            (name.to_string(), bytes)
        })
        .collect()
}

fn without_root(mut v: Value) -> Value {
    v["node"]["root"] = Value::Null;
    v
}

fn collect(root: &Path, out: &Path, args: &[&str]) -> Run {
    let mut all = vec!["collect", "--root", s(root), "--output", s(out)];
    all.extend_from_slice(args);
    cni_fix(&all)
}

#[test]
fn a_collection_checks_as_the_node_did() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("node-1.tar.gz");
    let run = collect(&example(), &archive, EXAMPLE);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("its check: 2 errors"), "{}", run.stderr);

    // What is in it: the manifest and the two files check reads; no binary, no backup file
    // that check only lists.
    let names: Vec<String> = entries(&archive).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "cni-fix-collect.json",
            "files/etc/cni/net.d/10-flannel.conflist",
            "files/etc/containerd/config.toml"
        ]
    );
    let manifest: Value = serde_json::from_slice(&entries(&archive)[0].1).unwrap();
    assert_eq!(manifest["schema"], "cni-fix.collect/v1");
    assert_eq!(manifest["options"]["containerd_version"], "1.6.3");
    assert_eq!(
        manifest["answers"]["exec"]["/opt/cni/bin/loopback"]["ok"],
        serde_json::json!(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0"])
    );
    // The backup is listed (check reports it as ignored) but not collected.
    let listing = &manifest["paths"]["/etc/cni/net.d"]["entries"]["ok"];
    assert!(listing.to_string().contains("10-flannel.conflist.bak"));

    // Checked from the archive, with no binary at hand: the same report.
    let (_, direct) = common::check_json(&[&["--root", s(&example())], EXAMPLE].concat());
    let scan = cni_fix(&["scan", "--format", "json", s(&archive)]);
    assert_eq!(scan.code, 1, "{}", scan.stderr);
    let lines: Vec<Value> = scan
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["input_kind"], "collection");
    assert_eq!(
        without_root(lines[0]["report"].clone()),
        without_root(direct)
    );
    assert_eq!(lines[1]["type"], "summary");

    // The same archive twice is the same bytes: collections can be compared and deduplicated.
    let again = tmp.path().join("again.tar.gz");
    assert_eq!(collect(&example(), &again, EXAMPLE).code, 0);
    let (a, b) = (
        std::fs::read(&archive).unwrap(),
        std::fs::read(&again).unwrap(),
    );
    let strip = |e: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        e.into_iter()
            .map(|(n, b)| {
                if n == "cni-fix-collect.json" {
                    let mut m: Value = serde_json::from_slice(&b).unwrap();
                    m["collected_at"] = Value::Null;
                    (n, serde_json::to_vec(&m).unwrap())
                } else {
                    (n, b)
                }
            })
            .collect()
    };
    assert_eq!(strip(entries(&archive)), strip(entries(&again)));
    assert!(!a.is_empty() && !b.is_empty());
}

#[test]
fn static_readings_travel_without_the_binaries() {
    // A node whose bridge is Debian's real plugin, read statically.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("node");
    std::fs::create_dir_all(root.join("etc/cni/net.d")).unwrap();
    std::fs::create_dir_all(root.join("opt/cni/bin")).unwrap();
    for p in ["bridge", "host-local", "loopback", "portmap"] {
        std::fs::copy(
            Path::new("/usr/lib/cni").join(p),
            root.join("opt/cni/bin").join(p),
        )
        .unwrap_or_else(|e| panic!("/usr/lib/cni/{p} (containernetworking-plugins): {e}"));
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/verify/10-containerd-net.conflist"),
        root.join("etc/cni/net.d/10-containerd-net.conflist"),
    )
    .unwrap();
    let archive = tmp.path().join("n.tar.gz");
    let args = ["--containerd-version", "1.6.20", "--probe", "static"];
    assert_eq!(collect(&root, &archive, &args).code, 0);
    let size = std::fs::metadata(&archive).unwrap().len();
    assert!(size < 16 * 1024, "{size} bytes: a binary went in");
    let (_, direct) = common::check_json(&[&["--root", s(&root)], &args[..]].concat());
    let bridge = direct["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "bridge")
        .unwrap()
        .clone();
    assert_eq!(bridge["source"], "static", "{bridge}");
    // Remove the node: the archive alone answers.
    std::fs::remove_dir_all(&root).unwrap();
    let scan = cni_fix(&["scan", "--format", "json", s(&archive)]);
    let line: Value = serde_json::from_str(scan.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        without_root(line["report"].clone()),
        without_root(direct),
        "{}",
        scan.stderr
    );
}

#[test]
fn secrets_stay_on_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("node");
    std::fs::create_dir(&root).unwrap();
    copy_node(&example(), &root);
    let config = root.join("etc/containerd/config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"registry.example\".auth]\n  username = \"robot\"\n  password = \"hunter2\"\n",
    );
    std::fs::write(&config, text).unwrap();
    // A file check does not read, beside the ones it does.
    std::fs::write(root.join("etc/containerd/secret.key"), "PRIVATE").unwrap();
    let archive = tmp.path().join("n.tar.gz");
    assert_eq!(collect(&root, &archive, EXAMPLE).code, 0);
    let all = entries(&archive);
    for (name, bytes) in &all {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("hunter2"), "{name} holds the password");
        assert!(
            !text.contains("PRIVATE"),
            "{name} holds a file check does not read"
        );
    }
    let (_, config) = all
        .iter()
        .find(|(n, _)| n == "files/etc/containerd/config.toml")
        .unwrap();
    assert!(String::from_utf8_lossy(config).contains("password = \"REDACTED\""));
    assert!(String::from_utf8_lossy(config).contains("username = \"robot\""));
}

/// `scan` as JSON Lines, two jobs, containerd 1.6.20 with plugins v1.1.1.
const SCAN_JSON: [&str; 9] = [
    "scan",
    "--format",
    "json",
    "--jobs",
    "2",
    "--assume-plugins-release",
    "1.1.1",
    "--containerd-version",
    "1.6.20",
];

#[test]
fn many_nodes_stream_in_order_with_a_tally() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("example.tar.gz");
    assert_eq!(collect(&example(), &archive, EXAMPLE).code, 0);
    let broken = tmp.path().join("broken.tar.gz");
    std::fs::write(&broken, b"\x1f\x8b not really gzip").unwrap();
    let clean = scenarios_dir().join("clean/node");
    let inputs = [
        s(&archive),
        s(&clean),
        s(&broken),
        s(&archive),
        "/nonexistent/node",
    ];
    let mut args = SCAN_JSON.to_vec();
    args.extend(inputs);
    let run = cni_fix(&args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), inputs.len() + 1);
    for (i, (line, input)) in lines.iter().zip(inputs).enumerate() {
        assert_eq!(line["index"], i);
        assert_eq!(line["input"], input);
    }
    // A collection: the options given (containerd 1.6.20) win over the recorded ones (1.6.3).
    assert_eq!(lines[0]["report"]["node"]["runtime"]["version"], "1.6.20");
    assert_eq!(lines[1]["verdict"], "ok");
    assert_eq!(lines[2]["verdict"], "unknown");
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}: ", s(&broken))),
        "{}",
        lines[2]
    );
    assert!(lines[4]["error"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/node"));
    let summary = &lines[5];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["nodes"], 5);
    assert_eq!(summary["unknown"], 2);
    assert_eq!(summary["not_checked"], 2);
    assert_eq!(
        summary["ok"].as_u64().unwrap() + summary["problem"].as_u64().unwrap(),
        3
    );
    // Each id counts a node once.
    for f in summary["findings"].as_array().unwrap() {
        assert!(f["nodes"].as_u64().unwrap() <= 3, "{f}");
        assert!(f["occurrences"].as_u64().unwrap() >= f["nodes"].as_u64().unwrap());
    }
}

#[test]
fn several_roots_in_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let mut roots = Vec::new();
    for name in ["clean", "shadowed-config", "plugins-missing"] {
        let (dir, root) = common::scenario(name);
        roots.push((dir, root));
    }
    let mut args = vec![
        "check",
        "--color",
        "never",
        "--containerd-version",
        "1.6.20",
    ];
    args.extend(["--assume-plugins-release", "1.1.1"]);
    for (_, r) in &roots {
        args.extend(["--root", s(r)]);
    }
    let mut run = cni_fix(&args);
    for (i, (_, r)) in roots.iter().enumerate() {
        run.stdout = run.stdout.replace(s(r), &format!("<node-{i}>"));
    }
    drop(tmp);
    insta::assert_snapshot!(format!("exit {}\n{}", run.code, run.stdout));
}

#[test]
fn a_bounded_reader_refuses_a_gzip_bomb() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("bomb.tar.gz");
    // 300 MiB of zeros, a few hundred kilobytes compressed.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 314572800 /dev/zero | gzip -1 > {}",
            s(&bomb)
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let run = cni_fix(&["scan", "--format", "json", s(&bomb)]);
    assert_eq!(run.code, 2);
    let line: Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("bomb.tar.gz"), "{error}");
}

fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; the README's test command installs it)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success() && said.trim().is_empty(), said)
}

#[test]
fn prometheus_textfile_passes_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("cni-fix.prom");
    let ex = example();
    let mut args = vec!["check", "--root", s(&ex), "--format", "prometheus"];
    args.extend(EXAMPLE);
    args.extend(["--output", s(&prom)]);
    let run = cni_fix(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let text = std::fs::read_to_string(&prom).unwrap();
    let (ok, said) = promtool(&text);
    assert!(ok, "promtool: {said}\n{text}");
    assert!(text.contains("cni_fix_check_success 0\n"));
    assert!(text.contains(
        "cni_fix_finding{id=\"missing-version\",severity=\"error\",file=\"/etc/cni/net.d/10-flannel.conflist\"} 1\n"
    ));
    assert!(text.contains("containerd_version=\"1.6.3\""));
    assert!(text.contains("cni_fix_last_run_timestamp_seconds "));
    // Nothing else is left in the directory (no temporary file).
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    // promtool does find faults: a gauge named like a counter is one.
    let bad = format!("{text}# HELP cni_fix_runs_total x\n# TYPE cni_fix_runs_total gauge\ncni_fix_runs_total 1\n");
    assert!(!promtool(&bad).0, "promtool accepted a lint");

    // A file name with quotes and a backslash is escaped in the label.
    let (_dir, root) = common::scenario("clean");
    let odd = root.join("etc/cni/net.d/00-a\"b\\c.conflist");
    std::fs::write(&odd, "{").unwrap();
    let run = cni_fix(&[
        "check",
        "--root",
        s(&root),
        "--format",
        "prometheus",
        "--containerd-version",
        "1.6.20",
    ]);
    let (ok, said) = promtool(&run.stdout);
    assert!(ok, "promtool: {said}\n{}", run.stdout);
    assert!(
        run.stdout.contains("cni_fix_check_success 0\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("file=\"/etc/cni/net.d/00-a\\\"b\\\\c.conflist\""),
        "{}",
        run.stdout
    );
}

fn check_jsonschema(file: &Path) -> (bool, String) {
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sarif/sarif-schema-2.1.0.json");
    let out = Command::new("python3")
        .args([
            "-m",
            "check_jsonschema",
            "--schemafile",
            s(&schema),
            s(file),
        ])
        .output()
        .expect("check-jsonschema (PyPI; the README's test command installs it)");
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

#[test]
fn sarif_is_valid_and_points_into_the_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, root) = common::scenario("version-strings");
    let sarif = tmp.path().join("check.sarif");
    let run = cni_fix(&[
        "check",
        "--root",
        s(&root),
        "--containerd-version",
        "1.6.20",
        "--assume-plugins-release",
        "1.1.1",
        "--format",
        "sarif",
        "--output",
        s(&sarif),
    ]);
    assert!(run.code <= 1, "{}", run.stderr);
    let (ok, said) = check_jsonschema(&sarif);
    assert!(ok, "{said}");
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let run0 = &log["runs"][0];
    let base = run0["originalUriBaseIds"]["NODEROOT"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        base.starts_with("file:///") && base.ends_with('/'),
        "{base}"
    );
    let results = run0["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        for loc in r["locations"].as_array().unwrap() {
            let p = &loc["physicalLocation"];
            assert_eq!(p["artifactLocation"]["uriBaseId"], "NODEROOT");
            let uri = p["artifactLocation"]["uri"].as_str().unwrap();
            let file = root.join(uri);
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{uri}: {e}"));
            let line = p["region"]["startLine"].as_u64().unwrap() as usize;
            let column = p["region"]["startColumn"].as_u64().unwrap() as usize;
            assert!(
                line >= 1 && line <= text.lines().count().max(1),
                "{uri}:{line}"
            );
            assert!(column >= 1, "{uri}:{line}:{column}");
        }
    }
    // A cniVersion finding points at the cniVersion.
    let located = results.iter().any(|r| {
        let p = &r["locations"][0]["physicalLocation"];
        let Some(uri) = p["artifactLocation"]["uri"].as_str() else {
            return false;
        };
        let text = std::fs::read_to_string(root.join(uri)).unwrap_or_default();
        let line = p["region"]["startLine"].as_u64().unwrap_or(0) as usize;
        let column = p["region"]["startColumn"].as_u64().unwrap_or(0) as usize;
        text.lines()
            .nth(line.wrapping_sub(1))
            .and_then(|l| l.chars().skip(column - 1).collect::<String>().into())
            .is_some_and(|rest: String| rest.contains("cniVersion") || rest.starts_with('"'))
    });
    assert!(located, "no result points at a cniVersion");

    // The workloads log passes too.
    let w = tmp.path().join("workloads.sarif");
    let run = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args(["workloads", "--format", "sarif", "real-world"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/workloads"))
        .output()
        .unwrap();
    std::fs::write(&w, &run.stdout).unwrap();
    let (ok, said) = check_jsonschema(&w);
    assert!(ok, "{said}");

    // And the validator does find faults.
    let mut bad = log.clone();
    bad["runs"][0]["results"][0]["level"] = Value::from("fatal");
    let badf = tmp.path().join("bad.sarif");
    std::fs::write(&badf, serde_json::to_vec(&bad).unwrap()).unwrap();
    assert!(!check_jsonschema(&badf).0, "an invalid level passed");
}

#[test]
fn collect_to_standard_output_and_refusals() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args(["collect", "--root", s(&example()), "--output", "-"])
        .args(EXAMPLE)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut bytes = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(&bytes[..2], b"\x1f\x8b", "not gzip");

    let run = cni_fix(&[
        "collect",
        "--root",
        "/nonexistent/x",
        "--output",
        "/tmp/never.tar.gz",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/x"), "{}", run.stderr);
    assert!(!Path::new("/tmp/never.tar.gz").exists());
    let run = cni_fix(&[
        "collect",
        "--root",
        s(&example()),
        "--output",
        "/nonexistent/dir/x.tar.gz",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--output /nonexistent/dir/x.tar.gz"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_list_of_nodes_from_a_file_or_standard_input() {
    let clean = scenarios_dir().join("clean/node");
    let shadowed = scenarios_dir().join("shadowed-config/node");
    let mut all = SCAN_JSON.to_vec();
    all.extend([s(&clean), s(&shadowed), s(&clean), "/nonexistent/node"]);
    let expected = cni_fix(&all);
    assert_eq!(expected.code, 2, "{}", expected.stderr);

    // The first path as an argument, the rest from a list with a blank line and CRLF endings.
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("nodes.txt");
    std::fs::write(
        &list,
        format!(
            "{}\r\n\n   \n{}\n/nonexistent/node",
            s(&shadowed),
            s(&clean)
        ),
    )
    .unwrap();
    let mut from_file = SCAN_JSON.to_vec();
    from_file.extend([s(&clean), "--from", s(&list)]);
    let run = cni_fix(&from_file);
    assert_eq!((run.code, &run.stdout), (expected.code, &expected.stdout));

    // The same list on standard input.
    let mut from_stdin = SCAN_JSON.to_vec();
    from_stdin.extend([s(&clean), "--from", "-"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args(&from_stdin)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&std::fs::read(&list).unwrap()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(expected.code));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected.stdout);

    // A list that cannot be read: named, and the scan says so (exit 2).
    let unreadable = cni_fix(&["scan", "--from", s(tmp.path())]);
    assert_eq!(unreadable.code, 2);
    assert!(
        unreadable.stderr.contains(&format!(
            "--from {}: the list could not be read to its end",
            s(tmp.path())
        )),
        "{}",
        unreadable.stderr
    );
    let missing = cni_fix(&["scan", "--from", "/nonexistent/list"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("--from /nonexistent/list"),
        "{}",
        missing.stderr
    );
    // Neither a path nor a list: a usage error.
    assert_eq!(cni_fix(&["scan"]).code, 2);
}

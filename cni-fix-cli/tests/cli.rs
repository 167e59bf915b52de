//! The command line: flags, exit statuses, formats, colour, `explain`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{check_json, cni_fix, copy_node, run_check, scenario, scenarios_dir};
use serde::Deserialize;

#[test]
fn help_texts() {
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["rewrite", "--help"],
        &["generate", "--help"],
        &["restore", "--help"],
        &["workloads", "--help"],
        &["verify", "--help"],
        &["explain", "--help"],
    ] {
        let out = cni_fix(args);
        assert_eq!(out.code, 0);
        insta::assert_snapshot!(
            format!("help_{}", args.join("_").replace("--", "")),
            out.stdout
        );
    }
    let out = cni_fix(&["--version"]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, concat!("cni-fix ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["check", "--bogus"][..],
        &["check", "--format", "yaml"],
        &["check", "--fail-on", "sometimes"],
        &[
            "check",
            "--cri-dockerd-version",
            "0.3.1",
            "--containerd-version",
            "1.6.20",
        ],
        &["frobnicate"],
        &[],
    ] {
        let out = cni_fix(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn invalid_values_exit_2_with_the_reason() {
    let (_t, root) = scenario("clean");
    let root = root.to_str().unwrap();
    for (args, want) in [
        (
            vec!["--containerd-version", "1.6"],
            "--containerd-version: cannot read \"1.6\" as a version",
        ),
        (
            vec!["--cri-dockerd-version", "latest"],
            "--cri-dockerd-version: cannot read \"latest\" as a version",
        ),
        (
            vec!["--assume-plugins-release", "0.5.0"],
            "not in cni-fix's release table",
        ),
        (
            vec!["--conf-dir", "relative/dir"],
            "--conf-dir takes an absolute node path",
        ),
        (
            vec!["--probe-timeout", "0"],
            "--probe-timeout takes seconds",
        ),
    ] {
        let mut all = vec!["check", "--root", root];
        all.extend(args.iter().copied());
        let out = cni_fix(&all);
        assert_eq!(out.code, 2, "{args:?}");
        assert!(
            out.stderr.starts_with("cni-fix: ") && out.stderr.contains(want),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
    let out = cni_fix(&["check", "--root", "/no/such/root"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("root /no/such/root: no such file or directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn fail_on_sets_the_exit_status() {
    // shadowed-config: one warning, no error.
    let (_t, root) = scenario("shadowed-config");
    let base = ["--containerd-version", "1.7.20", "--probe", "exec"];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        run_check(&root, &a, "json").code
    };
    assert_eq!(with(&[]), 0);
    assert_eq!(with(&["--fail-on", "error"]), 0);
    assert_eq!(with(&["--fail-on", "warning"]), 1);
    assert_eq!(with(&["--fail-on", "never"]), 0);
    // old plugins: errors.
    let (_t2, root2) = scenario("old-plugins-1.0.0-config");
    let code = |extra: &[&str]| {
        let mut a = vec!["--containerd-version", "1.6.3", "--probe", "exec"];
        a.extend_from_slice(extra);
        run_check(&root2, &a, "human").code
    };
    assert_eq!(code(&[]), 1);
    assert_eq!(code(&["--fail-on", "never"]), 0);
}

/// The JSON schema, pinned: an added, renamed or removed field fails here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ReportV1 {
    schema: String,
    node: NodeV1,
    files: Vec<FileV1>,
    plugins: Vec<PluginV1>,
    findings: Vec<FindingV1>,
    summary: SummaryV1,
    incomplete: Vec<UnreadV1>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UnreadV1 {
    path: String,
    what: String,
    reason: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NodeV1 {
    root: String,
    conf_dir: String,
    bin_dirs: Vec<String>,
    max_conf_num: i64,
    containerd_config: Option<String>,
    runtime: RuntimeV1,
    load_error: Option<String>,
    cni_not_checked: Option<String>,
    kubelet: KubeletV1,
    docker: DockerV1,
    node_object: Option<NodeObjectV1>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KubeletV1 {
    found: bool,
    version: Option<String>,
    version_source: String,
    endpoint: Option<String>,
    source: Option<serde_json::Value>,
    runtime: String,
    cgroup_driver: Option<String>,
    command_source: String,
    unit_files: Vec<String>,
    config: Option<String>,
    running_endpoint: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DockerV1 {
    engine: bool,
    daemon_json: bool,
    cri_dockerd_socket: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NodeObjectV1 {
    file: String,
    name: Option<String>,
    cri_socket: Option<String>,
    container_runtime_version: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RuntimeV1 {
    name: String,
    version: Option<String>,
    source: String,
    load: String,
    network_plugin: Option<String>,
    libcni: Option<String>,
    loopback_cni_version: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FileV1 {
    path: String,
    path_bytes: Option<String>,
    status: String,
    name: Option<String>,
    cni_version: Option<String>,
    plugins: Vec<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PluginV1 {
    #[serde(rename = "type")]
    plugin_type: String,
    path: Option<String>,
    supported_versions: Option<Vec<String>>,
    source: String,
    confidence: Option<String>,
    evidence: Option<String>,
    release: Option<String>,
    problem: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FindingV1 {
    id: String,
    severity: String,
    file: Option<String>,
    plugin: Option<String>,
    message: String,
    runtime_error: Option<String>,
    remedy: String,
    fixable: bool,
    fix: Option<FixV1>,
    files: Vec<String>,
    location: Option<LocationV1>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LocationV1 {
    line: usize,
    column: usize,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FixV1 {
    target: String,
    edits: Vec<EditV1>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EditV1 {
    start: usize,
    end: usize,
    replacement: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SummaryV1 {
    errors: usize,
    warnings: usize,
    infos: usize,
}

#[test]
fn json_schema_is_pinned() {
    for dir in std::fs::read_dir(scenarios_dir()).unwrap() {
        let dir = dir.unwrap().path();
        let tmp = tempfile::tempdir().unwrap();
        copy_node(&dir.join("node"), tmp.path());
        for (flag, version, name, load) in [
            ("--containerd-version", "1.6.3", "containerd", "go-cni"),
            (
                "--cri-dockerd-version",
                "0.3.1",
                "cri-dockerd",
                "first-valid",
            ),
        ] {
            let out = run_check(
                tmp.path(),
                &[flag, version, "--probe", "exec", "--probe-timeout", "1"],
                "json",
            );
            let report: ReportV1 = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", dir.display(), out.stdout));
            assert_eq!(report.schema, "cni-fix.check/v1");
            assert_eq!(
                (
                    report.node.runtime.name.as_str(),
                    report.node.runtime.load.as_str()
                ),
                (name, load)
            );
            assert_eq!(report.node.runtime.source, "flag");
            assert_eq!(
                report.node.runtime.network_plugin.is_some(),
                name != "containerd"
            );
            for f in &report.files {
                assert!(
                    ["loaded", "shadowed", "skipped", "invalid", "ignored", "unread"]
                        .contains(&f.status.as_str())
                );
            }
            for p in &report.plugins {
                assert!(["exec", "assumed", "static", "unknown"].contains(&p.source.as_str()));
            }
            for f in &report.findings {
                assert!(["error", "warning", "info"].contains(&f.severity.as_str()));
            }
            let k = &report.node.kubelet;
            assert!([
                "dockershim",
                "cri-dockerd",
                "containerd",
                "cri-o",
                "unknown"
            ]
            .contains(&k.runtime.as_str()));
            assert!(["flag", "exec", "node-object", "unknown"].contains(&k.version_source.as_str()));
            assert!(["unit", "process", "none"].contains(&k.command_source.as_str()));
        }
    }
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let args = ["--containerd-version", "1.6.3", "--probe", "exec"];
    let plain = run_check(&root, &args, "human");
    assert!(!plain.stdout.contains('\x1b'), "not a terminal: no colour");
    let mut always = args.to_vec();
    always.extend(["--color", "always"]);
    assert!(run_check(&root, &always, "human")
        .stdout
        .contains("\x1b[31m"));
    let mut never = args.to_vec();
    never.extend(["--color", "never"]);
    assert!(!run_check(&root, &never, "human").stdout.contains('\x1b'));
}

#[test]
fn no_color_is_honoured_on_a_terminal() {
    // `script` gives the process a terminal; skip nothing: util-linux is on every Debian.
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let cmd = format!(
        "{} check --root {} --containerd-version 1.6.3 --probe exec",
        env!("CARGO_BIN_EXE_cni-fix"),
        root.display()
    );
    let tty = |no_color: Option<&str>| {
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).stdin(Stdio::null());
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        String::from_utf8_lossy(&c.output().expect("script(1) from util-linux").stdout).into_owned()
    };
    assert!(tty(None).contains("\x1b[31m"), "a terminal gets colour");
    assert!(!tty(Some("1")).contains('\x1b'), "NO_COLOR turns it off");
}

#[test]
fn explain() {
    let out = cni_fix(&["explain", "missing-version"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("# missing-version"));
    assert!(out.stdout.contains("1.6.4") && out.stdout.contains("PR #893"));
    let list = cni_fix(&["explain"]);
    assert_eq!(list.code, 0);
    insta::assert_snapshot!("explain_list", list.stdout);
    let bad = cni_fix(&["explain", "nope"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("unknown finding id \"nope\"")
            && bad.stderr.contains("missing-version")
    );
}

#[test]
fn a_closed_pipe_keeps_the_verdict() {
    // `cni-fix check | head -1` must not turn a failing node into exit 0: the status is the
    // verdict's, whether or not the reader stayed.
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let args = [
        "check",
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.6.3",
        "--probe",
        "exec",
    ];
    let unpiped = cni_fix(&args).code;
    assert_eq!(unpiped, 1, "the scenario fails");
    for format in ["human", "json", "ndjson"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
            .args(args)
            .args(["--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(unpiped),
            "{format}: the verdict stays"
        );
    }
    // The shell's own `| head -1`, as in the README.
    let line = format!(
        "{} check --root {} --containerd-version 1.6.3 --probe exec | head -1; exit ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_cni-fix"),
        root.display()
    );
    let status = Command::new("bash")
        .args(["-c", &line])
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(1));
}

#[test]
fn reports_show_node_paths_not_the_root() {
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let (_, v) = check_json(&[
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.6.3",
        "--probe",
        "exec",
    ]);
    let root_s = root.to_str().unwrap();
    for f in v["findings"].as_array().unwrap() {
        let text = f.to_string();
        assert!(!text.contains(root_s), "root prefix leaked: {text}");
    }
    assert_eq!(
        v["files"][0]["path"],
        "/etc/cni/net.d/10-containerd-net.conflist"
    );
    assert!(Path::new(v["node"]["root"].as_str().unwrap()) == root);
}

/// Run cni-fix as nobody (setpriv, from util-linux): root reads everything.
fn as_nobody(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_cni-fix"),
        ])
        .args(args)
        .output()
        .expect("setpriv from util-linux")
}

#[test]
fn what_cni_fix_cannot_read_is_its_own_limit_not_the_runtimes() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, root) = scenario("shadowed-config");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = root.join("etc/cni/net.d/10-containerd-net.conflist");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o000)).unwrap();
    let containerd = root.join("etc/containerd/config.toml");
    std::fs::set_permissions(&containerd, std::fs::Permissions::from_mode(0o000)).unwrap();
    let root_s = root.to_str().unwrap();
    let args = [
        "check",
        "--root",
        root_s,
        "--containerd-version",
        "1.7.20",
        "--probe",
        "exec",
        "--format",
        "json",
    ];
    let out = as_nobody(&args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(2), "the verdict is unknown");
    let incomplete = report["incomplete"].as_array().unwrap();
    let paths: Vec<&str> = incomplete
        .iter()
        .map(|u| u["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/etc/containerd/config.toml",
            "/etc/cni/net.d/10-containerd-net.conflist"
        ]
    );
    for u in incomplete {
        assert!(
            u["reason"]
                .as_str()
                .unwrap()
                .contains("permission denied; run cni-fix as root"),
            "{u}"
        );
    }
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["id"] != "invalid-config"
            && f["id"] != "invalid-containerd-config"
            && f["id"] != "no-config"),
        "no runtime failure is made up: {findings:?}"
    );
    assert_eq!(report["node"]["load_error"], serde_json::Value::Null);
    assert_eq!(
        report["files"][1]["status"], "unread",
        "{}",
        report["files"]
    );
    let human = as_nobody(&args[..args.len() - 2]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(2));
    assert!(text.contains("cni-fix could not read\n  containerd config /etc/containerd/config.toml: permission denied; run cni-fix as root"), "{text}");
    assert!(text.contains("UNKNOWN: "), "{text}");

    // A conf dir and a plugin dir it cannot enter.
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&containerd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bin = root.join("opt/cni/bin");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = as_nobody(&args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["id"] != "plugin-not-found"),
        "{findings:?}"
    );
    assert!(report["incomplete"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("cannot look into /opt/cni/bin: permission denied"));
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let net_d = root.join("etc/cni/net.d");
    std::fs::set_permissions(&net_d, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = as_nobody(&args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(report["incomplete"][0]["what"], "conf dir");
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["id"] != "no-config"));

    // rewrite says so too, and never skips the file silently.
    std::fs::set_permissions(&net_d, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o000)).unwrap();
    for extra in [&[][..], &["--all"]] {
        let mut a = vec![
            "rewrite",
            "--root",
            root_s,
            "--containerd-version",
            "1.7.20",
            "--probe",
            "exec",
            "--dry-run",
        ];
        a.extend_from_slice(extra);
        let out = as_nobody(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains("not read  /etc/cni/net.d/10-containerd-net.conflist: cni-fix could not read it: permission denied"),
            "{extra:?}: {err}"
        );
    }
}

#[test]
fn hostile_file_names_cannot_fake_output_or_drive_the_terminal() {
    use std::os::unix::ffi::OsStrExt;
    let (_t, root) = scenario("old-plugins-1.0.0-config");
    let dir = root.join("etc/cni/net.d");
    let good = std::fs::read(dir.join("10-containerd-net.conflist")).unwrap();
    let evil = std::ffi::OsStr::from_bytes(b"05-x\nOK: 0 errors, 0 warnings\x1b[31m.conflist");
    std::fs::write(dir.join(evil), &good).unwrap();
    let args = ["--containerd-version", "1.6.3", "--probe", "exec"];
    let out = run_check(&root, &args, "human");
    assert!(
        !out.stdout.contains('\x1b'),
        "no raw escape: {}",
        out.stdout
    );
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("OK: 0 errors")),
        "no faked verdict line: {}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("\"<root>/etc/cni/net.d/05-x\\nOK: 0 errors, 0 warnings\\033[31m.conflist\"")
            || out
                .stdout
                .contains("\"/etc/cni/net.d/05-x\\nOK: 0 errors, 0 warnings\\033[31m.conflist\""),
        "quoted as git quotes: {}",
        out.stdout
    );
    // The dry-run diff quotes the name, and git applies it.
    let diff = cni_fix(&[
        "rewrite",
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.6.3",
        "--probe",
        "exec",
        "--dry-run",
    ]);
    assert!(
        diff.stdout.starts_with(
            "diff --git \"a/etc/cni/net.d/05-x\\nOK: 0 errors, 0 warnings\\033[31m.conflist\""
        ),
        "{}",
        diff.stdout
    );
    assert!(!diff.stderr.contains('\x1b'), "{}", diff.stderr);
    let patch = root.join("cni.diff");
    std::fs::write(&patch, &diff.stdout).unwrap();
    let git = Command::new("git")
        .args(["apply", "--check", "--unsafe-paths", "--directory=."])
        .arg(&patch)
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        git.status.success(),
        "{}",
        String::from_utf8_lossy(&git.stderr)
    );
    // JSON keeps the name exactly.
    let (_, v) = check_json(&[&["--root", root.to_str().unwrap()][..], &args].concat());
    assert_eq!(
        v["files"][0]["path"],
        "/etc/cni/net.d/05-x\nOK: 0 errors, 0 warnings\u{1b}[31m.conflist"
    );
}

#[test]
fn wording_says_what_happened() {
    let out = cni_fix(&["check", "--probe-timeout", "0.0000001"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--probe-timeout takes seconds from 0.001 to 600, not 0.0000001"),
        "{}",
        out.stderr
    );
    for (flag, example) in [
        ("--containerd-config", "/etc/containerd/config.toml"),
        ("--backup-dir", "/var/backups/cni-fix/"),
    ] {
        let cmd = if flag == "--backup-dir" {
            "rewrite"
        } else {
            "check"
        };
        let out = cni_fix(&[cmd, flag, "relative"]);
        assert_eq!(out.code, 2);
        assert!(
            out.stderr.contains(&format!(
                "{flag} takes an absolute node path (such as {example}"
            )),
            "{}",
            out.stderr
        );
    }
    // A config named explicitly must exist; the default may be missing.
    let (_t, root) = scenario("clean");
    let r = root.to_str().unwrap();
    let out = cni_fix(&[
        "check",
        "--root",
        r,
        "--containerd-config",
        "/etc/containerd/nope.toml",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("containerd config /etc/containerd/nope.toml: no such file or directory"),
        "{}",
        out.stderr
    );
    // A directory named like a config is not "not a .conf file".
    std::fs::create_dir(root.join("etc/cni/net.d/x.conflist")).unwrap();
    let out = cni_fix(&[
        "rewrite",
        "--root",
        r,
        "--containerd-version",
        "1.7.20",
        "x.conflist",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("x.conflist: a directory, which the runtime skips"),
        "{}",
        out.stderr
    );
}

#[test]
fn remedies_name_the_plugins_own_project() {
    let (_t, root) = scenario("clean");
    let dir = root.join("etc/cni/net.d");
    for f in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    std::fs::write(
        dir.join("10-calico.conflist"),
        r#"{"cniVersion":"1.0.0","name":"k8s-pod-network","plugins":[{"type":"calico","ipam":{"type":"calico-ipam"}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
    )
    .unwrap();
    for p in ["calico", "calico-ipam"] {
        let path = root.join("opt/cni/bin").join(p);
        std::fs::write(
            &path,
            "#!/bin/sh\necho '{\"cniVersion\":\"0.4.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\"]}'\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (_, v) = check_json(&[
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.7.20",
        "--probe",
        "exec",
    ]);
    let calico = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "incompatible-version" && f["plugin"] == "calico")
        .expect("calico rejects 1.0.0");
    let remedy = calico["remedy"].as_str().unwrap();
    assert!(
        remedy.contains("upgrade calico from Calico (projectcalico/calico"),
        "{remedy}"
    );
    assert!(!remedy.contains("containernetworking/plugins"), "{remedy}");
}

#[test]
fn a_byte_order_mark_is_named_plainly() {
    let (_t, root) = scenario("clean");
    let conf = std::fs::read_dir(root.join("etc/cni/net.d"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut text = vec![0xEF, 0xBB, 0xBF];
    text.extend(std::fs::read(&conf).unwrap());
    std::fs::write(&conf, text).unwrap();
    let (_, v) = check_json(&[
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.7.20",
        "--probe",
        "exec",
    ]);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "invalid-config")
        .unwrap();
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("the file starts with a UTF-8 byte-order mark, which libcni rejects"),
        "{f}"
    );
    assert!(
        f["runtime_error"]
            .as_str()
            .unwrap()
            .contains("invalid character"),
        "libcni's own text stays: {f}"
    );
}

#[test]
fn a_shadowed_file_newer_than_the_loaded_one_is_named_on_its_own() {
    let (_t, root) = scenario("many-shadowed");
    let newer = root.join("etc/cni/net.d/40-team-d.conflist");
    std::fs::File::options()
        .write(true)
        .open(&newer)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let (_, v) = check_json(&[
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.7.20",
        "--probe",
        "exec",
    ]);
    let shadowed: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "shadowed-config")
        .collect();
    assert_eq!(shadowed.len(), 2, "{shadowed:?}");
    assert_eq!(shadowed[0]["file"], "/etc/cni/net.d/40-team-d.conflist");
    assert_eq!(shadowed[1]["file"], serde_json::Value::Null);
    assert_eq!(shadowed[1]["files"].as_array().unwrap().len(), 6);
}

#[test]
fn registry_hosts_carry_daemon_json_over_once() {
    let (_t, root) = scenario("half-migrated-containerd-io");
    let r = root.to_str().unwrap();
    let dry = cni_fix(&["generate", "registry-hosts", "--root", r, "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry
        .stdout
        .contains("+++ b/etc/containerd/certs.d/docker.io/hosts.toml"));
    assert!(dry.stderr.contains("config_path"), "{}", dry.stderr);
    assert!(
        !root.join("etc/containerd/certs.d").exists(),
        "a dry run writes nothing"
    );

    let wrote = cni_fix(&["generate", "registry-hosts", "--root", r]);
    assert_eq!(wrote.code, 0, "{}", wrote.stderr);
    let hub =
        std::fs::read_to_string(root.join("etc/containerd/certs.d/docker.io/hosts.toml")).unwrap();
    let parsed: toml::Table = hub.parse().unwrap();
    assert!(parsed["host"]
        .as_table()
        .unwrap()
        .contains_key("https://mirror.example.internal"));
    let again = cni_fix(&["generate", "registry-hosts", "--root", r]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("unchanged"));

    // A hosts.toml of the operator's own is left alone.
    let own = root.join("etc/containerd/certs.d/registry.example.internal:5000/hosts.toml");
    std::fs::write(&own, "server = \"https://elsewhere\"\n").unwrap();
    let left = cni_fix(&["generate", "registry-hosts", "--root", r]);
    assert_eq!(left.code, 1);
    assert!(left.stdout.contains("left alone"));
    assert_eq!(
        std::fs::read_to_string(&own).unwrap(),
        "server = \"https://elsewhere\"\n"
    );

    // With the registry settings carried over (and config_path set), the finding clears.
    let (_t2, root2) = scenario("half-migrated-containerd-io");
    let (_, before) = check_json(&[
        "--root",
        root2.to_str().unwrap(),
        "--kubelet-version",
        "1.26.5",
        "--containerd-version",
        "1.6.20",
        "--containerd-config",
        "/etc/containerd/cri-enabled.toml",
        "--probe",
        "exec",
    ]);
    let has = |r: &serde_json::Value| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "docker-registry-config-not-migrated")
    };
    assert!(has(&before));
    let cfg = root2.join("etc/containerd/cri-enabled.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n");
    std::fs::write(&cfg, text).unwrap();
    let w = cni_fix(&[
        "generate",
        "registry-hosts",
        "--root",
        root2.to_str().unwrap(),
        "--containerd-config",
        "/etc/containerd/cri-enabled.toml",
    ]);
    assert_eq!(w.code, 0, "{}{}", w.stdout, w.stderr);
    assert!(!w.stdout.contains("note:"), "config_path is set now");
    let (_, after) = check_json(&[
        "--root",
        root2.to_str().unwrap(),
        "--kubelet-version",
        "1.26.5",
        "--containerd-version",
        "1.6.20",
        "--containerd-config",
        "/etc/containerd/cri-enabled.toml",
        "--probe",
        "exec",
    ]);
    assert!(!has(&after), "{after:#}");
}

#[test]
fn a_huge_kubelet_config_is_unread_not_misjudged() {
    let (_t, root) = scenario("kubeadm-containerd");
    let cfg = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(root.join("var/lib/kubelet/config.yaml"))
        .unwrap();
    cfg.set_len(100 * 1024 * 1024).unwrap();
    let (run, report) = check_json(&[
        "--root",
        root.to_str().unwrap(),
        "--kubelet-version",
        "1.24.17",
        "--containerd-version",
        "1.6.20",
        "--probe",
        "exec",
    ]);
    assert_eq!(run.code, 2, "incomplete: {}", run.stdout);
    assert!(report["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["path"] == "/var/lib/kubelet/config.yaml"));
    // The cgroup driver the file would set is not guessed.
    assert!(report["node"]["kubelet"]["cgroup_driver"].is_null());
    assert!(!report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "cgroup-driver-mismatch"));
}

#[test]
fn kubelet_and_node_arguments_are_validated() {
    let bad = cni_fix(&["check", "--root", "/", "--kubelet-version", "one.two"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--kubelet-version"), "{}", bad.stderr);
    let missing = cni_fix(&["check", "--node", "/nonexistent/node.yaml"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("--node /nonexistent/node.yaml"),
        "{}",
        missing.stderr
    );
    let dir = cni_fix(&["check", "--node", "/"]);
    assert_eq!(dir.code, 2);
    assert!(dir.stderr.contains("not a regular file"), "{}", dir.stderr);
}

#[test]
fn a_required_environment_file_that_is_missing_stops_the_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let units = tmp.path().join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(
        units.join("kubelet.service"),
        "[Service]\nEnvironmentFile=/etc/nope\nEnvironmentFile=-/etc/optional\nExecStart=/usr/bin/kubelet $X\n",
    )
    .unwrap();
    let (_, report) = check_json(&[
        "--root",
        tmp.path().to_str().unwrap(),
        "--kubelet-version",
        "1.28",
        "--containerd-version",
        "1.7.20",
        "--probe",
        "none",
    ]);
    let bad: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "invalid-node-file")
        .collect();
    assert_eq!(bad.len(), 1, "only the required file: {bad:#?}");
    assert_eq!(bad[0]["severity"], "error");
    assert_eq!(bad[0]["file"], "/lib/systemd/system/kubelet.service");
    assert_eq!(bad[0]["location"]["line"], 2);
    assert!(bad[0]["message"].as_str().unwrap().contains("/etc/nope"));
}

#[test]
fn ndjson_streams_the_report_a_line_per_event() {
    let (_t, root) = scenario("many-shadowed");
    let root_s = root.to_str().unwrap();
    let args = ["--containerd-version", "1.7.20", "--probe", "exec"];
    let json = run_check(&root, &args, "json");
    let ndjson = run_check(&root, &args, "ndjson");
    assert_eq!(ndjson.code, json.code, "{}", ndjson.stderr);
    assert!(ndjson.stderr.is_empty(), "{}", ndjson.stderr);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(common::gather_ndjson(&ndjson.stdout).unwrap(), report);
    // The shape, pinned: one event per line.
    insta::assert_snapshot!(ndjson.stdout);

    // --output writes the same lines, atomically.
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("check.jsonl");
    std::fs::write(&out, "old\n").unwrap();
    let mut a = vec!["check", "--root", root_s, "--format", "ndjson", "--output"];
    a.push(out.to_str().unwrap());
    a.extend(args);
    let written = cni_fix(&a);
    assert_eq!(written.code, json.code, "{}", written.stderr);
    assert!(written.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&out)
            .unwrap()
            .replace(root_s, "<root>"),
        ndjson.stdout
    );
    // A check that cannot run leaves the file as it was, and says why.
    std::fs::write(&out, "old\n").unwrap();
    let failed = cni_fix(&[
        "check",
        "--root",
        root_s,
        "--format",
        "ndjson",
        "--output",
        out.to_str().unwrap(),
        "--containerd-config",
        "/etc/containerd/absent.toml",
    ]);
    assert_eq!(failed.code, 2, "{}", failed.stderr);
    assert!(failed.stderr.contains("absent.toml"), "{}", failed.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    let leftovers: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left: {leftovers:?}"
    );

    // One node at a time.
    let two = cni_fix(&[
        "check", "--root", root_s, "--root", root_s, "--format", "ndjson",
    ]);
    assert_eq!(two.code, 2);
    assert!(two.stderr.contains("--format ndjson"), "{}", two.stderr);
}

/// A conf dir larger than the streamed check's window: the human and ndjson formats (written
/// as the check goes, the files after the load read a window at a time) say what the whole
/// report says, in the same order.
#[test]
fn a_large_conf_dir_streams_as_the_report_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("etc/cni/net.d");
    std::fs::create_dir_all(&dir).unwrap();
    let list = |name: &str, version: &str| {
        format!(
            r#"{{"cniVersion":"{version}","name":"{name}","plugins":[{{"type":"bridge"}},{{"type":"portmap"}}]}}"#
        )
    };
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let new = old + std::time::Duration::from_secs(3_600);
    // The loaded network, then files the load does not reach, and from file 600 on (after
    // the first window) shadowed networks, the first of them newer than the loaded one (its
    // finding is settled by the next), among broken files and templates.
    for i in 0..1_500 {
        let kind = match i {
            0 => 3,
            1..=599 => i % 2,
            _ => i % 7,
        };
        let (name, text) = match kind {
            0 => (format!("{i:04}-broken.conflist"), "{".to_string()),
            1 => (format!("{i:04}-old.conflist.bak"), "{}".to_string()),
            2 => (
                format!("{i:04}-template.conflist"),
                list("__NETWORK_NAME__", "0.4.0"),
            ),
            _ => (
                format!("{i:04}-net.conflist"),
                list(&format!("net{i}"), "1.0.0"),
            ),
        };
        let path = dir.join(&name);
        std::fs::write(&path, text).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        // Older than the loaded network: named together with the others like it.
        let at = if i == 0 || i % 3 == 1 { old } else { new };
        f.set_modified(at).unwrap();
    }
    let args = ["--containerd-version", "1.7.20", "--probe", "none"];
    let json = run_check(tmp.path(), &args, "json");
    let report: cni_fix_core::Report = {
        let options = cni_fix_core::CheckOptions::for_root(tmp.path())
            .containerd_version(cni_fix_core::ContainerdVersion::parse("1.7.20").unwrap())
            .probe(cni_fix_core::ProbeMode::None);
        cni_fix_core::check(&options).unwrap()
    };
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["files"].as_array().unwrap().len(), 1_500);
    let ndjson = run_check(tmp.path(), &args, "ndjson");
    assert_eq!(ndjson.code, json.code);
    assert_eq!(common::gather_ndjson(&ndjson.stdout).unwrap(), value);
    let human = run_check(tmp.path(), &args, "human");
    assert_eq!(human.code, json.code);
    let mut whole = Vec::new();
    cni_fix_cli::human::render(&mut whole, &report, false).unwrap();
    let whole = String::from_utf8(whole)
        .unwrap()
        .replace(tmp.path().to_str().unwrap(), "<root>");
    assert_eq!(human.stdout, whole);
    let summary = run_check(tmp.path(), &args, "summary");
    assert_eq!(summary.stdout, common::summary_of(&value, json.code));
    let named = |path: &str| {
        value["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "shadowed-config" && f["file"] == path)
    };
    assert!(named("/etc/cni/net.d/0600-net.conflist"));
}

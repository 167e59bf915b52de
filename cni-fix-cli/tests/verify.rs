//! `cni-fix verify` with the real plugins of Debian's containernetworking-plugins package
//! (/usr/lib/cni), in namespaces the runs make and remove. These tests need root (CI runs as
//! root) and fail, not skip, without it or without the plugins.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{cni_fix, Run};
use serde_json::Value;

/// The Kubernetes documentation's reference network: bridge + portmap at 1.0.0.
const REFERENCE: &str = r#"{
  "cniVersion": "1.0.0",
  "name": "containerd-net",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "promiscMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.88.0.0/16"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}"#;

fn node(confs: &[(&str, &str)], scripts: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    common::plugin_node(confs, scripts)
}

fn verify(root: &Path, args: &[&str]) -> (Run, Value) {
    let root_s = root.to_str().unwrap();
    let mut all = vec![
        "verify", "--root", root_s, "--probe", "exec", "--format", "json",
    ];
    all.extend_from_slice(args);
    let run = cni_fix(&all);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("verify {args:?}: {e}\n{}\n{}", run.stdout, run.stderr));
    (run, report)
}

fn network<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no network {name} in {report:#}"))
}

fn step<'a>(network: &'a Value, kind: &str) -> &'a Value {
    network["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == kind)
        .unwrap_or_else(|| panic!("no step {kind} in {network:#}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_reference_network_lives_and_dies_and_maps_its_port() {
    let (_tmp, root) = node(&[("10-containerd-net.conflist", REFERENCE)], &[]);
    let (run, report) = verify(&root, &["--containerd-version", "1.6.20"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["schema"], "cni-fix.verify/v1");
    assert_eq!(report["runtime"]["program"], "containerd");
    let lo = network(&report, "cni-loopback");
    assert_eq!(lo["status"], "verified");
    assert_eq!(lo["file"], Value::Null);
    let net = network(&report, "containerd-net");
    assert_eq!(net["status"], "verified", "{net:#}");
    for kind in ["add", "del", "del-again"] {
        assert_eq!(step(net, kind)["outcome"], "passed", "{kind}: {net:#}");
    }
    // CHECK passes, or fails only with portmap's known IPv6 bug (plugins before v1.3.0).
    let check = step(net, "check");
    if check["outcome"] != "passed" {
        assert_eq!(check["known_bug"]["plugin"], "portmap", "{check:#}");
    }
    let add = step(net, "add");
    assert_eq!(add["result"]["cni_version"], "1.0.0");
    let ip = add["result"]["ips"][0]["address"].as_str().unwrap();
    assert!(ip.starts_with("10.88."), "{ip}");
    let pod_ip = ip.split('/').next().unwrap();
    // The sample pod's port mapping is a DNAT rule in the stand-in host while the pod lives,
    // and gone after DEL.
    let during = strings(&net["host"]["during_pod"]["rules"]);
    let dnat = format!("--dport 8080 -j DNAT --to-destination {pod_ip}:80");
    assert!(
        during
            .iter()
            .any(|r| r.starts_with("nat: ") && r.contains(&dnat)),
        "{during:#?}"
    );
    let links = strings(&net["host"]["during_pod"]["links"]);
    assert!(links.contains(&"cni0 (bridge)".to_string()), "{links:?}");
    let left = strings(&net["host"]["left_after_del"]["rules"]);
    assert!(!left.iter().any(|r| r.contains("-j DNAT")), "{left:#?}");
    // Plugins ran from the node's plugin directory, with the runtime's environment.
    let runs = add["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/opt/cni/bin/bridge"));
}

#[test]
fn an_unsupported_version_fails_add_with_the_plugins_own_error() {
    let conf = REFERENCE.replace("\"1.0.0\"", "\"1.1.0\"");
    let (_tmp, root) = node(&[("10-containerd-net.conflist", &conf)], &[]);
    let (run, report) = verify(&root, &["--containerd-version", "2.0.0"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let net = network(&report, "containerd-net");
    assert_eq!(net["status"], "failed");
    let add = step(net, "add");
    assert_eq!(add["outcome"], "failed");
    assert_eq!(add["finding"], "incompatible-version");
    let error = &add["error"];
    assert_eq!(error["source"], "plugin");
    assert_eq!(error["plugin"], "bridge");
    assert_eq!(error["object"]["code"], 1);
    assert_eq!(error["object"]["msg"], "incompatible CNI versions");
    assert!(error["object"]["details"]
        .as_str()
        .unwrap()
        .starts_with(r#"config is "1.1.0", plugin supports ["#));
    assert!(error["runtime_message"]
        .as_str()
        .unwrap()
        .starts_with(r#"failed to setup network for sandbox "<sandbox-id>": plugin type="bridge" failed (add): incompatible CNI versions"#));
    // Teardown fails the same way: every pod stop fails too.
    assert_eq!(step(net, "del")["finding"], "incompatible-version");
    assert!(net["predicted"]
        .as_array()
        .unwrap()
        .contains(&Value::from("incompatible-version")));
}

#[test]
fn a_network_without_cni_version_stops_on_1_6_20_but_not_on_1_6_3() {
    let conf = REFERENCE.replace("\"cniVersion\": \"1.0.0\",", "");
    let (_tmp, root) = node(&[("10-containerd-net.conflist", &conf)], &[]);
    let (run, report) = verify(&root, &["--containerd-version", "1.6.20"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let net = network(&report, "containerd-net");
    assert_eq!(net["cni_version"], "");
    assert_eq!(net["status"], "verified");
    assert_eq!(step(net, "check")["outcome"], "skipped");

    let (run, report) = verify(&root, &["--containerd-version", "1.6.3"]);
    assert_eq!(run.code, 1);
    let net = network(&report, "containerd-net");
    assert_eq!(step(net, "add")["outcome"], "passed");
    let del = step(net, "del");
    assert_eq!(del["outcome"], "failed");
    assert_eq!(del["finding"], "missing-version");
    assert_eq!(
        del["error"]["runtime_message"],
        r#"failed to destroy network for sandbox "<sandbox-id>": invalid version "": the version is empty"#
    );
    assert_eq!(
        del["runs"].as_array().unwrap().len(),
        0,
        "libcni fails before any plugin runs"
    );
    assert!(net["predicted"]
        .as_array()
        .unwrap()
        .contains(&Value::from("missing-version")));
}

#[test]
fn macvlan_runs_on_a_stand_in_master() {
    let conf = r#"{"cniVersion":"1.0.0","name":"mv","plugins":[{"type":"macvlan","master":"eth9","mode":"bridge","ipam":{"type":"host-local","subnet":"192.168.50.0/24"}}]}"#;
    let (_tmp, root) = node(&[("10-macvlan.conflist", conf)], &[]);
    let (run, report) = verify(&root, &["--containerd-version", "1.6.20"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let net = network(&report, "mv");
    assert_eq!(net["status"], "verified", "{net:#}");
    assert_eq!(net["dummies"], serde_json::json!(["eth9"]));
    assert_eq!(
        step(net, "add")["result"]["ips"][0]["address"],
        "192.168.50.2/24"
    );
}

#[test]
fn agents_are_not_run_and_the_report_says_why() {
    let flannel = r#"{"cniVersion":"0.3.1","name":"cbr0","plugins":[{"type":"flannel","delegate":{"isDefaultGateway":true}}]}"#;
    let dhcp = r#"{"cniVersion":"1.0.0","name":"d","plugins":[{"type":"macvlan","master":"eth0","ipam":{"type":"dhcp"}}]}"#;
    let (_tmp, root) = node(
        &[("10-flannel.conflist", flannel), ("20-dhcp.conflist", dhcp)],
        &[],
    );
    let (run, report) = verify(
        &root,
        &["--containerd-version", "1.6.20", "--max-conf-num", "0"],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let f = network(&report, "cbr0");
    assert_eq!(f["status"], "not-run");
    assert_eq!(f["not_run"]["plugin"], "flannel");
    assert!(f["not_run"]["reason"]
        .as_str()
        .unwrap()
        .contains("subnet.env"));
    let d = network(&report, "d");
    assert_eq!(d["not_run"]["plugin"], "dhcp");
    assert_eq!(report["summary"]["not_run"], 2);
}

const HANG: &str = "#!/bin/sh\n# cni-fix-test-hanging-plugin\nif [ \"$CNI_COMMAND\" = VERSION ]; then echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}'; exit 0; fi\nsleep 607\n";
const CRASH: &str = "#!/bin/sh\nif [ \"$CNI_COMMAND\" = VERSION ]; then echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}'; exit 0; fi\necho 'panic: runtime error: invalid memory address or nil pointer dereference' >&2\nkill -SEGV $$\n";

fn pgrep(pattern: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn a_plugin_that_hangs_is_killed_at_its_deadline() {
    let conf = r#"{"cniVersion":"1.0.0","name":"hang","plugins":[{"type":"hang-plugin"}]}"#;
    let (_tmp, root) = node(&[("10-hang.conflist", conf)], &[("hang-plugin", HANG)]);
    let (run, report) = verify(
        &root,
        &["--containerd-version", "1.6.20", "--timeout", "0.5"],
    );
    assert_eq!(run.code, 1);
    let net = network(&report, "hang");
    let add = step(net, "add");
    assert_eq!(add["error"]["source"], "limit");
    assert!(add["error"]["msg"]
        .as_str()
        .unwrap()
        .contains("did not finish within 500ms"));
    // Every DEL hangs too, and is killed too, with the children it started: nothing is left.
    assert_eq!(step(net, "del")["error"]["source"], "limit");
    assert!(
        !pgrep("sleep 607"),
        "the plugin's child outlived the timeout"
    );
}

#[test]
fn a_plugin_that_crashes_fails_with_its_stderr() {
    let conf = r#"{"cniVersion":"1.0.0","name":"crash","plugins":[{"type":"crash-plugin"}]}"#;
    let (_tmp, root) = node(&[("10-crash.conflist", conf)], &[("crash-plugin", CRASH)]);
    let (run, report) = verify(&root, &["--containerd-version", "1.6.20"]);
    assert_eq!(run.code, 1);
    let add = step(network(&report, "crash"), "add");
    assert_eq!(add["error"]["source"], "plugin");
    assert_eq!(
        add["error"]["msg"],
        r#"netplugin failed: "panic: runtime error: invalid memory address or nil pointer dereference""#
    );
    assert_eq!(
        add["runs"][0]["exit_code"],
        Value::Null,
        "killed by a signal"
    );
}

#[test]
fn the_human_report_of_the_example_node() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/example-node");
    let example = fs::canonicalize(example).unwrap();
    let root = example.to_str().unwrap();
    let run = cni_fix(&[
        "verify",
        "--root",
        root,
        "--containerd-version",
        "1.6.3",
        "--probe",
        "exec",
        "--color",
        "never",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout.replace(root, "<root>"));
}

#[test]
fn without_root_verify_exits_2() {
    let (_tmp, root) = node(&[("10-containerd-net.conflist", REFERENCE)], &[]);
    let bin = env!("CARGO_BIN_EXE_cni-fix");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin])
        .args(["verify", "--root", root.to_str().unwrap()])
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"),
        "{stderr}"
    );
}

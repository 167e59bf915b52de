//! cni-fix against the real components Debian ships: the CNI plugins in /usr/lib/cni
//! (containernetworking-plugins), containerd and its packaged config. `scripts/test.sh`
//! installs them; a missing component fails these tests.

mod common;

use std::path::Path;
use std::process::Command;

use cni_fix_core::containerd_config;
use cni_fix_core::ContainerdVersion;
use common::check_json;

const PLUGINS: &str = "/usr/lib/cni";

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package {package} (scripts/test.sh does)"
    );
}

/// A conf dir with one network chaining every plugin Debian ships; and their types.
fn all_plugins_network() -> (tempfile::TempDir, Vec<String>) {
    require(&format!("{PLUGINS}/bridge"), "containernetworking-plugins");
    let conf = tempfile::tempdir().unwrap();
    let mut types: Vec<String> = std::fs::read_dir(PLUGINS)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    types.sort();
    let plugins: Vec<String> = types
        .iter()
        .map(|t| format!("{{\"type\":{t:?}}}"))
        .collect();
    std::fs::write(
        conf.path().join("10-all.conflist"),
        format!(
            "{{\"cniVersion\":\"1.0.0\",\"name\":\"all\",\"plugins\":[{}]}}",
            plugins.join(",")
        ),
    )
    .unwrap();
    (conf, types)
}

/// What a binary itself prints for VERSION, read without cni-fix.
fn version_answer(binary: &Path) -> Vec<String> {
    let out = Command::new(binary)
        .env_clear()
        .env("CNI_COMMAND", "VERSION")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", binary.display());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn exec_probe_reports_what_the_real_plugins_print() {
    let (conf, types) = all_plugins_network();
    let (out, report) = check_json(&[
        "--root",
        "/",
        "--conf-dir",
        conf.path().to_str().unwrap(),
        "--bin-dir",
        PLUGINS,
        "--containerd-version",
        "1.6.20",
        "--probe",
        "exec",
    ]);
    let probed = report["plugins"].as_array().unwrap();
    // The chain's types plus loopback (already among them): every binary Debian ships.
    assert_eq!(probed.len(), types.len(), "{probed:?}");
    for p in probed {
        let t = p["type"].as_str().unwrap();
        let path = Path::new(PLUGINS).join(t);
        assert_eq!(p["path"], path.to_str().unwrap());
        assert_eq!(p["source"], "exec", "{t}");
        let ours: Vec<String> = serde_json::from_value(p["supported_versions"].clone()).unwrap();
        assert_eq!(ours, version_answer(&path), "{t}");
    }
    // Debian's plugins 1.1.1 support 1.0.0, including firewall and bandwidth.
    assert_eq!(report["summary"]["errors"], 0, "{}", out.stdout);
}

#[test]
fn static_probe_agrees_with_exec_on_every_real_plugin() {
    let (conf, types) = all_plugins_network();
    let run = |probe: &str| -> serde_json::Value {
        check_json(&[
            "--conf-dir",
            conf.path().to_str().unwrap(),
            "--bin-dir",
            PLUGINS,
            "--containerd-version",
            "1.6.20",
            "--probe",
            probe,
        ])
        .1
    };
    let (exec, stat) = (run("exec"), run("static"));
    let by_type = |r: &serde_json::Value| -> std::collections::BTreeMap<String, serde_json::Value> {
        r["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["type"].as_str().unwrap().to_string(), p.clone()))
            .collect()
    };
    let (exec, stat) = (by_type(&exec), by_type(&stat));
    assert_eq!(exec.len(), types.len());
    for (t, e) in &exec {
        let s = &stat[t];
        assert_eq!(s["source"], "static", "{t}");
        assert_eq!(
            s["supported_versions"], e["supported_versions"],
            "{t}: static and exec disagree"
        );
        assert_eq!(
            s["confidence"], "medium",
            "{t}: Debian's GOPATH builds carry no module information"
        );
    }
}

#[test]
fn real_containerd_version_output() {
    require("/usr/bin/containerd", "containerd");
    let out = Command::new("/usr/bin/containerd")
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = ContainerdVersion::from_version_output(&text).unwrap();
    // Debian 12: "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3".
    assert!(
        text.split_whitespace()
            .nth(2)
            .unwrap()
            .starts_with(&v.release.to_string()),
        "{text}"
    );
    assert_eq!((v.release.major, v.release.minor), (1, 6), "{text}");
}

#[test]
fn real_containerd_configs() {
    require("/usr/bin/containerd", "containerd");
    // Debian's shipped config: version 2 with bin_dir = /usr/lib/cni.
    let shipped = std::fs::read_to_string("/etc/containerd/config.toml")
        .expect("/etc/containerd/config.toml, shipped by Debian's containerd");
    let c = containerd_config::parse(&shipped).unwrap();
    assert_eq!(
        (c.version, c.cni.effective_bin_dirs()),
        (2, vec!["/usr/lib/cni".to_string()])
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // `containerd config default`: defaults spelled out.
    let out = Command::new("/usr/bin/containerd")
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let c = containerd_config::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(c.version, 2);
    assert_eq!(c.cni.conf_dir.as_deref(), Some("/etc/cni/net.d"));
    assert_eq!(c.cni.effective_bin_dirs(), ["/opt/cni/bin"]);
    assert_eq!(c.cni.max_conf_num, Some(1));
}

#[test]
fn live_node_reads_the_real_runtime() {
    require("/usr/bin/containerd", "containerd");
    let (out, report) = check_json(&["--conf-dir", "/nonexistent-cni-fix-test"]);
    assert_eq!(report["node"]["runtime"]["source"], "exec");
    assert!(report["node"]["runtime"]["version"]
        .as_str()
        .unwrap()
        .starts_with("1.6."));
    assert_eq!(
        report["node"]["bin_dirs"],
        serde_json::json!(["/usr/lib/cni"])
    );
    // The loopback binary is Debian's, probed for real.
    let lo = report["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "loopback")
        .unwrap();
    assert_eq!(lo["source"], "exec");
    assert_eq!(out.code, 1, "no conf dir: no-config is an error");
}

/// Debian's containerd: its version, and its line in cni-fix's release table.
fn debian_containerd() -> (
    ContainerdVersion,
    &'static cni_fix_core::runtime::ContainerdRelease,
) {
    require("/usr/bin/containerd", "containerd");
    let out = Command::new("/usr/bin/containerd")
        .arg("--version")
        .output()
        .unwrap();
    let version =
        ContainerdVersion::from_version_output(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let release = cni_fix_core::runtime::containerd_release(&version.release)
        .expect("Debian's containerd is in the table");
    (version, release)
}

/// The CNI settings `containerd --config FILE config dump` reports, or the error containerd
/// stops with.
fn dump(file: &Path) -> Result<containerd_config::CniSettings, String> {
    let out = Command::new("/usr/bin/containerd")
        .arg("--config")
        .arg(file)
        .args(["config", "dump"])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    // The dump is a complete version 2 config.
    let c = containerd_config::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    Ok(c.cni)
}

#[test]
fn config_versions_are_read_as_the_real_containerd_reads_them() {
    let (_, release) = debian_containerd();
    let tables = "[plugins.'io.containerd.cri.v1.runtime'.cni]\nbin_dirs = ['/usr/libexec/cni']\nconf_dir = '/v3'\n\
                  [plugins.\"io.containerd.grpc.v1.cri\".cni]\nconf_dir = '/v2'\nmax_conf_num = 3\n";
    let cases: Vec<(&str, String)> = vec![
        ("no version", "[plugins.cri.cni]\nconf_dir = '/v1'\nbin_dir = '/b1'\n".into()),
        ("version 1, v2 table", format!("version = 1\n{tables}")),
        ("version 2", format!("version = 2\n{tables}")),
        ("version 3", format!("version = 3\n{tables}")),
        ("version 4", format!("version = 4\n{tables}")),
        ("version 99", format!("version = 99\n{tables}")),
        ("version -1", format!("version = -1\n[plugins.cri.cni]\nconf_dir = '/v1'\n{tables}")),
        ("version 2, short key", "version = 2\n[plugins.cri.cni]\nconf_dir = '/v1'\n".into()),
        ("version 2, short disabled", "version = 2\ndisabled_plugins = ['cri']\n".into()),
        ("version 3 only", "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.cni]\nbin_dirs = ['/usr/libexec/cni']\n".into()),
        ("bad type", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\nconf_dir = 5\n".into()),
        ("bad type in an ignored table", "version = 2\n[plugins.'io.containerd.cri.v1.runtime'.cni]\nconf_dir = 5\n".into()),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in cases {
        let file = dir.path().join("config.toml");
        std::fs::write(&file, &text).unwrap();
        let real = dump(&file);
        let ours = containerd_config::parse_raw(&text)
            .and_then(|raw| raw.read_by(Some(&release.config), "config.toml"));
        match (&real, &ours) {
            (Ok(real), Ok(c)) => {
                let fatal = c
                    .problems
                    .iter()
                    .any(|p| matches!(p, containerd_config::ConfigProblem::Fatal { .. }));
                assert!(
                    !fatal,
                    "{name}: containerd starts, cni-fix says it does not: {c:?}"
                );
                let effective = |s: &containerd_config::CniSettings| {
                    (
                        s.conf_dir.clone().unwrap_or("/etc/cni/net.d".into()),
                        s.effective_bin_dirs(),
                        s.max_conf_num.unwrap_or(1),
                    )
                };
                assert_eq!(effective(&c.cni), effective(real), "{name}");
            }
            (Err(e), Ok(c)) => {
                let said = c.problems.iter().find_map(|p| match p {
                    containerd_config::ConfigProblem::Fatal { runtime_error, .. } => {
                        Some(runtime_error.clone())
                    }
                    _ => None,
                });
                let said = said.unwrap_or_else(|| {
                    panic!("{name}: containerd stops ({e}), cni-fix reads {c:?}")
                });
                // containerd names the file; the tail is the same text.
                let tail = said.rsplit(": ").next().unwrap();
                assert!(
                    e.ends_with(tail),
                    "{name}: containerd says {e:?}, cni-fix {said:?}"
                );
            }
            (Err(_), Err(_)) => {}
            (Ok(real), Err(e)) => panic!("{name}: containerd reads {real:?}, cni-fix fails: {e}"),
        }
    }
}

/// The CRI settings beyond CNI, as cni-fix reads them, against what the real containerd
/// makes of the same file (`config dump` writes every setting out, defaults included) and
/// against `containerd config default`, the file the migration guides start from.
#[test]
fn cri_settings_are_read_as_the_real_containerd_reads_them() {
    let (version, release) = debian_containerd();
    let default = Command::new("/usr/bin/containerd")
        .args(["config", "default"])
        .output()
        .unwrap();
    let default = String::from_utf8(default.stdout).unwrap();
    let runc = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]";
    let cases: Vec<(&str, String)> = vec![
        ("config default", default.clone()),
        ("systemd cgroup", default.replace("SystemdCgroup = false", "SystemdCgroup = true")),
        (
            "containerd.io",
            "disabled_plugins = [\"cri\"]\n".to_string(),
        ),
        (
            "sandbox and registry",
            format!("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"registry.k8s.io/pause:3.9\"\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/etc/containerd/certs.d\"\n{runc}\nSystemdCgroup = true\n[grpc]\naddress = \"/run/k8s/containerd.sock\"\n"),
        ),
        (
            "deprecated mirrors",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m.example\"]\n".to_string(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in cases {
        let file = dir.path().join("config.toml");
        std::fs::write(&file, &text).unwrap();
        let dumped = Command::new("/usr/bin/containerd")
            .arg("--config")
            .arg(&file)
            .args(["config", "dump"])
            .output()
            .unwrap();
        assert!(
            dumped.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&dumped.stderr)
        );
        let real: toml::Table = String::from_utf8_lossy(&dumped.stdout).parse().unwrap();
        let ours = containerd_config::parse_raw(&text)
            .and_then(|raw| raw.read_by(Some(&release.config), "config.toml"))
            .unwrap()
            .cri;
        let real_disabled: Vec<&str> = real
            .get("disabled_plugins")
            .and_then(|d| d.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            ours.disabled_plugins, real_disabled,
            "{name}: disabled_plugins"
        );
        assert_eq!(
            ours.cri_disabled().is_some(),
            real_disabled
                .iter()
                .any(|p| *p == "cri" || *p == "io.containerd.grpc.v1.cri"),
            "{name}"
        );
        assert_eq!(
            ours.grpc_address
                .as_deref()
                .unwrap_or(containerd_config::DEFAULT_GRPC_ADDRESS),
            real["grpc"]["address"].as_str().unwrap(),
            "{name}: grpc address"
        );
        // A disabled CRI plugin has no settings in the dump.
        let Some(cri) = real["plugins"].get("io.containerd.grpc.v1.cri") else {
            assert!(
                ours.cri_disabled().is_some(),
                "{name}: the dump has no CRI plugin"
            );
            continue;
        };
        let real_systemd = cri["containerd"]["runtimes"]
            .get("runc")
            .and_then(|r| r.get("options"))
            .and_then(|o| o.get("SystemdCgroup"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        assert_eq!(
            ours.systemd_cgroup.unwrap_or(false),
            real_systemd,
            "{name}: SystemdCgroup"
        );
        let real_sandbox = cri["sandbox_image"].as_str().unwrap();
        let expected_default =
            cni_fix_core::runtime::default_sandbox_image(&version.release).unwrap();
        assert_eq!(
            ours.sandbox_image.as_deref().unwrap_or(expected_default),
            real_sandbox,
            "{name}: sandbox image (cni-fix's default table for {version})"
        );
        assert_eq!(
            ours.registry_config_path.as_deref().unwrap_or(""),
            cri["registry"]["config_path"].as_str().unwrap_or(""),
            "{name}: registry config_path"
        );
        let real_mirrors: Vec<String> = cri["registry"]
            .get("mirrors")
            .and_then(|m| m.as_table())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let our_mirrors: Vec<String> = ours
            .registry_mirrors
            .iter()
            .map(|(h, _)| h.clone())
            .collect();
        assert_eq!(our_mirrors, real_mirrors, "{name}: registry mirrors");
    }
}

/// On the live node, a running kubelet's command line comes from /proc when no unit
/// configures one, and its endpoint's socket must exist.
#[test]
fn live_node_reads_a_running_kubelet() {
    let mut child = Command::new("bash")
        .args([
            "-c",
            "exec -a kubelet sh -c 'sleep 60; true' --container-runtime-endpoint=unix:///run/cni-fix-test-absent.sock",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (_, report) = check_json(&[
        "--kubelet-version",
        "1.28.2",
        "--containerd-version",
        "1.6.20",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    let k = &report["node"]["kubelet"];
    if k["command_source"] == "unit" {
        // A real kubelet unit on this machine configures the kubelet; nothing to compare.
        return;
    }
    assert_eq!(k["command_source"], "process", "{k:#}");
    assert_eq!(k["endpoint"], "unix:///run/cni-fix-test-absent.sock");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "runtime-socket-missing")
        .expect("the socket does not exist");
    assert!(f["message"].as_str().unwrap().contains("does not exist"));
}

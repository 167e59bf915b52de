//! The host is the same before and after `cni-fix verify`: its links, addresses, routes,
//! iptables rules, namespaces, mounts and `/var/lib/cni`, after a run that completes and after
//! runs killed in the middle (SIGKILL, SIGTERM, SIGINT) while a plugin hangs. One test in a
//! binary of its own, so that no other verify runs beside it. Needs root (CI runs as root).

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REFERENCE: &str = r#"{"cniVersion":"1.0.0","name":"containerd-net","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;

/// A plugin that, once bridge has made its veth and rules, hangs in ADD (as `sleep 613`).
const HANG: &str = "#!/bin/sh\n# cni-fix-host-test-hang\nif [ \"$CNI_COMMAND\" = VERSION ]; then echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}'; exit 0; fi\nif [ \"$CNI_COMMAND\" = ADD ]; then exec sleep 613; fi\nexit 0\n";

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What must not change, as text.
fn host_state() -> Vec<(String, String)> {
    let strip_counters = |s: String| {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| match l.rfind(" [") {
                Some(i) if l.starts_with(':') => l[..i].to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ls = |p: &str| match fs::read_dir(p) {
        Ok(d) => {
            let mut names: Vec<String> = d
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            format!("exists: {names:?}")
        }
        Err(e) => format!("{:?}", e.kind()),
    };
    vec![
        ("links".into(), run("ip", &["-o", "link", "show"])),
        ("addresses".into(), run("ip", &["-o", "addr", "show"])),
        (
            "routes".into(),
            run("ip", &["route", "show", "table", "all"]),
        ),
        (
            "routes6".into(),
            run("ip", &["-6", "route", "show", "table", "all"]),
        ),
        ("iptables".into(), strip_counters(run("iptables-save", &[]))),
        (
            "ip6tables".into(),
            strip_counters(run("ip6tables-save", &[])),
        ),
        (
            "net namespaces".into(),
            run("lsns", &["-n", "-o", "NS", "-t", "net"]),
        ),
        (
            "mount namespaces".into(),
            run("lsns", &["-n", "-o", "NS", "-t", "mnt"]),
        ),
        ("netns".into(), run("ip", &["netns", "list"])),
        (
            "mounts".into(),
            run("findmnt", &["-rn", "-o", "TARGET,SOURCE,FSTYPE"]),
        ),
        ("/var/lib/cni".into(), ls("/var/lib/cni")),
        ("/run/cni".into(), ls("/run/cni")),
    ]
}

fn assert_same(before: &[(String, String)], after: &[(String, String)], when: &str) {
    for ((what, b), (_, a)) in before.iter().zip(after) {
        assert_eq!(b, a, "the host's {what} changed {when}");
    }
}

fn node(confs: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    common::plugin_node(confs, &[("hang-plugin", HANG)])
}

fn pgrep(pattern: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", pattern])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_host_is_the_same_before_and_after() {
    let (_tmp, root) = node(&[("10-containerd-net.conflist", REFERENCE)]);
    let before = host_state();
    let out = common::cni_fix(&[
        "verify",
        "--root",
        root.to_str().unwrap(),
        "--containerd-version",
        "1.6.20",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("-j DNAT --to-destination 10.88.0."),
        "{}",
        out.stdout
    );
    assert_same(&before, &host_state(), "after a verify run");

    // Killed while a plugin hangs in ADD, after bridge has made its bridge, veth and rules.
    let hang = r#"{"cniVersion":"1.0.0","name":"hang","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.89.0.0/16"}},{"type":"hang-plugin"}]}"#;
    let (_tmp2, root2) = node(&[("10-hang.conflist", hang)]);
    let plugin = "sleep 613";
    for signal in ["KILL", "TERM", "INT"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
            .args(["verify", "--root", root2.to_str().unwrap()])
            .args(["--containerd-version", "1.6.20", "--timeout", "120"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(
            "the hanging plugin to start",
            Duration::from_secs(30),
            || pgrep(plugin),
        );
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = child.wait().unwrap();
        // The plugin dies with the thread that started it; the namespaces with it.
        wait_for(
            "the plugin to die with cni-fix",
            Duration::from_secs(10),
            || !pgrep(plugin),
        );
        wait_for("the namespaces to go", Duration::from_secs(10), || {
            host_state() == before
        });
        assert_same(
            &before,
            &host_state(),
            &format!("after SIG{signal} in the middle"),
        );
    }
}

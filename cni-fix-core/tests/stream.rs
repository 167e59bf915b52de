//! A streamed check (`stream::check_each_from`) gives what `check` gives, for any conf dir and
//! any window: the same files, plugins and findings in the same order, each file's findings
//! handed over with it, and nothing after the end.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cni_fix_core::kubelet::KubeletVersion;
use cni_fix_core::report::check_from;
use cni_fix_core::runtime::RuntimeVersion;
use cni_fix_core::source::{MemNode, SystemProber};
use cni_fix_core::stream::{self, Event};
use cni_fix_core::{CheckOptions, ContainerdVersion, PluginsRelease, ProbeMode};
use proptest::prelude::*;

#[path = "shared/stream_events.rs"]
mod stream_events;

/// One entry of a generated conf dir.
#[derive(Debug, Clone)]
enum Entry {
    /// A conflist: its cniVersion (none when `None`), network name and plugin types.
    List(Option<&'static str>, u8, Vec<&'static str>),
    /// A single-plugin .conf.
    Single(&'static str),
    /// A conflist libcni rejects.
    Broken(&'static str),
    /// A conflist with a placeholder its installer never rendered.
    Placeholder,
    /// A name the runtime does not read.
    Ignored(&'static str),
    /// A directory with a config's name.
    Dir,
    /// A link to nothing.
    Dangling,
}

fn entry() -> impl Strategy<Value = Entry> {
    let version = prop::sample::select(vec![
        None,
        Some("0.3.1"),
        Some("0.4.0"),
        Some("1.0.0"),
        Some("1.1.0"),
    ]);
    let types = prop::collection::vec(
        prop::sample::select(vec!["bridge", "portmap", "loopback", "nosuch"]),
        1..3,
    );
    prop_oneof![
        6 => (version, 0u8..3, types).prop_map(|(v, n, t)| Entry::List(v, n, t)),
        1 => prop::sample::select(vec!["0.3.1", "1.0.0"]).prop_map(Entry::Single),
        2 => prop::sample::select(vec!["{", "", "{\"name\":\"x\"}", "[]"]).prop_map(Entry::Broken),
        1 => Just(Entry::Placeholder),
        1 => prop::sample::select(vec!["bak", "CONF", "conf.orig"]).prop_map(Entry::Ignored),
        1 => Just(Entry::Dir),
        1 => Just(Entry::Dangling),
    ]
}

const DIR: &str = "/etc/cni/net.d";

/// A node whose conf dir holds `entries` (mode and age of each beside it), and containerd's
/// config with `max_conf_num`.
fn node(entries: &[(Entry, bool, u8)], max_conf_num: i64) -> MemNode {
    fill(MemNode::new(), DIR, entries, max_conf_num, 0o755)
}

/// The cri-dockerd node of the scenarios (its kubelet, units and plugins), with `entries` in
/// its conf dir instead.
fn cri_dockerd_node(entries: &[(Entry, bool, u8)], dir_mode: u32) -> MemNode {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/scenarios/cri-dockerd-skips-networks/node");
    let node = MemNode::load(&scenario).expect("the cri-dockerd scenario's node");
    fill(node, OTHER_DIR, entries, 1, dir_mode)
}

/// The conf dir the cri-dockerd node is checked with (`--conf-dir`).
const OTHER_DIR: &str = "/etc/cni/generated";

/// `entries` written into the conf dir `dir` (of mode `dir_mode`) of `node`.
fn fill(
    mut node: MemNode,
    dir: &str,
    entries: &[(Entry, bool, u8)],
    max_conf_num: i64,
    dir_mode: u32,
) -> MemNode {
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    node.modified_at(epoch);
    node.file(
        "/etc/containerd/config.toml",
        format!(
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\nmax_conf_num = {max_conf_num}\n"
        ),
        0o644,
    );
    node.dir(dir, dir_mode);
    for b in ["bridge", "portmap", "loopback"] {
        node.file(format!("/opt/cni/bin/{b}"), "#!/bin/sh\n", 0o755);
    }
    for (i, (e, writable, age)) in entries.iter().enumerate() {
        let mode = if *writable { 0o666 } else { 0o644 };
        let list = |version: Option<&str>, name: String, types: &[&str]| {
            let plugins: Vec<String> = types
                .iter()
                .map(|t| format!("{{\"type\":\"{t}\"}}"))
                .collect();
            let version = version
                .map(|v| format!("\"cniVersion\":\"{v}\","))
                .unwrap_or_default();
            format!(
                "{{{version}\"name\":\"{name}\",\"plugins\":[{}]}}",
                plugins.join(",")
            )
        };
        let path = match e {
            Entry::List(version, name, types) => {
                let path = format!("{dir}/{i:02}-net.conflist");
                node.file(&path, list(*version, format!("net{name}"), types), mode);
                path
            }
            Entry::Single(version) => {
                let path = format!("{dir}/{i:02}-single.conf");
                let text = format!(
                    "{{\"cniVersion\":\"{version}\",\"name\":\"one\",\"type\":\"bridge\"}}"
                );
                node.file(&path, text, mode);
                path
            }
            Entry::Broken(text) => {
                let path = format!("{dir}/{i:02}-broken.conflist");
                node.file(&path, *text, mode);
                path
            }
            Entry::Placeholder => {
                let path = format!("{dir}/{i:02}-template.conflist");
                let text = list(Some("0.4.0"), "__CNI_NETWORK__".into(), &["bridge"]);
                node.file(&path, text, mode);
                path
            }
            Entry::Ignored(ext) => {
                let path = format!("{dir}/{i:02}-old.{ext}");
                node.file(&path, "{}", mode);
                path
            }
            Entry::Dir => {
                let path = format!("{dir}/{i:02}-dir.conf");
                node.dir(&path, 0o755);
                path
            }
            Entry::Dangling => {
                let path = format!("{dir}/{i:02}-link.conflist");
                node.symlink(&path, "/nowhere.conflist");
                path
            }
        };
        node.modified(
            Path::new(&path),
            epoch + Duration::from_secs(u64::from(*age)),
        );
    }
    node
}

/// A report's JSON without its root.
fn canonical(mut v: serde_json::Value) -> serde_json::Value {
    v["node"]["root"] = serde_json::Value::Null;
    v
}

/// The same, its findings in one order whatever order they came in.
fn unordered(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(findings) = v["findings"].as_array_mut() {
        findings.sort_by_cached_key(|f| f.to_string());
    }
    v
}

/// The events of a streamed check gathered into a report's JSON.
fn streamed(options: &CheckOptions, node: Arc<MemNode>, window: usize) -> serde_json::Value {
    stream_events::gather(options, node, &SystemProber, window)
}

fn options(containerd: &str, release: bool) -> CheckOptions {
    let mut o = CheckOptions::default();
    o.containerd_version = Some(ContainerdVersion::parse(containerd).unwrap());
    o.probe = Some(ProbeMode::None);
    if release {
        o.assume_plugins_release = Some(PluginsRelease::parse("v0.9.1").unwrap());
    }
    o
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn streamed_is_the_report(
        entries in prop::collection::vec((entry(), any::<bool>(), 0u8..3), 0..14),
        max_conf_num in prop::sample::select(vec![1i64, 2, 3, 0]),
        open_dir in any::<bool>(),
        containerd in prop::sample::select(vec!["1.6.4", "1.7.20", "1.5.11"]),
        release in any::<bool>(),
        window in 1usize..5,
    ) {
        let dir_mode = if open_dir { 0o777 } else { 0o755 };
        let node = Arc::new(fill(MemNode::new(), DIR, &entries, max_conf_num, dir_mode));
        let options = options(containerd, release);
        let report = check_from(&options, node.clone(), &SystemProber).unwrap();
        let whole = canonical(serde_json::to_value(&report).unwrap());
        let parts = streamed(&options, node, window);
        prop_assert_eq!(&whole, &parts, "{:#?}", entries);
    }

    /// The same under cri-dockerd, which uses the first network whose plugins pass: the conf
    /// dir is read until one does, the plugins probed after each window that holds a network.
    #[test]
    fn streamed_is_the_report_under_cri_dockerd(
        entries in prop::collection::vec((entry(), any::<bool>(), 0u8..3), 0..14),
        release in any::<bool>(),
        open_dir in any::<bool>(),
        window in 1usize..5,
    ) {
        let node = Arc::new(cri_dockerd_node(&entries, if open_dir { 0o777 } else { 0o755 }));
        let mut options = options("1.7.20", release);
        options.containerd_version = None;
        options.cri_dockerd_version = Some(RuntimeVersion::parse("0.3.1").unwrap());
        options.kubelet_version = Some(KubeletVersion::parse("1.27.3").unwrap());
        options.conf_dir = Some(OTHER_DIR.into());
        let report = check_from(&options, node.clone(), &SystemProber).unwrap();
        prop_assert_eq!(report.node.runtime.name, "cri-dockerd");
        let whole = canonical(serde_json::to_value(&report).unwrap());
        let parts = streamed(&options, node, window);
        prop_assert_eq!(&whole, &parts, "{:#?}", entries);
    }
}

/// The stream stops at the first error its receiver gives, and says so.
#[test]
fn a_failing_receiver_stops_the_stream() {
    let entries: Vec<(Entry, bool, u8)> = (0..20)
        .map(|_| (Entry::List(Some("1.0.0"), 1, vec!["bridge"]), false, 1))
        .collect();
    let node = Arc::new(node(&entries, 1));
    let mut seen = 0;
    let e = stream::check_each_from(&options("1.7.20", false), node, &SystemProber, 2, |_| {
        seen += 1;
        if seen == 3 {
            Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "closed",
            ))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(seen, 3);
    assert!(matches!(e, stream::StreamError::Sink(_)), "{e}");
}

/// A shadowed file whose finding waits on a later one is held back with the files after it,
/// up to a limit; past it, the file goes out and its finding comes at the end.
#[test]
fn a_finding_that_waits_too_long_comes_at_the_end() {
    for (invalid, at_end) in [(10, false), (200, true)] {
        let mut entries = vec![
            (Entry::List(Some("1.0.0"), 0, vec!["bridge"]), false, 1),
            // Older than the loaded network: grouped, unless it stays alone.
            (Entry::List(Some("1.0.0"), 1, vec!["bridge"]), false, 0),
        ];
        entries.extend((0..invalid).map(|_| (Entry::Broken("{"), false, 1)));
        let node = Arc::new(node(&entries, 1));
        let options = options("1.7.20", false);
        let report = check_from(&options, node.clone(), &SystemProber).unwrap();
        let whole = canonical(serde_json::to_value(&report).unwrap());
        let mut in_end = Vec::new();
        let mut parts = Vec::new();
        stream::check_each_from(&options, node.clone(), &SystemProber, 1, |e| {
            match e {
                Event::End { findings, .. } => in_end = findings,
                Event::File { findings, .. } => parts.extend(findings),
                _ => {}
            }
            Ok(())
        })
        .unwrap();
        let shadowed = |f: &cni_fix_core::Finding| f.id == cni_fix_core::FindingId::ShadowedConfig;
        assert_eq!(
            in_end.iter().any(shadowed),
            at_end,
            "{invalid} invalid files"
        );
        assert_eq!(
            parts.iter().any(shadowed),
            !at_end,
            "{invalid} invalid files"
        );
        let streamed = streamed(&options, node, 1);
        if at_end {
            assert_eq!(unordered(whole), unordered(streamed));
        } else {
            assert_eq!(whole, streamed);
        }
    }
}

//! What the fuzz targets share: a node in memory checked without running anything, and the
//! split of one input into several files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cni_fix_core::kubelet::KubeletVersion;
use cni_fix_core::probe::ProbeError;
use cni_fix_core::source::{MemNode, NodeSource, Prober};
use cni_fix_core::{CheckOptions, ContainerdVersion, PluginsRelease, ProbeMode, Report};

/// A prober that runs nothing: a fuzz input must never start a process.
pub struct NoProcesses;

impl Prober for NoProcesses {
    fn exec_versions(
        &self,
        _node: &dyn NodeSource,
        binaries: &[std::path::PathBuf],
        _timeout: Duration,
    ) -> Vec<Result<Vec<String>, ProbeError>> {
        panic!("a fuzzed check ran {binaries:?}");
    }

    fn containerd_version(&self, _timeout: Duration) -> Result<ContainerdVersion, String> {
        Err("containerd is not run under fuzzing".into())
    }
}

/// The separator of the files in one input (see [`files`]); it is in each target's dictionary.
pub const SEPARATOR: &[u8] = b"\n--8<--\n";

/// The input cut at each [`SEPARATOR`] into at most `n` parts (the last keeps the rest).
pub fn files(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    while out.len() + 1 < n {
        match find(rest, SEPARATOR) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + SEPARATOR.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

const CONTAINERD: [&str; 5] = ["1.5.18", "1.6.3", "1.6.20", "1.7.20", "2.0.0"];
const KUBELET: [&str; 4] = ["1.19.0", "1.23.17", "1.24.0", "1.30.2"];
const PLUGINS: [&str; 3] = ["0.8.7", "1.0.0", "1.1.1"];

/// The options of a check chosen by `knob`: containerd, kubelet and plugins releases from
/// small tables, no probing.
pub fn options(knob: u8) -> CheckOptions {
    let k = usize::from(knob);
    let mut o = CheckOptions::default()
        .probe(ProbeMode::None)
        .containerd_version(ContainerdVersion::parse(CONTAINERD[k % 5]).unwrap())
        .assume_plugins_release(PluginsRelease::parse(PLUGINS[(k / 5) % 3]).unwrap());
    if k & 0x80 != 0 {
        o = o.kubelet_version(KubeletVersion::parse(KUBELET[(k / 15) % 4]).unwrap());
    }
    o
}

/// The plugins a node has, as empty stand-ins (versions come from the assumed release).
pub fn with_plugins(node: &mut MemNode) {
    for p in [
        "bridge",
        "host-local",
        "portmap",
        "loopback",
        "flannel",
        "firewall",
        "tuning",
    ] {
        node.file(Path::new("/opt/cni/bin").join(p), "#!/bin/sh\n", 0o755);
    }
}

/// Check `node` with `options`, and serialise the report as the CLI's JSON output does. A
/// check may fail with an error (a bad node); it must not panic.
pub fn check(node: MemNode, options: &CheckOptions) -> Option<Report> {
    let report = cni_fix_core::report::check_from(options, Arc::new(node), &NoProcesses).ok()?;
    let json = serde_json::to_vec(&report).expect("a report always serialises");
    assert!(!json.is_empty());
    Some(report)
}

#[path = "../../cni-fix-core/tests/shared/json_same.rs"]
pub mod json_same;

/// The Go-compatible JSON reader, differentially against serde_json: never a panic; whatever
/// serde_json accepts is read the same; whatever it rejects and we accept is one of Go's
/// documented differences (invalid UTF-8, lone surrogates, nesting beyond serde_json's 128,
/// numbers beyond f64).
pub mod json {
    use cni_fix_core::json::{self, Kind, Value};

    use super::json_same;

    fn depth_and_numbers(v: &Value) -> (usize, bool) {
        // Iterative: the reader allows 10000 levels.
        let mut deepest = 0;
        let mut all_fit = true;
        let mut stack = vec![(v, 1usize)];
        while let Some((v, d)) = stack.pop() {
            deepest = deepest.max(d);
            match &v.kind {
                Kind::Number(n) => all_fit &= n.fits_f64(),
                Kind::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
                Kind::Object(members) => stack.extend(members.iter().map(|m| (&m.value, d + 1))),
                _ => {}
            }
        }
        (deepest, all_fit)
    }

    fn has_surrogate_escape(data: &[u8]) -> bool {
        data.windows(3)
            .any(|w| w[0] == b'\\' && w[1] == b'u' && matches!(w[2], b'd' | b'D'))
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let ours = json::parse(data);
        let theirs = serde_json::from_slice::<serde_json::Value>(data);
        match (&ours, &theirs) {
            (Ok(o), Ok(t)) => {
                assert!(
                    json_same::same(o, t),
                    "the readers disagree on {:?}",
                    String::from_utf8_lossy(data)
                );
                assert!(o.span.end <= data.len());
            }
            (Err(e), Ok(_)) => panic!(
                "serde_json accepts what the Go reader rejects ({})",
                e.message
            ),
            (Ok(o), Err(e)) => {
                let (depth, numbers_fit) = depth_and_numbers(o);
                let go_only = std::str::from_utf8(data).is_err()
                    || has_surrogate_escape(data)
                    || depth > 127
                    || !numbers_fit;
                assert!(
                    go_only,
                    "only the Go reader accepts this, and not for a known reason: {e}"
                );
            }
            (Err(e), Err(_)) => {
                assert!(
                    e.offset <= data.len(),
                    "error offset {} past the input",
                    e.offset
                );
                let _ = json::line_col(data, e.offset);
                assert!(!e.message.is_empty());
            }
        }
    }
}

/// Conflist parsing with libcni's rules, and every rule of `check` on a one-file node: the
/// file as a .conflist, .conf or .json (with or without a healthy network beside it), checked
/// under releases chosen by the first byte. Never a panic; every finding names a file of the
/// node or the node itself.
pub mod conflist {
    use super::{check, options, with_plugins};
    use cni_fix_core::conf::{parse_conflist, parse_single_conf, LibcniGeneration};
    use cni_fix_core::source::MemNode;

    const HEALTHY: &str = r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;

    /// One input.
    pub fn run(data: &[u8]) {
        let [knob, form, bytes @ ..] = data else {
            return;
        };
        for g in [
            LibcniGeneration::Classic,
            LibcniGeneration::V1_2,
            LibcniGeneration::V1_3,
        ] {
            let _ = parse_conflist(bytes, g, None);
        }
        let _ = parse_single_conf(bytes);

        let name = ["10-fuzz.conflist", "10-fuzz.conf", "10-fuzz.json"][usize::from(form % 3)];
        let mut node = MemNode::new();
        with_plugins(&mut node);
        let path = format!("/etc/cni/net.d/{name}");
        node.file(&path, bytes, 0o644);
        if form & 0x10 != 0 {
            node.file("/etc/cni/net.d/05-healthy.conflist", HEALTHY, 0o644);
        }
        if let Some(report) = check(node, &options(*knob)) {
            for f in &report.findings {
                if let Some(file) = &f.file {
                    assert!(
                        file == &path
                            || file.starts_with("/etc/cni/net.d/")
                            || file.starts_with("/opt/cni/bin/"),
                        "{:?} names {file}",
                        f.id
                    );
                }
            }
        }
    }
}

/// containerd's TOML config: parsed as each release reads it, then as the config of a node
/// with a healthy network, every rule run over it. Never a panic.
pub mod containerd_config {
    use super::{check, options, with_plugins};
    use cni_fix_core::containerd_config;
    use cni_fix_core::source::MemNode;

    const HEALTHY: &str = r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;

    /// One input.
    pub fn run(data: &[u8]) {
        let [knob, bytes @ ..] = data else { return };
        let Ok(text) = std::str::from_utf8(bytes) else {
            // The node reads it as a file all the same: a non-UTF-8 config is a finding.
            let mut node = MemNode::new();
            node.file("/etc/containerd/config.toml", bytes, 0o644);
            let _ = check(node, &options(*knob));
            return;
        };
        let _ = containerd_config::parse(text);
        let _ = containerd_config::parse_raw(text);
        let mut node = MemNode::new();
        with_plugins(&mut node);
        node.file("/etc/containerd/config.toml", bytes, 0o644);
        node.file("/etc/cni/net.d/10-net.conflist", HEALTHY, 0o644);
        let _ = check(node, &options(*knob));
    }
}

/// The static probe: ELF section headers, Go's build info and the package markers in a
/// plugin binary. Never a panic, and a reading of the same bytes is the same.
pub mod static_probe {
    use cni_fix_core::static_probe::{probe_bytes, read_buildinfo};

    /// One input.
    pub fn run(data: &[u8]) {
        let _ = read_buildinfo(data);
        let first = probe_bytes(data, "bridge");
        let again = probe_bytes(data, "bridge");
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        let _ = probe_bytes(data, "flannel");
    }
}

/// The minimal editor: set a network's cniVersion in its own bytes. For any file it accepts,
/// the edits apply, the result still parses, nothing but the version keys changed (plugin-level
/// `cniVersion`, the `cniVersions` list), libcni reads the target version where it read the
/// file before, and a second edit is empty.
pub mod edit {
    use cni_fix_core::conf::{parse_conflist, parse_single_conf, FileForm, LibcniGeneration};
    use cni_fix_core::edit::{apply_edits, version_edits};
    use cni_fix_core::json::{self, go_field_matches, Kind, Value};
    use cni_fix_core::SpecVersion;

    fn is_version_key(key: &str) -> bool {
        go_field_matches("cniVersion", key) || key == "cniVersions"
    }

    /// The value as text, without the version keys of the network and of its plugins.
    fn shape(v: &Value, out: &mut String, level: u8) {
        match &v.kind {
            Kind::Null => out.push_str("null"),
            Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Kind::Number(n) => out.push_str(&n.text),
            Kind::String(s) => out.push_str(&format!("{s:?}")),
            Kind::Array(items) => {
                out.push('[');
                for i in items {
                    // Items of the top level's arrays are plugins when the key is "plugins";
                    // stripping their version keys in every top-level array is as strict.
                    shape(i, out, if level == 1 { 2 } else { 3 });
                    out.push(',');
                }
                out.push(']');
            }
            Kind::Object(members) => {
                out.push('{');
                for m in members {
                    if (level == 0 || level == 2) && is_version_key(&m.key) {
                        continue;
                    }
                    out.push_str(&format!("{:?}:", m.key));
                    shape(&m.value, out, if level == 0 { 1 } else { 3 });
                    out.push(',');
                }
                out.push('}');
            }
        }
    }

    fn shape_of(bytes: &[u8]) -> String {
        let mut s = String::new();
        shape(&json::parse(bytes).expect("parses"), &mut s, 0);
        s
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let [knob, bytes @ ..] = data else { return };
        let target = SpecVersion::ALL[usize::from(knob % 7)];
        let form = if knob & 0x80 == 0 {
            FileForm::ConfList
        } else {
            FileForm::SingleConf
        };
        let Ok(edits) = version_edits(bytes, form, target) else {
            return;
        };
        let out = apply_edits(bytes, &edits).expect("the editor's own edits apply");
        assert_eq!(
            shape_of(bytes),
            shape_of(&out),
            "more than the version changed"
        );
        assert!(
            version_edits(&out, form, target)
                .expect("the result is editable")
                .is_empty(),
            "a second edit is not empty"
        );
        match form {
            FileForm::ConfList => {
                if parse_conflist(bytes, LibcniGeneration::Classic, None).is_ok() {
                    let net = parse_conflist(&out, LibcniGeneration::Classic, None)
                        .expect("libcni reads the edited file as it read the original");
                    assert_eq!(net.cni_version.as_str(), target.as_str());
                }
            }
            FileForm::SingleConf => {
                if parse_single_conf(bytes).is_ok() {
                    let net = parse_single_conf(&out)
                        .expect("libcni reads the edited file as it read the original");
                    assert_eq!(net.cni_version.as_str(), target.as_str());
                }
            }
        }
    }
}

/// The kubelet's unit, drop-in and environment files, its config file, kubeadm's flags file
/// and Docker's daemon.json (one input cut into files at the separator), read by the systemd
/// and kubelet parsers and then checked as a node. Never a panic.
pub mod kubelet {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::{check, files, options, with_plugins};
    use cni_fix_core::kubelet::{parse_flags, parse_kubelet_config};
    use cni_fix_core::source::MemNode;
    use cni_fix_core::systemd::{expand, parse_env_file, parse_unit, split_words};

    const PATHS: [&str; 6] = [
        "/lib/systemd/system/kubelet.service",
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "/var/lib/kubelet/kubeadm-flags.env",
        "/etc/default/kubelet",
        "/var/lib/kubelet/config.yaml",
        "/etc/docker/daemon.json",
    ];

    /// One input.
    pub fn run(data: &[u8]) {
        let [knob, rest @ ..] = data else { return };
        let parts = files(rest, PATHS.len());

        // The parsers on their own.
        let text = |i: usize| {
            parts
                .get(i)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        if let Some(unit) = text(0) {
            let (settings, _) = parse_unit(Path::new(PATHS[0]), &unit);
            let _ = settings;
            for line in unit.lines() {
                if let Ok(words) = split_words(line) {
                    let _ = words;
                }
            }
        }
        if let Some(env) = text(2) {
            let (assignments, _) = parse_env_file(Path::new(PATHS[2]), &env);
            let env: BTreeMap<_, _> = assignments
                .into_iter()
                .map(|a| (a.name.clone(), a))
                .collect();
            if let Some(unit) = text(1) {
                let (settings, _) = parse_unit(Path::new(PATHS[1]), &unit);
                for s in &settings {
                    if let Ok(words) = split_words(&s.value) {
                        let expanded = expand(&words, &s.origin, &env);
                        let _ = parse_flags(&expanded);
                    }
                }
            }
        }
        if let Some(config) = text(4) {
            let _ = parse_kubelet_config(&config);
        }

        // The whole node.
        let mut node = MemNode::new();
        with_plugins(&mut node);
        for (path, bytes) in PATHS.iter().zip(&parts) {
            node.file(path, *bytes, 0o644);
        }
        node.file("/usr/bin/kubelet", "#!/bin/sh\n", 0o755);
        let _ = check(node, &options(*knob));
    }
}

/// The workload reader: YAML or JSON Kubernetes objects (lists, multi-document streams,
/// controllers and pods) through every workloads rule. Never a panic, every input accounted
/// for in the report, and the report serialises.
pub mod workloads {
    use cni_fix_core::workloads::{scan, Input};

    /// One input.
    pub fn run(data: &[u8]) {
        let input = Input {
            name: "fuzz.yaml".into(),
            bytes: data.to_vec(),
        };
        let report = scan(&[input]);
        let json = serde_json::to_value(&report).expect("a report always serialises");
        assert!(json.is_object());
    }
}

/// A collection archive (`cni-fix collect`): the input is the tar inside the gzip, so that
/// mutations reach the tar headers, the manifest and the files rather than gzip's checksum.
/// Read back bounded, then checked as the node. Never a panic.
pub mod collection {
    use std::io::Write;
    use std::path::Path;

    use cni_fix_core::collect::CollectedNode;
    use cni_fix_core::{CheckOptions, ProbeMode};

    /// One input.
    pub fn run(data: &[u8]) {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        let archive = gz.finish().unwrap();
        let Ok(node) = CollectedNode::read_tar_gz(archive.as_slice(), Path::new("fuzz.tar.gz"))
        else {
            return;
        };
        let _ = node.manifest();
        // The recorded options, and the same with no probing at all.
        if let Ok(recorded) = node.options_over(&CheckOptions::default()) {
            let _ = node.check(&recorded);
        }
        let _ = node.check(&CheckOptions::default().probe(ProbeMode::None));
    }
}

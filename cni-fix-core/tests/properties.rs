//! Properties that hold for all inputs.

use cni_fix_core::conf::{parse_conflist, parse_single_conf, LibcniGeneration};
use cni_fix_core::json::{self, Kind};
use cni_fix_core::ContainerdVersion;
use proptest::prelude::*;

#[path = "shared/json_same.rs"]
mod json_same;
use json_same::same;

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-1e300f64..1e300).prop_map(|f| serde_json::json!(f)),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(("\\PC{0,8}", inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parses_whatever_serde_json_writes(v in json_value(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
        let ours = json::parse(text.as_bytes()).unwrap();
        prop_assert!(same(&ours, &v), "{text}");
        prop_assert_eq!(ours.span.start, 0);
        prop_assert_eq!(ours.span.end, text.len());
    }

    #[test]
    fn spans_slice_back_to_the_same_value(v in json_value()) {
        let text = serde_json::to_string_pretty(&v).unwrap();
        let ours = json::parse(text.as_bytes()).unwrap();
        if let Kind::Object(members) = &ours.kind {
            for m in members {
                let again = json::parse(&text.as_bytes()[m.value.span.range()]).unwrap();
                prop_assert!(same(&again, &v[&m.key]), "{}", m.key);
                let key = json::parse(&text.as_bytes()[m.key_span.range()]).unwrap();
                prop_assert_eq!(key.as_str(), Some(m.key.as_str()));
            }
        }
    }

    #[test]
    fn accepts_everything_serde_json_accepts(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        // Go (and so cni-fix) accepts a superset of what serde_json accepts: invalid UTF-8
        // and lone surrogates inside strings, and deeper nesting.
        if serde_json::from_slice::<serde_json::Value>(&bytes).is_ok() {
            prop_assert!(json::parse(&bytes).is_ok());
        }
    }

    #[test]
    fn libcni_model_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for generation in [LibcniGeneration::Classic, LibcniGeneration::V1_2, LibcniGeneration::V1_3] {
            let _ = parse_conflist(&bytes, generation, None);
        }
        let _ = parse_single_conf(&bytes);
    }

    #[test]
    fn conflist_mutations_never_panic(
        base in prop::sample::select(vec![
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":{"type":"host-local"}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
            r#"{"cniVersion":"0.3.1","name":"n","type":"bridge","dns":{"nameservers":["10.0.0.1"]}}"#,
        ]),
        cut in 0usize..200,
        insert in prop::collection::vec(any::<u8>(), 0..4),
    ) {
        let mut bytes = base.as_bytes().to_vec();
        let at = cut.min(bytes.len());
        bytes.splice(at..at, insert);
        let _ = parse_conflist(&bytes, LibcniGeneration::Classic, None);
        let _ = parse_single_conf(&bytes);
    }

    #[test]
    fn containerd_versions(a in 0u64..100, b in 0u64..100, c in 0u64..1000, v in any::<bool>(),
                           suffix in prop::sample::select(vec!["", "~ds1", "-0ubuntu1~22.04.1", "+unknown", "-6-gdb40e2128"])) {
        let raw = format!("{}{a}.{b}.{c}{suffix}", if v { "v" } else { "" });
        let parsed = ContainerdVersion::parse(&raw).unwrap();
        prop_assert_eq!(parsed.release, semver::Version::new(a, b, c));
        let line = format!("containerd github.com/containerd/containerd {raw} deadbeef\n");
        prop_assert_eq!(ContainerdVersion::from_version_output(&line).unwrap().release, semver::Version::new(a, b, c));
    }

    #[test]
    fn version_parsing_never_panics(s in "\\PC{0,20}") {
        let _ = ContainerdVersion::parse(&s);
        let _ = ContainerdVersion::from_version_output(&s);
        let _ = cni_fix_core::PluginsRelease::parse(&s);
        let _ = cni_fix_core::spec::parse_libcni_version(&s);
    }
}

mod edits {
    use cni_fix_core::conf::{parse_conflist, parse_single_conf, FileForm, LibcniGeneration};
    use cni_fix_core::edit::{apply_edits, version_edits};
    use cni_fix_core::SpecVersion;
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{json, Map, Value};

    fn version_string() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(SpecVersion::ALL.map(|v| v.as_str().to_string()).to_vec()),
            prop::sample::select(vec![
                "1.0".to_string(),
                "v1.0.0".into(),
                "1.0.1".into(),
                "".into()
            ]),
        ]
    }

    fn extra() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::vec(
            (
                "[a-zA-Z][a-zA-Z0-9]{0,8}",
                prop_oneof![
                    any::<bool>().prop_map(Value::Bool),
                    any::<i32>().prop_map(|n| json!(n)),
                    "\\PC{0,10}".prop_map(Value::String),
                    Just(json!({"nested": [1, "two", null]})),
                ],
            ),
            0..4,
        )
        .prop_map(|kv| {
            kv.into_iter()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("cniversion")
                        && !k.eq_ignore_ascii_case("type")
                        && k != "name"
                        && k != "plugins"
                        && k != "cniVersions"
                        && !k.eq_ignore_ascii_case("ipam")
                        && !k.eq_ignore_ascii_case("dns")
                        && !k.eq_ignore_ascii_case("capabilities")
                        && !k.eq_ignore_ascii_case("prevresult")
                })
                .collect()
        })
    }

    fn conflist() -> impl Strategy<Value = Value> {
        let plugin = (
            "[a-z][a-z-]{0,10}",
            prop::option::of(version_string()),
            extra(),
        )
            .prop_map(|(t, v, extra)| {
                let mut m = Map::new();
                m.insert("type".into(), json!(t));
                if let Some(v) = v {
                    m.insert("cniVersion".into(), json!(v));
                }
                m.extend(extra);
                Value::Object(m)
            });
        (
            "[a-z][a-z0-9-]{0,12}",
            prop::option::of(version_string()),
            prop::option::of(prop::collection::vec(version_string(), 0..4)),
            prop::collection::vec(plugin, 1..4),
            extra(),
            any::<bool>(),
        )
            .prop_map(|(name, version, versions, plugins, extra, version_last)| {
                let mut m = Map::new();
                if let (Some(v), false) = (&version, version_last) {
                    m.insert("cniVersion".into(), json!(v));
                }
                m.insert("name".into(), json!(name));
                if let Some(vs) = versions {
                    m.insert("cniVersions".into(), json!(vs));
                }
                m.extend(extra);
                m.insert("plugins".into(), Value::Array(plugins));
                if let (Some(v), true) = (&version, version_last) {
                    m.insert("cniVersion".into(), json!(v));
                }
                Value::Object(m)
            })
    }

    /// Lay a document out: compact, or indented with two spaces, four spaces or a tab; LF or CRLF.
    fn layout(v: &Value, style: u8, crlf: bool, trailing_newline: bool) -> String {
        let mut text = match style {
            0 => serde_json::to_string(v).unwrap(),
            n => {
                let indent: &[u8] = match n {
                    1 => b"  ",
                    2 => b"    ",
                    _ => b"\t",
                };
                let mut buf = Vec::new();
                let mut ser = serde_json::Serializer::with_formatter(
                    &mut buf,
                    serde_json::ser::PrettyFormatter::with_indent(indent),
                );
                v.serialize(&mut ser).unwrap();
                String::from_utf8(buf).unwrap()
            }
        };
        if trailing_newline {
            text.push('\n');
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        text
    }

    /// The document without the keys a version fix may change.
    fn strip_versions(mut v: Value, single: bool) -> Value {
        let o = v.as_object_mut().unwrap();
        o.retain(|k, _| {
            !(k == "cniVersion"
                || k == "cniVersions"
                || (single && k.eq_ignore_ascii_case("cniversion")))
        });
        if let Some(Value::Array(plugins)) = o.get_mut("plugins") {
            for p in plugins {
                if let Some(po) = p.as_object_mut() {
                    po.retain(|k, _| !k.eq_ignore_ascii_case("cniversion"));
                }
            }
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn conflist_fixes_are_minimal_and_idempotent(
            doc in conflist(),
            style in 0u8..4,
            crlf in any::<bool>(),
            trailing in any::<bool>(),
            target in prop::sample::select(SpecVersion::ALL.to_vec()),
        ) {
            let text = layout(&doc, style, crlf, trailing);
            let edits = version_edits(text.as_bytes(), FileForm::ConfList, target).unwrap();
            let out = apply_edits(text.as_bytes(), &edits).unwrap();
            let out_text = String::from_utf8(out.clone()).unwrap();

            // libcni reads the result as the same network at the target version.
            let net = parse_conflist(&out, LibcniGeneration::Classic, None).unwrap();
            prop_assert_eq!(net.cni_version.as_str(), target.as_str());
            let negotiated = parse_conflist(&out, LibcniGeneration::V1_2, None).unwrap();
            prop_assert_eq!(negotiated.cni_version.as_str(), target.as_str(), "cniVersions agrees");
            for p in &net.plugins {
                prop_assert!(p.cni_version().is_empty() || p.cni_version() == target.as_str());
            }

            // Nothing else changed.
            let before: Value = serde_json::from_str(&text).unwrap();
            let after: Value = serde_json::from_str(&out_text).unwrap();
            prop_assert_eq!(strip_versions(before.clone(), false), strip_versions(after.clone(), false));
            if let (Some(Value::Array(old)), Some(Value::Array(new))) = (before.get("cniVersions"), after.get("cniVersions")) {
                prop_assert!(new.iter().all(|v| old.contains(v) || v == &json!(target.as_str())));
            }
            // At most one line more, in the file's own line endings; the ending of the file kept.
            prop_assert!(out_text.lines().count() <= text.lines().count() + 1);
            prop_assert_eq!(out_text.ends_with('\n'), text.ends_with('\n'));
            if !crlf {
                prop_assert!(!out_text.contains('\r'));
            } else {
                prop_assert_eq!(out_text.matches('\n').count(), out_text.matches("\r\n").count());
            }

            // A second run changes nothing.
            prop_assert!(version_edits(&out, FileForm::ConfList, target).unwrap().is_empty());
        }

        #[test]
        fn single_conf_fixes(
            name in "[a-z][a-z0-9-]{0,12}",
            version in prop::option::of(version_string()),
            key in prop::sample::select(vec!["cniVersion", "CNIVersion", "cniversion"]),
            extra in extra(),
            style in 0u8..4,
            target in prop::sample::select(SpecVersion::ALL.to_vec()),
        ) {
            let mut m = Map::new();
            if let Some(v) = &version {
                m.insert(key.to_string(), json!(v));
            }
            m.insert("name".into(), json!(name));
            m.insert("type".into(), json!("bridge"));
            m.extend(extra);
            let doc = Value::Object(m);
            let text = layout(&doc, style, false, true);
            let edits = version_edits(text.as_bytes(), FileForm::SingleConf, target).unwrap();
            let out = apply_edits(text.as_bytes(), &edits).unwrap();
            let net = parse_single_conf(&out).unwrap();
            prop_assert_eq!(net.cni_version.as_str(), target.as_str());
            let after: Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(strip_versions(doc, true), strip_versions(after, true));
            prop_assert!(version_edits(&out, FileForm::SingleConf, target).unwrap().is_empty());
        }
    }
}

mod workloads {
    use cni_fix_core::workloads::{scan, Input};
    use proptest::prelude::*;

    fn pod(host_path: &str, mount: &str, sub_path: &str) -> String {
        format!(
            "kind: Pod\nmetadata: {{name: p, namespace: n}}\nspec:\n  containers:\n  - name: c\n    volumeMounts:\n    - {{name: v, mountPath: '{mount}', subPath: '{sub_path}'}}\n  volumes:\n  - {{name: v, hostPath: {{path: '{host_path}'}}}}\n"
        )
    }

    fn ids(yaml: &str) -> Vec<&'static str> {
        let r = scan(&[Input {
            name: "p.yaml".into(),
            bytes: yaml.as_bytes().to_vec(),
        }]);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let mut ids: Vec<_> = r
            .workloads
            .iter()
            .flat_map(|w| &w.findings)
            .map(|f| f.id.as_str())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Respell a path: doubled slashes, `.` components, a trailing slash, `/run` for
    /// `/var/run`.
    fn respell(path: &str, how: u8) -> String {
        let p = match how % 4 {
            0 => path.replace('/', "//"),
            1 => path.replacen('/', "/./", 2),
            2 => format!("{path}/"),
            _ => path.replacen("/var/run", "/run", 1),
        };
        if p.is_empty() {
            "/".into()
        } else {
            p
        }
    }

    proptest! {
        /// How a host path is spelled never changes what is found.
        #[test]
        fn spelling_of_host_paths_never_matters(
            base in prop_oneof![
                Just("/var/run/docker.sock"), Just("/var/run"), Just("/var"), Just("/"),
                Just("/var/lib/docker/containers"), Just("/var/lib"), Just("/var/log"),
                Just("/run/containerd/containerd.sock"),
            ],
            sub in prop_oneof![Just(""), Just("docker.sock"), Just("docker/containers"), Just("run/docker.sock")],
            how in 0u8..4,
        ) {
            let plain = ids(&pod(base, "/host", sub));
            let other = ids(&pod(&respell(base, how), "/host", sub));
            prop_assert_eq!(plain, other);
        }

        /// Whatever the input, scanning ends with a report: never a panic, and every error
        /// names its input.
        #[test]
        fn any_input_gives_a_report(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                    text in "[-a-z: {}\\[\\],&*!|>\n'\"#]{0,200}") {
            for input in [bytes, text.into_bytes()] {
                let r = scan(&[Input { name: "in".into(), bytes: input }]);
                for e in &r.errors {
                    prop_assert_eq!(e.file.as_str(), "in");
                    prop_assert!(!e.message.is_empty());
                }
            }
        }
    }
}

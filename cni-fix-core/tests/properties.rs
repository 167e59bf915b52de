//! Properties that hold for all inputs.

use cni_fix_core::conf::{parse_conflist, parse_single_conf, LibcniGeneration};
use cni_fix_core::json::{self, Kind, Value};
use cni_fix_core::ContainerdVersion;
use proptest::prelude::*;

/// Compare our tree with serde_json's for a document both accept.
fn same(ours: &Value, theirs: &serde_json::Value) -> bool {
    match (&ours.kind, theirs) {
        (Kind::Null, serde_json::Value::Null) => true,
        (Kind::Bool(a), serde_json::Value::Bool(b)) => a == b,
        (Kind::Number(n), serde_json::Value::Number(m)) => {
            n.text.parse::<f64>().ok() == m.as_f64() || n.text == m.to_string()
        }
        (Kind::String(a), serde_json::Value::String(b)) => a == b,
        (Kind::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Kind::Object(a), serde_json::Value::Object(b)) => {
            // serde_json keeps the last of duplicate keys; so does a Go map.
            b.iter()
                .all(|(k, v)| ours.get(k).is_some_and(|o| same(o, v)))
                && a.iter().all(|m| b.contains_key(&m.key))
        }
        _ => false,
    }
}

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

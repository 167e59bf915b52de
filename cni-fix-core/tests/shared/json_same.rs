//! Whether cni-fix's JSON tree and serde_json's say the same, for a document both accept.
//! Shared by the property tests and the `json` fuzz target (`fuzz/`).

use cni_fix_core::json::{Kind, Value};

/// Compare our tree with serde_json's for a document both accept.
pub fn same(ours: &Value, theirs: &serde_json::Value) -> bool {
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

//! Go's `encoding/json` decoding of a plugin object into libcni's `types.NetConf`, and Go's
//! map orders: which fields are typed, which errors come first, and in which order a
//! re-marshalled map visits its keys.

use super::PluginConf;
use crate::json::{self, go_field_matches, Kind, Value};

/// Decode the raw document into Go's `map[string]interface{}`, as `ConfListFromBytes` does.
/// Returns `None` for JSON `null` (a nil map).
pub(super) fn decode_raw_map(doc: &Value) -> Result<Option<Vec<(&str, &Value)>>, String> {
    match &doc.kind {
        Kind::Null => Ok(None),
        Kind::Object(members) => {
            if let Some(n) = doc.first_overflowing_number() {
                return Err(format!(
                    "json: cannot unmarshal number {} into Go value of type float64",
                    n.text
                ));
            }
            Ok(Some(go_map(members)))
        }
        other => Err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            other.go_json_word()
        )),
    }
}

pub(super) fn lookup<'v>(raw: &[(&str, &'v Value)], key: &str) -> Option<&'v Value> {
    raw.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Go's `encoding/json` decoding of an object into `types.NetConf`.
///
/// `members` are visited in the order given: document order for a file's own bytes, sorted
/// key order for a plugin object re-marshalled from a Go map. The first type error is
/// returned, as Go's `Unmarshal` returns its first saved error.
pub(super) fn decode_netconf<'v>(
    members: impl Iterator<Item = (&'v str, &'v Value)>,
) -> Result<PluginConf, String> {
    let mut out = PluginConf::default();
    let mut first_err: Option<String> = None;
    let mut save = |e: String| {
        if first_err.is_none() {
            first_err = Some(e);
        }
    };
    for (key, value) in members {
        if go_field_matches("delegate", key) {
            if let Some(t) = value.get("type").and_then(Value::as_str) {
                out.set_delegate_type(t.to_string());
            }
        }
        let field = [
            "cniVersion",
            "name",
            "type",
            "capabilities",
            "ipam",
            "dns",
            "prevResult",
        ]
        .into_iter()
        .find(|f| go_field_matches(f, key));
        let Some(field) = field else { continue };
        match field {
            "cniVersion" | "name" | "type" => match decode_string(value, "NetConf", field) {
                Ok(Some(s)) => match field {
                    "cniVersion" => out.set_cni_version(s.to_string()),
                    "name" => out.set_name(s.to_string()),
                    // Copied inline: a type takes no allocation.
                    _ => out.plugin_type = s.into(),
                },
                Ok(None) => {}
                Err(e) => save(e),
            },
            "capabilities" => check_capabilities(value, &mut save),
            "ipam" => decode_ipam(value, &mut out, &mut save),
            "dns" => check_dns(value, &mut save),
            _ => check_prev_result(value, &mut save),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `capabilities`: `map[string]bool`.
fn check_capabilities(value: &Value, save: &mut impl FnMut(String)) {
    match &value.kind {
        Kind::Null => {}
        Kind::Object(caps) => {
            for c in caps {
                if !matches!(c.value.kind, Kind::Bool(_) | Kind::Null) {
                    save(type_error(&c.value, "NetConf", "capabilities", "bool"));
                }
            }
        }
        _ => save(type_error(
            value,
            "NetConf",
            "capabilities",
            "map[string]bool",
        )),
    }
}

/// `ipam`: `types.IPAM`, whose `type` is the IPAM plugin.
fn decode_ipam(value: &Value, out: &mut PluginConf, save: &mut impl FnMut(String)) {
    match &value.kind {
        Kind::Null => {}
        Kind::Object(ms) => {
            for m in ms {
                if go_field_matches("type", &m.key) {
                    match decode_string(&m.value, "IPAM", "ipam.type") {
                        Ok(Some(s)) => out.set_ipam_type(s.to_string()),
                        Ok(None) => {}
                        Err(e) => save(e),
                    }
                }
            }
        }
        _ => save(type_error(value, "NetConf", "ipam", "types.IPAM")),
    }
}

/// `dns`: `types.DNS`, a string and three string lists.
fn check_dns(value: &Value, save: &mut impl FnMut(String)) {
    match &value.kind {
        Kind::Null => {}
        Kind::Object(ms) => {
            for m in ms {
                if go_field_matches("domain", &m.key) {
                    if let Err(e) = decode_string(&m.value, "DNS", "dns.domain") {
                        save(e);
                    }
                    continue;
                }
                let Some(list) = ["nameservers", "search", "options"]
                    .into_iter()
                    .find(|f| go_field_matches(f, &m.key))
                else {
                    continue;
                };
                let path = format!("dns.{list}");
                match &m.value.kind {
                    Kind::Null => {}
                    Kind::Array(items) => {
                        for item in items {
                            if let Err(e) = decode_string(item, "DNS", &path) {
                                save(e);
                            }
                        }
                    }
                    _ => save(type_error(&m.value, "DNS", &path, "[]string")),
                }
            }
        }
        _ => save(type_error(value, "NetConf", "dns", "types.DNS")),
    }
}

/// `prevResult`: `map[string]interface{}`, whose numbers must fit a float64.
fn check_prev_result(value: &Value, save: &mut impl FnMut(String)) {
    match &value.kind {
        Kind::Null => {}
        Kind::Object(_) => {
            if let Some(n) = value.first_overflowing_number() {
                save(format!(
                    "json: cannot unmarshal number {} into Go struct field NetConf.prevResult of type float64",
                    n.text
                ));
            }
        }
        _ => save(type_error(
            value,
            "NetConf",
            "prevResult",
            "map[string]interface {}",
        )),
    }
}

pub(super) fn type_error(value: &Value, strukt: &str, field: &str, ty: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field {strukt}.{field} of type {ty}",
        value.kind.go_json_word()
    )
}

/// A JSON value into a Go `string` field: strings assign, `null` leaves the field alone.
pub(super) fn decode_string<'v>(
    value: &'v Value,
    strukt: &str,
    field: &str,
) -> Result<Option<&'v str>, String> {
    match &value.kind {
        Kind::String(s) => Ok(Some(s)),
        Kind::Null => Ok(None),
        _ => Err(type_error(value, strukt, field, "string")),
    }
}

/// libcni's `ConfFromBytes` applied to a value: the plugin object decoded into `NetConf`, in
/// the given member order, and `type` required.
pub(super) fn conf_from_value<'v>(
    value: &'v Value,
    members_in_order: impl FnOnce(&'v [json::Member]) -> Vec<(&'v str, &'v Value)>,
) -> Result<PluginConf, String> {
    let conf = match &value.kind {
        Kind::Null => decode_netconf(std::iter::empty())?,
        Kind::Object(ms) => decode_netconf(members_in_order(ms).into_iter())?,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type types.NetConf",
                other.go_json_word()
            ))
        }
    };
    if conf.plugin_type.is_empty() {
        return Err("missing 'type'".to_string());
    }
    Ok(conf)
}

pub(super) fn document_order(ms: &[json::Member]) -> Vec<(&str, &Value)> {
    ms.iter().map(|m| (m.key.as_str(), &m.value)).collect()
}

/// An object's members as a Go map holds them: the last of duplicate keys wins. Keys stay
/// in the order they were first seen.
pub(super) fn go_map(ms: &[json::Member]) -> Vec<(&str, &Value)> {
    let mut out: Vec<(&str, &Value)> = Vec::with_capacity(ms.len());
    // A config's objects are small: below this, a search of what is kept beats hashing.
    const SMALL: usize = 16;
    if ms.len() <= SMALL {
        for m in ms {
            match out.iter_mut().find(|(k, _)| *k == m.key) {
                Some(kept) => kept.1 = &m.value,
                None => out.push((&m.key, &m.value)),
            }
        }
        return out;
    }
    let mut index: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(ms.len());
    for m in ms {
        match index.get(m.key.as_str()) {
            Some(&i) => out[i].1 = &m.value,
            None => {
                index.insert(&m.key, out.len());
                out.push((&m.key, &m.value));
            }
        }
    }
    out
}

/// The opening character of the first container at `depth` (the top level is depth 1), in
/// the order Go marshals a decoded document: map keys sorted, the last of duplicates kept.
pub(super) fn first_container_at_depth(doc: &Value, depth: usize) -> Option<char> {
    let mut stack: Vec<(&Value, usize)> = vec![(doc, 1)];
    while let Some((v, d)) = stack.pop() {
        let open = match &v.kind {
            Kind::Array(_) => '[',
            Kind::Object(_) => '{',
            _ => continue,
        };
        if d == depth {
            return Some(open);
        }
        match &v.kind {
            Kind::Array(items) => stack.extend(items.iter().rev().map(|i| (i, d + 1))),
            Kind::Object(ms) => {
                stack.extend(map_order(ms).into_iter().rev().map(|(_, v)| (v, d + 1)))
            }
            _ => {}
        }
    }
    None
}

/// The members of an object as Go re-marshals a decoded map: duplicates collapsed (last
/// wins), keys in byte order.
pub(super) fn map_order(ms: &[json::Member]) -> Vec<(&str, &Value)> {
    let mut out = go_map(ms);
    out.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out
}

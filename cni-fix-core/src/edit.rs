//! Minimal edits to a config's text, as data.
//!
//! A fix never re-serializes a file. It replaces the bytes of one value, or inserts one member
//! in the file's own indentation, separators and line endings, so key order, unknown keys,
//! spacing and the trailing newline stay byte for byte. [`apply_edits`] is a pure function.

use serde::Serialize;

use crate::conf::FileForm;
use crate::json::{self, go_field_matches, Kind, Member, Value};
use crate::spec::{parse_libcni_version, SpecVersion};

/// Replace `start..end` of the original bytes with `replacement` (an insertion when
/// `start == end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edit {
    /// Byte offset where the replaced range starts.
    pub start: usize,
    /// Byte offset where it ends.
    pub end: usize,
    /// The new text.
    pub replacement: String,
}

/// Why edits could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The text is not a config that libcni accepts.
    #[error("the file is not valid JSON: {0}")]
    Syntax(String),
    /// The document is not an object.
    #[error("the file is not a JSON object")]
    NotAnObject,
    /// Edits overlap or fall outside the text.
    #[error("edits overlap or fall outside the text")]
    BadEdits,
}

/// Apply edits to `original`. Edits must not overlap; their order does not matter.
pub fn apply_edits(original: &[u8], edits: &[Edit]) -> Result<Vec<u8>, EditError> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.end));
    let mut out = Vec::with_capacity(original.len() + 64);
    let mut at = 0;
    for e in sorted {
        if e.start < at || e.end < e.start || e.end > original.len() {
            return Err(EditError::BadEdits);
        }
        out.extend_from_slice(&original[at..e.start]);
        out.extend_from_slice(e.replacement.as_bytes());
        at = e.end;
    }
    out.extend_from_slice(&original[at..]);
    Ok(out)
}

fn quoted(v: SpecVersion) -> String {
    format!("\"{}\"", v.as_str())
}

/// The edits that make a network run at `target`:
///
/// - the network's `cniVersion` is set (or inserted as the first member, in the file's own
///   layout); in a `.conf` every key Go matches to the field is set;
/// - in a `.conflist`, plugin-level `cniVersion` keys (which libcni overrides) are set too, so
///   the file says one thing;
/// - a `cniVersions` list loses the entries above `target` or unreadable by libcni, so that
///   runtimes that negotiate from it (libcni 1.2 and later) pick `target` as well.
///
/// An empty result means the file already says `target` everywhere.
pub fn version_edits(
    bytes: &[u8],
    form: FileForm,
    target: SpecVersion,
) -> Result<Vec<Edit>, EditError> {
    let doc = json::parse(bytes).map_err(|e| EditError::Syntax(e.message))?;
    let members = doc.as_object().ok_or(EditError::NotAnObject)?;
    let mut edits = Vec::new();
    let want = quoted(target);
    let set = |edits: &mut Vec<Edit>, v: &Value| {
        if v.as_str() != Some(target.as_str()) {
            edits.push(Edit {
                start: v.span.start,
                end: v.span.end,
                replacement: want.clone(),
            });
        }
    };

    let top: Vec<&Member> = members
        .iter()
        .filter(|m| form.is_version_key(&m.key))
        .collect();
    if top.is_empty() {
        edits.push(insert_first_member(
            bytes,
            &doc,
            members,
            "cniVersion",
            &want,
        ));
    }
    for m in top {
        set(&mut edits, &m.value);
    }

    if form == FileForm::ConfList {
        for m in members.iter().filter(|m| m.key == "plugins") {
            if let Kind::Array(plugins) = &m.value.kind {
                for p in plugins {
                    for pm in p.as_object().unwrap_or(&[]) {
                        if go_field_matches("cniVersion", &pm.key) {
                            set(&mut edits, &pm.value);
                        }
                    }
                }
            }
        }
        for m in members.iter().filter(|m| m.key == "cniVersions") {
            if let Some(e) = trim_versions_list(bytes, &m.value, target) {
                edits.push(e);
            }
        }
    }
    Ok(edits)
}

/// An insertion of `"key": value` as the first member of `obj`, laid out like the member it
/// precedes: the same whitespace before it, the same `:` spacing.
fn insert_first_member(
    bytes: &[u8],
    obj: &Value,
    members: &[Member],
    key: &str,
    value: &str,
) -> Edit {
    let open = obj.span.start + 1;
    match members.first() {
        Some(first) => {
            // The line break and indentation of the first key's line (not any blank lines
            // before it), or the inline spacing of a one-line object.
            let lead = &bytes[open..first.key_span.start];
            let lead = match lead.iter().rposition(|&b| b == b'\n') {
                Some(i) => {
                    let eol_start = if i > 0 && lead[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    let mut l = lead[eol_start..=i].to_vec();
                    l.extend_from_slice(&lead[i + 1..]);
                    l
                }
                None => lead.to_vec(),
            };
            let lead = lead.as_slice();
            let colon = &bytes[first.key_span.end..first.value.span.start];
            Edit {
                start: first.key_span.start,
                end: first.key_span.start,
                replacement: format!(
                    "\"{key}\"{}{value},{}",
                    String::from_utf8_lossy(colon),
                    String::from_utf8_lossy(lead)
                ),
            }
        }
        None => Edit {
            start: open,
            end: open,
            replacement: format!("\"{key}\": {value}"),
        },
    }
}

/// The edit that drops from a `cniVersions` array the entries above `target` or that libcni
/// cannot parse, keeping the others' text and the array's separators; `None` when none go.
fn trim_versions_list(bytes: &[u8], list: &Value, target: SpecVersion) -> Option<Edit> {
    let Kind::Array(items) = &list.kind else {
        return None;
    };
    let cap = parse_libcni_version(target.as_str()).ok()?;
    let keep: Vec<&Value> = items
        .iter()
        .filter(|i| {
            i.as_str()
                .and_then(|s| parse_libcni_version(s).ok())
                .is_some_and(|v| v <= cap)
        })
        .collect();
    if keep.len() == items.len() {
        return None;
    }
    let text = |v: &Value| String::from_utf8_lossy(&bytes[v.span.range()]).into_owned();
    let sep = match items.as_slice() {
        [a, b, ..] => String::from_utf8_lossy(&bytes[a.span.end..b.span.start]).into_owned(),
        _ => ", ".to_string(),
    };
    let (open_ws, close_ws) = match (items.first(), items.last()) {
        (Some(f), Some(l)) => (
            String::from_utf8_lossy(&bytes[list.span.start + 1..f.span.start]).into_owned(),
            String::from_utf8_lossy(&bytes[l.span.end..list.span.end - 1]).into_owned(),
        ),
        _ => (String::new(), String::new()),
    };
    let body = if keep.is_empty() {
        quoted(target)
    } else {
        keep.iter().map(|v| text(v)).collect::<Vec<_>>().join(&sep)
    };
    Some(Edit {
        start: list.span.start,
        end: list.span.end,
        replacement: format!("[{open_ws}{body}{close_ws}]"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(text: &str, form: FileForm, v: SpecVersion) -> String {
        let edits = version_edits(text.as_bytes(), form, v).unwrap();
        String::from_utf8(apply_edits(text.as_bytes(), &edits).unwrap()).unwrap()
    }

    #[test]
    fn replaces_only_the_value() {
        let t = "{\n  \"cniVersion\" : \"1.0.0\",\n  \"name\": \"n\",\n  \"plugins\": [{\"type\": \"bridge\"}]\n}\n";
        assert_eq!(
            fix(t, FileForm::ConfList, SpecVersion::V0_4_0),
            t.replace("\"1.0.0\"", "\"0.4.0\"")
        );
        assert!(
            version_edits(t.as_bytes(), FileForm::ConfList, SpecVersion::V1_0_0)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn inserts_one_line_in_the_files_layout() {
        let t = "{\r\n\t\"name\":\"cbr0\",\r\n\t\"plugins\":[{\"type\":\"flannel\"}]\r\n}";
        assert_eq!(
            fix(t, FileForm::ConfList, SpecVersion::V0_3_1),
            "{\r\n\t\"cniVersion\":\"0.3.1\",\r\n\t\"name\":\"cbr0\",\r\n\t\"plugins\":[{\"type\":\"flannel\"}]\r\n}"
        );
        let compact = r#"{"name":"n","type":"bridge"}"#;
        assert_eq!(
            fix(compact, FileForm::SingleConf, SpecVersion::V1_0_0),
            r#"{"cniVersion":"1.0.0","name":"n","type":"bridge"}"#
        );
    }

    #[test]
    fn blank_lines_before_the_first_key_are_not_copied() {
        let t = "{\n \n \"name\": \"n\",\n \"plugins\": [{\"type\": \"a\"}]\n}\n";
        assert_eq!(
            fix(t, FileForm::ConfList, SpecVersion::V1_0_0),
            "{\n \n \"cniVersion\": \"1.0.0\",\n \"name\": \"n\",\n \"plugins\": [{\"type\": \"a\"}]\n}\n"
        );
    }

    #[test]
    fn plugin_level_and_folded_keys() {
        let t = r#"{"cniVersion":"0.3.1","name":"n","plugins":[{"type":"a","cniVersion":"0.2.0"},{"type":"b"}]}"#;
        assert_eq!(
            fix(t, FileForm::ConfList, SpecVersion::V1_0_0),
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a","cniVersion":"1.0.0"},{"type":"b"}]}"#
        );
        let conf = r#"{"CNIVersion":"0.3.1","type":"bridge"}"#;
        assert_eq!(
            fix(conf, FileForm::SingleConf, SpecVersion::V0_4_0),
            r#"{"CNIVersion":"0.4.0","type":"bridge"}"#
        );
        // In a conflist only the exact key is the network's version.
        let list = r#"{"CNIVersion":"x","name":"n","plugins":[{"type":"a"}]}"#;
        assert_eq!(
            fix(list, FileForm::ConfList, SpecVersion::V0_4_0),
            r#"{"cniVersion":"0.4.0","CNIVersion":"x","name":"n","plugins":[{"type":"a"}]}"#
        );
    }

    #[test]
    fn versions_list_is_trimmed_in_place() {
        let t = r#"{"cniVersion": "1.1.0", "cniVersions": [ "0.4.0", "1.0.0", "1.1.0" ], "name": "n", "plugins": [{"type": "a"}]}"#;
        assert_eq!(
            fix(t, FileForm::ConfList, SpecVersion::V1_0_0),
            r#"{"cniVersion": "1.0.0", "cniVersions": [ "0.4.0", "1.0.0" ], "name": "n", "plugins": [{"type": "a"}]}"#
        );
        let t = r#"{"cniVersions":["1.1.0","v2"],"name":"n","plugins":[{"type":"a"}]}"#;
        assert_eq!(
            fix(t, FileForm::ConfList, SpecVersion::V0_4_0),
            r#"{"cniVersion":"0.4.0","cniVersions":["0.4.0"],"name":"n","plugins":[{"type":"a"}]}"#
        );
    }

    #[test]
    fn overlapping_edits_are_refused() {
        let e = |s, e| Edit {
            start: s,
            end: e,
            replacement: String::new(),
        };
        assert_eq!(
            apply_edits(b"abcdef", &[e(1, 3), e(2, 4)]),
            Err(EditError::BadEdits)
        );
        assert_eq!(apply_edits(b"abc", &[e(2, 9)]), Err(EditError::BadEdits));
        assert_eq!(
            apply_edits(b"abcdef", &[e(4, 5), e(0, 1)]).unwrap(),
            b"bcdf"
        );
    }
}

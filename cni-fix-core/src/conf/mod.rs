//! libcni's reading of network config files, rule for rule.
//!
//! The functions here follow `libcni/conf.go` (`ConfFromBytes`, `ConfListFromBytes`,
//! `ConfListFromConf`) and Go's `encoding/json` decoding into `types.NetConf`: which files are
//! accepted, with which name, version and plugin types, and with which error text when not.
//! Three generations of libcni differ in ways that matter; see [`LibcniGeneration`].

use std::fmt;

use serde::Serialize;

use crate::json::{self, go_field_matches, Kind, Value};

mod netconf;

use crate::spec::parse_libcni_version;
use netconf::{
    conf_from_value, decode_raw_map, document_order, first_container_at_depth, lookup, map_order,
};

/// The libcni rule sets that containerd releases have shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LibcniGeneration {
    /// libcni up to v1.1.x (containerd 1.x): `cniVersions` ignored, `disableCheck` must be a
    /// bool, `plugins` required.
    Classic,
    /// libcni v1.2.x (containerd 2.0): `cniVersions` negotiation, `disableCheck` and
    /// `disableGC` also accept the strings "true"/"false".
    V1_2,
    /// libcni v1.3.x (containerd 2.1 and later): `plugins` may be absent, and plugin objects
    /// are also read from `<conf dir>/<network name>/*.conf` unless `loadOnlyInlinedPlugins`.
    V1_3,
}

impl LibcniGeneration {
    /// The generation of a libcni release.
    pub fn of(libcni: &semver::Version) -> LibcniGeneration {
        crate::libcni::libcni_release(libcni).generation
    }
}

/// How a file is read: `.conflist` as a list, `.conf` and `.json` as one plugin object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileForm {
    /// A `.conflist` file, read with `ConfListFromFile`.
    ConfList,
    /// A `.conf` or `.json` file, read with `ConfFromFile` and converted by `ConfListFromConf`.
    SingleConf,
}

impl FileForm {
    /// The form go-cni reads a file name in (`strings.HasSuffix(name, ".conflist")`), or `None`
    /// when libcni's `ConfFiles` does not list the name at all.
    pub fn of_name(name: &[u8]) -> Option<FileForm> {
        match go_ext(name) {
            b".conflist" => Some(FileForm::ConfList),
            b".conf" | b".json" => Some(FileForm::SingleConf),
            _ => None,
        }
    }

    /// Whether a top-level key of a file in this form is the one libcni reads as the
    /// network's `cniVersion`: exactly `cniVersion` in a list (decoded into a map), any key Go
    /// folds to the field in a `.conf` (decoded into a struct).
    pub(crate) fn is_version_key(self, key: &str) -> bool {
        match self {
            FileForm::ConfList => key == "cniVersion",
            FileForm::SingleConf => go_field_matches("cniVersion", key),
        }
    }
}

/// Go's `filepath.Ext`: the suffix from the final dot of the final element, or empty.
pub fn go_ext(name: &[u8]) -> &[u8] {
    for (i, &b) in name.iter().enumerate().rev() {
        if b == b'/' {
            break;
        }
        if b == b'.' {
            return &name[i..];
        }
    }
    b""
}

/// libcni's rejection of a config, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    /// libcni's error text, for example `error parsing configuration list: no name`.
    pub message: String,
    /// Byte offset of a JSON syntax error, when that is the cause.
    pub offset: Option<usize>,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfError {}

fn err(message: impl Into<String>) -> ConfError {
    ConfError {
        message: message.into(),
        offset: None,
    }
}

/// One plugin object of a network, as libcni decodes it into `types.NetConf`.
///
/// Compact, because a conf dir holds one per plugin object of every network: the type is
/// held inline (names up to 24 bytes take no allocation), and the fields most plugin objects
/// leave empty (`name`, `cniVersion`, `ipam.type`, `delegate.type`) share one optional box.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginConf {
    /// `type`: the plugin binary's name.
    pub plugin_type: PluginType,
    more: Option<Box<PluginMore>>,
}

/// A plugin's `type`, the name of its binary: a string held inline up to 24 bytes, so that the
/// plugin lists of a large conf dir take no allocation per plugin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PluginType(compact_str::CompactString);

impl PluginType {
    /// The type as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for PluginType {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for PluginType {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for PluginType {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for PluginType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl From<&str> for PluginType {
    fn from(s: &str) -> PluginType {
        PluginType(s.into())
    }
}

impl From<String> for PluginType {
    /// Copies a short type inline rather than keep the string's allocation.
    fn from(s: String) -> PluginType {
        PluginType(compact_str::CompactString::new(&s))
    }
}

impl From<PluginType> for String {
    fn from(t: PluginType) -> String {
        t.0.into_string()
    }
}

impl PartialEq<str> for PluginType {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PluginType {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for PluginType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// The fields of a plugin object that most leave empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct PluginMore {
    name: String,
    cni_version: String,
    ipam_type: String,
    delegate_type: Option<String>,
}

impl PluginConf {
    /// A plugin object with only a `type`.
    pub fn new(plugin_type: impl Into<PluginType>) -> PluginConf {
        PluginConf {
            plugin_type: plugin_type.into(),
            more: None,
        }
    }

    /// The plugin object's own `name`, shown by libcni in `plugin type="x" name="y" failed`;
    /// empty when it has none.
    pub fn name(&self) -> &str {
        self.more.as_ref().map_or("", |m| m.name.as_str())
    }

    /// The plugin object's own `cniVersion` (libcni overrides it with the list's); empty
    /// when it has none.
    pub fn cni_version(&self) -> &str {
        self.more.as_ref().map_or("", |m| m.cni_version.as_str())
    }

    /// `ipam.type`: the IPAM plugin the plugin will execute, or empty.
    pub fn ipam_type(&self) -> &str {
        self.more.as_ref().map_or("", |m| m.ipam_type.as_str())
    }

    /// `delegate.type`, when the object has a `delegate` object with a string `type` (the
    /// plugin flannel delegates to). Not part of libcni's `NetConf`; read for the chain.
    pub fn delegate_type(&self) -> Option<&str> {
        self.more.as_ref().and_then(|m| m.delegate_type.as_deref())
    }

    /// Set `name`.
    pub fn set_name(&mut self, name: String) {
        self.more_mut().name = name;
    }

    /// Set `cniVersion`.
    pub fn set_cni_version(&mut self, version: String) {
        self.more_mut().cni_version = version;
    }

    /// Set `ipam.type`.
    pub fn set_ipam_type(&mut self, ipam_type: String) {
        self.more_mut().ipam_type = ipam_type;
    }

    /// Set `delegate.type`.
    pub fn set_delegate_type(&mut self, delegate_type: String) {
        self.more_mut().delegate_type = Some(delegate_type);
    }

    fn more_mut(&mut self) -> &mut PluginMore {
        self.more.get_or_insert_with(Box::default)
    }
}

impl Serialize for PluginConf {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PluginConf", 5)?;
        st.serialize_field("type", self.plugin_type.as_str())?;
        st.serialize_field("name", self.name())?;
        st.serialize_field("cni_version", self.cni_version())?;
        st.serialize_field("ipam_type", self.ipam_type())?;
        st.serialize_field("delegate_type", &self.delegate_type())?;
        st.end()
    }
}

/// A network as libcni loads it: a list of plugins under one name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkList {
    /// The network name (`""` when a single `.conf` has none).
    pub name: String,
    /// The version libcni uses for the network: the declared `cniVersion`, or with libcni 1.2
    /// and later the one negotiated from `cniVersions`. Empty when none is declared.
    pub cni_version: String,
    /// Whether the file declares a top-level `cniVersion` key at all (for a single `.conf`,
    /// any key Go matches to the `cniVersion` field).
    pub declares_cni_version: bool,
    /// The declared `cniVersion` string, when present.
    pub declared_cni_version: Option<String>,
    /// The `cniVersions` list, when the file has one whose entries are all strings.
    pub cni_versions: Option<Vec<String>>,
    /// `disableCheck`.
    pub disable_check: bool,
    /// `loadOnlyInlinedPlugins` (libcni 1.3): plugins come only from the file itself.
    pub load_only_inlined_plugins: bool,
    /// The plugins, in chain order.
    pub plugins: Vec<PluginConf>,
}

/// Reads the plugin files libcni 1.3 appends from `<conf dir>/<network name>/*.conf`.
///
/// Given the network name, it returns each file's bytes in libcni's order, or an error text
/// in libcni's words.
pub type PluginDirReader<'a> = &'a dyn Fn(&str) -> Result<Vec<(String, Vec<u8>)>, String>;

fn syntax(context: &str, e: json::SyntaxError) -> ConfError {
    ConfError {
        message: format!("{context}{}", e.message),
        offset: Some(e.offset),
    }
}

/// libcni's `ConfListFromBytes` (`NetworkConfFromBytes` from v1.3): parse a `.conflist`.
///
/// With [`LibcniGeneration::V1_3`], `plugin_dir` supplies the plugin files that
/// `NetworkConfFromFile` appends; pass `None` to parse bytes alone, as `ConfListFromBytes`
/// does.
pub fn parse_conflist(
    bytes: &[u8],
    generation: LibcniGeneration,
    plugin_dir: Option<PluginDirReader<'_>>,
) -> Result<NetworkList, ConfError> {
    parse_conflist_at(bytes, generation, plugin_dir).map(|(list, _)| list)
}

/// The byte offset of the value of the network's `cniVersion` in a file of `form` (the last
/// of duplicate keys, the one Go keeps).
fn version_offset(doc: &Value, form: FileForm) -> Option<usize> {
    let members = doc.as_object()?;
    let m = members.iter().rev().find(|m| form.is_version_key(&m.key))?;
    Some(m.value.span.start)
}

/// [`parse_conflist`], with the byte offset of the list's own `cniVersion` value.
pub(crate) fn parse_conflist_at(
    bytes: &[u8],
    generation: LibcniGeneration,
    plugin_dir: Option<PluginDirReader<'_>>,
) -> Result<(NetworkList, Option<usize>), ConfError> {
    let doc = json::parse(bytes).map_err(|e| syntax("error parsing configuration list: ", e))?;
    let version_at = version_offset(&doc, FileForm::ConfList);
    let list = conflist_with_plugin_dir(&doc, generation, plugin_dir)?;
    Ok((list, version_at))
}

fn conflist_with_plugin_dir(
    doc: &Value,
    generation: LibcniGeneration,
    plugin_dir: Option<PluginDirReader<'_>>,
) -> Result<NetworkList, ConfError> {
    let mut list = conflist_from_value(doc, generation)?;
    if generation >= LibcniGeneration::V1_3 {
        if let Some(reader) = plugin_dir {
            if !list.load_only_inlined_plugins {
                for (_file, bytes) in reader(&list.name).map_err(err)? {
                    let value = json::parse(&bytes)
                        .map_err(|e| syntax("error parsing configuration: ", e))?;
                    let plugin = conf_from_value(&value, document_order)
                        .map_err(|e| err(format!("error parsing configuration: {e}")))?;
                    list.plugins.push(plugin);
                }
            }
            if list.plugins.is_empty() {
                return Err(err("no plugin configs found"));
            }
        }
    }
    Ok(list)
}

fn conflist_from_value(
    doc: &Value,
    generation: LibcniGeneration,
) -> Result<NetworkList, ConfError> {
    const CTX: &str = "error parsing configuration list: ";
    let raw = decode_raw_map(doc).map_err(|e| err(format!("{CTX}{e}")))?;
    let raw = raw.unwrap_or_default();

    let name = string_field(&raw, "name")?.ok_or_else(|| err(format!("{CTX}no name")))?;
    let declared = string_field(&raw, "cniVersion")?;
    let mut cni_version = declared.clone().unwrap_or_default();

    let mut cni_versions = None;
    if let Some(v) = lookup(&raw, "cniVersions") {
        let strings: Option<Vec<String>> = match &v.kind {
            Kind::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => None,
        };
        cni_versions = strings;
        if generation >= LibcniGeneration::V1_2 {
            cni_version = negotiate(v, &cni_version)?;
        }
    }

    let disable_check = read_bool(&raw, "disableCheck", generation)?;
    if generation >= LibcniGeneration::V1_2 {
        read_bool(&raw, "disableGC", generation)?;
    }
    let only_inlined = if generation >= LibcniGeneration::V1_3 {
        read_bool(&raw, "loadOnlyInlinedPlugins", generation)?
    } else {
        false
    };

    let mut list = NetworkList {
        name,
        cni_version,
        declares_cni_version: declared.is_some(),
        declared_cni_version: declared,
        cni_versions,
        disable_check,
        load_only_inlined_plugins: only_inlined,
        plugins: Vec::new(),
    };

    let Some(plugins) = plugin_items(&raw, generation, only_inlined)? else {
        return Ok(list);
    };
    // Exactly as many as there are: a conf dir of thousands of networks keeps them all.
    list.plugins.reserve_exact(plugins.len());
    for (i, p) in plugins.iter().enumerate() {
        let plugin = conf_from_value(p, map_order).map_err(|e| {
            err(format!(
                "failed to parse plugin config {i}: error parsing configuration: {e}"
            ))
        })?;
        list.plugins.push(plugin);
    }
    Ok(list)
}

/// A string field of the raw list: `None` when absent, libcni's type error otherwise.
fn string_field(raw: &[(&str, &Value)], key: &str) -> Result<Option<String>, ConfError> {
    const CTX: &str = "error parsing configuration list: ";
    match lookup(raw, key) {
        None => Ok(None),
        Some(v) => match &v.kind {
            Kind::String(s) => Ok(Some(s.clone())),
            other => Err(err(format!(
                "{CTX}invalid {key} type {}",
                other.go_type_name()
            ))),
        },
    }
}

/// The list's `plugins`, or `None` when libcni 1.3 accepts a list without them.
fn plugin_items<'v>(
    raw: &[(&str, &'v Value)],
    generation: LibcniGeneration,
    only_inlined: bool,
) -> Result<Option<&'v [Value]>, ConfError> {
    const CTX: &str = "error parsing configuration list: ";
    let plugins = match lookup(raw, "plugins") {
        None if generation >= LibcniGeneration::V1_3 => {
            if only_inlined {
                return Err(err(format!(
                    "{CTX}`loadOnlyInlinedPlugins` is true, and no 'plugins' key"
                )));
            }
            return Ok(None);
        }
        None => return Err(err(format!("{CTX}no 'plugins' key"))),
        Some(v) => match &v.kind {
            Kind::Array(items) => items,
            other => {
                return Err(err(format!(
                    "{CTX}invalid 'plugins' type {}",
                    other.go_type_name()
                )))
            }
        },
    };
    if plugins.is_empty() {
        return Err(err(format!("{CTX}no plugins in list")));
    }
    Ok(Some(plugins))
}

/// libcni 1.2's `cniVersions` negotiation: the highest listed version not above 1.1.0.
fn negotiate(v: &Value, cni_version: &str) -> Result<String, ConfError> {
    const CTX: &str = "error parsing configuration list: ";
    let current = (1, 1, 0);
    let Kind::Array(items) = &v.kind else {
        // libcni formats the nil slice, not the value: the type is always []interface {}.
        return Err(err(format!(
            "{CTX}invalid type for cniVersions: []interface {{}}"
        )));
    };
    let mut vs: Vec<(String, (i64, i64, i64))> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else {
            return Err(err(format!(
                "{CTX}invalid type for cniVersions index {i}: {}",
                item.kind.go_type_name()
            )));
        };
        let parsed = parse_libcni_version(s).map_err(|e| {
            err(format!(
                "{CTX}invalid cniVersions entry {s} at index {i}: {e}"
            ))
        })?;
        if parsed <= current {
            vs.push((s.to_string(), parsed));
        }
    }
    if !cni_version.is_empty() {
        let parsed = parse_libcni_version(cni_version)
            .map_err(|e| err(format!("{CTX}invalid cniVersion {cni_version}: {e}")))?;
        if parsed <= current {
            vs.push((cni_version.to_string(), parsed));
        }
    }
    // Go's slices.SortFunc is not stable: spellings that compare equal (`1.0`, `1.0.0`) may
    // end in either order there. cni-fix keeps the one listed last.
    vs.sort_by_key(|v| v.1);
    Ok(vs
        .pop()
        .map(|(s, _)| s)
        .unwrap_or_else(|| cni_version.to_string()))
}

fn read_bool(
    raw: &[(&str, &Value)],
    key: &str,
    generation: LibcniGeneration,
) -> Result<bool, ConfError> {
    const CTX: &str = "error parsing configuration list: ";
    let Some(v) = lookup(raw, key) else {
        return Ok(false);
    };
    match &v.kind {
        Kind::Bool(b) => Ok(*b),
        Kind::String(s) if generation >= LibcniGeneration::V1_2 => {
            match s.to_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                lower => Err(err(format!("{CTX}invalid value {lower:?} for {key}"))),
            }
        }
        other if generation >= LibcniGeneration::V1_2 => Err(err(format!(
            "{CTX}invalid type {} for {key}",
            other.go_type_name()
        ))),
        other => Err(err(format!(
            "{CTX}invalid {key} type {}",
            other.go_type_name()
        ))),
    }
}

/// A single-plugin `.conf`/`.json` file, loaded as go-cni loads it: `ConfFromFile`, then
/// `ConfListFromConf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleConfError {
    /// `ConfFromBytes` rejected the file.
    Conf(ConfError),
    /// `ConfListFromConf` could not convert it.
    Convert(ConfError),
}

impl SingleConfError {
    /// The libcni error.
    pub fn inner(&self) -> &ConfError {
        match self {
            SingleConfError::Conf(e) | SingleConfError::Convert(e) => e,
        }
    }
}

/// libcni's `ConfFromBytes` followed by `ConfListFromConf`: a `.conf` or `.json` file.
pub fn parse_single_conf(bytes: &[u8]) -> Result<NetworkList, SingleConfError> {
    parse_single_conf_at(bytes).map(|(list, _)| list)
}

/// [`parse_single_conf`], with the byte offset of the value of the key Go reads as
/// `cniVersion`.
pub(crate) fn parse_single_conf_at(
    bytes: &[u8],
) -> Result<(NetworkList, Option<usize>), SingleConfError> {
    let doc = json::parse(bytes)
        .map_err(|e| SingleConfError::Conf(syntax("error parsing configuration: ", e)))?;
    let version_at = version_offset(&doc, FileForm::SingleConf);
    single_conf_from_value(&doc).map(|list| (list, version_at))
}

fn single_conf_from_value(doc: &Value) -> Result<NetworkList, SingleConfError> {
    let conf = conf_from_value(doc, document_order)
        .map_err(|e| SingleConfError::Conf(err(format!("error parsing configuration: {e}"))))?;
    let declares = doc
        .as_object()
        .map(|ms| {
            ms.iter()
                .any(|m| FileForm::SingleConf.is_version_key(&m.key))
        })
        .unwrap_or(false);
    // ConfListFromConf: decode the bytes into a map, wrap them in a list, and parse that.
    let raw = decode_raw_map(doc).map_err(|e| SingleConfError::Convert(err(e)))?;
    debug_assert!(raw.is_some(), "a decoded NetConf is an object");
    // The wrapper puts the object two levels deeper: a container at depth MAX_DEPTH - 1 of
    // the file exceeds Go's limit when the list is parsed again.
    if let Some(open) = first_container_at_depth(doc, json::MAX_DEPTH - 1) {
        return Err(SingleConfError::Convert(err(format!(
            "error parsing configuration list: invalid character '{open}' exceeded max depth"
        ))));
    }
    let plugin = conf_from_value(doc, map_order).map_err(|e| {
        SingleConfError::Convert(err(format!(
            "failed to parse plugin config 0: error parsing configuration: {e}"
        )))
    })?;
    // The converted list never has `cniVersions` or the generation-specific keys, so every
    // libcni generation reads it alike.
    Ok(NetworkList {
        name: conf.name().to_string(),
        cni_version: conf.cni_version().to_string(),
        declares_cni_version: declares,
        declared_cni_version: declares.then(|| conf.cni_version().to_string()),
        cni_versions: None,
        disable_check: false,
        load_only_inlined_plugins: false,
        plugins: vec![plugin],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use LibcniGeneration::*;

    fn list(s: &str) -> Result<NetworkList, String> {
        parse_conflist(s.as_bytes(), Classic, None).map_err(|e| e.message)
    }

    /// A conf dir holds one `PluginConf` per plugin object: a type and an optional box, with
    /// the rarer fields behind the box and read back as they were set.
    #[test]
    fn plugin_conf_is_compact_and_keeps_its_fields() {
        assert!(std::mem::size_of::<PluginConf>() <= 32);
        let l = list(
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"portmap"},
            {"type":"flannel","name":"f","cniVersion":"0.3.1","ipam":{"type":"host-local"},
             "delegate":{"type":"ipvlan"}}]}"#,
        )
        .unwrap();
        let (bare, full) = (&l.plugins[0], &l.plugins[1]);
        assert_eq!(bare, &PluginConf::new("portmap"));
        assert_eq!(
            (bare.name(), bare.cni_version(), bare.ipam_type()),
            ("", "", "")
        );
        assert_eq!(bare.delegate_type(), None);
        assert_eq!(full.plugin_type, "flannel");
        assert_eq!((full.name(), full.cni_version()), ("f", "0.3.1"));
        assert_eq!(
            (full.ipam_type(), full.delegate_type()),
            ("host-local", Some("ipvlan"))
        );
        assert_eq!(
            serde_json::to_value(full).unwrap(),
            serde_json::json!({"type": "flannel", "name": "f", "cni_version": "0.3.1",
                "ipam_type": "host-local", "delegate_type": "ipvlan"})
        );
    }

    fn conf(s: &str) -> Result<NetworkList, String> {
        parse_single_conf(s.as_bytes()).map_err(|e| e.inner().message.clone())
    }

    #[test]
    fn conflist_errors_are_libcnis() {
        assert_eq!(
            list(r#"{"plugins":[]}"#).unwrap_err(),
            "error parsing configuration list: no name"
        );
        assert_eq!(
            list(r#"{"name":5}"#).unwrap_err(),
            "error parsing configuration list: invalid name type float64"
        );
        assert_eq!(
            list(r#"{"name":"n","cniVersion":1}"#).unwrap_err(),
            "error parsing configuration list: invalid cniVersion type float64"
        );
        assert_eq!(
            list(r#"{"name":"n","disableCheck":"true","plugins":[{"type":"x"}]}"#).unwrap_err(),
            "error parsing configuration list: invalid disableCheck type string"
        );
        assert_eq!(
            list(r#"{"name":"n"}"#).unwrap_err(),
            "error parsing configuration list: no 'plugins' key"
        );
        assert_eq!(
            list(r#"{"name":"n","plugins":{}}"#).unwrap_err(),
            "error parsing configuration list: invalid 'plugins' type map[string]interface {}"
        );
        assert_eq!(
            list(r#"{"name":"n","plugins":[]}"#).unwrap_err(),
            "error parsing configuration list: no plugins in list"
        );
        assert_eq!(
            list(r#"{"name":"n","plugins":[{"type":"a"},{}]}"#).unwrap_err(),
            "failed to parse plugin config 1: error parsing configuration: missing 'type'"
        );
        assert_eq!(
            list(r#"[1]"#).unwrap_err(),
            "error parsing configuration list: json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert_eq!(
            list("null").unwrap_err(),
            "error parsing configuration list: no name"
        );
        assert_eq!(
            list(r#"{"name":"n","plugins":[{"type":"a","ipam":"host-local"}]}"#).unwrap_err(),
            "failed to parse plugin config 0: error parsing configuration: json: cannot unmarshal string into Go struct field NetConf.ipam of type types.IPAM"
        );
        assert_eq!(
            list(r#"{"name":"n","x":1e999,"plugins":[{"type":"a"}]}"#).unwrap_err(),
            "error parsing configuration list: json: cannot unmarshal number 1e999 into Go value of type float64"
        );
    }

    #[test]
    fn conflist_accepts_what_libcni_accepts() {
        let l = list(
            r#"{"name":"bad name!","plugins":[{"TYPE":"bridge","ipam":{"Type":"host-local"}}]}"#,
        )
        .unwrap();
        assert_eq!(l.name, "bad name!");
        assert_eq!(l.cni_version, "");
        assert!(!l.declares_cni_version);
        assert_eq!(l.plugins[0].plugin_type, "bridge");
        assert_eq!(l.plugins[0].ipam_type(), "host-local");
        // Duplicate keys: the last wins, at the top level and within plugins.
        let l = list(
            r#"{"name":"a","name":"b","cniVersion":"0.3.1","plugins":[{"type":"x","type":"y"}]}"#,
        )
        .unwrap();
        assert_eq!(
            (l.name.as_str(), l.plugins[0].plugin_type.as_str()),
            ("b", "y")
        );
        // Plugins are re-marshalled from a map: keys sorted, so "type" beats "Type".
        let l = list(r#"{"name":"a","plugins":[{"type":"lower","Type":"upper"}]}"#).unwrap();
        assert_eq!(l.plugins[0].plugin_type, "lower");
        // A null type is no type; a null key leaves the field alone.
        assert!(list(r#"{"name":"a","plugins":[{"type":null}]}"#).is_err());
    }

    #[test]
    fn single_conf_rules() {
        let c = conf(r#"{"cniVersion":"0.2.0","name":"mynet","type":"bridge"}"#).unwrap();
        assert_eq!(
            (c.name.as_str(), c.cni_version.as_str()),
            ("mynet", "0.2.0")
        );
        // Document order for the file itself: the later "Type" wins.
        let c = conf(r#"{"type":"lower","Type":"upper"}"#).unwrap();
        assert_eq!(
            c.plugins[0].plugin_type, "lower",
            "the list's plugin is re-read in map order"
        );
        assert_eq!(
            conf(r#"{"name":"x"}"#).unwrap_err(),
            "error parsing configuration: missing 'type'"
        );
        assert_eq!(
            conf(r#"{"type":5}"#).unwrap_err(),
            "error parsing configuration: json: cannot unmarshal number into Go struct field NetConf.type of type string"
        );
        assert_eq!(
            conf("[]").unwrap_err(),
            "error parsing configuration: json: cannot unmarshal array into Go value of type types.NetConf"
        );
        // A conflist written into a .conf has no type.
        assert_eq!(
            conf(r#"{"name":"n","plugins":[{"type":"bridge"}]}"#).unwrap_err(),
            "error parsing configuration: missing 'type'"
        );
        // A case-folded cniVersion key counts for a single conf.
        let c = conf(r#"{"CNIVERSION":"1.0.0","type":"x"}"#).unwrap();
        assert_eq!(c.cni_version, "1.0.0");
        assert!(c.declares_cni_version);
        // Overflowing numbers outside the struct's fields fail only at conversion.
        assert_eq!(
            conf(r#"{"type":"x","mtu":1e400}"#).unwrap_err(),
            "json: cannot unmarshal number 1e400 into Go value of type float64"
        );
    }

    #[test]
    fn a_conf_nested_near_the_limit_fails_its_conversion() {
        // Go accepts the file (depth 10000) but not the list wrapped around it (10002).
        let deep = |d: usize| {
            format!(
                "{{\"type\":\"x\",\"z\":{}{},\"a\":{{}}}}",
                "[".repeat(d),
                "]".repeat(d)
            )
        };
        assert_eq!(
            conf(&deep(9_999)).unwrap_err(),
            "error parsing configuration list: invalid character '[' exceeded max depth"
        );
        assert!(conf(&deep(9_997)).is_ok());
        assert!(list(&format!(
            "{{\"name\":\"n\",\"x\":{}{},\"plugins\":[{{\"type\":\"a\"}}]}}",
            "[".repeat(9_999),
            "]".repeat(9_999)
        ))
        .is_ok());
    }

    #[test]
    fn generations_differ() {
        let text = br#"{"name":"n","cniVersion":"1.0.0","cniVersions":["0.4.0","1.1.0","2.0.0"],"disableCheck":"True","plugins":[{"type":"x"}]}"#;
        assert!(parse_conflist(text, Classic, None).is_err());
        let l = parse_conflist(text, V1_2, None).unwrap();
        assert_eq!(l.cni_version, "1.1.0");
        assert!(l.disable_check);
        assert_eq!(
            parse_conflist(br#"{"name":"n","cniVersions":["x"],"plugins":[{"type":"x"}]}"#, V1_2, None)
                .unwrap_err()
                .message,
            "error parsing configuration list: invalid cniVersions entry x at index 0: failed to convert major version part \"x\""
        );
        // v1.3: plugins may live in <conf dir>/<name>/*.conf.
        let reader = |name: &str| -> Result<Vec<(String, Vec<u8>)>, String> {
            assert_eq!(name, "n");
            Ok(vec![("a.conf".into(), br#"{"type":"portmap"}"#.to_vec())])
        };
        let l = parse_conflist(br#"{"name":"n"}"#, V1_3, Some(&reader)).unwrap();
        assert_eq!(l.plugins[0].plugin_type, "portmap");
        assert!(parse_conflist(br#"{"name":"n"}"#, V1_2, Some(&reader)).is_err());
    }

    #[test]
    fn go_ext_is_last_dot() {
        assert_eq!(
            FileForm::of_name(b"10-x.conflist"),
            Some(FileForm::ConfList)
        );
        assert_eq!(FileForm::of_name(b"10-x.conflist.bak"), None);
        assert_eq!(FileForm::of_name(b"10-x.CONFLIST"), None);
        assert_eq!(FileForm::of_name(b".conf"), Some(FileForm::SingleConf));
        assert_eq!(FileForm::of_name(b"x.json"), Some(FileForm::SingleConf));
    }
}

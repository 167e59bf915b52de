//! Calling a network's plugins as the runtime's libcni does (libcni `libcni/api.go`,
//! `pkg/invoke`, at the release the runtime vendors): the plugin found in `CNI_PATH`, the
//! config with `name`, `cniVersion`, `prevResult` and `runtimeConfig` injected and marshalled
//! as Go marshals a map, the `CNI_*` environment, the result read and converted per release,
//! the version checks CHECK and DEL make, and the errors in libcni's words.

// A step's error is the report's data, made once per failed plugin call; boxing it would only
// move the allocation.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use semver::Version;
use serde::Serialize;
use serde_json::{Map, Value};

use super::result::{CniResult, Family};
use super::sandbox;
use crate::libcni::Behaviour;
use crate::probe::ProbeError;
use crate::rules::runtime_text;
use crate::runtime::{CniHost, RuntimeLine};
use crate::spec::{parse_libcni_version, SpecVersion};

/// A plugin of a network, as libcni holds it.
#[derive(Debug, Clone)]
pub(crate) struct PluginObject {
    /// `type`.
    pub plugin_type: String,
    /// Its own `name`, which libcni shows in errors.
    pub name: String,
    /// The object as Go decodes it into a map.
    pub raw: Map<String, Value>,
}

/// A network as libcni calls it.
#[derive(Debug, Clone)]
pub(crate) struct CallNetwork {
    /// The list's name.
    pub name: String,
    /// The list's version.
    pub cni_version: String,
    /// `disableCheck`.
    pub disable_check: bool,
    /// The plugins in order.
    pub plugins: Vec<PluginObject>,
}

/// What the runtime passes and how its libcni behaves.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeModel {
    /// The program's release line.
    pub line: RuntimeLine,
    /// Its libcni.
    pub libcni: Version,
    /// That libcni's version-dependent behaviour.
    pub behaviour: Behaviour,
    /// The highest spec version that libcni reads.
    pub max_spec: SpecVersion,
    /// The plugin directories (`CNI_PATH`).
    pub bin_dirs: Vec<PathBuf>,
    /// Capability arguments, filtered per plugin into `runtimeConfig`.
    pub capability_args: Map<String, Value>,
    /// `CNI_ARGS` pairs.
    pub args: Vec<(String, String)>,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
}

/// One plugin process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginRun {
    /// The plugin's `type`.
    pub plugin: String,
    /// The binary run.
    pub path: String,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
    /// Its exit status (`None` when killed or not started).
    pub exit_code: Option<i32>,
    /// The start of its standard error, when it wrote any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

/// Who produced an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorSource {
    /// A plugin's error object (or its failure without one).
    Plugin,
    /// libcni or the runtime, before or after the plugins ran.
    Runtime,
    /// The plugin did not finish in time or printed too much, and was killed.
    Limit,
}

/// A failed step: the error as the plugin gave it and as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepError {
    /// Who produced it.
    pub source: ErrorSource,
    /// The plugin that failed, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The error object the plugin printed, verbatim, when it printed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// `code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u64>,
    /// `msg`, or the error text.
    pub msg: String,
    /// `details`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// What the runtime logs for it.
    pub runtime_message: String,
}

impl StepError {
    fn runtime(msg: String, runtime_message: String) -> StepError {
        StepError {
            source: ErrorSource::Runtime,
            plugin: None,
            object: None,
            code: None,
            msg,
            details: None,
            runtime_message,
        }
    }

    /// A runtime-side error about `plugin` (not found, a result it cannot read).
    fn about(plugin: &PluginObject, msg: String, runtime_message: String) -> StepError {
        StepError {
            plugin: Some(plugin.plugin_type.clone()),
            ..StepError::runtime(msg, runtime_message)
        }
    }
}

/// The three operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Check,
    Del,
}

impl Op {
    fn command(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Check => "CHECK",
            Op::Del => "DEL",
        }
    }
}

/// Go's `json.Marshal` of a value decoded into `interface{}`: object keys sorted, `<`, `>`,
/// `&`, U+2028 and U+2029 escaped.
pub(crate) fn go_marshal(value: &Value) -> Vec<u8> {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let text = serde_json::to_string(&sorted(value)).unwrap_or_default();
    // These characters only occur inside strings, so replacing them everywhere is exact.
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
        .into_bytes()
}

/// A JSON value as Go decodes it into `interface{}`: every number a float64, so an integral
/// number is written back without a fraction.
pub(crate) fn go_decode(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(go_decode).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, go_decode(v))).collect()),
        other => other,
    }
}

impl RuntimeModel {
    /// [`RuntimeModel::find`] for `plugin`, its error worded by `wrap`.
    fn locate(
        &self,
        plugin: &PluginObject,
        wrap: impl Fn(&str) -> String,
    ) -> Result<PathBuf, StepError> {
        self.find(&plugin.plugin_type)
            .map_err(|e| StepError::about(plugin, e.clone(), wrap(&e)))
    }

    /// libcni's `FindInPath`.
    fn find(&self, plugin: &str) -> Result<PathBuf, String> {
        if !plugin.is_empty() && !plugin.contains('/') {
            for dir in &self.bin_dirs {
                let p = dir.join(plugin);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        let dirs: Vec<String> = self
            .bin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        Err(format!(
            "failed to find plugin {plugin:?} in path [{}]",
            dirs.join(" ")
        ))
    }

    /// `version.ParseVersion` of this libcni.
    fn parse_version(&self, v: &str) -> Result<(i64, i64, i64), String> {
        if v.is_empty() && self.behaviour.empty_version_teardown {
            return Err(format!("invalid version {v:?}: the version is empty"));
        }
        parse_libcni_version(v)
    }

    /// `version.GreaterThanOrEqualTo(v, "0.4.0")`.
    fn at_least_040(&self, v: &str) -> Result<bool, String> {
        Ok(self.parse_version(v)? >= (0, 4, 0))
    }

    /// `buildOneConfig`: the bytes a plugin receives.
    fn config(
        &self,
        net: &CallNetwork,
        plugin: &PluginObject,
        prev: Option<&CniResult>,
    ) -> Vec<u8> {
        let mut raw = plugin.raw.clone();
        raw.insert("name".into(), Value::String(net.name.clone()));
        raw.insert("cniVersion".into(), Value::String(net.cni_version.clone()));
        if let Some(prev) = prev {
            raw.insert("prevResult".into(), prev.to_json());
        }
        let mut rc = Map::new();
        if let Some(Value::Object(caps)) = plugin.raw.get("capabilities") {
            for (cap, on) in caps {
                if on == &Value::Bool(true) {
                    if let Some(arg) = self.capability_args.get(cap) {
                        rc.insert(cap.clone(), arg.clone());
                    }
                }
            }
        }
        if !rc.is_empty() {
            raw.insert("runtimeConfig".into(), Value::Object(rc));
        }
        go_marshal(&Value::Object(raw))
    }

    /// The `CNI_*` variables of a call.
    fn env(&self, op: Op, netns: &str) -> Vec<(&'static str, String)> {
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let path: Vec<String> = self
            .bin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        vec![
            ("CNI_COMMAND", op.command().to_string()),
            ("CNI_CONTAINERID", self.container_id.clone()),
            ("CNI_NETNS", netns.to_string()),
            ("CNI_ARGS", args.join(";")),
            ("CNI_IFNAME", self.ifname.clone()),
            ("CNI_PATH", path.join(":")),
        ]
    }

    /// Whether this libcni reads results as libcni before 1.0 does (`NewResult` of the
    /// config's version, whatever the result says).
    fn legacy_results(&self) -> bool {
        self.libcni.major == 0
    }

    /// How this libcni reads an ADD result (`ExecPluginWithResult`).
    fn read_result(&self, conf_version: &str, stdout: &[u8]) -> Result<CniResult, String> {
        let conf_version = if conf_version.is_empty() {
            "0.1.0"
        } else {
            conf_version
        };
        if self.legacy_results() {
            let family = Family::of(conf_version, self.max_spec)
                .ok_or_else(|| format!("unsupported CNI result version {conf_version:?}"))?;
            return CniResult::create(family, stdout, false, self.max_spec);
        }
        let declared = serde_json::from_slice::<Value>(stdout)
            .ok()
            .and_then(|v| {
                v.get("cniVersion")
                    .and_then(|c| c.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let (version, bytes) = if declared.is_empty() && !self.behaviour.result_without_version {
            // v1.1.1 `fixupResultVersion`: a result without a version is the config's.
            let mut v: Value = serde_json::from_slice(stdout)
                .map_err(|e| format!("failed to unmarshal raw result: {e}"))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("cniVersion".into(), Value::String(conf_version.to_string()));
            }
            (
                conf_version.to_string(),
                serde_json::to_vec(&v).unwrap_or_default(),
            )
        } else if declared.is_empty() {
            // Before v1.1.1, `CreateFromBytes`: no version is 0.1.0.
            ("0.1.0".to_string(), stdout.to_vec())
        } else {
            (declared, stdout.to_vec())
        };
        let family = Family::of(&version, self.max_spec)
            .ok_or_else(|| format!("unsupported CNI result version {version:?}"))?;
        CniResult::create(family, &bytes, true, self.max_spec)
    }

    /// The cached result, as `getCachedResult` gives it back for a config of `version`.
    fn cached(
        &self,
        cached: Option<&CniResult>,
        version: &str,
        net: &str,
    ) -> Result<Option<CniResult>, String> {
        match cached {
            None => Ok(None),
            Some(r) => r.as_version(version, self.max_spec).map(Some).map_err(|e| {
                format!("failed to get network {net:?} cached result: failed to convert cached result to config version {version:?}: {e}")
            }),
        }
    }
}

/// Runs a network's operations in a sandbox.
pub(crate) struct Caller<'a> {
    /// The runtime.
    pub runtime: &'a RuntimeModel,
    /// `CNI_NETNS`.
    pub netns: &'a str,
    /// The deadline of one plugin call.
    pub timeout: Duration,
}

/// What one operation did.
pub(crate) struct OpOutcome<T> {
    pub runs: Vec<PluginRun>,
    pub result: Result<T, StepError>,
}

impl Caller<'_> {
    /// One plugin process, and libcni's reading of a failure.
    fn exec(
        &self,
        op: Op,
        plugin: &PluginObject,
        path: &Path,
        stdin: Vec<u8>,
        runs: &mut Vec<PluginRun>,
    ) -> Result<Vec<u8>, StepError> {
        let started = Instant::now();
        let out =
            sandbox::exec_plugin(path, &self.runtime.env(op, self.netns), stdin, self.timeout);
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let describe = runtime_text::describe(&plugin.plugin_type, &plugin.name);
        let mut run = PluginRun {
            plugin: plugin.plugin_type.clone(),
            path: path.display().to_string(),
            elapsed_ms,
            exit_code: None,
            stderr: String::new(),
        };
        let result = match out {
            Err(e) => {
                let source = match e {
                    ProbeError::Spawn(_) | ProbeError::Failed(_) | ProbeError::Garbage(_) => {
                        ErrorSource::Runtime
                    }
                    ProbeError::Timeout(_) | ProbeError::TooMuchOutput => ErrorSource::Limit,
                };
                let msg = match &e {
                    ProbeError::Timeout(t) => format!(
                        "{describe} did not finish within {t:?} and was killed (the runtime would wait until its own deadline)"
                    ),
                    other => other.to_string(),
                };
                Err(StepError {
                    source,
                    plugin: Some(plugin.plugin_type.clone()),
                    object: None,
                    code: None,
                    runtime_message: msg.clone(),
                    msg,
                    details: None,
                })
            }
            Ok(out) => {
                run.exit_code = out.status.code();
                run.stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
                if out.status.success() {
                    Ok(out.stdout)
                } else {
                    Err(plugin_error(
                        plugin,
                        &out.stdout,
                        &out.stderr,
                        out.status.code(),
                    ))
                }
            }
        };
        runs.push(run);
        result
    }

    /// `AddNetworkList`, then go-cni's conversion to 1.0.0.
    pub fn add(&self, net: &CallNetwork) -> OpOutcome<CniResult> {
        let mut runs = Vec::new();
        let result = self.add_inner(net, &mut runs);
        OpOutcome { runs, result }
    }

    fn add_inner(
        &self,
        net: &CallNetwork,
        runs: &mut Vec<PluginRun>,
    ) -> Result<CniResult, StepError> {
        let rt = self.runtime;
        let line = rt.line;
        let mut prev: Option<CniResult> = None;
        for plugin in &net.plugins {
            let describe = runtime_text::describe(&plugin.plugin_type, &plugin.name);
            let wrap = |detail: &str| runtime_text::add_failed(line, &describe, detail);
            let path = rt.locate(plugin, wrap)?;
            let conf = rt.config(net, plugin, prev.as_ref());
            let stdout = self
                .exec(Op::Add, plugin, &path, conf, runs)
                .map_err(|mut e| {
                    e.runtime_message = wrap(&e.runtime_message);
                    e
                })?;
            let r = rt
                .read_result(&net.cni_version, &stdout)
                .map_err(|e| StepError::about(plugin, e.clone(), wrap(&e)))?;
            prev = Some(r);
        }
        let Some(result) = prev else {
            let msg = "the network has no plugins".to_string();
            return Err(StepError::runtime(msg.clone(), msg));
        };
        if line.host() == CniHost::Containerd {
            // go-cni's `types100.NewResultFromResult`.
            result
                .as_version("1.0.0", SpecVersion::V1_0_0.max(rt.max_spec))
                .map_err(|e| {
                    StepError::runtime(e.clone(), runtime_text::add_failed(line, "", &e))
                })?;
        }
        Ok(result)
    }

    /// `CheckNetworkList`; `Ok(Some(reason))` when libcni does not run CHECK.
    pub fn check(
        &self,
        net: &CallNetwork,
        cached: Option<&CniResult>,
    ) -> OpOutcome<Option<String>> {
        let mut runs = Vec::new();
        let result = self.check_inner(net, cached, &mut runs);
        OpOutcome { runs, result }
    }

    fn check_inner(
        &self,
        net: &CallNetwork,
        cached: Option<&CniResult>,
        runs: &mut Vec<PluginRun>,
    ) -> Result<Option<String>, StepError> {
        let rt = self.runtime;
        match rt.at_least_040(&net.cni_version) {
            Err(e) => return Err(StepError::runtime(e.clone(), e)),
            Ok(false) => {
                return Ok(Some(format!(
                    "configuration version {:?} does not support the CHECK command",
                    net.cni_version
                )))
            }
            Ok(true) => {}
        }
        if net.disable_check {
            return Ok(Some("the network sets disableCheck".to_string()));
        }
        let prev = rt
            .cached(cached, &net.cni_version, &net.name)
            .map_err(|e| StepError::runtime(e.clone(), e))?;
        for plugin in &net.plugins {
            let path = rt.locate(plugin, str::to_string)?;
            let conf = rt.config(net, plugin, prev.as_ref());
            self.exec(Op::Check, plugin, &path, conf, runs)?;
        }
        Ok(None)
    }

    /// `DelNetworkList`, as go-cni's `Remove` sees it: `Ok(Some(error))` for an error go-cni
    /// ignores.
    pub fn del(&self, net: &CallNetwork, cached: Option<&CniResult>) -> OpOutcome<Option<String>> {
        let mut runs = Vec::new();
        let result = self.del_inner(net, cached, &mut runs);
        let line = self.runtime.line;
        let result = match result {
            // go-cni `Remove`: a "not found" error means it is gone already.
            Err(e)
                if line.host() == CniHost::Containerd
                    && e.runtime_message.contains("not found") =>
            {
                Ok(Some(e.runtime_message))
            }
            Err(mut e) => {
                e.runtime_message = runtime_text::del_failed(line, &e.runtime_message);
                Err(e)
            }
            Ok(()) => Ok(None),
        };
        OpOutcome { runs, result }
    }

    fn del_inner(
        &self,
        net: &CallNetwork,
        cached: Option<&CniResult>,
        runs: &mut Vec<PluginRun>,
    ) -> Result<(), StepError> {
        let rt = self.runtime;
        let prev = match rt.at_least_040(&net.cni_version) {
            Err(e) => return Err(StepError::runtime(e.clone(), e)),
            Ok(false) => None,
            Ok(true) => rt
                .cached(cached, &net.cni_version, &net.name)
                .map_err(|e| StepError::runtime(e.clone(), e))?,
        };
        for plugin in net.plugins.iter().rev() {
            let describe = runtime_text::describe(&plugin.plugin_type, &plugin.name);
            let wrap = |detail: &str| runtime_text::in_plugin(rt.line, &describe, "delete", detail);
            let path = rt.locate(plugin, wrap)?;
            let conf = rt.config(net, plugin, prev.as_ref());
            self.exec(Op::Del, plugin, &path, conf, runs)
                .map_err(|mut e| {
                    e.runtime_message = wrap(&e.runtime_message);
                    e
                })?;
        }
        Ok(())
    }
}

/// libcni's `pluginErr`: the error object on stdout, else stderr.
fn plugin_error(
    plugin: &PluginObject,
    stdout: &[u8],
    stderr: &[u8],
    code: Option<i32>,
) -> StepError {
    let plugin_name = Some(plugin.plugin_type.clone());
    let trimmed = String::from_utf8_lossy(stderr);
    let stderr_text = trimmed.trim_end_matches('\n');
    if stdout.is_empty() {
        let msg = if stderr_text.is_empty() {
            match code {
                Some(c) => format!("netplugin failed with no error message: exit status {c}"),
                None => "netplugin failed with no error message: signal: killed".to_string(),
            }
        } else {
            format!("netplugin failed: {stderr_text:?}")
        };
        return StepError {
            source: ErrorSource::Plugin,
            plugin: plugin_name,
            object: None,
            code: None,
            runtime_message: msg.clone(),
            msg,
            details: None,
        };
    }
    match serde_json::from_slice::<Value>(stdout) {
        Ok(object @ Value::Object(_)) => {
            let code = object.get("code").and_then(Value::as_u64);
            let msg = object
                .get("msg")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let details = object
                .get("details")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_string);
            let runtime_message = match &details {
                Some(d) => format!("{msg}; {d}"),
                None => msg.clone(),
            };
            StepError {
                source: ErrorSource::Plugin,
                plugin: plugin_name,
                object: Some(object),
                code,
                msg,
                details,
                runtime_message,
            }
        }
        _ => {
            let msg = format!(
                "netplugin failed but error parsing its diagnostic message {:?}",
                String::from_utf8_lossy(stdout)
            );
            StepError {
                source: ErrorSource::Plugin,
                plugin: plugin_name,
                object: None,
                code: None,
                runtime_message: msg.clone(),
                msg,
                details: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marshals_as_go_marshals_a_map() {
        let v = go_decode(serde_json::from_str(r#"{"b":1.0,"a":{"z":"<&>","y":[2e3]}}"#).unwrap());
        assert_eq!(
            String::from_utf8(go_marshal(&v)).unwrap(),
            r#"{"a":{"y":[2000],"z":"\u003c\u0026\u003e"},"b":1}"#
        );
    }

    #[test]
    fn plugin_errors_read_as_libcni_reads_them() {
        let p = PluginObject {
            plugin_type: "bridge".into(),
            name: String::new(),
            raw: Map::new(),
        };
        let e = plugin_error(
            &p,
            br#"{"code":1,"msg":"incompatible CNI versions","details":"config is \"1.0.0\", plugin supports [\"0.1.0\"]"}"#,
            b"",
            Some(1),
        );
        assert_eq!(e.code, Some(1));
        assert_eq!(
            e.runtime_message,
            r#"incompatible CNI versions; config is "1.0.0", plugin supports ["0.1.0"]"#
        );
        assert_eq!(e.object.unwrap()["code"], json!(1));
        let e = plugin_error(&p, b"", b"panic: boom\n", Some(2));
        assert_eq!(e.msg, r#"netplugin failed: "panic: boom""#);
        let e = plugin_error(&p, b"", b"", None);
        assert_eq!(
            e.msg,
            "netplugin failed with no error message: signal: killed"
        );
    }
}

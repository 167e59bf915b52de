//! containerd's `config.toml`: the CNI settings of the CRI plugin.

use serde::Serialize;
use toml::{Table, Value};

/// Default `conf_dir`.
pub const DEFAULT_CONF_DIR: &str = "/etc/cni/net.d";
/// Default `bin_dir` (and `bin_dirs` from containerd 2.1).
pub const DEFAULT_BIN_DIR: &str = "/opt/cni/bin";
/// Default `max_conf_num`.
pub const DEFAULT_MAX_CONF_NUM: i64 = 1;

/// The CNI settings found in a containerd config, each `None` when the file does not set it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CniSettings {
    /// `conf_dir`
    pub conf_dir: Option<String>,
    /// `bin_dir`
    pub bin_dir: Option<String>,
    /// `bin_dirs` (containerd 2.1 and later)
    pub bin_dirs: Option<Vec<String>>,
    /// `max_conf_num`
    pub max_conf_num: Option<i64>,
    /// `use_internal_loopback` (containerd 2.0 and later)
    pub use_internal_loopback: Option<bool>,
    /// `conf_template`
    pub conf_template: Option<String>,
}

impl CniSettings {
    /// The plugin directories containerd searches: `bin_dirs`, else `bin_dir`, else the default.
    pub fn effective_bin_dirs(&self) -> Vec<String> {
        if let Some(dirs) = &self.bin_dirs {
            return dirs.clone();
        }
        vec![self
            .bin_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_BIN_DIR.to_string())]
    }
}

/// The CRI settings beyond CNI that a runtime migration depends on, each `None` (or empty)
/// when the file does not set it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CriSettings {
    /// `disabled_plugins`, as written.
    pub disabled_plugins: Vec<String>,
    /// `[grpc] address`: the socket containerd serves (default [`DEFAULT_GRPC_ADDRESS`]).
    pub grpc_address: Option<String>,
    /// The runc runtime's `options.SystemdCgroup`.
    pub systemd_cgroup: Option<bool>,
    /// `sandbox_image` (config versions 1 and 2) or `pinned_images.sandbox` (version 3).
    pub sandbox_image: Option<String>,
    /// `registry.config_path`: where containerd looks for `hosts.toml` files.
    pub registry_config_path: Option<String>,
    /// Hosts under the deprecated `registry.mirrors`, with their endpoints.
    pub registry_mirrors: Vec<(String, Vec<String>)>,
    /// Hosts under the deprecated `registry.configs` (TLS and auth settings).
    pub registry_configs: Vec<String>,
}

impl CriSettings {
    /// Whether `disabled_plugins` turns the CRI plugin off (`cri`, as the `containerd.io`
    /// package's config has it, or its full id).
    pub fn cri_disabled(&self) -> Option<&str> {
        self.disabled_plugins
            .iter()
            .map(String::as_str)
            .find(|p| matches!(*p, "cri" | "io.containerd.grpc.v1.cri"))
    }
}

/// containerd's default `[grpc] address`.
pub const DEFAULT_GRPC_ADDRESS: &str = "/run/containerd/containerd.sock";

/// A containerd config, read for its CNI settings as one containerd release reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerdConfig {
    /// The config's `version` (1 when absent).
    pub version: i64,
    /// The table the CNI settings were read from, for example
    /// `plugins."io.containerd.grpc.v1.cri".cni`.
    pub table: &'static str,
    /// The settings in effect.
    pub cni: CniSettings,
    /// The CRI settings a runtime migration depends on, from the tables this release reads.
    pub cri: CriSettings,
    /// Problems that do not stop containerd from reading the file but make settings ignored.
    pub warnings: Vec<String>,
    /// How the release reading it treats this config, where that differs from what the
    /// config declares.
    pub problems: Vec<ConfigProblem>,
}

/// How a containerd release treats a config differently from what the config declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
#[non_exhaustive]
pub enum ConfigProblem {
    /// containerd refuses to start with this config (or crashes reading it).
    Fatal {
        /// What is wrong, for people.
        message: String,
        /// What containerd prints.
        runtime_error: String,
        /// Whether the config's `version` is the cause.
        version: bool,
    },
    /// The release reads this config version in a way other than the version declares.
    VersionMismatch {
        /// What the release does with it.
        message: String,
        /// Whether the CNI settings in effect differ from the ones the config's own table
        /// sets.
        changes_settings: bool,
    },
}

/// Why a containerd config could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// What is wrong, with line and column where the TOML parser gives them.
    pub message: String,
}

/// How a containerd release reads its config file: which versions it knows, what it does with
/// others, and how it carries older CRI settings over. From each release's
/// `services/server/config/config.go` (1.x) or `cmd/containerd/server/config/config.go` and
/// `plugins/cri/runtime/plugin.go` (2.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfigReading {
    /// The highest config version it knows (`version.ConfigVersion`; 2 for every 1.x).
    pub max_version: i64,
    /// Whether a higher version stops it from starting (`unsupported config version`, from
    /// containerd 1.6.32 and 1.7.17; `expected containerd config version equal to or less
    /// than` in 2.x). Before that, 1.x reads any version above 1 as version 2.
    pub rejects_newer: bool,
    /// How a 2.x release carries the CRI settings of older configs into its runtime table;
    /// `None` for 1.x, which reads the tables in place.
    pub migration: Option<Migration>,
}

/// How containerd 2.x moves `plugins."io.containerd.grpc.v1.cri"` into
/// `plugins."io.containerd.cri.v1.runtime"` for a config older than its own version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Migration {
    /// containerd 2.0: the old table replaces the runtime table whole.
    Replace,
    /// containerd 2.1 and later: the old keys fill in what the runtime table lacks, and
    /// `bin_dir` becomes `bin_dirs` unless that is set.
    Merge,
}

const V1: (&str, &[&str]) = ("plugins.cri.cni", &["plugins", "cri", "cni"]);
const V2: (&str, &[&str]) = (
    "plugins.\"io.containerd.grpc.v1.cri\".cni",
    &["plugins", "io.containerd.grpc.v1.cri", "cni"],
);
const V3: (&str, &[&str]) = (
    "plugins.'io.containerd.cri.v1.runtime'.cni",
    &["plugins", "io.containerd.cri.v1.runtime", "cni"],
);

fn table_at<'t>(root: &'t Table, path: &[&str]) -> Option<&'t Table> {
    let mut t = root;
    for key in path {
        t = t.get(*key)?.as_table()?;
    }
    Some(t)
}

/// A containerd config's text, parsed but not yet read as any release reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawConfig {
    /// `version` as written; `None` when absent.
    pub declared_version: Option<i64>,
    /// The CNI settings of each table the file has, with the table's name: version 1's,
    /// version 2's and version 3's, in that order.
    tables: Vec<(&'static str, Result<CniSettings, ConfigError>)>,
    /// Whether the file has a `plugins."io.containerd.grpc.v1.cri"` table at all.
    has_v2_plugin: bool,
    /// The keys of `[plugins]`, and the entries of `disabled_plugins` and
    /// `required_plugins`, each with what it is.
    plugin_names: Vec<(&'static str, String)>,
    /// The whole document, for the CRI settings beyond CNI.
    root: Table,
}

/// Parse a containerd config's text, and read its CNI settings as its declared version says
/// (what a runtime of unknown release is taken to do).
pub fn parse(text: &str) -> Result<ContainerdConfig, ConfigError> {
    parse_raw(text)?.read_by(None, "")
}

/// Parse a containerd config's text into its tables.
pub fn parse_raw(text: &str) -> Result<RawConfig, ConfigError> {
    let root: Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|span| {
                let (line, col) = crate::json::line_col(text.as_bytes(), span.start);
                format!("line {line}, column {col}: ")
            })
            .unwrap_or_default();
        ConfigError {
            message: format!("{at}{}", e.message().trim_end().replace('\n', "; ")),
        }
    })?;
    let declared_version = match root.get("version") {
        None => None,
        Some(Value::Integer(v)) => Some(*v),
        Some(other) => {
            return Err(ConfigError {
                message: format!("`version` must be an integer, not a {}", other.type_str()),
            })
        }
    };
    let mut tables = Vec::new();
    for (name, path) in [V1, V2, V3] {
        if let Some(t) = table_at(&root, path) {
            tables.push((name, cni_settings(name, t)));
        }
    }
    let mut plugin_names = Vec::new();
    if let Some(p) = root.get("plugins").and_then(Value::as_table) {
        plugin_names.extend(p.keys().map(|k| ("plugin key", k.clone())));
    }
    for (key, what) in [
        ("disabled_plugins", "disabled plugin"),
        ("required_plugins", "required plugin"),
    ] {
        if let Some(list) = root.get(key).and_then(Value::as_array) {
            plugin_names.extend(
                list.iter()
                    .filter_map(Value::as_str)
                    .map(|n| (what, n.to_string())),
            );
        }
    }
    Ok(RawConfig {
        declared_version,
        has_v2_plugin: table_at(&root, &["plugins", "io.containerd.grpc.v1.cri"]).is_some(),
        tables,
        plugin_names,
        root,
    })
}

fn str_at(t: Option<&Table>, path: &[&str]) -> Option<String> {
    let (last, parents) = path.split_last()?;
    table_at(t?, parents)?
        .get(*last)?
        .as_str()
        .map(str::to_string)
}

fn bool_at(t: Option<&Table>, path: &[&str]) -> Option<bool> {
    let (last, parents) = path.split_last()?;
    table_at(t?, parents)?.get(*last)?.as_bool()
}

/// The CRI settings of one CRI table (`runtime`) and its image settings (`images`: the same
/// table before config version 3).
fn cri_settings(
    root: &Table,
    runtime: Option<&Table>,
    images: Option<&Table>,
    v3: bool,
) -> CriSettings {
    let runc = ["containerd", "runtimes", "runc", "options", "SystemdCgroup"];
    let registry = images.and_then(|t| table_at(t, &["registry"]));
    CriSettings {
        disabled_plugins: root
            .get("disabled_plugins")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        grpc_address: str_at(Some(root), &["grpc", "address"]),
        systemd_cgroup: bool_at(runtime, &runc),
        sandbox_image: if v3 {
            str_at(images, &["pinned_images", "sandbox"])
        } else {
            str_at(images, &["sandbox_image"])
        },
        registry_config_path: str_at(registry, &["config_path"]),
        registry_mirrors: registry
            .and_then(|r| table_at(r, &["mirrors"]))
            .map(|m| {
                m.iter()
                    .map(|(host, v)| {
                        let endpoints = v
                            .as_table()
                            .and_then(|t| t.get("endpoint"))
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default();
                        (host.clone(), endpoints)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        registry_configs: registry
            .and_then(|r| table_at(r, &["configs"]))
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default(),
    }
}

fn cni_settings(table_name: &str, t: &Table) -> Result<CniSettings, ConfigError> {
    let bad = |key: &str, want: &str, got: &Value| ConfigError {
        message: format!(
            "[{table_name}] {key} must be {want}, not a {}",
            got.type_str()
        ),
    };
    let mut cni = CniSettings::default();
    for (key, value) in t {
        match key.as_str() {
            "conf_dir" | "bin_dir" | "conf_template" => {
                let s = value
                    .as_str()
                    .ok_or_else(|| bad(key, "a string", value))?
                    .to_string();
                match key.as_str() {
                    "conf_dir" => cni.conf_dir = Some(s),
                    "bin_dir" => cni.bin_dir = Some(s),
                    _ => cni.conf_template = Some(s),
                }
            }
            "bin_dirs" => {
                let arr = value
                    .as_array()
                    .ok_or_else(|| bad(key, "an array of strings", value))?;
                let dirs = arr
                    .iter()
                    .map(|d| d.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad(key, "an array of strings", value))?;
                cni.bin_dirs = Some(dirs);
            }
            "max_conf_num" => {
                cni.max_conf_num = Some(
                    value
                        .as_integer()
                        .ok_or_else(|| bad(key, "an integer", value))?,
                );
            }
            "use_internal_loopback" => {
                cni.use_internal_loopback = Some(
                    value
                        .as_bool()
                        .ok_or_else(|| bad(key, "a boolean", value))?,
                );
            }
            _ => {}
        }
    }
    if cni.conf_template.as_deref() == Some("") {
        cni.conf_template = None;
    }
    Ok(cni)
}

/// The table a config of `version` declares its CNI settings in.
fn declared_table(version: i64) -> &'static str {
    match version {
        i64::MIN..=1 => V1.0,
        2 => V2.0,
        _ => V3.0,
    }
}

/// What a release does with a config, before type errors and warnings.
struct Reading {
    /// The table whose settings are in effect (`None`: containerd's defaults).
    source: Source,
    /// The name shown as the table read.
    table: &'static str,
    problems: Vec<ConfigProblem>,
}

enum Source {
    Table(&'static str),
    /// containerd 2.1+: the runtime table with the old table's keys filled in.
    Merged,
    Defaults,
}

impl RawConfig {
    /// The CRI settings from the tables a release reads when its CNI settings come from
    /// `cni_table` (`merged`: containerd 2.1's merge of the version 2 table into version 3's).
    fn cri_for(&self, cni_table: &str, merged: bool) -> CriSettings {
        let root = &self.root;
        let v1 = table_at(root, &["plugins", "cri"]);
        let v2 = table_at(root, &["plugins", "io.containerd.grpc.v1.cri"]);
        if cni_table == V1.0 {
            return cri_settings(root, v1, v1, false);
        }
        if cni_table == V2.0 {
            return cri_settings(root, v2, v2, false);
        }
        let runtime = table_at(root, &["plugins", "io.containerd.cri.v1.runtime"]);
        let images = table_at(root, &["plugins", "io.containerd.cri.v1.images"]);
        let mut s = cri_settings(root, runtime, images, true);
        if merged {
            let old = cri_settings(root, v2, v2, false);
            s.systemd_cgroup = s.systemd_cgroup.or(old.systemd_cgroup);
            s.sandbox_image = s.sandbox_image.or(old.sandbox_image);
            s.registry_config_path = s.registry_config_path.or(old.registry_config_path);
            if s.registry_mirrors.is_empty() {
                s.registry_mirrors = old.registry_mirrors;
            }
            if s.registry_configs.is_empty() {
                s.registry_configs = old.registry_configs;
            }
        }
        s
    }

    fn settings(&self, name: &str) -> Option<&Result<CniSettings, ConfigError>> {
        self.tables.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    /// The settings the config's own table sets, as its version declares.
    fn intended(&self, version: i64) -> CniSettings {
        match self.settings(declared_table(version)) {
            Some(Ok(s)) => s.clone(),
            _ => CniSettings::default(),
        }
    }

    /// Read the config as a release with `reading` does (`None`: as its version declares).
    /// `path` names the file in containerd's own error texts.
    pub fn read_by(
        &self,
        reading: Option<&ConfigReading>,
        path: &str,
    ) -> Result<ContainerdConfig, ConfigError> {
        let version = self.declared_version.unwrap_or(1);
        let r = match reading {
            None => Reading {
                source: Source::Table(declared_table(version)),
                table: declared_table(version),
                problems: Vec::new(),
            },
            Some(cr) if cr.migration.is_none() => self.read_1x(cr, version, path),
            Some(cr) => self.read_2x(cr, version, path),
        };
        let cni = match r.source {
            Source::Table(name) => match self.settings(name) {
                Some(Ok(s)) => s.clone(),
                Some(Err(e)) => return Err(e.clone()),
                None => CniSettings::default(),
            },
            Source::Merged => {
                let new = match self.settings(V3.0) {
                    Some(Ok(s)) => s.clone(),
                    Some(Err(e)) => return Err(e.clone()),
                    None => CniSettings::default(),
                };
                match self.settings(V2.0) {
                    Some(Ok(old)) => merge(new, old),
                    Some(Err(e)) => return Err(e.clone()),
                    None => new,
                }
            }
            Source::Defaults => CniSettings::default(),
        };
        let cri = self.cri_for(r.table, matches!(r.source, Source::Merged));
        let mut problems = r.problems;
        // A version read another way than it declares: say whether that changes anything.
        for p in &mut problems {
            if let ConfigProblem::VersionMismatch {
                changes_settings, ..
            } = p
            {
                *changes_settings = cni != self.intended(version);
            }
        }
        let fatal = problems
            .iter()
            .any(|p| matches!(p, ConfigProblem::Fatal { .. }));
        let mismatch = !problems.is_empty();
        let declared = declared_table(version);
        let merged = matches!(r.source, Source::Merged);
        let warnings = self
            .tables
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !fatal && *name != r.table && !(merged && *name == V2.0))
            .filter(|name| !(mismatch && *name == declared))
            .map(|name| {
                if r.table == declared {
                    let declares = match self.declared_version {
                        Some(v) => format!("declares version = {v}"),
                        None => "has no version line, so it is read as version 1".to_string(),
                    };
                    format!(
                        "[{name}] is ignored: this config {declares}, which reads [{}]",
                        r.table
                    )
                } else {
                    format!(
                        "[{name}] is ignored: this containerd reads [{}] for this config",
                        r.table
                    )
                }
            })
            .collect();
        Ok(ContainerdConfig {
            version,
            table: r.table,
            cni,
            cri,
            warnings,
            problems,
        })
    }

    /// containerd 1.x: version 0 or 1 reads plugins by their short id (`[plugins.cri]`); any
    /// other version reads them by URI (`[plugins."io.containerd.grpc.v1.cri"]`), and versions
    /// above 1 must name every plugin by URI.
    fn read_1x(&self, cr: &ConfigReading, version: i64, path: &str) -> Reading {
        let mut problems = Vec::new();
        if version > cr.max_version && cr.rejects_newer {
            return stops(V2.0, ConfigProblem::Fatal {
                message: format!(
                    "this config declares version = {version}, but this containerd knows config versions up to {}, and refuses to start with a newer one",
                    cr.max_version
                ),
                runtime_error: format!("failed to load TOML from {path}: unsupported config version `{version}`"),
                version: true,
            });
        }
        let by_id = version == 0 || version == 1;
        if version >= 2 {
            if let Some((what, name)) = self
                .plugin_names
                .iter()
                .find(|(_, n)| n.split('.').count() < 4)
            {
                let kind = match *what {
                    "plugin key" => "plugin key",
                    "disabled plugin" => "disabled plugin",
                    _ => "required plugin",
                };
                return stops(V2.0, ConfigProblem::Fatal {
                    message: format!(
                        "this config declares version = {version}, where every plugin is named by its full URI, but it names {kind} {name:?}"
                    ),
                    runtime_error: format!(
                        "failed to load TOML from {path}: invalid {kind} URI {name:?} expect io.containerd.x.vx"
                    ),
                    version: false,
                });
            }
        }
        if version > cr.max_version {
            problems.push(ConfigProblem::VersionMismatch {
                message: format!(
                    "this config declares version = {version}, which this containerd does not know: it reads the file as version {} ([{}]), so [{}] is ignored",
                    cr.max_version, V2.0, declared_table(version)
                ),
                changes_settings: false,
            });
        }
        let table = if by_id { V1.0 } else { V2.0 };
        Reading {
            source: Source::Table(table),
            table,
            problems,
        }
    }

    /// containerd 2.x: a version above its own stops it; version 0 or 1 is migrated by
    /// renaming plugins and then read as its own version, so the CRI settings of
    /// `[plugins.cri]` end up in a table nothing reads; an older version's
    /// `[plugins."io.containerd.grpc.v1.cri"]` moves into the runtime table.
    fn read_2x(&self, cr: &ConfigReading, version: i64, path: &str) -> Reading {
        let mut problems = Vec::new();
        if version > cr.max_version {
            return stops(V3.0, ConfigProblem::Fatal {
                message: format!(
                    "this config declares version = {version}, but this containerd knows config versions up to {}, and refuses to start with a newer one",
                    cr.max_version
                ),
                runtime_error: format!(
                    "failed to load TOML from {path}: expected containerd config version equal to or less than `{}`, got `{version}`",
                    cr.max_version
                ),
                version: true,
            });
        }
        if version < 0 {
            return stops(V3.0, ConfigProblem::Fatal {
                message: format!(
                    "this config declares version = {version}; containerd 2.x migrates configs from their version upward and has no step for a negative one: it crashes at start-up"
                ),
                runtime_error: format!("panic: runtime error: index out of range [{version}]"),
                version: true,
            });
        }
        if let Some((what, name)) = self
            .plugin_names
            .iter()
            .find(|(what, n)| *what != "plugin key" && !n.contains('.'))
        {
            return stops(V3.0, ConfigProblem::Fatal {
                message: format!("it names {what} {name:?} without its URI"),
                runtime_error: format!(
                    "failed to load TOML from {path}: invalid {what} URI {name:?} expect io.containerd.x.vx"
                ),
                version: false,
            });
        }
        if version <= 1 {
            problems.push(ConfigProblem::VersionMismatch {
                message: format!(
                    "this is a version {version} config: containerd 2.x renames its plugins and reads it as version {}, so the CRI settings in [{}] are no longer read; only [{}] is",
                    cr.max_version, V1.0, V3.0
                ),
                changes_settings: false,
            });
            return Reading {
                source: Source::Table(V3.0),
                table: V3.0,
                problems,
            };
        }
        if version < cr.max_version && self.has_v2_plugin {
            return match cr.migration {
                Some(Migration::Replace) => Reading {
                    source: Source::Table(V2.0),
                    table: V2.0,
                    problems,
                },
                _ => Reading {
                    source: Source::Merged,
                    table: V3.0,
                    problems,
                },
            };
        }
        Reading {
            source: Source::Table(V3.0),
            table: V3.0,
            problems,
        }
    }
}

/// containerd does not start: the one problem, and its defaults (which nothing uses).
fn stops(table: &'static str, problem: ConfigProblem) -> Reading {
    Reading {
        source: Source::Defaults,
        table,
        problems: vec![problem],
    }
}

/// containerd 2.1's `migrateConfig` for the CNI table: `new`'s keys win, `old`'s fill in the
/// rest, and `bin_dir` moves to `bin_dirs` unless that is set.
fn merge(mut new: CniSettings, old: &CniSettings) -> CniSettings {
    if new.bin_dirs.as_ref().is_none_or(Vec::is_empty) {
        if let Some(d) = &old.bin_dir {
            new.bin_dirs = Some(vec![d.clone()]);
        }
    }
    if new.conf_dir.is_none() {
        new.conf_dir = old.conf_dir.clone();
    }
    if new.max_conf_num.is_none() {
        new.max_conf_num = old.max_conf_num;
    }
    if new.conf_template.is_none() {
        new.conf_template = old.conf_template.clone();
    }
    if new.use_internal_loopback.is_none() {
        new.use_internal_loopback = old.use_internal_loopback;
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_version() {
        let c = parse("[plugins.cri.cni]\nconf_dir = \"/a\"\nbin_dir = \"/b\"\nmax_conf_num = 0\n")
            .unwrap();
        assert_eq!((c.version, c.cni.conf_dir.as_deref()), (1, Some("/a")));
        assert_eq!(c.cni.effective_bin_dirs(), ["/b"]);
        assert_eq!(c.cni.max_conf_num, Some(0));

        let c = parse("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"/etc/cni/net.d\"\n").unwrap();
        assert_eq!(c.cni.effective_bin_dirs(), ["/usr/lib/cni"]);

        let c = parse("version = 3\n[plugins.'io.containerd.cri.v1.runtime'.cni]\nbin_dirs = ['/opt/cni/bin', '/usr/libexec/cni']\nuse_internal_loopback = true\n").unwrap();
        assert_eq!(
            c.cni.effective_bin_dirs(),
            ["/opt/cni/bin", "/usr/libexec/cni"]
        );
        assert_eq!(c.cni.use_internal_loopback, Some(true));
    }

    #[test]
    fn defaults_and_mismatches() {
        let c = parse("").unwrap();
        assert_eq!(c.cni, CniSettings::default());
        assert_eq!(c.cni.effective_bin_dirs(), [DEFAULT_BIN_DIR]);
        let c = parse("version = 2\n[plugins.cri.cni]\nbin_dir = \"/x\"\n").unwrap();
        assert_eq!(c.cni.bin_dir, None);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }

    #[test]
    fn errors_are_clear() {
        assert!(parse("version = 2\n[plugins\n")
            .unwrap_err()
            .message
            .contains("line 2"));
        assert_eq!(
            parse("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\nmax_conf_num = \"1\"\n")
                .unwrap_err()
                .message,
            "[plugins.\"io.containerd.grpc.v1.cri\".cni] max_conf_num must be an integer, not a string"
        );
        // Any integer parses; what a release does with it is `read_by`'s business.
        assert_eq!(parse("version = 9").unwrap().version, 9);
        assert!(parse("version = \"2\"").is_err());
    }

    fn reading(
        max_version: i64,
        rejects_newer: bool,
        migration: Option<Migration>,
    ) -> ConfigReading {
        ConfigReading {
            max_version,
            rejects_newer,
            migration,
        }
    }

    #[test]
    fn containerd_2x_migrates_version_2_tables() {
        let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\nbin_dir = \"/old\"\nconf_dir = \"/c2\"\n[plugins.'io.containerd.cri.v1.runtime'.cni]\nconf_dir = \"/c3\"\nmax_conf_num = 2\n";
        let raw = parse_raw(text).unwrap();
        // 2.0 replaces the runtime table with the old one whole.
        let c = raw
            .read_by(Some(&reading(3, true, Some(Migration::Replace))), "c")
            .unwrap();
        assert_eq!(
            (
                c.cni.conf_dir.as_deref(),
                c.cni.effective_bin_dirs(),
                c.cni.max_conf_num
            ),
            (Some("/c2"), vec!["/old".to_string()], None)
        );
        // 2.1 merges: the runtime table wins, bin_dir becomes bin_dirs.
        let c = raw
            .read_by(Some(&reading(3, true, Some(Migration::Merge))), "c")
            .unwrap();
        assert_eq!(
            (
                c.cni.conf_dir.as_deref(),
                c.cni.bin_dirs.clone(),
                c.cni.max_conf_num
            ),
            (Some("/c3"), Some(vec!["/old".to_string()]), Some(2))
        );
        assert!(c.problems.is_empty() && c.warnings.is_empty(), "{c:?}");
    }

    #[test]
    fn versions_a_release_does_not_read() {
        let v1 = parse_raw("[plugins.cri.cni]\nbin_dir = \"/usr/lib/cni\"\n").unwrap();
        let c = v1
            .read_by(Some(&reading(3, true, Some(Migration::Merge))), "c")
            .unwrap();
        assert_eq!(c.cni, CniSettings::default());
        assert!(matches!(
            c.problems[..],
            [ConfigProblem::VersionMismatch {
                changes_settings: true,
                ..
            }]
        ));
        let v4 = parse_raw("version = 4\n").unwrap();
        let c = v4
            .read_by(
                Some(&reading(3, true, Some(Migration::Replace))),
                "/etc/containerd/config.toml",
            )
            .unwrap();
        match &c.problems[..] {
            [ConfigProblem::Fatal { runtime_error, version: true, .. }] => assert_eq!(
                runtime_error,
                "failed to load TOML from /etc/containerd/config.toml: expected containerd config version equal to or less than `3`, got `4`"
            ),
            other => panic!("{other:?}"),
        }
        let neg = parse_raw("version = -1\n").unwrap();
        let c = neg
            .read_by(Some(&reading(3, true, Some(Migration::Merge))), "c")
            .unwrap();
        assert!(matches!(
            c.problems[..],
            [ConfigProblem::Fatal { version: true, .. }]
        ));
        // Without a version line, say so rather than quote a line that is not there.
        let c = parse("[plugins.\"io.containerd.grpc.v1.cri\".cni]\nbin_dir = \"/x\"\n").unwrap();
        assert_eq!(
            c.warnings,
            ["[plugins.\"io.containerd.grpc.v1.cri\".cni] is ignored: this config has no version line, so it is read as version 1, which reads [plugins.cri.cni]"]
        );
    }
}

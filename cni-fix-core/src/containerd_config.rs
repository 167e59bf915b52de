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

/// A containerd config, read for its CNI settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerdConfig {
    /// The config's `version` (1 when absent).
    pub version: i64,
    /// The table the CNI settings were read from, for example
    /// `plugins."io.containerd.grpc.v1.cri".cni`.
    pub table: &'static str,
    /// The settings.
    pub cni: CniSettings,
    /// Problems that do not stop containerd from reading the file but make settings ignored.
    pub warnings: Vec<String>,
}

/// Why a containerd config could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// What is wrong, with line and column where the TOML parser gives them.
    pub message: String,
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

/// Parse a containerd config's text.
pub fn parse(text: &str) -> Result<ContainerdConfig, ConfigError> {
    let root: Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|span| {
                let (line, col) = crate::json::line_col(text.as_bytes(), span.start);
                format!("line {line}, column {col}: ")
            })
            .unwrap_or_default();
        ConfigError {
            message: format!("{at}{}", e.message().trim_end()),
        }
    })?;
    let version = match root.get("version") {
        None => 1,
        Some(Value::Integer(v)) => *v,
        Some(other) => {
            return Err(ConfigError {
                message: format!("`version` must be an integer, not a {}", other.type_str()),
            })
        }
    };
    let (table_name, path) = match version {
        1 => V1,
        2 => V2,
        3 | 4 => V3,
        other => {
            return Err(ConfigError {
                message: format!("unsupported config version {other} (containerd knows 1 to 4)"),
            })
        }
    };
    let mut warnings = Vec::new();
    for (other_name, other_path) in [V1, V2, V3] {
        if other_name != table_name && table_at(&root, other_path).is_some() {
            warnings.push(format!(
                "[{other_name}] is ignored: this config declares version = {version}, which reads [{table_name}]"
            ));
        }
    }
    let mut cni = CniSettings::default();
    if let Some(t) = table_at(&root, path) {
        let bad = |key: &str, want: &str, got: &Value| ConfigError {
            message: format!(
                "[{table_name}] {key} must be {want}, not a {}",
                got.type_str()
            ),
        };
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
    }
    Ok(ContainerdConfig {
        version,
        table: table_name,
        cni,
        warnings,
    })
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
        assert!(parse("version = 9").is_err());
    }
}

//! containerd's `hosts.toml` files from Docker's `daemon.json`: the registry mirrors and
//! insecure registries a move from Docker Engine to containerd must carry over.
//!
//! Docker applies `registry-mirrors` to Docker Hub only, and for each `insecure-registries`
//! entry tries HTTPS without verifying the certificate, then plain HTTP. containerd reads one
//! `hosts.toml` per registry host under its registry `config_path` (containerd
//! `docs/hosts.md`): `docker.io/hosts.toml` with the mirrors as `[host]` entries before the
//! upstream `server`, and `<host>/hosts.toml` with an HTTPS entry that skips verification and
//! an HTTP one.

use std::path::{Path, PathBuf};

use crate::node::{display_path, ReadError, MAX_CONFIG_BYTES};
use crate::source::NodeSource;

/// Where containerd looks for `hosts.toml` files when cni-fix is told nothing else.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/containerd/certs.d";

/// One `hosts.toml` to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsFile {
    /// The registry host, such as `docker.io` or `registry.example.internal:5000`.
    pub host: String,
    /// Its node path.
    pub path: PathBuf,
    /// What to write.
    pub text: String,
    /// What is there now (`None`: nothing).
    pub existing: Option<Vec<u8>>,
}

impl HostsFile {
    /// Whether the file already holds exactly this.
    pub fn unchanged(&self) -> bool {
        self.existing.as_deref() == Some(self.text.as_bytes())
    }
}

/// The `hosts.toml` files that carry `daemon.json` over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryHostsPlan {
    /// The directory the files go under (a node path).
    pub config_dir: PathBuf,
    /// Whether containerd's config sets a registry `config_path` (else it reads none of them).
    pub config_path_set: bool,
    /// The files.
    pub files: Vec<HostsFile>,
    /// Entries of `daemon.json` that have no `hosts.toml` form, with why.
    pub skipped: Vec<(String, String)>,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryHostsError {
    /// `daemon.json` could not be read.
    #[error("{path}: {reason}")]
    Read {
        /// Its node path.
        path: String,
        /// Why.
        reason: String,
    },
    /// It has nothing to carry over.
    #[error(
        "{path} sets no registry-mirrors or insecure-registries; there is nothing to carry over"
    )]
    Nothing {
        /// Its node path.
        path: String,
    },
}

/// A registry host as a directory name: no scheme, no path, no slash.
fn host_of(entry: &str) -> Result<String, String> {
    let e = entry.trim();
    let e = e
        .strip_prefix("https://")
        .or_else(|| e.strip_prefix("http://"))
        .unwrap_or(e);
    let e = e.trim_end_matches('/');
    if e.is_empty() {
        return Err("empty".to_string());
    }
    if e.contains('/') {
        if e.parse::<ipnet::IpNet>().is_ok() {
            return Err(
                "a CIDR range: containerd configures registries one host at a time".to_string(),
            );
        }
        return Err("not a host[:port]".to_string());
    }
    if !e
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
    {
        return Err("not a host[:port]".to_string());
    }
    Ok(e.to_string())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn mirror_url(m: &str) -> String {
    let m = m.trim().trim_end_matches('/');
    if m.starts_with("http://") || m.starts_with("https://") {
        m.to_string()
    } else {
        format!("https://{m}")
    }
}

/// The `hosts.toml` of Docker Hub with `mirrors` tried first.
pub fn docker_hub_hosts(mirrors: &[String]) -> String {
    let mut t = String::from(
        "# Docker's registry-mirrors, carried over from /etc/docker/daemon.json by cni-fix.\nserver = \"https://registry-1.docker.io\"\n",
    );
    for m in mirrors {
        t.push_str(&format!(
            "\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n",
            toml_string(&mirror_url(m))
        ));
    }
    t
}

/// The `hosts.toml` of an insecure registry, as Docker treats one: HTTPS without verifying the
/// certificate, then HTTP.
pub fn insecure_hosts(host: &str) -> String {
    format!(
        "# Docker's insecure-registries entry {host}, carried over from /etc/docker/daemon.json by cni-fix.\nserver = {}\n\n[host.{}]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  skip_verify = true\n\n[host.{}]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n",
        toml_string(&format!("https://{host}")),
        toml_string(&format!("https://{host}")),
        toml_string(&format!("http://{host}")),
    )
}

/// Plan the `hosts.toml` files for a node: `daemon.json` at `/etc/docker/daemon.json`, under
/// `config_dir` when given, else the first directory of containerd's registry `config_path`
/// in `containerd_config`, else [`DEFAULT_CONFIG_DIR`].
pub fn plan(
    node: &dyn NodeSource,
    containerd_config: &Path,
    config_dir: Option<PathBuf>,
) -> Result<RegistryHostsPlan, RegistryHostsError> {
    let daemon_path = Path::new("/etc/docker/daemon.json");
    let shown = display_path(daemon_path);
    let bytes = node
        .read_file(daemon_path, MAX_CONFIG_BYTES)
        .map_err(|e: ReadError| RegistryHostsError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let daemon =
        crate::snapshot::parse_daemon_json(&String::from_utf8_lossy(&bytes)).map_err(|reason| {
            RegistryHostsError::Read {
                path: shown.clone(),
                reason,
            }
        })?;
    if daemon.registry_mirrors.is_empty() && daemon.insecure_registries.is_empty() {
        return Err(RegistryHostsError::Nothing { path: shown });
    }
    let configured = node
        .read_file(containerd_config, MAX_CONFIG_BYTES)
        .ok()
        .and_then(|b| crate::containerd_config::parse(&String::from_utf8_lossy(&b)).ok())
        .and_then(|c| c.cri.registry_config_path)
        .and_then(|p| p.split(':').find(|d| !d.is_empty()).map(PathBuf::from));
    let config_path_set = configured.is_some();
    let config_dir = config_dir
        .or(configured)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR));
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut add = |host: String, text: String| {
        let path = config_dir.join(&host).join("hosts.toml");
        let existing = node.read_file(&path, MAX_CONFIG_BYTES).ok();
        files.push(HostsFile {
            host,
            path,
            text,
            existing,
        });
    };
    if !daemon.registry_mirrors.is_empty() {
        add(
            "docker.io".to_string(),
            docker_hub_hosts(&daemon.registry_mirrors),
        );
    }
    for entry in &daemon.insecure_registries {
        match host_of(entry) {
            Ok(host) => add(host.clone(), insecure_hosts(&host)),
            Err(why) => skipped.push((entry.clone(), why)),
        }
    }
    Ok(RegistryHostsPlan {
        config_dir,
        config_path_set,
        files,
        skipped,
    })
}

impl RegistryHostsPlan {
    /// The files to create or change as a unified diff with node paths.
    pub fn unified_diff(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.files.iter().filter(|f| !f.unchanged()) {
            crate::rewrite::file_diff(
                &mut out,
                &f.path,
                f.existing.as_deref().unwrap_or_default(),
                f.text.as_bytes(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemNode;

    #[test]
    fn hosts_files_parse_as_toml() {
        let hub = docker_hub_hosts(&["mirror.example".into(), "https://m2.example/".into()]);
        let t: toml::Table = hub.parse().unwrap();
        assert_eq!(t["server"].as_str(), Some("https://registry-1.docker.io"));
        let hosts = t["host"].as_table().unwrap();
        assert!(hosts.contains_key("https://mirror.example"));
        assert!(hosts.contains_key("https://m2.example"));
        let insecure: toml::Table = insecure_hosts("r.example:5000").parse().unwrap();
        assert_eq!(
            insecure["host"]["https://r.example:5000"]["skip_verify"].as_bool(),
            Some(true)
        );
    }

    #[test]
    fn hosts_and_what_cannot_be_carried() {
        assert_eq!(host_of("http://r.example:5000/").unwrap(), "r.example:5000");
        assert!(host_of("10.0.0.0/8").unwrap_err().contains("CIDR"));
        assert!(host_of("r/../x").is_err());
        assert!(host_of("").is_err());
    }

    #[test]
    fn plans_under_the_configured_path() {
        let mut node = MemNode::new();
        node.file(
            "/etc/docker/daemon.json",
            r#"{"registry-mirrors":["https://m.example"],"insecure-registries":["r.example:5000","10.0.0.0/8"]}"#,
            0o644,
        );
        node.file(
            "/etc/containerd/config.toml",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/hosts:/etc/docker/certs.d\"\n",
            0o644,
        );
        let p = plan(&node, Path::new("/etc/containerd/config.toml"), None).unwrap();
        assert!(p.config_path_set);
        assert_eq!(
            p.files[0].path,
            Path::new("/etc/containerd/hosts/docker.io/hosts.toml")
        );
        assert_eq!(p.files[1].host, "r.example:5000");
        assert_eq!(p.skipped.len(), 1);
        let diff = String::from_utf8(p.unified_diff()).unwrap();
        assert!(diff.contains("+++ b/etc/containerd/hosts/docker.io/hosts.toml"));
    }
}

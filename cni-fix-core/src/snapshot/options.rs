//! What to check, and how: the options of a check and why one cannot run.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kubelet::KubeletVersion;
use crate::plugins_release::PluginsRelease;
use crate::runtime::{ContainerdVersion, RuntimeVersion};

/// The containerd config's default node path.
pub const DEFAULT_CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";

/// How plugin versions are learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProbeMode {
    /// Run each plugin with `CNI_COMMAND=VERSION`.
    Exec,
    /// Read each plugin's binary without running it (see [`crate::static_probe`]).
    Static,
    /// Run and read nothing.
    None,
}

/// What to check, and how. Node paths are absolute paths on the node, read under `root`.
///
/// Build it from [`CheckOptions::for_root`] (or `default()`, the live node) and the setters:
///
/// ```
/// use cni_fix_core::{CheckOptions, ContainerdVersion, ProbeMode};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let options = CheckOptions::for_root("/host")
///     .containerd_version(ContainerdVersion::parse("1.6.3")?)
///     .probe(ProbeMode::Static)
///     .bin_dir("/opt/cni/bin");
/// assert_eq!(options.bin_dirs.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckOptions {
    /// The node's root directory; `/` is the live node.
    pub root: PathBuf,
    /// containerd's config (a node path). `None`: the default `/etc/containerd/config.toml`,
    /// which may be missing (containerd then runs on its defaults); a path given here must
    /// exist.
    pub containerd_config: Option<PathBuf>,
    /// Overrides the config's `conf_dir`.
    pub conf_dir: Option<PathBuf>,
    /// Override the config's plugin directories when not empty.
    pub bin_dirs: Vec<PathBuf>,
    /// Overrides the config's `max_conf_num`.
    pub max_conf_num: Option<i64>,
    /// The containerd version, instead of asking `containerd --version`; also the way to ask
    /// what an upgrade to that version would break.
    pub containerd_version: Option<ContainerdVersion>,
    /// The cri-dockerd version, instead of asking `cri-dockerd --version`: the plugins run
    /// under cri-dockerd, as that release runs them.
    pub cri_dockerd_version: Option<RuntimeVersion>,
    /// How to learn plugin versions; `None` chooses: with an assumed plugins release, that
    /// alone; otherwise `exec` on the live node and `static` under another root (a copied tree
    /// may come from another machine or architecture, and its binaries must not run here).
    pub probe: Option<ProbeMode>,
    /// Take plugin versions from this containernetworking/plugins release.
    pub assume_plugins_release: Option<PluginsRelease>,
    /// How long one probe may take.
    pub probe_timeout: Duration,
    /// The kubelet version, instead of asking `kubelet --version`; also the way to ask what
    /// a kubelet upgrade would break.
    pub kubelet_version: Option<KubeletVersion>,
    /// The Node object (`kubectl get node NAME -o yaml|json`), for kubeadm's `cri-socket`
    /// annotation and the runtime the API server sees.
    pub node_object: Option<NodeObjectFile>,
}

/// A Node object's text and a name for it in messages (the file it came from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeObjectFile {
    /// What to call it, such as the file's path.
    pub name: String,
    /// Its YAML or JSON text.
    pub text: String,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            root: PathBuf::from("/"),
            containerd_config: None,
            conf_dir: None,
            bin_dirs: Vec::new(),
            max_conf_num: None,
            containerd_version: None,
            cri_dockerd_version: None,
            probe: None,
            assume_plugins_release: None,
            probe_timeout: Duration::from_secs(5),
            kubelet_version: None,
            node_object: None,
        }
    }
}

impl CheckOptions {
    /// containerd's config at this node path (which must exist).
    pub fn containerd_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.containerd_config = Some(path.into());
        self
    }

    /// This conf dir instead of the config's `conf_dir`.
    pub fn conf_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.conf_dir = Some(path.into());
        self
    }

    /// One more plugin directory; any replaces the config's `bin_dir`/`bin_dirs`.
    pub fn bin_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.bin_dirs.push(path.into());
        self
    }

    /// This `max_conf_num` instead of the config's (0: all).
    pub fn max_conf_num(mut self, n: i64) -> Self {
        self.max_conf_num = Some(n);
        self
    }

    /// This containerd version instead of asking `containerd --version`.
    pub fn containerd_version(mut self, v: ContainerdVersion) -> Self {
        self.containerd_version = Some(v);
        self
    }

    /// This cri-dockerd version instead of asking `cri-dockerd --version`.
    pub fn cri_dockerd_version(mut self, v: RuntimeVersion) -> Self {
        self.cri_dockerd_version = Some(v);
        self
    }

    /// This kubelet version instead of asking `kubelet --version`.
    pub fn kubelet_version(mut self, v: KubeletVersion) -> Self {
        self.kubelet_version = Some(v);
        self
    }

    /// Read this Node object.
    pub fn node_object(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.node_object = Some(NodeObjectFile {
            name: name.into(),
            text: text.into(),
        });
        self
    }

    /// Learn plugin versions this way.
    pub fn probe(mut self, mode: ProbeMode) -> Self {
        self.probe = Some(mode);
        self
    }

    /// Take plugin versions from this containernetworking/plugins release.
    pub fn assume_plugins_release(mut self, release: PluginsRelease) -> Self {
        self.assume_plugins_release = Some(release);
        self
    }

    /// How long one probe may take.
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// How plugin versions are learnt on a node that is (or is not) the live one: the mode
    /// given, else none with an assumed release, exec on the live node, static elsewhere.
    pub fn probe_mode(&self, live: bool) -> ProbeMode {
        self.probe
            .unwrap_or(if self.assume_plugins_release.is_some() {
                ProbeMode::None
            } else if live {
                ProbeMode::Exec
            } else {
                ProbeMode::Static
            })
    }

    /// Options for the node under `root`, everything else at its default.
    pub fn for_root(root: impl Into<PathBuf>) -> Self {
        CheckOptions {
            root: root.into(),
            ..CheckOptions::default()
        }
    }
}

/// Why a check could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The root directory cannot be read.
    #[error("root {path}")]
    Root {
        /// The root given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The root is not a directory.
    #[error("root {path}: not a directory")]
    RootNotADirectory {
        /// The root given.
        path: PathBuf,
    },
    /// The containerd config named explicitly does not exist. (A missing default config is
    /// fine: containerd then runs on its defaults.)
    #[error("containerd config {path}")]
    ContainerdConfig {
        /// The node path given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A node path is not absolute.
    #[error("the {what} must be an absolute node path, not {path:?}")]
    RelativePath {
        /// Which option.
        what: &'static str,
        /// The path given.
        path: PathBuf,
    },
}

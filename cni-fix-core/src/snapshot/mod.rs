//! A snapshot of a node: containerd's CNI settings and version, the conf dir as containerd
//! loads it, and the plugins the loaded networks need.

mod conf_dir;
mod load;
mod migration;
mod options;
mod plugins;
mod runtime;

pub use conf_dir::{
    looks_like_config, ConfFile, Contents, FileProblem, FileStatus, RereadError, TextFacts,
};
pub use load::LoadOutcome;
pub(crate) use migration::is_kubelet_command_line;
pub use migration::{
    parse_daemon_json, BadFile, CommandSource, CriDockerd, DaemonJson, DockerInfo, DockerUse,
    Installed, KubeletInfo, KubeletVersionSource, MigrationState, SettingSource, Sourced,
};
pub use options::{CheckError, CheckOptions, NodeObjectFile, ProbeMode, DEFAULT_CONTAINERD_CONFIG};
pub(crate) use plugins::static_reading;
pub use plugins::{PluginInfo, VersionSource, Versions};
pub use runtime::{Effective, RuntimeInfo, RuntimeSource};

use runtime::determine_runtime;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::conf::LibcniGeneration;
use crate::containerd_config::{self, ContainerdConfig, DEFAULT_CONF_DIR, DEFAULT_MAX_CONF_NUM};
use crate::node::{self, display_path, NodeFs, ReadError, MAX_CONFIG_BYTES};
use crate::plugins_release::PluginsRelease;
use crate::runtime::CniHost;
use crate::shim;
use crate::source::{NodeSource, Prober, SystemProber};

/// What became of containerd's config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerdConfigState {
    /// No file: containerd's defaults apply.
    Missing,
    /// It exists but could not be read.
    Unreadable(String),
    /// cni-fix could not read it, though containerd would (see [`Snapshot::incomplete`]);
    /// defaults are used.
    Unread,
    /// It could not be parsed; defaults are used.
    Invalid(String),
    /// Parsed.
    Parsed(Box<ContainerdConfig>),
}

/// Something the runtime reads that cni-fix could not: the check is incomplete, and its
/// verdict unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// The node path.
    pub path: PathBuf,
    /// What it is (`config file`, `conf dir`, `plugin dir`, `plugin`, `containerd config`).
    pub what: &'static str,
    /// Why cni-fix could not read it, and what would let it.
    pub reason: String,
}

/// Owner and mode of a file or directory the runtime trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// The node path.
    pub path: PathBuf,
    /// What it is, for messages (`conf dir`, `config file`, `plugin dir`, `plugin`).
    pub what: &'static str,
    /// The config file it belongs to, for grouping.
    pub file: Option<String>,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
}

/// Everything cni-fix knows about a node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Snapshot {
    /// The node's file system.
    pub node: Arc<dyn NodeSource>,
    /// containerd's config node path.
    pub containerd_config_path: PathBuf,
    /// What became of it.
    pub containerd_config: ContainerdConfigState,
    /// The conf dir in effect.
    pub conf_dir: PathBuf,
    /// The plugin directories in effect.
    pub bin_dirs: Vec<PathBuf>,
    /// `max_conf_num` in effect (0 or less: all).
    pub max_conf_num: i64,
    /// Whether containerd brings up `lo` itself instead of running the loopback plugin.
    pub internal_loopback: bool,
    /// The runtime.
    pub runtime: RuntimeInfo,
    /// How the runtime's libcni reads configs.
    pub generation: LibcniGeneration,
    /// Why the conf dir could not be listed (`None` when listed or missing).
    pub conf_dir_error: Option<String>,
    /// Whether the conf dir does not exist.
    pub conf_dir_missing: bool,
    /// The conf dir's config-like entries, in byte order of their names.
    pub files: Vec<ConfFile>,
    /// containerd's load of them.
    pub load: LoadOutcome,
    /// The plugins needed, by type.
    pub plugins: Vec<PluginInfo>,
    /// How plugin versions were learnt.
    pub probe: ProbeMode,
    /// The plugins release assumed, if any.
    pub assumed_release: Option<PluginsRelease>,
    /// Ownership of the trusted files and directories.
    pub ownership: Vec<Ownership>,
    /// What cni-fix could not read though the runtime would: a check with any is incomplete.
    pub incomplete: Vec<Unread>,
    /// containerd's `conf_template`, when its config sets one.
    pub conf_template: Option<ConfTemplate>,
    /// The node beyond CNI that a runtime migration changes: the kubelet, Docker, the Node.
    pub migration: MigrationState,
}

/// containerd's `conf_template`: the file containerd renders into
/// `<conf dir>/10-containerd-net.conflist` when it has no network and the kubelet sends the
/// node's pod CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfTemplate {
    /// The template's node path, as the config gives it.
    pub path: PathBuf,
    /// Its text, or why it could not be read.
    pub text: Result<String, String>,
}

/// The reason for an [`Unread`] entry, from the read error, or `None` when the error is the
/// node's problem rather than cni-fix's limit.
pub(super) fn own_read_limit(e: &ReadError) -> Option<String> {
    match e {
        ReadError::Denied if !node::running_as_root() => Some(
            "permission denied; run cni-fix as root, as the runtime runs".to_string(),
        ),
        ReadError::TooLarge { size, cap } => Some(format!(
            "it is {size} bytes, more than the {cap} bytes cni-fix reads; the runtime reads files of any size, so cni-fix cannot tell what it makes of this one"
        )),
        _ => None,
    }
}

fn require_absolute(what: &'static str, p: &Path) -> Result<(), CheckError> {
    if p.is_absolute() {
        Ok(())
    } else {
        Err(CheckError::RelativePath {
            what,
            path: p.to_path_buf(),
        })
    }
}

/// containerd's config as the release `reading` reads it. A path the operator named must
/// exist; cni-fix's own read limits go to `incomplete`.
fn read_containerd_config(
    node: &dyn NodeSource,
    path: &Path,
    explicit: bool,
    reading: Option<&crate::containerd_config::ConfigReading>,
    incomplete: &mut Vec<Unread>,
) -> Result<ContainerdConfigState, CheckError> {
    let shown_config = display_path(path);
    Ok(match node.read_file(path, MAX_CONFIG_BYTES) {
        Err(e @ ReadError::Io { .. }) => match node.symlink_metadata(path) {
            // Nothing there at all: containerd runs on its defaults, unless the path was named.
            Err(source) if explicit => {
                return Err(CheckError::ContainerdConfig {
                    path: path.to_path_buf(),
                    source,
                })
            }
            Err(_) => ContainerdConfigState::Missing,
            // It exists (a dangling link, a loop): the runtime cannot read it either.
            Ok(_) => ContainerdConfigState::Unreadable(e.to_string()),
        },
        Err(e) => match own_read_limit(&e) {
            Some(reason) => {
                incomplete.push(Unread {
                    path: path.to_path_buf(),
                    what: "containerd config",
                    reason,
                });
                ContainerdConfigState::Unread
            }
            None => ContainerdConfigState::Unreadable(e.to_string()),
        },
        Ok(bytes) => match std::str::from_utf8(&bytes) {
            Err(e) => ContainerdConfigState::Invalid(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            )),
            Ok(text) => match containerd_config::parse_raw(text)
                .and_then(|raw| raw.read_by(reading, &shown_config))
            {
                Ok(c) => ContainerdConfigState::Parsed(Box::new(c)),
                Err(e) => ContainerdConfigState::Invalid(e.message),
            },
        },
    })
}

/// containerd's `conf_template` file, read from the node.
fn read_template(node: &dyn NodeSource, template: &str) -> ConfTemplate {
    let path = PathBuf::from(template);
    let text = if path.is_absolute() {
        node.read_file(&path, MAX_CONFIG_BYTES)
            .map_err(|e| e.to_string())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    } else {
        Err(
            "not an absolute path; containerd resolves it against its own working directory"
                .to_string(),
        )
    };
    ConfTemplate { path, text }
}

/// The conf dir, plugin directories and `max_conf_num` in effect: the options' overrides, else
/// the config's settings, else containerd's defaults.
fn in_effect(
    options: &CheckOptions,
    settings: &crate::containerd_config::CniSettings,
) -> (PathBuf, Vec<PathBuf>, i64) {
    let conf_dir = options.conf_dir.clone().unwrap_or_else(|| {
        PathBuf::from(
            settings
                .conf_dir
                .clone()
                .unwrap_or_else(|| DEFAULT_CONF_DIR.to_string()),
        )
    });
    let bin_dirs: Vec<PathBuf> = if options.bin_dirs.is_empty() {
        settings
            .effective_bin_dirs()
            .into_iter()
            .map(PathBuf::from)
            .collect()
    } else {
        options.bin_dirs.clone()
    };
    let max_conf_num = options
        .max_conf_num
        .or(settings.max_conf_num)
        .unwrap_or(DEFAULT_MAX_CONF_NUM);
    (conf_dir, bin_dirs, max_conf_num)
}

/// The conf dir and plugin directories of a Docker Engine shim: the options' overrides, else
/// the flags of cri-dockerd's unit (or, for dockershim, the kubelet's), else the defaults. It
/// uses one network, so `max_conf_num` is 1.
fn shim_dirs(
    options: &CheckOptions,
    host: CniHost,
    migration: &MigrationState,
) -> (PathBuf, Vec<PathBuf>, i64) {
    let flag = |name: &str| migration.shim_flag(host, name);
    let conf_dir = options.conf_dir.clone().unwrap_or_else(|| {
        PathBuf::from(flag("cni-conf-dir").unwrap_or_else(|| shim::DEFAULT_CONF_DIR.to_string()))
    });
    let bin_dirs = if options.bin_dirs.is_empty() {
        shim::split_dirs(&flag("cni-bin-dir").unwrap_or_else(|| shim::DEFAULT_BIN_DIR.to_string()))
            .into_iter()
            .map(PathBuf::from)
            .collect()
    } else {
        options.bin_dirs.clone()
    };
    (conf_dir, bin_dirs, 1)
}

impl Snapshot {
    /// Why the CNI rules (which model the CNI stacks of containerd, cri-dockerd and dockershim)
    /// do not apply to this node, or `None` when they do: the kubelet uses CRI-O (which reads
    /// the conf dir its own way) and no containerd version was given to ask about a move to
    /// containerd, or Docker Engine's shim runs without its `cni` network plugin.
    pub fn cni_not_checked(&self) -> Option<String> {
        if self.runtime.host == CniHost::Containerd
            && self.runtime.source != RuntimeSource::Flag
            && self.migration.kubelet.runtime == crate::kubelet::RuntimeKind::CriO
        {
            return Some(
                "the kubelet uses CRI-O, which reads the conf dir its own way; cni-fix checks the CNI stacks of containerd, cri-dockerd and dockershim".to_string(),
            );
        }
        match self.runtime.network_plugin.as_deref() {
            Some("cni") | None => None,
            Some(plugin) => {
                let host = self.runtime.host.name();
                let shown = if plugin.is_empty() {
                    "no network plugin (--network-plugin is unset)".to_string()
                } else {
                    format!("--network-plugin={plugin}")
                };
                Some(format!(
                    "{host} runs with {shown}, which does not read the conf dir; set --network-plugin=cni to use it"
                ))
            }
        }
    }

    /// Read the node described by `options`.
    pub fn gather(options: &CheckOptions) -> Result<Snapshot, CheckError> {
        Snapshot::gather_from(options, open_root(options)?, &SystemProber)
    }

    /// Everything but the conf dir: the kubelet, the runtime, containerd's config and template.
    fn gather_node(
        options: &CheckOptions,
        node: Arc<dyn NodeSource>,
        prober: &dyn Prober,
    ) -> Result<Snapshot, CheckError> {
        if let Some(p) = &options.containerd_config {
            require_absolute("containerd config", p)?;
        }
        if let Some(p) = &options.conf_dir {
            require_absolute("conf dir", p)?;
        }
        for p in &options.bin_dirs {
            require_absolute("plugin dir", p)?;
        }

        let containerd_config_path = options
            .containerd_config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTAINERD_CONFIG));
        let mut incomplete = Vec::new();
        let mut bad_node_object = None;
        let node_object = options.node_object.as_ref().and_then(|f| {
            match crate::kubelet::NodeObject::parse(&f.text) {
                Ok(n) => Some((f.name.clone(), n)),
                Err(e) => {
                    bad_node_object = Some(BadFile {
                        origin: crate::systemd::Origin {
                            path: PathBuf::from(&f.name),
                            line: 0,
                        },
                        what: "Node object",
                        message: e,
                        fatal: false,
                    });
                    None
                }
            }
        });
        // The kubelet first: it tells which program runs the plugins. On a live node
        // `containerd --version` runs meanwhile, rather than after the kubelet's answer; on a
        // node whose kubelet uses Docker Engine its answer goes unused.
        let (mut migration, early) = std::thread::scope(|s| {
            let early = runtime::asks_containerd(options, node.as_ref())
                .then(|| s.spawn(|| prober.containerd_version(options.probe_timeout)));
            let migration = migration::gather(
                node.as_ref(),
                prober,
                migration::KubeletInputs {
                    version: options.kubelet_version.as_ref(),
                    node_object: node_object.as_ref().map(|(_, n)| n),
                    timeout: options.probe_timeout,
                },
                node_object.clone(),
                &mut incomplete,
            );
            let early = early.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (migration, early)
        });
        migration.bad_files.extend(bad_node_object);
        let runtime = determine_runtime(options, node.as_ref(), prober, &migration, early);
        let reading = runtime.release().map(|r| &r.config);
        let containerd_config = read_containerd_config(
            node.as_ref(),
            &containerd_config_path,
            options.containerd_config.is_some(),
            reading,
            &mut incomplete,
        )?;
        let settings = match &containerd_config {
            ContainerdConfigState::Parsed(c) => c.cni.clone(),
            _ => Default::default(),
        };
        let (conf_dir, bin_dirs, max_conf_num) = match runtime.host {
            CniHost::Containerd => in_effect(options, &settings),
            host => shim_dirs(options, host, &migration),
        };
        let effective = runtime.effective().line;
        let generation = effective.libcni_generation();
        let internal_loopback = settings.use_internal_loopback == Some(true)
            && runtime
                .release()
                .is_some_and(|r| r.internal_loopback_option);

        let mut snap = Snapshot {
            node,
            containerd_config_path,
            containerd_config,
            conf_dir,
            bin_dirs,
            max_conf_num,
            internal_loopback,
            runtime,
            generation,
            conf_dir_error: None,
            conf_dir_missing: false,
            files: Vec::new(),
            load: LoadOutcome::default(),
            plugins: Vec::new(),
            probe: ProbeMode::None,
            assumed_release: options.assume_plugins_release.clone(),
            ownership: Vec::new(),
            incomplete,
            conf_template: None,
            migration,
        };
        // Only containerd renders its template into the conf dir.
        snap.conf_template = settings
            .conf_template
            .as_deref()
            .filter(|_| snap.runtime.host == CniHost::Containerd)
            .map(|t| read_template(snap.node.as_ref(), t));
        Ok(snap)
    }

    /// Read the node `node` as `options` describe it (their `root` is not used), learning
    /// versions through `prober`. A node agent that holds the files, or a test, passes a
    /// [`crate::source::MemNode`] and a prober of its own.
    pub fn gather_from(
        options: &CheckOptions,
        node: Arc<dyn NodeSource>,
        prober: &dyn Prober,
    ) -> Result<Snapshot, CheckError> {
        let mut snap = Snapshot::gather_node(options, node, prober)?;
        snap.read_conf_dir();
        snap.settle_load(options, prober);
        Ok(snap)
    }

    /// [`Snapshot::gather_from`] as far as the runtime's load of the conf dir needs: the files
    /// up to the point where it is settled, read `window` at a time (then twice as many each
    /// round), and the conf dir's later entries, not read. The snapshot's files are a prefix
    /// of the whole conf dir's, and all it says of them is what a whole snapshot says.
    pub(crate) fn gather_settled(
        options: &CheckOptions,
        node: Arc<dyn NodeSource>,
        prober: &dyn Prober,
        window: usize,
    ) -> Result<(Snapshot, std::vec::IntoIter<crate::node::DirEntry>), CheckError> {
        let mut snap = Snapshot::gather_node(options, node, prober)?;
        let mut rest = snap.list_conf_dir().unwrap_or_default().into_iter();
        let first_valid = snap.runtime.effective().line.loads_first_valid();
        let mut batch = window.max(1);
        let mut networks = 0i64;
        // Whether the load was settled over the files read so far.
        let mut current = false;
        while rest.len() > 0 {
            let (part, unread) = snap.read_entries(rest.by_ref().take(batch));
            snap.incomplete.extend(unread);
            networks += part.iter().filter(|f| f.network().is_some()).count() as i64;
            snap.files.extend(part);
            batch = batch.saturating_mul(2);
            current = false;
            let settled = if first_valid {
                // dockershim's load is settled at the first network whose plugins pass,
                // which takes the plugins' versions.
                networks > 0 && {
                    snap.settle_load(options, prober);
                    current = true;
                    !snap.load.loaded.is_empty()
                }
            } else {
                // go-cni loads (and the network rules check) the first `max_conf_num` networks.
                snap.max_conf_num > 0 && networks >= snap.max_conf_num
            };
            if settled {
                break;
            }
        }
        if !current {
            snap.settle_load(options, prober);
        }
        Ok((snap, rest))
    }

    /// The runtime's load of the files read, the plugins it needs, and who owns what it
    /// trusts.
    fn settle_load(&mut self, options: &CheckOptions, prober: &dyn Prober) {
        self.simulate_load();
        self.find_plugins(options, prober);
        if self.runtime.effective().line.loads_first_valid() {
            self.settle_first_valid();
        }
        self.collect_ownership();
    }

    fn collect_ownership(&mut self) {
        let mut out = Vec::new();
        let record =
            |node: &dyn NodeSource, path: &Path, what: &'static str, file: Option<String>| {
                node.metadata(path).ok().map(|m| Ownership {
                    path: path.to_path_buf(),
                    what,
                    file,
                    mode: m.mode,
                    uid: m.uid,
                })
            };
        let node = self.node.as_ref();
        if self.conf_dir_error.is_none() && !self.conf_dir_missing {
            out.extend(record(node, &self.conf_dir, "conf dir", None));
        }
        for f in &self.files {
            out.extend(file_ownership(node, f));
        }
        for d in &self.bin_dirs {
            out.extend(record(node, d, "plugin dir", None));
        }
        for p in self.plugins.iter().filter(|p| p.needed) {
            if let Some(path) = &p.path {
                out.extend(record(node, path, "plugin", None));
            }
        }
        self.ownership = out;
    }
}

/// The node on disk under `options.root`, refused when the root is missing or not a directory.
pub(crate) fn open_root(options: &CheckOptions) -> Result<Arc<dyn NodeSource>, CheckError> {
    match std::fs::metadata(&options.root) {
        Ok(m) if m.is_dir() => Ok(Arc::new(NodeFs::new(&options.root))),
        Ok(_) => Err(CheckError::RootNotADirectory {
            path: options.root.clone(),
        }),
        Err(e) => Err(CheckError::Root {
            path: options.root.clone(),
            source: e,
        }),
    }
}

/// A read config file's owner and mode: learned as it was read, asked again only of a source
/// that did not say.
pub(crate) fn file_ownership(node: &dyn NodeSource, f: &ConfFile) -> Option<Ownership> {
    f.text()?;
    let (mode, uid) = match f.owner {
        Some(o) => o,
        None => node.metadata(&f.path).ok().map(|m| (m.mode, m.uid))?,
    };
    Some(Ownership {
        path: f.path.clone(),
        what: "config file",
        file: Some(f.display()),
        mode,
        uid,
    })
}

#[cfg(test)]
mod concurrent_probes {
    use super::*;
    use crate::kubelet::KubeletVersion;
    use crate::probe::ProbeError;
    use crate::source::{FileInfo, MemNode};
    use crate::ContainerdVersion;
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A node in memory that says it is live, so that its programs are asked.
    #[derive(Debug)]
    struct Live(MemNode);

    impl NodeSource for Live {
        fn root(&self) -> &Path {
            Path::new("/")
        }
        fn is_live(&self) -> bool {
            true
        }
        fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<crate::node::DirEntry>> {
            self.0.read_dir(dir)
        }
        fn read_file(&self, path: &Path, cap: u64) -> Result<Vec<u8>, crate::node::ReadError> {
            self.0.read_file(path, cap)
        }
        fn metadata(&self, path: &Path) -> std::io::Result<FileInfo> {
            self.0.metadata(path)
        }
        fn symlink_metadata(&self, path: &Path) -> std::io::Result<FileInfo> {
            self.0.symlink_metadata(path)
        }
        fn canonical_node_path(&self, path: &Path) -> std::io::Result<PathBuf> {
            self.0.canonical_node_path(path)
        }
    }

    /// `kubelet --version` answers only once `containerd --version` has been asked: a check
    /// that asks them one after the other gets no kubelet version.
    struct Overlap {
        asked: Mutex<mpsc::Sender<()>>,
        heard: Mutex<mpsc::Receiver<()>>,
    }

    impl Prober for Overlap {
        fn exec_versions(
            &self,
            _: &dyn NodeSource,
            binaries: &[PathBuf],
            _: Duration,
        ) -> Vec<Result<Vec<String>, ProbeError>> {
            binaries
                .iter()
                .map(|_| Ok(vec!["1.0.0".to_string()]))
                .collect()
        }
        fn containerd_version(&self, _: Duration) -> Result<ContainerdVersion, String> {
            let _ = self.asked.lock().unwrap().send(());
            ContainerdVersion::parse("1.7.20").map_err(|e| e.to_string())
        }
        fn kubelet_version(
            &self,
            _: &dyn NodeSource,
            _: &Path,
            _: Duration,
        ) -> Result<KubeletVersion, String> {
            match self
                .heard
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10))
            {
                Ok(()) => Ok(KubeletVersion::parse("1.30.2").unwrap()),
                Err(_) => Err("containerd was not asked while the kubelet was".into()),
            }
        }
    }

    #[test]
    fn containerd_is_asked_while_the_kubelet_is() {
        let mut node = MemNode::new();
        node.file(
            "/lib/systemd/system/kubelet.service",
            "[Service]\nExecStart=/usr/bin/kubelet --container-runtime-endpoint=unix:///run/containerd/containerd.sock\n",
            0o644,
        );
        node.file("/usr/bin/kubelet", "", 0o755);
        let (tx, rx) = mpsc::channel();
        let prober = Overlap {
            asked: Mutex::new(tx),
            heard: Mutex::new(rx),
        };
        let snap = Snapshot::gather_from(
            &CheckOptions::default().probe(ProbeMode::None),
            Arc::new(Live(node)),
            &prober,
        )
        .unwrap();
        assert_eq!(
            snap.migration
                .kubelet
                .version
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("1.30.2"),
            "{:?}",
            snap.migration.kubelet
        );
        assert_eq!(
            snap.runtime.version.as_ref().map(|v| v.raw.as_str()),
            Some("1.7.20")
        );
    }
}

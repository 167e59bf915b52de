//! A snapshot of a node: containerd's CNI settings and version, the conf dir as containerd
//! loads it, and the plugins the loaded networks need.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::conf::{self, FileForm, LibcniGeneration, NetworkList};
use crate::containerd_config::{self, ContainerdConfig, DEFAULT_CONF_DIR, DEFAULT_MAX_CONF_NUM};
use crate::node::{self, display_path, io_message, EntryKind, NodeFs, ReadError, MAX_CONFIG_BYTES};
use crate::plugins_release::PluginsRelease;
use crate::probe::ProbeError;
use crate::runtime::{containerd_release, ContainerdRelease, ContainerdVersion};
use crate::source::{NodeSource, Prober, SystemProber};

/// The containerd config's default node path.
pub const DEFAULT_CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";

/// How plugin versions are learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeMode {
    /// Run each plugin with `CNI_COMMAND=VERSION`.
    Exec,
    /// Read each plugin's binary without running it (see [`crate::static_probe`]).
    Static,
    /// Run and read nothing.
    None,
}

/// What to check, and how. Node paths are absolute paths on the node, read under `root`.
#[derive(Debug, Clone)]
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
    /// How to learn plugin versions; `None` chooses: with an assumed plugins release, that
    /// alone; otherwise `exec` on the live node and `static` under another root (a copied tree
    /// may come from another machine or architecture, and its binaries must not run here).
    pub probe: Option<ProbeMode>,
    /// Take plugin versions from this containernetworking/plugins release.
    pub assume_plugins_release: Option<PluginsRelease>,
    /// How long one probe may take.
    pub probe_timeout: Duration,
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
            probe: None,
            assume_plugins_release: None,
            probe_timeout: Duration::from_secs(5),
        }
    }
}

impl CheckOptions {
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
pub enum CheckError {
    /// The root directory is missing or not a directory.
    #[error("root {path}: {reason}")]
    Root {
        /// The root given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The containerd config named explicitly does not exist. (A missing default config is
    /// fine: containerd then runs on its defaults.)
    #[error("containerd config {path}: {reason}")]
    ContainerdConfig {
        /// The node path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A node path is not absolute.
    #[error("{what} must be an absolute node path, not {path:?}")]
    RelativePath {
        /// Which option.
        what: &'static str,
        /// The path given.
        path: PathBuf,
    },
}

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
    Parsed(ContainerdConfig),
}

/// Where the runtime version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeSource {
    /// `--containerd-version`.
    Flag,
    /// `containerd --version`.
    Exec,
    /// Not determined.
    Unknown,
}

/// The container runtime.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// The version, when known.
    pub version: Option<ContainerdVersion>,
    /// Where it came from.
    pub source: RuntimeSource,
    /// Its release line in cni-fix's table, when known.
    pub release: Option<&'static ContainerdRelease>,
    /// Why the version or its behaviour is unknown.
    pub problem: Option<String>,
}

/// The status of a conf dir entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileStatus {
    /// containerd loads it.
    Loaded,
    /// Valid, but containerd does not load it (past `max_conf_num`, or the load stopped at an
    /// invalid file).
    Shadowed,
    /// libcni rejects it, or it cannot be read.
    Invalid,
    /// Not a name libcni lists.
    Ignored,
    /// cni-fix could not read it, though the runtime would (see [`Snapshot::incomplete`]).
    Unread,
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

/// Why a loadable file is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// libcni's error.
    pub libcni: String,
    /// go-cni's error when it stops loading at this file.
    pub load_error: String,
    /// Line and column of a JSON syntax error.
    pub line_col: Option<(usize, usize)>,
    /// The file could not be read at all.
    pub unreadable: bool,
}

/// One entry of the conf dir worth reporting.
#[derive(Debug, Clone)]
pub struct ConfFile {
    /// The entry's name.
    pub name: OsString,
    /// Its node path.
    pub path: PathBuf,
    /// What the entry is (from `lstat`).
    pub entry: EntryKind,
    /// How libcni reads it, or `None` when it is not listed.
    pub form: Option<FileForm>,
    /// Its contents, when read.
    pub bytes: Option<Vec<u8>>,
    /// libcni's reading of it (loadable files only).
    pub parsed: Option<Result<NetworkList, FileProblem>>,
    /// What containerd does with it.
    pub status: FileStatus,
    /// When it was last modified, when known.
    pub modified: Option<std::time::SystemTime>,
}

impl ConfFile {
    /// The node path as text.
    pub fn display(&self) -> String {
        display_path(&self.path)
    }

    /// The network, when the file is valid.
    pub fn network(&self) -> Option<&NetworkList> {
        self.parsed.as_ref()?.as_ref().ok()
    }
}

/// How containerd's load of the conf dir ends.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// Indexes into [`Snapshot::files`] of the networks containerd loads, in order.
    pub loaded: Vec<usize>,
    /// The file at which loading stopped with an error, if any.
    pub aborted_at: Option<usize>,
    /// go-cni's error when nothing loads.
    pub error: Option<String>,
    /// The networks checked by the network rules: the loaded ones, or when an invalid file
    /// stops the load, the ones containerd would load once invalid files are removed.
    pub active: Vec<usize>,
}

/// Where a plugin's versions came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionSource {
    /// Its `VERSION` answer.
    Exec,
    /// The containernetworking/plugins release table.
    Assumed,
    /// Read from the binary without running it.
    Static,
    /// Not known.
    Unknown,
}

/// A plugin the loaded networks (or loopback) need.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// The plugin type.
    pub plugin_type: String,
    /// The node path of the binary libcni would run.
    pub path: Option<PathBuf>,
    /// Whether that file is executable.
    pub executable: bool,
    /// Its supported spec versions, when known.
    pub versions: Option<Vec<String>>,
    /// Where they came from.
    pub source: VersionSource,
    /// Why the binary or its versions are unknown.
    pub problem: Option<String>,
    /// Whether a probe was tried and failed (as opposed to no probe being made).
    pub probe_failed: bool,
    /// Whether the runtime's loopback network needs it.
    pub for_loopback: bool,
    /// Whether the networks containerd loads (or loopback) need it; other plugins are looked
    /// up only so that shadowed files can be rewritten.
    pub needed: bool,
    /// How sure a static reading is (`None` for other sources).
    pub confidence: Option<crate::static_probe::Confidence>,
    /// What a static reading was based on.
    pub evidence: Option<String>,
    /// Why cni-fix could not look the binary up or learn its versions where the runtime
    /// could (its own limit, recorded in [`Snapshot::incomplete`]).
    pub unread: Option<String>,
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
fn own_read_limit(e: &ReadError) -> Option<String> {
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

/// Whether a name that libcni does not list looks like a network config someone meant to be
/// read: a config extension in the wrong case or followed by a suffix, YAML, or a template.
pub fn looks_like_config(name: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(name).to_lowercase();
    [".conf", ".json", ".yaml", ".yml", ".template", ".tmpl"]
        .iter()
        .any(|ext| lower.contains(ext))
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

impl Snapshot {
    /// Read the node described by `options`.
    pub fn gather(options: &CheckOptions) -> Result<Snapshot, CheckError> {
        match std::fs::metadata(&options.root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(CheckError::Root {
                    path: options.root.clone(),
                    reason: "not a directory".into(),
                })
            }
            Err(e) => {
                return Err(CheckError::Root {
                    path: options.root.clone(),
                    reason: io_message(&e),
                })
            }
        }
        Snapshot::gather_from(options, Arc::new(NodeFs::new(&options.root)), &SystemProber)
    }

    /// Read the node `node` as `options` describe it (their `root` is not used), learning
    /// versions through `prober`. A node agent that holds the files, or a test, passes a
    /// [`crate::source::MemNode`] and a prober of its own.
    pub fn gather_from(
        options: &CheckOptions,
        node: Arc<dyn NodeSource>,
        prober: &dyn Prober,
    ) -> Result<Snapshot, CheckError> {
        if let Some(p) = &options.containerd_config {
            require_absolute("--containerd-config", p)?;
        }
        if let Some(p) = &options.conf_dir {
            require_absolute("--conf-dir", p)?;
        }
        for p in &options.bin_dirs {
            require_absolute("--bin-dir", p)?;
        }

        let containerd_config_path = options
            .containerd_config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTAINERD_CONFIG));
        let runtime = determine_runtime(options, node.as_ref(), prober);
        let reading = runtime.release.map(|r| &r.config);
        let shown_config = display_path(&containerd_config_path);
        let mut incomplete = Vec::new();
        let containerd_config = match node.read_file(&containerd_config_path, MAX_CONFIG_BYTES) {
            Err(ReadError::Io(m)) if node.symlink_metadata(&containerd_config_path).is_err() => {
                if options.containerd_config.is_some() {
                    return Err(CheckError::ContainerdConfig {
                        path: containerd_config_path,
                        reason: m,
                    });
                }
                ContainerdConfigState::Missing
            }
            Err(e) => match own_read_limit(&e) {
                Some(reason) => {
                    incomplete.push(Unread {
                        path: containerd_config_path.clone(),
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
                    Ok(c) => ContainerdConfigState::Parsed(c),
                    Err(e) => ContainerdConfigState::Invalid(e.message),
                },
            },
        };
        let settings = match &containerd_config {
            ContainerdConfigState::Parsed(c) => c.cni.clone(),
            _ => Default::default(),
        };
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

        let generation = runtime
            .release
            .map(ContainerdRelease::libcni_generation)
            .unwrap_or(LibcniGeneration::Classic);
        let internal_loopback = settings.use_internal_loopback == Some(true)
            && runtime.release.is_some_and(|r| r.internal_loopback_option);

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
        };
        if let Some(t) = settings.conf_template.as_deref() {
            let path = PathBuf::from(t);
            let text = if path.is_absolute() {
                snap.node
                    .read_file(&path, MAX_CONFIG_BYTES)
                    .map_err(|e| e.to_string())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            } else {
                Err("not an absolute path; containerd resolves it against its own working directory".to_string())
            };
            snap.conf_template = Some(ConfTemplate { path, text });
        }
        snap.read_conf_dir();
        snap.simulate_load();
        snap.find_plugins(options, prober);
        snap.collect_ownership();
        Ok(snap)
    }

    fn read_conf_dir(&mut self) {
        let entries = match self.node.read_dir(&self.conf_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.conf_dir_missing = true;
                return;
            }
            Err(e) if node::own_limit(&e) => {
                self.incomplete.push(Unread {
                    path: self.conf_dir.clone(),
                    what: "conf dir",
                    reason: "permission denied; run cni-fix as root, as the runtime runs".into(),
                });
                return;
            }
            Err(e) => {
                self.conf_dir_error = Some(format!(
                    "open {}: {}",
                    display_path(&self.conf_dir),
                    io_message(&e)
                ));
                return;
            }
        };
        let mut files: Vec<ConfFile> = entries
            .into_iter()
            .filter_map(|e| {
                let form = FileForm::of_name(e.name.as_bytes());
                let keep = form.is_some()
                    || (e.kind != EntryKind::Dir && looks_like_config(e.name.as_bytes()));
                if !keep {
                    return None;
                }
                let form = if e.kind == EntryKind::Dir { None } else { form };
                Some(ConfFile {
                    path: node::node_join(&self.conf_dir, &e.name),
                    name: e.name,
                    entry: e.kind,
                    form,
                    bytes: None,
                    parsed: None,
                    status: FileStatus::Ignored,
                    modified: None,
                })
            })
            .collect();
        files.sort_by(|a, b| node::byte_order(&a.name, &b.name));
        let generation = self.generation;
        let node = &self.node;
        let conf_dir = &self.conf_dir;
        let incomplete = &mut self.incomplete;
        for f in files.iter_mut() {
            let Some(form) = f.form else { continue };
            let shown = display_path(&f.path);
            f.modified = node.metadata(&f.path).ok().and_then(|m| m.modified);
            match node.read_file(&f.path, MAX_CONFIG_BYTES) {
                Err(e) if own_read_limit(&e).is_some() => {
                    incomplete.push(Unread {
                        path: f.path.clone(),
                        what: "config file",
                        reason: own_read_limit(&e).unwrap_or_default(),
                    });
                    f.status = FileStatus::Unread;
                }
                Err(e) => {
                    let libcni = match &e {
                        ReadError::Io(m) => format!("error reading {shown}: open {shown}: {m}"),
                        ReadError::Denied => {
                            format!("error reading {shown}: open {shown}: permission denied")
                        }
                        ReadError::NotRegular("directory") => {
                            format!("error reading {shown}: read {shown}: is a directory")
                        }
                        other => format!("error reading {shown}: {other}"),
                    };
                    f.parsed = Some(Err(FileProblem {
                        load_error: go_cni_error(form, &shown, &libcni, false),
                        libcni,
                        line_col: None,
                        unreadable: true,
                    }));
                }
                Ok(bytes) => {
                    let reader = |name: &str| plugin_dir_files(node.as_ref(), conf_dir, name);
                    let parsed = match form {
                        FileForm::ConfList => {
                            conf::parse_conflist(&bytes, generation, Some(&reader))
                                .map_err(|e| (e, false))
                        }
                        FileForm::SingleConf => conf::parse_single_conf(&bytes).map_err(|e| {
                            let convert = matches!(e, conf::SingleConfError::Convert(_));
                            (e.inner().clone(), convert)
                        }),
                    };
                    f.parsed = Some(parsed.map_err(|(e, convert)| FileProblem {
                        load_error: go_cni_error(form, &shown, &e.message, convert),
                        line_col: e.offset.map(|o| crate::json::line_col(&bytes, o)),
                        libcni: e.message,
                        unreadable: false,
                    }));
                    f.bytes = Some(bytes);
                }
            }
        }
        self.files = files;
    }

    /// go-cni's `loadFromConfDir` over the listed files.
    fn simulate_load(&mut self) {
        // Files cni-fix could not read are left out: the report is incomplete, and says so.
        let loadable: Vec<usize> = (0..self.files.len())
            .filter(|&i| self.files[i].form.is_some() && self.files[i].status != FileStatus::Unread)
            .collect();
        let max = self.max_conf_num;
        let full = |n: usize| max > 0 && n as i64 >= max;
        let mut loaded = Vec::new();
        let mut aborted_at = None;
        for &i in &loadable {
            if full(loaded.len()) {
                break;
            }
            match &self.files[i].parsed {
                Some(Ok(_)) => loaded.push(i),
                _ => {
                    aborted_at = Some(i);
                    break;
                }
            }
        }
        for &i in &loadable {
            self.files[i].status = match &self.files[i].parsed {
                Some(Ok(_)) if aborted_at.is_none() && loaded.contains(&i) => FileStatus::Loaded,
                Some(Ok(_)) => FileStatus::Shadowed,
                _ => FileStatus::Invalid,
            };
        }
        let mut active = Vec::new();
        for &i in &loadable {
            if full(active.len()) {
                break;
            }
            if self.files[i].network().is_some() {
                active.push(i);
            }
        }
        let error = if let Some(i) = aborted_at {
            self.files[i]
                .parsed
                .as_ref()
                .and_then(|p| p.as_ref().err())
                .map(|p| p.load_error.clone())
        } else if let Some(e) = &self.conf_dir_error {
            Some(format!(
                "failed to read config file: {e}: failed to read config file"
            ))
        } else if loaded.is_empty()
            && !self
                .incomplete
                .iter()
                .any(|u| u.what == "conf dir" || u.what == "config file")
        {
            Some(format!(
                "no network config found in {}: cni plugin not initialized",
                display_path(&self.conf_dir)
            ))
        } else {
            None
        };
        if aborted_at.is_some() {
            loaded.clear();
        }
        self.load = LoadOutcome {
            loaded,
            aborted_at,
            error,
            active,
        };
    }

    /// The plugin types the active networks need, with the files needing them, plus loopback.
    pub fn needed_plugins(&self) -> BTreeMap<String, Vec<usize>> {
        let mut needed: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        if !self.internal_loopback {
            needed.entry("loopback".to_string()).or_default();
        }
        for &i in &self.load.active {
            let Some(net) = self.files[i].network() else {
                continue;
            };
            for e in crate::chain::executed(net) {
                let files = needed.entry(e.plugin_type.to_string()).or_default();
                if !files.contains(&i) {
                    files.push(i);
                }
            }
        }
        needed
    }

    fn find_plugins(&mut self, options: &CheckOptions, prober: &dyn Prober) {
        let mode = options
            .probe
            .unwrap_or(if options.assume_plugins_release.is_some() {
                ProbeMode::None
            } else if self.node.is_live() {
                ProbeMode::Exec
            } else {
                ProbeMode::Static
            });
        self.probe = mode;
        let needed = self.needed_plugins();
        // Every plugin of every valid file: rewrite may target files containerd does not load.
        let mut types: std::collections::BTreeSet<String> = needed.keys().cloned().collect();
        for f in &self.files {
            if let Some(net) = f.network() {
                types.extend(
                    crate::chain::executed(net)
                        .into_iter()
                        .map(|e| e.plugin_type.to_string()),
                );
            }
        }
        let mut plugins: Vec<PluginInfo> = types
            .iter()
            .map(|t| {
                let mut info = PluginInfo {
                    plugin_type: t.clone(),
                    path: None,
                    executable: false,
                    versions: None,
                    source: VersionSource::Unknown,
                    problem: None,
                    probe_failed: false,
                    for_loopback: t == "loopback" && !self.internal_loopback,
                    needed: needed.contains_key(t),
                    confidence: None,
                    evidence: None,
                    unread: None,
                };
                if t.contains('/') {
                    info.problem = Some(format!("invalid plugin name: {t}"));
                    return info;
                }
                for dir in &self.bin_dirs {
                    let candidate = dir.join(t);
                    match self.node.metadata(&candidate) {
                        Ok(m) if m.is_file() => {
                            info.executable = m.mode & 0o111 != 0;
                            info.path = Some(candidate);
                            break;
                        }
                        Err(e) if node::own_limit(&e) => {
                            info.unread = Some(format!(
                                "cannot look into {}: permission denied; run cni-fix as root, as the runtime runs",
                                display_path(dir)
                            ));
                            break;
                        }
                        _ => {}
                    }
                }
                info
            })
            .collect();

        let mut to_probe: Vec<(usize, PathBuf)> = Vec::new();
        if mode == ProbeMode::Exec {
            for (i, p) in plugins.iter().enumerate() {
                if let (Some(path), true) = (&p.path, p.executable) {
                    to_probe.push((i, path.clone()));
                }
            }
        }
        let paths: Vec<PathBuf> = to_probe.iter().map(|(_, h)| h.clone()).collect();
        let results = prober.exec_versions(self.node.as_ref(), &paths, options.probe_timeout);
        for ((i, _), result) in to_probe.into_iter().zip(results) {
            match result {
                Ok(v) => {
                    plugins[i].versions = Some(v);
                    plugins[i].source = VersionSource::Exec;
                }
                Err(ProbeError::Spawn(m))
                    if m == "permission denied" && !node::running_as_root() =>
                {
                    plugins[i].unread = Some(
                        "cannot run it: permission denied; run cni-fix as root, as the runtime runs"
                            .to_string(),
                    );
                }
                Err(e) => {
                    plugins[i].probe_failed = true;
                    plugins[i].problem = Some(describe_probe_error(&e));
                }
            }
        }
        if mode == ProbeMode::Static {
            let node = &self.node;
            let readings: Vec<Option<Result<crate::static_probe::StaticVersions, String>>> =
                std::thread::scope(|s| {
                    let handles: Vec<_> = plugins
                        .iter()
                        .map(|p| {
                            let path = p.path.clone();
                            let t = p.plugin_type.clone();
                            s.spawn(move || {
                                let path = path?;
                                Some(
                                    node.read_file(&path, crate::static_probe::MAX_BINARY_BYTES)
                                        .map_err(|e| match e {
                                            ReadError::Denied if !node::running_as_root() => {
                                                UNREAD_BINARY.to_string()
                                            }
                                            e => e.to_string(),
                                        })
                                        .and_then(|bytes| {
                                            crate::static_probe::probe_bytes(&bytes, &t)
                                                .map_err(|e| e.to_string())
                                        }),
                                )
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or(None))
                        .collect()
                });
            for (p, reading) in plugins.iter_mut().zip(readings) {
                match reading {
                    Some(Ok(r)) => {
                        p.versions = Some(r.versions);
                        p.source = VersionSource::Static;
                        p.confidence = Some(r.confidence);
                        p.evidence = Some(r.evidence);
                    }
                    Some(Err(e)) if e == UNREAD_BINARY => p.unread = Some(e),
                    Some(Err(e)) => {
                        p.probe_failed = true;
                        p.problem = Some(format!("static probe: {e}"));
                    }
                    None => {}
                }
            }
        }
        for p in plugins.iter_mut() {
            if p.versions.is_some() || p.path.is_none() {
                continue;
            }
            if let Some(reason) = &p.unread {
                if options.assume_plugins_release.is_none() {
                    self.incomplete.push(Unread {
                        path: p.path.clone().unwrap_or_default(),
                        what: "plugin",
                        reason: reason.clone(),
                    });
                    continue;
                }
            }
            if let Some(release) = &options.assume_plugins_release {
                match release.supported_versions(&p.plugin_type) {
                    Some(v) => {
                        p.versions = Some(v.iter().map(|s| s.as_str().to_string()).collect());
                        p.source = VersionSource::Assumed;
                        continue;
                    }
                    None => {
                        let why = format!(
                            "containernetworking/plugins {release} does not tell its versions (not one of that project's plugins, or its list for that release is not known)"
                        );
                        p.problem = Some(match p.problem.take() {
                            Some(prev) => format!("{prev}; {why}"),
                            None => why,
                        });
                        continue;
                    }
                }
            }
            if p.problem.is_none() {
                p.problem = Some(match (mode, p.executable) {
                    (_, false) => "the file is not executable".to_string(),
                    (ProbeMode::None, _) => "no probe was made (--probe none)".to_string(),
                    (ProbeMode::Exec | ProbeMode::Static, _) => {
                        "the probe gave no answer".to_string()
                    }
                });
            }
        }
        for p in &plugins {
            if let (Some(reason), None) = (&p.unread, &p.path) {
                self.incomplete.push(Unread {
                    path: self.bin_dirs.first().cloned().unwrap_or_default(),
                    what: "plugin dir",
                    reason: format!("looking for {}: {reason}", p.plugin_type),
                });
            }
        }
        self.plugins = plugins;
    }

    fn collect_ownership(&mut self) {
        let mut out = Vec::new();
        let mut record =
            |node: &dyn NodeSource, path: &Path, what: &'static str, file: Option<String>| {
                if let Ok(m) = node.metadata(path) {
                    out.push(Ownership {
                        path: path.to_path_buf(),
                        what,
                        file,
                        mode: m.mode,
                        uid: m.uid,
                    });
                }
            };
        if self.conf_dir_error.is_none() && !self.conf_dir_missing {
            record(self.node.as_ref(), &self.conf_dir, "conf dir", None);
        }
        for f in &self.files {
            if f.form.is_some() && f.bytes.is_some() {
                record(
                    self.node.as_ref(),
                    &f.path,
                    "config file",
                    Some(f.display()),
                );
            }
        }
        for d in &self.bin_dirs {
            record(self.node.as_ref(), d, "plugin dir", None);
        }
        for p in self.plugins.iter().filter(|p| p.needed) {
            if let Some(path) = &p.path {
                record(self.node.as_ref(), path, "plugin", None);
            }
        }
        self.ownership = out;
    }
}

/// The static probe's reason for a binary a non-root cni-fix cannot read.
const UNREAD_BINARY: &str =
    "cannot read it: permission denied; run cni-fix as root, as the runtime runs";

fn describe_probe_error(e: &ProbeError) -> String {
    format!("CNI_COMMAND=VERSION failed: {e}")
}

/// go-cni's wrapping of a libcni error when it stops loading at `path`.
fn go_cni_error(form: FileForm, path: &str, libcni: &str, convert: bool) -> String {
    match (form, convert) {
        (FileForm::ConfList, _) => {
            format!("failed to load CNI config list file {path}: {libcni}: invalid cni config")
        }
        (FileForm::SingleConf, false) => {
            format!("failed to load CNI config file {path}: {libcni}: invalid cni config")
        }
        (FileForm::SingleConf, true) => format!(
            "failed to convert CNI config file {path} to CNI config list: {libcni}: invalid cni config"
        ),
    }
}

/// libcni 1.3's `NetworkPluginConfsFromFiles`: `<conf dir>/<name>/*.conf`, sorted.
fn plugin_dir_files(
    node: &dyn NodeSource,
    conf_dir: &Path,
    name: &str,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = conf_dir.join(name);
    let shown = display_path(&dir);
    let entries = match node.read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "failed to read plugin config files in {shown}: open {shown}: {}",
                io_message(&e)
            ))
        }
    };
    let mut names: Vec<OsString> = entries
        .into_iter()
        .filter(|e| e.kind != EntryKind::Dir && conf::go_ext(e.name.as_bytes()) == b".conf")
        .map(|e| e.name)
        .collect();
    names.sort_by(|a, b| node::byte_order(a, b));
    names
        .into_iter()
        .map(|n| {
            let p = dir.join(&n);
            let shown = display_path(&p);
            node.read_file(&p, MAX_CONFIG_BYTES)
                .map(|b| (shown.clone(), b))
                .map_err(|e| format!("error reading {shown}: {e}"))
        })
        .collect()
}

fn determine_runtime(
    options: &CheckOptions,
    node: &dyn NodeSource,
    prober: &dyn Prober,
) -> RuntimeInfo {
    let (version, source, mut problem) = if let Some(v) = &options.containerd_version {
        (Some(v.clone()), RuntimeSource::Flag, None)
    } else if node.is_live() {
        match prober.containerd_version(options.probe_timeout) {
            Ok(v) => (Some(v), RuntimeSource::Exec, None),
            Err(e) => (None, RuntimeSource::Unknown, Some(e)),
        }
    } else {
        (
            None,
            RuntimeSource::Unknown,
            Some(
                "nothing is executed under a root other than /; pass --containerd-version"
                    .to_string(),
            ),
        )
    };
    let release = version
        .as_ref()
        .and_then(|v| containerd_release(&v.release));
    if let (Some(v), None) = (&version, release) {
        problem = Some(format!(
            "containerd {v} is not in cni-fix's table of releases ({})",
            crate::runtime::known_releases(&crate::runtime::CONTAINERD_RELEASES)
        ));
    }
    RuntimeInfo {
        version,
        source,
        release,
        problem,
    }
}

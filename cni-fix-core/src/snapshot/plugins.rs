//! The plugins the networks run: where libcni finds each, and which spec versions it supports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::{CheckOptions, ProbeMode, Snapshot, Unread};
use crate::node::{self, display_path, ReadError};
use crate::plugins_release::PluginsRelease;
use crate::probe::ProbeError;
use crate::source::Prober;
use crate::static_probe::Confidence;

/// Where a plugin's versions came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
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

/// A plugin's supported spec versions, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Versions {
    /// Its answer to `CNI_COMMAND=VERSION`.
    Exec(Vec<String>),
    /// Read from the binary without running it.
    Static {
        /// The versions.
        versions: Vec<String>,
        /// How sure the reading is.
        confidence: Confidence,
        /// What it was based on.
        evidence: String,
    },
    /// From the containernetworking/plugins release table.
    Assumed {
        /// The versions.
        versions: Vec<String>,
        /// The release whose table gave them.
        release: PluginsRelease,
    },
    /// Not known.
    Unknown {
        /// Why, when there is more to say than that the binary was not found.
        reason: Option<String>,
    },
}

impl Versions {
    /// The versions, when known.
    pub fn list(&self) -> Option<&[String]> {
        match self {
            Versions::Exec(v)
            | Versions::Static { versions: v, .. }
            | Versions::Assumed { versions: v, .. } => Some(v),
            Versions::Unknown { .. } => None,
        }
    }

    /// Where they came from.
    pub fn source(&self) -> VersionSource {
        match self {
            Versions::Exec(_) => VersionSource::Exec,
            Versions::Static { .. } => VersionSource::Static,
            Versions::Assumed { .. } => VersionSource::Assumed,
            Versions::Unknown { .. } => VersionSource::Unknown,
        }
    }
}

/// A plugin the networks (or loopback) need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The plugin type.
    pub plugin_type: String,
    /// The node path of the binary libcni would run.
    pub path: Option<PathBuf>,
    /// Whether that file is executable.
    pub executable: bool,
    /// Its supported spec versions.
    pub versions: Versions,
    /// Why a probe that was tried failed (kept when the release table filled in).
    pub probe_error: Option<String>,
    /// Whether the runtime's loopback network needs it.
    pub for_loopback: bool,
    /// Whether the networks containerd loads (or loopback) need it; other plugins are looked
    /// up only so that shadowed files can be rewritten.
    pub needed: bool,
    /// Why cni-fix could not look the binary up or learn its versions where the runtime
    /// could (its own limit, recorded in [`Snapshot::incomplete`]).
    pub unread: Option<String>,
}

impl PluginInfo {
    /// Its supported spec versions, when known.
    pub fn supported(&self) -> Option<&[String]> {
        self.versions.list()
    }

    /// Whether a probe was tried and failed (as opposed to none being made).
    pub fn probe_failed(&self) -> bool {
        self.probe_error.is_some()
    }

    /// Why its versions are unknown, or why a probe failed before the release table gave
    /// them.
    pub fn problem(&self) -> Option<&str> {
        match &self.versions {
            Versions::Unknown { reason } => reason.as_deref(),
            _ => self.probe_error.as_deref(),
        }
    }

    fn unknown(plugin_type: &str, for_loopback: bool, needed: bool) -> PluginInfo {
        PluginInfo {
            plugin_type: plugin_type.to_string(),
            path: None,
            executable: false,
            versions: Versions::Unknown { reason: None },
            probe_error: None,
            for_loopback,
            needed,
            unread: None,
        }
    }
}

/// The static probe's reason for a binary a non-root cni-fix cannot read.
const UNREAD_BINARY: &str =
    "cannot read it: permission denied; run cni-fix as root, as the runtime runs";

/// The reason for a binary a non-root cni-fix cannot run.
const UNRUNNABLE_BINARY: &str =
    "cannot run it: permission denied; run cni-fix as root, as the runtime runs";

impl Snapshot {
    /// The plugin of this type, when a network or loopback runs it.
    pub fn plugin(&self, plugin_type: &str) -> Option<&PluginInfo> {
        self.plugins.iter().find(|p| p.plugin_type == plugin_type)
    }

    /// libcni's error when no plugin of this type is in the plugin directories
    /// (`invoke.FindInPath`: `failed to find plugin "x" in path [/opt/cni/bin]`).
    pub fn find_in_path_error(&self, plugin_type: &str) -> String {
        let dirs: Vec<String> = self.bin_dirs.iter().map(|d| display_path(d)).collect();
        format!(
            "failed to find plugin {plugin_type:?} in path [{}]",
            dirs.join(" ")
        )
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
                // A type is named once however many networks run it.
                let files = match needed.get_mut(e.plugin_type) {
                    Some(files) => files,
                    None => needed.entry(e.plugin_type.to_string()).or_default(),
                };
                // A network's types are listed together: a repeat is the last entry.
                if files.last() != Some(&i) {
                    files.push(i);
                }
            }
        }
        needed
    }

    /// Find every plugin the networks run, and learn their versions as `options` say.
    pub(super) fn find_plugins(&mut self, options: &CheckOptions, prober: &dyn Prober) {
        let mode = options.probe_mode(self.node.is_live());
        self.probe = mode;
        let needed = self.needed_plugins();
        // Every plugin of every valid file: rewrite may target files containerd does not load.
        let mut types: BTreeSet<String> = needed.keys().cloned().collect();
        for f in &self.files {
            if let Some(net) = f.network() {
                for e in crate::chain::executed(net) {
                    if !types.contains(e.plugin_type) {
                        types.insert(e.plugin_type.to_string());
                    }
                }
            }
        }
        let mut plugins: Vec<PluginInfo> = types
            .iter()
            .map(|t| self.locate(t, needed.contains_key(t)))
            .collect();
        match mode {
            ProbeMode::Exec => self.probe_exec(&mut plugins, prober, options.probe_timeout),
            ProbeMode::Static => self.probe_static(&mut plugins, prober),
            ProbeMode::None => {}
        }
        for p in plugins.iter_mut() {
            self.settle(p, options.assume_plugins_release.as_ref(), mode);
        }
        self.plugins = plugins;
    }

    /// libcni's search: the first regular file named `t` in the plugin directories.
    fn locate(&mut self, t: &str, needed: bool) -> PluginInfo {
        let mut info = PluginInfo::unknown(t, t == "loopback" && !self.internal_loopback, needed);
        if t.contains('/') {
            info.versions = Versions::Unknown {
                reason: Some(format!("invalid plugin name: {t}")),
            };
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
                    let reason = format!(
                        "cannot look into {}: permission denied; run cni-fix as root, as the runtime runs",
                        display_path(dir)
                    );
                    self.incomplete.push(Unread {
                        path: dir.clone(),
                        what: "plugin dir",
                        reason: format!("looking for {t}: {reason}"),
                    });
                    info.unread = Some(reason);
                    break;
                }
                _ => {}
            }
        }
        info
    }

    /// Ask every executable plugin `CNI_COMMAND=VERSION`, all at once.
    fn probe_exec(&self, plugins: &mut [PluginInfo], prober: &dyn Prober, timeout: Duration) {
        let to_probe: Vec<(usize, PathBuf)> = plugins
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match (&p.path, p.executable) {
                (Some(path), true) => Some((i, path.clone())),
                _ => None,
            })
            .collect();
        let paths: Vec<PathBuf> = to_probe.iter().map(|(_, p)| p.clone()).collect();
        let results = prober.exec_versions(self.node.as_ref(), &paths, timeout);
        for ((i, _), result) in to_probe.into_iter().zip(results) {
            match result {
                Ok(v) => plugins[i].versions = Versions::Exec(v),
                Err(ProbeError::Spawn(m))
                    if m == "permission denied" && !node::running_as_root() =>
                {
                    plugins[i].unread = Some(UNRUNNABLE_BINARY.to_string());
                }
                Err(e) => plugins[i].probe_error = Some(format!("CNI_COMMAND=VERSION failed: {e}")),
            }
        }
    }

    /// Read every plugin's versions from its binary, in parallel.
    fn probe_static(&self, plugins: &mut [PluginInfo], prober: &dyn Prober) {
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
                            if let Some(known) = prober.static_versions(node.as_ref(), &path, &t) {
                                return Some(known);
                            }
                            Some(static_reading(node.as_ref(), &path, &t))
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
                    p.versions = Versions::Static {
                        versions: r.versions,
                        confidence: r.confidence,
                        evidence: r.evidence,
                    }
                }
                Some(Err(e)) if e == UNREAD_BINARY => p.unread = Some(e),
                Some(Err(e)) => p.probe_error = Some(format!("static probe: {e}")),
                None => {}
            }
        }
    }

    /// After probing: the release table for what is still unknown, or why it stays unknown.
    fn settle(&mut self, p: &mut PluginInfo, release: Option<&PluginsRelease>, mode: ProbeMode) {
        if p.supported().is_some() || p.path.is_none() {
            return;
        }
        if let (Some(reason), None) = (&p.unread, release) {
            self.incomplete.push(Unread {
                path: p.path.clone().unwrap_or_default(),
                what: "plugin",
                reason: reason.clone(),
            });
            return;
        }
        if let Some(release) = release {
            if let Some(v) = release.supported_versions(&p.plugin_type) {
                p.versions = Versions::Assumed {
                    versions: v.iter().map(|s| s.as_str().to_string()).collect(),
                    release: release.clone(),
                };
                return;
            }
            let why = format!(
                "containernetworking/plugins {release} does not tell its versions (not one of that project's plugins, or its list for that release is not known)"
            );
            p.versions = Versions::Unknown {
                reason: Some(match &p.probe_error {
                    Some(prev) => format!("{prev}; {why}"),
                    None => why,
                }),
            };
            return;
        }
        let reason = match (&p.probe_error, mode, p.executable) {
            (Some(e), _, _) => e.clone(),
            (None, _, false) => "the file is not executable".to_string(),
            (None, ProbeMode::None, _) => "no probe was made (--probe none)".to_string(),
            (None, ProbeMode::Exec | ProbeMode::Static, _) => {
                "the probe gave no answer".to_string()
            }
        };
        p.versions = Versions::Unknown {
            reason: Some(reason),
        };
    }
}

/// A plugin's static reading from its binary on `node`; a binary cni-fix may not read is
/// reported as such, not as a failed reading.
pub(crate) fn static_reading(
    node: &dyn crate::source::NodeSource,
    path: &std::path::Path,
    plugin_type: &str,
) -> Result<crate::static_probe::StaticVersions, String> {
    node.open_read_at(path, crate::static_probe::MAX_BINARY_BYTES)
        .map_err(|e| match e {
            ReadError::Denied if !node::running_as_root() => UNREAD_BINARY.to_string(),
            e => e.to_string(),
        })
        .and_then(|binary| {
            crate::static_probe::probe(binary.as_ref(), plugin_type).map_err(|e| e.to_string())
        })
}

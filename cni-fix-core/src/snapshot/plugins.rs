//! The plugins the networks run: where libcni finds each, and which spec versions it supports.

use super::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::node::{self, display_path, ReadError};
use crate::probe::ProbeError;
use crate::source::Prober;

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

impl Snapshot {
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
}

impl Snapshot {
    pub(super) fn find_plugins(&mut self, options: &CheckOptions, prober: &dyn Prober) {
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
}

/// The static probe's reason for a binary a non-root cni-fix cannot read.
const UNREAD_BINARY: &str =
    "cannot read it: permission denied; run cni-fix as root, as the runtime runs";

fn describe_probe_error(e: &ProbeError) -> String {
    format!("CNI_COMMAND=VERSION failed: {e}")
}

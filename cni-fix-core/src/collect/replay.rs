//! The replaying side: a collected node answers every read and every probe from its recording.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::record::KINDS;
use super::{
    key_name, path_key, Answer, Answers, CollectError, Info, Kind, Looked, Manifest, PathRecord,
    RecordedError, SCHEMA,
};
use crate::node::{DirEntry, EntryKind, ReadError};
use crate::probe::ProbeError;
use crate::report::Report;
use crate::runtime::{ContainerdVersion, RuntimeVersion};
use crate::snapshot::CheckOptions;
use crate::source::{FileInfo, NodeSource, Prober};
use crate::static_probe::StaticVersions;
use crate::CheckError;

/// A node read back from a collection: it answers as the node answered when it was collected.
#[derive(Debug)]
pub struct CollectedNode {
    manifest: Manifest,
    node: Arc<Replay>,
}

#[derive(Debug)]
struct Replay {
    root: PathBuf,
    live: bool,
    paths: HashMap<PathBuf, PathRecord>,
    files: HashMap<PathBuf, Vec<u8>>,
}

fn bad(name: &Path, reason: impl Into<String>) -> CollectError {
    CollectError::Archive {
        path: crate::node::display_path(name),
        reason: reason.into(),
    }
}

fn key_path(name: &Path, k: &str) -> Result<PathBuf, CollectError> {
    let p = key_name(k)
        .map(PathBuf::from)
        .ok_or_else(|| bad(name, format!("manifest: path {k:?} is not valid base64")))?;
    if !p.is_absolute() {
        return Err(bad(name, format!("manifest: path {k:?} is not absolute")));
    }
    Ok(p)
}

impl CollectedNode {
    /// A collected node from its manifest and its files' bytes (by node path); `name` (the
    /// archive) stands for its root in reports and errors. Every file the manifest lists must
    /// be there with its SHA-256.
    pub fn from_parts(
        manifest: Manifest,
        mut files: HashMap<PathBuf, Vec<u8>>,
        name: &Path,
    ) -> Result<CollectedNode, CollectError> {
        if manifest.schema != SCHEMA {
            return Err(bad(
                name,
                format!(
                    "manifest schema {:?}; this cni-fix reads {SCHEMA}",
                    manifest.schema
                ),
            ));
        }
        let mut paths = HashMap::with_capacity(manifest.paths.len());
        for (k, rec) in &manifest.paths {
            let p = key_path(name, k)?;
            if let Some(Looked::Ok(c)) = &rec.read {
                let Some(bytes) = files.get(&p) else {
                    return Err(bad(
                        name,
                        format!("{k}: listed in the manifest, missing from the archive"),
                    ));
                };
                if bytes.len() as u64 != c.len || crate::write::sha256_hex(bytes) != c.sha256 {
                    return Err(bad(
                        name,
                        format!("{k}: its bytes do not match the manifest's SHA-256"),
                    ));
                }
            }
            paths.insert(p, rec.clone());
        }
        files.retain(|p, _| {
            matches!(
                paths.get(p),
                Some(PathRecord {
                    read: Some(Looked::Ok(_)),
                    ..
                })
            )
        });
        Ok(CollectedNode {
            node: Arc::new(Replay {
                root: name.to_path_buf(),
                live: manifest.live,
                paths,
                files,
            }),
            manifest,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The node, as a source a snapshot can be gathered from.
    pub fn source(&self) -> Arc<dyn NodeSource> {
        self.node.clone()
    }

    /// The options the collection was made with, over which `given` wins wherever it says
    /// something: a version or directory given, a probe mode or an assumed release.
    pub fn options_over(&self, given: &CheckOptions) -> Result<CheckOptions, CollectError> {
        let name = &self.node.root;
        let r = &self.manifest.options;
        let mut o = given.clone();
        let path = |s: &Option<String>| s.as_deref().map(PathBuf::from);
        if o.containerd_config.is_none() {
            o.containerd_config = path(&r.containerd_config);
        }
        if o.conf_dir.is_none() {
            o.conf_dir = path(&r.conf_dir);
        }
        if o.bin_dirs.is_empty() {
            o.bin_dirs = r.bin_dirs.iter().map(PathBuf::from).collect();
        }
        if o.max_conf_num.is_none() {
            o.max_conf_num = r.max_conf_num;
        }
        let parse_err =
            |what: &str, e: &dyn std::fmt::Display| bad(name, format!("manifest: {what}: {e}"));
        let runtime_versions_given =
            o.containerd_version.is_some() || o.cri_dockerd_version.is_some();
        if !runtime_versions_given {
            if let Some(v) = &r.containerd_version {
                o.containerd_version = Some(
                    ContainerdVersion::parse(v).map_err(|e| parse_err("containerd_version", &e))?,
                );
            }
            if let Some(v) = &r.cri_dockerd_version {
                o.cri_dockerd_version = Some(
                    RuntimeVersion::parse(v).map_err(|e| parse_err("cri_dockerd_version", &e))?,
                );
            }
        }
        if o.kubelet_version.is_none() {
            if let Some(v) = &r.kubelet_version {
                o.kubelet_version = Some(
                    crate::kubelet::KubeletVersion::parse(v)
                        .map_err(|e| parse_err("kubelet_version", &e))?,
                );
            }
        }
        if o.probe.is_none() && o.assume_plugins_release.is_none() {
            if let Some(v) = &r.assume_plugins_release {
                o.assume_plugins_release = Some(
                    crate::PluginsRelease::parse(v)
                        .map_err(|e| parse_err("assume_plugins_release", &e))?,
                );
            }
            o.probe = Some(r.probe);
        }
        if o.node_object.is_none() {
            if let Some((n, text)) = &r.node_object {
                o = o.node_object(n.clone(), text.clone());
            }
        }
        Ok(o)
    }

    /// Check the collected node with `options` (their `root` is not used): every read and
    /// every probe is answered from the collection; nothing runs.
    pub fn check(&self, options: &CheckOptions) -> Result<Report, CheckError> {
        let prober = ReplayProber {
            answers: &self.manifest.answers,
        };
        crate::report::check_from(options, self.node.clone(), &prober)
    }
}

fn io_error(e: &RecordedError) -> io::Error {
    match e.errno {
        Some(n) => io::Error::from_raw_os_error(n),
        None => io::Error::new(
            KINDS
                .iter()
                .find(|(n, _)| *n == e.kind)
                .map_or(io::ErrorKind::Other, |(_, k)| *k),
            e.message.clone(),
        ),
    }
}

fn read_error(e: &RecordedError) -> ReadError {
    match (e.kind.as_str(), e.size) {
        ("denied", _) => ReadError::Denied,
        ("too-large", Some((size, cap))) => ReadError::TooLarge { size, cap },
        ("not-regular", _) => ReadError::NotRegular(
            [
                "directory",
                "named pipe",
                "socket",
                "device",
                "symbolic link",
            ]
            .into_iter()
            .find(|w| *w == e.message)
            .unwrap_or("special file"),
        ),
        _ => ReadError::Io {
            kind: io_error(e).kind(),
            message: e.message.clone(),
        },
    }
}

fn not_collected() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

fn entry_kind(k: Kind) -> EntryKind {
    match k {
        Kind::File => EntryKind::File,
        Kind::Dir => EntryKind::Dir,
        Kind::Symlink => EntryKind::Symlink,
        Kind::Other => EntryKind::Other,
    }
}

fn file_info(i: &Info) -> FileInfo {
    FileInfo {
        kind: entry_kind(i.kind),
        mode: i.mode,
        uid: i.uid,
        len: i.len,
        modified: i
            .modified
            .map(|(s, n)| SystemTime::UNIX_EPOCH + Duration::new(s, n)),
    }
}

impl Replay {
    fn record(&self, p: &Path) -> Option<&PathRecord> {
        self.paths.get(p)
    }

    fn info(&self, looked: Option<&Looked<Info>>) -> io::Result<FileInfo> {
        match looked {
            Some(Looked::Ok(i)) => Ok(file_info(i)),
            Some(Looked::Error(e)) => Err(io_error(e)),
            None => Err(not_collected()),
        }
    }
}

impl NodeSource for Replay {
    fn root(&self) -> &Path {
        &self.root
    }
    fn is_live(&self) -> bool {
        self.live
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        match self.record(dir).and_then(|r| r.entries.as_ref()) {
            Some(Looked::Ok(es)) => Ok(es
                .iter()
                .filter_map(|e| {
                    Some(DirEntry {
                        name: key_name(&e.name)?,
                        kind: entry_kind(e.kind),
                    })
                })
                .collect()),
            Some(Looked::Error(e)) => Err(io_error(e)),
            None => Err(not_collected()),
        }
    }
    fn read_file(&self, path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
        match self.record(path).and_then(|r| r.read.as_ref()) {
            Some(Looked::Ok(_)) => {
                let bytes = self
                    .files
                    .get(path)
                    .ok_or_else(|| ReadError::io(&not_collected()))?;
                if bytes.len() as u64 > cap {
                    return Err(ReadError::TooLarge {
                        size: bytes.len() as u64,
                        cap,
                    });
                }
                Ok(bytes.clone())
            }
            Some(Looked::Error(e)) => Err(read_error(e)),
            None => Err(ReadError::io(&not_collected())),
        }
    }
    fn metadata(&self, path: &Path) -> io::Result<FileInfo> {
        self.info(self.record(path).and_then(|r| r.metadata.as_ref()))
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<FileInfo> {
        self.info(self.record(path).and_then(|r| r.symlink_metadata.as_ref()))
    }
    fn canonical_node_path(&self, path: &Path) -> io::Result<PathBuf> {
        match self.record(path).and_then(|r| r.canonical.as_ref()) {
            Some(Looked::Ok(k)) => key_name(k).map(PathBuf::from).ok_or_else(not_collected),
            Some(Looked::Error(e)) => Err(io_error(e)),
            None => Err(not_collected()),
        }
    }
}

/// Answers every question from the collection's answers.
struct ReplayProber<'a> {
    answers: &'a Answers,
}

const NOT_ASKED: &str = "it was not asked when the node was collected";

/// Why a binary's `--version` has no recorded answer.
fn not_asked(binary: &Path) -> String {
    format!(
        "`{} --version`: {NOT_ASKED}",
        crate::node::display_path(binary)
    )
}

impl Prober for ReplayProber<'_> {
    fn exec_versions(
        &self,
        _node: &dyn NodeSource,
        binaries: &[PathBuf],
        _timeout: Duration,
    ) -> Vec<Result<Vec<String>, ProbeError>> {
        binaries
            .iter()
            .map(|b| match self.answers.exec.get(&path_key(b)) {
                Some(Answer::Ok(v)) => Ok(v.clone()),
                Some(Answer::Error(e)) => Err(ProbeError::Failed(e.clone())),
                None => Err(ProbeError::Spawn(NOT_ASKED.to_string())),
            })
            .collect()
    }

    fn static_versions(
        &self,
        _node: &dyn NodeSource,
        binary: &Path,
        _plugin_type: &str,
    ) -> Option<Result<StaticVersions, String>> {
        Some(match self.answers.static_readings.get(&path_key(binary)) {
            Some(Answer::Ok(r)) => Ok(StaticVersions {
                versions: r.versions.clone(),
                confidence: r.confidence,
                evidence: r.evidence.clone(),
            }),
            Some(Answer::Error(e)) => Err(e.clone()),
            None => Err(NOT_ASKED.to_string()),
        })
    }

    fn containerd_version(&self, _timeout: Duration) -> Result<ContainerdVersion, String> {
        Answer::replay(
            self.answers.containerd_version.as_ref(),
            |raw| ContainerdVersion::parse(raw),
            || format!("`containerd --version`: {NOT_ASKED}"),
        )
    }

    fn kubelet_version(
        &self,
        _node: &dyn NodeSource,
        binary: &Path,
        _timeout: Duration,
    ) -> Result<crate::kubelet::KubeletVersion, String> {
        Answer::replay(
            self.answers.kubelet_version.get(&path_key(binary)),
            |v| crate::kubelet::KubeletVersion::parse(v),
            || not_asked(binary),
        )
    }

    fn cri_dockerd_version(
        &self,
        _node: &dyn NodeSource,
        binary: &Path,
        _timeout: Duration,
    ) -> Result<RuntimeVersion, String> {
        Answer::replay(
            self.answers.cri_dockerd_version.get(&path_key(binary)),
            |v| RuntimeVersion::parse(v),
            || not_asked(binary),
        )
    }
}

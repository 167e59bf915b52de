//! The recording side: a [`NodeSource`] and a [`Prober`] that pass every call through and keep
//! what it answered.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::{
    name_key, path_key, Answer, Answers, Collected, Entry, Info, Kind, Looked, PathRecord,
    RecordedError, StaticRecord,
};
use crate::node::{io_message, DirEntry, EntryKind, NodeFs, ReadError};
use crate::probe::ProbeError;
use crate::runtime::{ContainerdVersion, RuntimeVersion};
use crate::source::{FileInfo, NodeSource, Prober};
use crate::static_probe::StaticVersions;

#[derive(Debug, Default)]
struct Log {
    paths: BTreeMap<PathBuf, PathRecord>,
    files: BTreeMap<PathBuf, Vec<u8>>,
}

/// A node source that keeps every answer it passes on.
#[derive(Debug)]
pub(super) struct Recorder {
    inner: Arc<dyn NodeSource>,
    log: Mutex<Log>,
}

impl Recorder {
    pub(super) fn new(inner: Arc<dyn NodeSource>) -> Recorder {
        Recorder {
            inner,
            log: Mutex::default(),
        }
    }

    /// The node recorded, for reads that must not be recorded (binaries).
    pub(super) fn inner(&self) -> Arc<dyn NodeSource> {
        self.inner.clone()
    }

    fn note(&self, path: &Path, f: impl FnOnce(&mut PathRecord, &mut BTreeMap<PathBuf, Vec<u8>>)) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let Log { paths, files } = &mut *log;
        let rec = paths.entry(path.to_path_buf()).or_default();
        f(rec, files);
    }

    /// The records by manifest key, and the files' bytes; other processes' command lines
    /// left out.
    pub(super) fn finish(&self) -> (BTreeMap<String, PathRecord>, BTreeMap<PathBuf, Vec<u8>>) {
        let mut log = std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner));
        keep_only_kubelet_processes(&mut log);
        let paths = log
            .paths
            .into_iter()
            .map(|(p, r)| (path_key(&p), r))
            .collect();
        (paths, log.files)
    }
}

/// `/proc`'s records reduced to the kubelet's: the check reads every process's command line to
/// find the running kubelet, and only the kubelet's may leave the node.
fn keep_only_kubelet_processes(log: &mut Log) {
    let proc_dir = Path::new("/proc");
    let mut kept_pids: Vec<String> = Vec::new();
    log.paths.retain(|p, _| {
        let Ok(rest) = p.strip_prefix(proc_dir) else {
            return true;
        };
        if rest.as_os_str().is_empty() {
            return true;
        }
        let mut parts = rest.iter();
        let (Some(pid), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let keep = name == "cmdline"
            && log
                .files
                .get(p)
                .is_some_and(|b| crate::snapshot::is_kubelet_command_line(b));
        if keep {
            kept_pids.push(pid.to_string_lossy().into_owned());
        }
        keep
    });
    log.files
        .retain(|p, _| !p.starts_with(proc_dir) || log.paths.contains_key(p));
    if let Some(PathRecord {
        entries: Some(Looked::Ok(entries)),
        ..
    }) = log.paths.get_mut(proc_dir)
    {
        entries.retain(|e| kept_pids.contains(&e.name));
    }
}

pub(super) fn recorded_io(e: &io::Error) -> RecordedError {
    RecordedError {
        errno: e.raw_os_error(),
        kind: kind_name(e.kind()).to_string(),
        message: io_message(e),
        size: None,
    }
}

fn recorded_read(e: &ReadError) -> RecordedError {
    let (kind, size) = match e {
        ReadError::Io { kind, .. } => (kind_name(*kind), None),
        ReadError::Denied => ("denied", None),
        ReadError::NotRegular(_) => ("not-regular", None),
        ReadError::TooLarge { size, cap } => ("too-large", Some((*size, *cap))),
    };
    let message = match e {
        ReadError::NotRegular(what) => what.to_string(),
        e => e.to_string(),
    };
    RecordedError {
        errno: None,
        kind: kind.to_string(),
        message,
        size,
    }
}

/// The kinds of I/O error the check tells apart, by name.
pub(super) const KINDS: &[(&str, io::ErrorKind)] = &[
    ("not-found", io::ErrorKind::NotFound),
    ("permission-denied", io::ErrorKind::PermissionDenied),
    ("invalid-input", io::ErrorKind::InvalidInput),
    ("invalid-data", io::ErrorKind::InvalidData),
    ("timed-out", io::ErrorKind::TimedOut),
];

fn kind_name(kind: io::ErrorKind) -> &'static str {
    KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("other", |(n, _)| n)
}

pub(super) fn kind_of(k: EntryKind) -> Kind {
    match k {
        EntryKind::File => Kind::File,
        EntryKind::Dir => Kind::Dir,
        EntryKind::Symlink => Kind::Symlink,
        EntryKind::Other => Kind::Other,
    }
}

fn info(i: &FileInfo) -> Info {
    Info {
        kind: kind_of(i.kind),
        mode: i.mode,
        uid: i.uid,
        len: i.len,
        modified: i
            .modified
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| (d.as_secs(), d.subsec_nanos())),
    }
}

fn looked<T, U, E>(
    r: &Result<T, E>,
    ok: impl FnOnce(&T) -> U,
    err: impl FnOnce(&E) -> RecordedError,
) -> Looked<U> {
    match r {
        Ok(v) => Looked::Ok(ok(v)),
        Err(e) => Looked::Error(err(e)),
    }
}

impl NodeSource for Recorder {
    fn root(&self) -> &Path {
        self.inner.root()
    }
    fn is_live(&self) -> bool {
        self.inner.is_live()
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let r = self.inner.read_dir(dir);
        self.note(dir, |rec, _| {
            rec.entries.get_or_insert_with(|| {
                looked(
                    &r,
                    |es| {
                        let mut v: Vec<Entry> = es
                            .iter()
                            .map(|e| Entry {
                                name: name_key(&e.name),
                                kind: kind_of(e.kind),
                            })
                            .collect();
                        v.sort_by(|a, b| a.name.cmp(&b.name));
                        v
                    },
                    recorded_io,
                )
            });
        });
        r
    }
    fn read_file(&self, path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
        let r = self.inner.read_file(path, cap);
        self.note(path, |rec, files| {
            if rec.read.is_some() {
                return;
            }
            rec.read = Some(match &r {
                Ok(bytes) => {
                    let (kept, redacted) = super::redact::redact(path, bytes);
                    let c = Collected {
                        len: kept.len() as u64,
                        sha256: crate::write::sha256_hex(&kept),
                        redacted,
                    };
                    files.insert(path.to_path_buf(), kept.into_owned());
                    Looked::Ok(c)
                }
                Err(e) => Looked::Error(recorded_read(e)),
            });
        });
        r
    }
    fn metadata(&self, path: &Path) -> io::Result<FileInfo> {
        let r = self.inner.metadata(path);
        self.note(path, |rec, _| {
            rec.metadata
                .get_or_insert_with(|| looked(&r, info, recorded_io));
        });
        r
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<FileInfo> {
        let r = self.inner.symlink_metadata(path);
        self.note(path, |rec, _| {
            rec.symlink_metadata
                .get_or_insert_with(|| looked(&r, info, recorded_io));
        });
        r
    }
    fn canonical_node_path(&self, path: &Path) -> io::Result<PathBuf> {
        let r = self.inner.canonical_node_path(path);
        self.note(path, |rec, _| {
            rec.canonical
                .get_or_insert_with(|| looked(&r, |p| path_key(p), recorded_io));
        });
        r
    }
    fn as_fs(&self) -> Option<&NodeFs> {
        self.inner.as_fs()
    }
}

/// A prober that passes every question on and keeps the answers; plugins are read (static
/// probing) here, outside the recording, so that no binary lands in a collection.
pub(super) struct RecordingProber<'a> {
    inner: &'a dyn Prober,
    node: Arc<dyn NodeSource>,
    answers: Mutex<Answers>,
}

impl<'a> RecordingProber<'a> {
    pub(super) fn new(inner: &'a dyn Prober, node: Arc<dyn NodeSource>) -> Self {
        RecordingProber {
            inner,
            node,
            answers: Mutex::default(),
        }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn finish(&self) -> Answers {
        std::mem::take(&mut *self.answers())
    }
}

impl Prober for RecordingProber<'_> {
    fn exec_versions(
        &self,
        node: &dyn NodeSource,
        binaries: &[PathBuf],
        timeout: Duration,
    ) -> Vec<Result<Vec<String>, ProbeError>> {
        let answers = self.inner.exec_versions(node, binaries, timeout);
        let mut rec = self.answers();
        for (b, a) in binaries.iter().zip(&answers) {
            rec.exec.insert(path_key(b), Answer::of(a, Clone::clone));
        }
        answers
    }

    fn static_versions(
        &self,
        _node: &dyn NodeSource,
        binary: &Path,
        plugin_type: &str,
    ) -> Option<Result<StaticVersions, String>> {
        let reading = self
            .inner
            .static_versions(self.node.as_ref(), binary, plugin_type)
            .unwrap_or_else(|| {
                crate::snapshot::static_reading(self.node.as_ref(), binary, plugin_type)
            });
        let rec = Answer::of(&reading, |r| StaticRecord {
            versions: r.versions.clone(),
            confidence: r.confidence,
            evidence: r.evidence.clone(),
        });
        self.answers().static_readings.insert(path_key(binary), rec);
        Some(reading)
    }

    fn containerd_version(&self, timeout: Duration) -> Result<ContainerdVersion, String> {
        let r = self.inner.containerd_version(timeout);
        self.answers().containerd_version = Some(Answer::of(&r, |v| v.raw.clone()));
        r
    }

    fn kubelet_version(
        &self,
        node: &dyn NodeSource,
        binary: &Path,
        timeout: Duration,
    ) -> Result<crate::kubelet::KubeletVersion, String> {
        let r = self.inner.kubelet_version(node, binary, timeout);
        let a = Answer::of(&r, |v| v.to_string());
        self.answers().kubelet_version.insert(path_key(binary), a);
        r
    }

    fn cri_dockerd_version(
        &self,
        node: &dyn NodeSource,
        binary: &Path,
        timeout: Duration,
    ) -> Result<RuntimeVersion, String> {
        let r = self.inner.cri_dockerd_version(node, binary, timeout);
        let a = Answer::of(&r, |v| v.raw.clone());
        self.answers()
            .cri_dockerd_version
            .insert(path_key(binary), a);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kubelets_command_line_is_kept() {
        let mut log = Log::default();
        let read = |log: &mut Log, p: &str, bytes: &[u8]| {
            log.paths.insert(
                PathBuf::from(p),
                PathRecord {
                    read: Some(Looked::Ok(Collected {
                        len: bytes.len() as u64,
                        sha256: String::new(),
                        redacted: false,
                    })),
                    ..PathRecord::default()
                },
            );
            log.files.insert(PathBuf::from(p), bytes.to_vec());
        };
        read(&mut log, "/proc/1/cmdline", b"/sbin/init\0");
        read(&mut log, "/proc/7/cmdline", b"mysql\0--password=hunter2\0");
        read(
            &mut log,
            "/proc/42/cmdline",
            b"/usr/bin/kubelet\0--config=/var/lib/kubelet/config.yaml\0",
        );
        read(&mut log, "/etc/containerd/config.toml", b"version = 2");
        let names = ["1", "7", "42", "self"];
        log.paths.insert(
            PathBuf::from("/proc"),
            PathRecord {
                entries: Some(Looked::Ok(
                    names
                        .iter()
                        .map(|n| Entry {
                            name: n.to_string(),
                            kind: Kind::Dir,
                        })
                        .collect(),
                )),
                ..PathRecord::default()
            },
        );
        keep_only_kubelet_processes(&mut log);
        let kept: Vec<&Path> = log.files.keys().map(PathBuf::as_path).collect();
        assert_eq!(
            kept,
            [
                Path::new("/etc/containerd/config.toml"),
                Path::new("/proc/42/cmdline")
            ]
        );
        let Some(Looked::Ok(entries)) = &log.paths[Path::new("/proc")].entries else {
            panic!("the listing of /proc is kept");
        };
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "42");
        assert!(!log.paths.contains_key(Path::new("/proc/7/cmdline")));
    }
}

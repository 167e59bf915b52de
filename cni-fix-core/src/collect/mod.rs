//! Collect a node into one archive that can be checked elsewhere, offline, without the node's
//! binaries: [`collect`] runs a check through a recording of everything it reads and every
//! answer it gets (`containerd --version`, the plugins' `VERSION` answers or static readings),
//! and [`Collection::write_tar_gz`] writes it; [`CollectedNode::read_tar_gz`] reads it back and
//! [`CollectedNode::check`] checks it, answering every read and probe from the recording.
//!
//! What a collection holds is exactly what a check reads, nothing else:
//!
//! - the files the check opened (containerd's config, the conf dir's configs, the kubelet's
//!   unit, drop-ins, `--config` file and flags files, Docker's `daemon.json`, the units of
//!   Docker Engine and cri-dockerd, containerd's `hosts.toml` files), under `files/` in the
//!   archive; values of secret keys in TOML files (`password`, `auth`, `identitytoken`,
//!   `token`, `authorization`) are replaced by `REDACTED`;
//! - the kind, mode, owner, size and time of every path the check looked at, the names in
//!   every directory it listed, and where links lead, in the manifest (`cni-fix-collect.json`);
//! - the running kubelet's command line (`/proc/PID/cmdline`) when no unit was found, and no
//!   other process's;
//! - the answers of `containerd --version`, `kubelet --version`, `cri-dockerd --version`, and
//!   of each plugin (`CNI_COMMAND=VERSION`, or its static reading), but never a binary.
//!
//! A check of the collection with the options it was collected with gives the report the
//! check gave on the node (the `root` aside).

mod archive;
mod record;
mod redact;
mod replay;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use archive::MAX_ARCHIVE_BYTES;
pub use replay::CollectedNode;

use crate::report::Report;
use crate::snapshot::{CheckOptions, ProbeMode};
use crate::source::{NodeSource, Prober, SystemProber};
use crate::CheckError;

/// The schema of a collection's manifest.
pub const SCHEMA: &str = "cni-fix.collect/v1";
/// The manifest's name in the archive.
pub const MANIFEST: &str = "cni-fix-collect.json";
/// The directory of the collected files in the archive.
pub const FILES_DIR: &str = "files";

/// Why a collection could not be made, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The check that a collection records could not run.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The archive could not be written or read.
    #[error("{path}: {reason}")]
    Archive {
        /// The archive.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// The manifest of a collection (`cni-fix-collect.json`, schema [`SCHEMA`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The cni-fix version that collected it.
    pub cni_fix_version: String,
    /// When, in seconds since the Unix epoch.
    pub collected_at: u64,
    /// The node's host name, when it was collected on the live node.
    pub hostname: Option<String>,
    /// The directory the node was read under.
    pub root: String,
    /// Whether it was the live node (binaries were asked, owners matter).
    pub live: bool,
    /// The options the check ran with.
    pub options: RecordedOptions,
    /// The answers of the programs the check asked.
    pub answers: Answers,
    /// Every path the check looked at and what it found, by node path.
    pub paths: BTreeMap<String, PathRecord>,
}

/// The node options a collection was made with, as text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct RecordedOptions {
    /// `--containerd-config`.
    pub containerd_config: Option<String>,
    /// `--conf-dir`.
    pub conf_dir: Option<String>,
    /// `--bin-dir`s.
    pub bin_dirs: Vec<String>,
    /// `--max-conf-num`.
    pub max_conf_num: Option<i64>,
    /// `--containerd-version`.
    pub containerd_version: Option<String>,
    /// `--cri-dockerd-version`.
    pub cri_dockerd_version: Option<String>,
    /// `--kubelet-version`.
    pub kubelet_version: Option<String>,
    /// `--assume-plugins-release`.
    pub assume_plugins_release: Option<String>,
    /// How plugin versions were learnt: `exec`, `static` or `none`.
    pub probe: ProbeMode,
    /// The Node object given with `--node`: its name and text.
    pub node_object: Option<(String, String)>,
}

/// What a program answered: its text, or why there is none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Answer<T> {
    /// The answer.
    Ok(T),
    /// Why there is none.
    Error(String),
}

impl<T> Answer<T> {
    /// The record of a program's result: its answer as `f` records it, or its error's text.
    fn of<U, E: ToString>(r: &Result<U, E>, f: impl FnOnce(&U) -> T) -> Answer<T> {
        match r {
            Ok(v) => Answer::Ok(f(v)),
            Err(e) => Answer::Error(e.to_string()),
        }
    }

    /// The recorded result, its answer read by `f`; `missing` says why there is none when
    /// the question was not asked at collection.
    fn replay<U, E: ToString>(
        a: Option<&Answer<T>>,
        f: impl FnOnce(&T) -> Result<U, E>,
        missing: impl FnOnce() -> String,
    ) -> Result<U, String> {
        match a {
            Some(Answer::Ok(v)) => f(v).map_err(|e| e.to_string()),
            Some(Answer::Error(e)) => Err(e.clone()),
            None => Err(missing()),
        }
    }
}

/// A plugin's static reading, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaticRecord {
    /// The spec versions read.
    pub versions: Vec<String>,
    /// `high` or `medium`.
    pub confidence: crate::static_probe::Confidence,
    /// What they were read from.
    pub evidence: String,
}

/// The programs' answers, by node path of the binary where there is one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Answers {
    /// `containerd --version`, read as a version.
    pub containerd_version: Option<Answer<String>>,
    /// `kubelet --version`, read as a version, by binary.
    pub kubelet_version: BTreeMap<String, Answer<String>>,
    /// `cri-dockerd --version`, read as a version, by binary.
    pub cri_dockerd_version: BTreeMap<String, Answer<String>>,
    /// Each plugin's `CNI_COMMAND=VERSION` answer (its supported versions), by binary.
    pub exec: BTreeMap<String, Answer<Vec<String>>>,
    /// Each plugin's static reading, by binary.
    #[serde(rename = "static")]
    pub static_readings: BTreeMap<String, Answer<StaticRecord>>,
}

/// What the check found at one path. Every field is what one kind of look answered; a look
/// that was not made is absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct PathRecord {
    /// `stat`: what the path leads to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Looked<Info>>,
    /// `lstat`: the path itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symlink_metadata: Option<Looked<Info>>,
    /// The directory's entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Looked<Vec<Entry>>>,
    /// Where its links lead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical: Option<Looked<String>>,
    /// The read: `collected` (its bytes are in `files/`, SHA-256 given), or why it was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<Looked<Collected>>,
}

/// An answer, or the error the look met.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Looked<T> {
    /// What was found.
    Ok(T),
    /// The error.
    Error(RecordedError),
}

/// An error a look met.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedError {
    /// The operating system's error number, when it gave one.
    pub errno: Option<i32>,
    /// `not-found`, `denied`, `not-regular`, `too-large` or `other`.
    pub kind: String,
    /// The message.
    pub message: String,
    /// For `too-large`: the file's size and the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<(u64, u64)>,
}

/// A path's kind, mode, owner, size and time.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Size in bytes.
    pub len: u64,
    /// Modification time, seconds and nanoseconds since the epoch.
    pub modified: Option<(u64, u32)>,
}

/// A directory entry's name (`base64:` and the bytes when it is not UTF-8) and kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The name.
    pub name: String,
    /// What `lstat` says it is.
    pub kind: Kind,
}

/// [`crate::node::EntryKind`], as recorded.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// A file whose bytes are in the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Collected {
    /// How many bytes.
    pub len: u64,
    /// Their SHA-256, hex.
    pub sha256: String,
    /// Whether secret values were replaced by `REDACTED` (the bytes differ from the node's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// A node path as a manifest key: the path when it is UTF-8 (and does not start with
/// `base64:`), else `base64:` and its bytes.
pub fn path_key(p: &Path) -> String {
    name_key(p.as_os_str())
}

fn name_key(s: &std::ffi::OsStr) -> String {
    use base64::Engine;
    use std::os::unix::ffi::OsStrExt;
    match s.to_str() {
        Some(t) if !t.starts_with("base64:") => t.to_string(),
        _ => format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
        ),
    }
}

fn key_name(k: &str) -> Option<std::ffi::OsString> {
    use base64::Engine;
    use std::os::unix::ffi::OsStringExt;
    match k.strip_prefix("base64:") {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .ok()
            .map(std::ffi::OsString::from_vec),
        None => Some(k.into()),
    }
}

/// A node collected in memory: its manifest, the bytes of the files the check read, and the
/// report the check gave.
#[derive(Debug)]
pub struct Collection {
    /// The manifest.
    pub manifest: Manifest,
    /// The files' bytes (redacted where the manifest says so), by node path.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    /// The report of the check that was recorded.
    pub report: Report,
}

/// What to collect, and the facts a collection cannot learn itself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CollectOptions {
    /// The check to record.
    pub check: CheckOptions,
    /// When (for the manifest).
    pub now: SystemTime,
    /// The node's host name, when known.
    pub hostname: Option<String>,
}

impl CollectOptions {
    /// Collect what `check` reads, at `now`, the host name unknown.
    pub fn new(check: CheckOptions, now: SystemTime) -> CollectOptions {
        CollectOptions {
            check,
            now,
            hostname: None,
        }
    }
}

/// Collect the node on disk that `options.check` names, asking the node's own programs.
pub fn collect(options: &CollectOptions) -> Result<Collection, CollectError> {
    // The same refusals as a check: a missing or non-directory root.
    let node = crate::snapshot::open_root(&options.check)?;
    collect_from(options, node, &SystemProber)
}

/// Collect any node source, asking `prober`.
pub fn collect_from(
    options: &CollectOptions,
    node: Arc<dyn NodeSource>,
    prober: &dyn Prober,
) -> Result<Collection, CollectError> {
    let live = node.is_live();
    let root = crate::node::display_path(node.root());
    let recorder = Arc::new(record::Recorder::new(node));
    let recording_prober = record::RecordingProber::new(prober, recorder.inner());
    let report = crate::report::check_from(&options.check, recorder.clone(), &recording_prober)?;
    let probe = options.check.probe_mode(live);
    let (paths, files) = recorder.finish();
    let manifest = Manifest {
        schema: SCHEMA.to_string(),
        cni_fix_version: env!("CARGO_PKG_VERSION").to_string(),
        collected_at: options
            .now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        hostname: options.hostname.clone(),
        root,
        live,
        options: RecordedOptions::of(&options.check, probe),
        answers: recording_prober.finish(),
        paths,
    };
    Ok(Collection {
        manifest,
        files,
        report,
    })
}

impl RecordedOptions {
    fn of(o: &CheckOptions, probe: ProbeMode) -> RecordedOptions {
        let text = |p: &Option<PathBuf>| p.as_deref().map(crate::node::display_path);
        RecordedOptions {
            containerd_config: text(&o.containerd_config),
            conf_dir: text(&o.conf_dir),
            bin_dirs: o
                .bin_dirs
                .iter()
                .map(|p| crate::node::display_path(p))
                .collect(),
            max_conf_num: o.max_conf_num,
            containerd_version: o.containerd_version.as_ref().map(|v| v.raw.clone()),
            cri_dockerd_version: o.cri_dockerd_version.as_ref().map(|v| v.raw.clone()),
            kubelet_version: o.kubelet_version.as_ref().map(|v| v.to_string()),
            assume_plugins_release: o.assume_plugins_release.as_ref().map(|r| r.to_string()),
            probe,
            node_object: o
                .node_object
                .as_ref()
                .map(|n| (n.name.clone(), n.text.clone())),
        }
    }
}

//! The one place cni-fix writes files.
//!
//! Every write is atomic: the new text goes to a temporary file in the same directory, under
//! a name no runtime loads (`.cni-fix-*.tmp`), with the original's mode, owner and extended
//! attributes (an SELinux label survives), is synced, and is renamed over the original; then
//! the directory is synced. A crash leaves the old file or the new one, never a torn one.
//! Originals are copied into a backup directory first, and a file that changed since it was
//! read is left alone.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::node::{display_path, io_message, NodeFs};
use crate::rewrite::{Outcome, RewritePlan};

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The backup directory is unusable; nothing was written.
    #[error("backup directory {path}: {reason}; nothing was written")]
    Backup {
        /// The backup directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// An I/O operation failed, or the node cannot be written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// What happened to one file of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Written {
    /// Rewritten; the original is at `backup` (a node path).
    Rewritten {
        /// The backup's node path.
        backup: PathBuf,
    },
    /// It changed since it was read, so it was left alone.
    ChangedMeanwhile,
    /// Writing failed; the file is as it was.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The result of applying a plan: one entry per file the plan rewrites.
#[derive(Debug, Clone)]
pub struct ApplyReport {
    /// The backup directory, as a node path.
    pub backup_dir: PathBuf,
    /// Each rewritten file's node path and what happened.
    pub files: Vec<(PathBuf, Written)>,
}

/// `var/backups/cni-fix/<UTC timestamp>` as a node path.
pub fn default_backup_dir(now: SystemTime) -> PathBuf {
    PathBuf::from("/var/backups/cni-fix").join(utc_stamp(now))
}

/// `YYYYMMDDTHHMMSSZ`.
pub fn utc_stamp(now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Carry out `plan`: back up every file it rewrites under `backup_dir` (a node path), then
/// replace each atomically. Only files that are written keep a backup; a run that fails
/// before writing leaves nothing behind.
pub fn apply(plan: &RewritePlan, backup_dir: &Path) -> Result<ApplyReport, WriteError> {
    let shown = display_path(backup_dir);
    let Some(node) = plan.snapshot.node.as_fs() else {
        return Err(WriteError::Io {
            path: display_path(plan.snapshot.node.root()),
            reason: "the node is not on disk, so it cannot be written".into(),
        });
    };
    let backup_err = |reason: String| WriteError::Backup {
        path: shown.clone(),
        reason,
    };
    if !backup_dir.is_absolute() {
        return Err(backup_err("not an absolute node path".into()));
    }
    // Compare where the paths really lead: a backup directory reached through a symlink into
    // the conf dir is inside it.
    let conf_dir = resolved_host(node, &plan.snapshot.conf_dir);
    let host_backup = resolved_host(node, backup_dir);
    if host_backup.starts_with(&conf_dir) {
        return Err(backup_err(
            "inside the conf dir, where the runtime could load the backups".into(),
        ));
    }
    let rewrites: Vec<_> = plan
        .files
        .iter()
        .filter_map(|f| match &f.outcome {
            Outcome::Rewrite {
                original, updated, ..
            } => Some((f, original, updated)),
            _ => None,
        })
        .collect();
    if rewrites.is_empty() {
        return Ok(ApplyReport {
            backup_dir: backup_dir.to_path_buf(),
            files: Vec::new(),
        });
    }
    // Backups first, all of them: if one fails, nothing is written and none is kept.
    let mut set = BackupSet::new(host_backup.clone());
    set.create_root().map_err(|(path, reason)| {
        // Name the offending path as a node path, like every report.
        let shown = path
            .strip_prefix(node.root())
            .map(|rel| Path::new("/").join(rel))
            .unwrap_or(path);
        backup_err(naming(&shown, backup_dir, &reason))
    })?;
    let mut backups = Vec::with_capacity(rewrites.len());
    for (f, original, _) in &rewrites {
        let dest = backup_path(&host_backup, &f.target_path);
        let meta_from = node.resolve(&f.path).ok();
        match set.write(&dest, original, meta_from.as_deref()) {
            Ok(written) => backups.push(written),
            Err(e) => {
                set.discard_all();
                return Err(backup_err(io_message(&e)));
            }
        }
    }
    // Temporary files of runs that were killed before their rename.
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (f, _, _) in &rewrites {
        if let Some(dir) = node
            .resolve(&f.path)
            .ok()
            .and_then(|h| h.parent().map(Path::to_path_buf))
        {
            if !dirs.contains(&dir) {
                remove_stale_temporaries(&dir);
                dirs.push(dir);
            }
        }
    }
    let mut files = Vec::new();
    let mut manifest = Vec::new();
    for ((f, original, updated), backup) in rewrites.into_iter().zip(backups) {
        let result = match node.resolve(&f.path) {
            Err(e) => Written::Failed {
                reason: io_message(&e),
            },
            Ok(host) => match replace_file(&host, updated, Some(original)) {
                Ok(()) => {
                    let rel = backup.strip_prefix(&host_backup).unwrap_or(&backup);
                    manifest.push(ManifestEntry {
                        path: display_path(&f.target_path),
                        backup: display_path(rel),
                        original_sha256: sha256_hex(original),
                        written_sha256: sha256_hex(updated),
                    });
                    Written::Rewritten {
                        backup: backup_dir.join(rel),
                    }
                }
                Err(ReplaceError::Changed) => Written::ChangedMeanwhile,
                Err(ReplaceError::Io(e)) => Written::Failed {
                    reason: io_message(&e),
                },
            },
        };
        if !matches!(result, Written::Rewritten { .. }) {
            // Nothing was written to this file, so nothing of it is kept.
            set.discard(&backup);
        }
        files.push((f.path.clone(), result));
    }
    if manifest.is_empty() {
        set.discard_all();
    } else {
        write_manifest(&host_backup, "rewrite", manifest)
            .map_err(|e| backup_err(format!("writing its manifest: {}", io_message(&e))))?;
    }
    Ok(ApplyReport {
        backup_dir: backup_dir.to_path_buf(),
        files,
    })
}

/// Where a node path really leads, as a host path: its longest existing ancestor with every
/// symlink resolved (inside the root), and the rest appended.
fn resolved_host(node: &NodeFs, node_path: &Path) -> PathBuf {
    let mut existing = node_path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        let host = if node.is_live() {
            fs::canonicalize(&existing).ok()
        } else {
            node.resolve(&existing)
                .ok()
                .filter(|h| h.exists())
                .map(|h| fs::canonicalize(&h).unwrap_or(h))
        };
        if let Some(mut host) = host {
            host.extend(rest.iter().rev());
            return host;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return host_path(node, node_path),
        }
    }
}

/// The backups of one run: what it created, so that a failed run removes all of it, and a
/// file left alone loses its backup.
struct BackupSet {
    root: PathBuf,
    /// Directories this run created, parents first.
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl BackupSet {
    fn new(root: PathBuf) -> BackupSet {
        BackupSet {
            root,
            dirs: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Create `dir` and its missing parents, readable by the owner only, remembering which.
    fn create_dirs(&mut self, dir: &Path) -> Result<(), (PathBuf, String)> {
        let mut missing = Vec::new();
        for ancestor in dir.ancestors() {
            match fs::metadata(ancestor) {
                Ok(m) if m.is_dir() => break,
                Ok(_) => return Err((ancestor.to_path_buf(), "is not a directory".to_string())),
                Err(_) => missing.push(ancestor.to_path_buf()),
            }
        }
        for d in missing.into_iter().rev() {
            match fs::DirBuilder::new().mode(0o700).create(&d) {
                Ok(()) => self.dirs.push(d),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err((d, io_message(&e))),
            }
        }
        Ok(())
    }

    fn create_root(&mut self) -> Result<(), (PathBuf, String)> {
        let root = self.root.clone();
        self.create_dirs(&root)
    }

    /// Write a backup of `bytes` at `dest` (or `dest.N`), with the metadata of `meta_from`.
    fn write(
        &mut self,
        dest: &Path,
        bytes: &[u8],
        meta_from: Option<&Path>,
    ) -> io::Result<PathBuf> {
        if let Some(parent) = dest.parent() {
            self.create_dirs(parent)
                .map_err(|(p, reason)| io::Error::other(format!("{}: {reason}", p.display())))?;
        }
        let written = write_backup(dest, bytes, meta_from)?;
        self.files.push(written.clone());
        Ok(written)
    }

    /// Remove one backup of this run.
    fn discard(&mut self, file: &Path) {
        if let Some(i) = self.files.iter().position(|f| f == file) {
            let _ = fs::remove_file(&self.files[i]);
            self.files.remove(i);
        }
        self.remove_empty_dirs();
    }

    /// Remove everything this run created.
    fn discard_all(&mut self) {
        for f in self.files.drain(..) {
            let _ = fs::remove_file(f);
        }
        self.remove_empty_dirs();
    }

    /// Remove the directories this run created that hold nothing, deepest first.
    fn remove_empty_dirs(&mut self) {
        let mut kept = Vec::new();
        for d in self.dirs.drain(..).rev() {
            if fs::remove_dir(&d).is_err() {
                kept.push(d);
            }
        }
        kept.reverse();
        self.dirs = kept;
    }
}

/// One file a run wrote, as its backup directory's manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    /// The file's node path (a symlinked config's target).
    pub path: String,
    /// The backup's path, relative to the backup directory.
    pub backup: String,
    /// SHA-256 of the original, as backed up.
    pub original_sha256: String,
    /// SHA-256 of what cni-fix wrote in its place.
    pub written_sha256: String,
}

/// A backup directory's record of one run: `cni-fix.backup/v1`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// The command that wrote the files (`rewrite`, `generate`).
    pub command: String,
    /// When the run finished, `YYYYMMDDTHHMMSSZ` (UTC).
    pub finished: String,
    /// Nanoseconds since the epoch, to order runs that share a directory.
    pub finished_ns: u128,
    /// The files written.
    pub files: Vec<ManifestEntry>,
}

/// The schema of a backup manifest.
pub const MANIFEST_SCHEMA: &str = "cni-fix.backup/v1";

/// Manifest files are named `cni-fix-run-<ns>-<pid>.json` in the backup directory.
const MANIFEST_PREFIX: &str = "cni-fix-run-";

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Record a run's files in a manifest of its own in `host_backup` (runs sharing a directory
/// never write the same manifest).
fn write_manifest(host_backup: &Path, command: &str, files: Vec<ManifestEntry>) -> io::Result<()> {
    let now = SystemTime::now();
    let ns = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.to_string(),
        command: command.to_string(),
        finished: utc_stamp(now),
        finished_ns: ns,
        files,
    };
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    text.push(b'\n');
    let name = format!("{MANIFEST_PREFIX}{ns}-{}.json", std::process::id());
    replace_file(&host_backup.join(name), &text, None).map_err(|e| match e {
        ReplaceError::Io(e) => e,
        ReplaceError::Changed => io::Error::other("the manifest changed while it was written"),
    })
}

/// The manifests of a backup directory (a host path), oldest run first. Files that do not
/// parse are errors: a restore must not guess.
pub fn read_manifests(host_backup: &Path) -> Result<Vec<Manifest>, WriteError> {
    let err = |reason: String| WriteError::Io {
        path: host_backup.display().to_string(),
        reason,
    };
    let mut out = Vec::new();
    let entries = fs::read_dir(host_backup).map_err(|e| err(io_message(&e)))?;
    for entry in entries {
        let entry = entry.map_err(|e| err(io_message(&e)))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(MANIFEST_PREFIX) && name.ends_with(".json")) {
            continue;
        }
        let bytes = crate::node::NodeFs::new("/")
            .read_file(&entry.path(), crate::node::MAX_CONFIG_BYTES)
            .map_err(|e| err(format!("{name}: {e}")))?;
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| err(format!("{name}: {e}")))?;
        if m.schema != MANIFEST_SCHEMA {
            return Err(err(format!("{name}: unknown schema {:?}", m.schema)));
        }
        out.push(m);
    }
    out.sort_by_key(|m| m.finished_ns);
    Ok(out)
}

/// Where the backup of `target_path` goes under `backup_dir`: at its own absolute path, so
/// `/etc/cni/net.d/10-a.conflist` is backed up as `<backup_dir>/etc/cni/net.d/10-a.conflist`.
pub fn backup_path(backup_dir: &Path, target_path: &Path) -> PathBuf {
    backup_dir.join(target_path.strip_prefix("/").unwrap_or(target_path))
}

/// The host path of a node path that may not exist yet: its existing ancestors are resolved
/// inside the root.
fn host_path(node: &NodeFs, node_path: &Path) -> PathBuf {
    node.resolve(node_path).unwrap_or_else(|_| {
        node.root()
            .join(node_path.strip_prefix("/").unwrap_or(node_path))
    })
}

/// `reason`, preceded by `path` when it is not the backup directory itself (which the error
/// already names).
fn naming(path: &Path, backup_dir: &Path, reason: &str) -> String {
    if path == backup_dir {
        reason.to_string()
    } else if reason.starts_with("is ") {
        format!("{} {reason}", path.display())
    } else {
        format!("{}: {reason}", path.display())
    }
}

/// Write a backup at `dest`, or, when a backup is already there (an earlier run), at the first
/// free `dest.1`, `dest.2`, …: earlier backups, the oldest originals, are never overwritten.
/// The backup gets the original's owner, mode and extended attributes (from `meta_from`); a
/// backup that cannot be written whole is removed.
fn write_backup(dest: &Path, bytes: &[u8], meta_from: Option<&Path>) -> io::Result<PathBuf> {
    for n in 0u32.. {
        let candidate = if n == 0 {
            dest.to_path_buf()
        } else {
            let mut name = dest.as_os_str().to_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&candidate)
        {
            Ok(mut f) => {
                let written = (|| {
                    f.write_all(bytes)?;
                    if let Some(from) = meta_from {
                        copy_metadata(from, &f)?;
                    }
                    f.sync_all()
                })();
                return match written {
                    Ok(()) => Ok(candidate),
                    Err(e) => {
                        drop(f);
                        let _ = fs::remove_file(&candidate);
                        Err(e)
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 10_000 => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// Give `to` the owner, mode and extended attributes of the file at `from`.
fn copy_metadata(from: &Path, to: &File) -> io::Result<()> {
    let m = fs::metadata(from)?;
    copy_xattrs(from, to)?;
    std::os::unix::fs::fchown(to, Some(m.uid()), Some(m.gid()))?;
    to.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))
}

/// What [`replace_with_backup`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// The file already held these bytes; nothing was written.
    Unchanged,
    /// There was no file; it was created.
    Created,
    /// The file was replaced; the original is at this path.
    Replaced(PathBuf),
}

/// Why [`replace_with_backup`] refused to touch a file.
fn refuse(path: &Path, reason: String) -> WriteError {
    WriteError::Io {
        path: path.display().to_string(),
        reason,
    }
}

/// Write `bytes` to `path` (a host path) atomically. An existing, different file is first
/// backed up under `backup_dir` (a host path) at its own absolute path, keeps its mode, owner
/// and extended attributes, and is recorded in the backup directory's manifest for
/// `cni-fix restore`. Anything but a regular file (a device, a FIFO, a directory, or a link to
/// one) is refused before it is opened for reading, and an existing file is read only up to
/// [`crate::node::MAX_CONFIG_BYTES`]. When the command fails, nothing is left behind.
pub fn replace_with_backup(
    path: &Path,
    bytes: &[u8],
    backup_dir: &Path,
) -> Result<Replaced, WriteError> {
    let io_err = |p: &Path, e: &io::Error| WriteError::Io {
        path: p.display().to_string(),
        reason: io_message(e),
    };
    let existing = match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(path, &e)),
        Ok(m) if !m.is_file() => {
            return Err(refuse(
                path,
                format!(
                    "not a regular file (it is a {}); only a regular file or a new one is written",
                    crate::node::file_type_name(m.file_type())
                ),
            ))
        }
        Ok(_) => match crate::node::NodeFs::new("/").read_file(path, crate::node::MAX_CONFIG_BYTES)
        {
            Ok(b) => Some(b),
            Err(e) => return Err(refuse(path, format!("{e}; left alone"))),
        },
    };
    let mut set = BackupSet::new(backup_dir.to_path_buf());
    let backup = match &existing {
        Some(old) if old == bytes => return Ok(Replaced::Unchanged),
        Some(old) => {
            let backup_err = |reason: String| WriteError::Backup {
                path: backup_dir.display().to_string(),
                reason,
            };
            set.create_root()
                .map_err(|(p, reason)| backup_err(naming(&p, backup_dir, &reason)))?;
            let dest = backup_path(backup_dir, path);
            match set.write(&dest, old, Some(path)) {
                Ok(b) => Some(b),
                Err(e) => {
                    set.discard_all();
                    return Err(backup_err(io_message(&e)));
                }
            }
        }
        None => None,
    };
    let result = match replace_file(path, bytes, existing.as_deref()) {
        Ok(()) => Ok(()),
        Err(ReplaceError::Changed) => Err(WriteError::Io {
            path: path.display().to_string(),
            reason: "it changed while cni-fix was writing it; left alone".into(),
        }),
        Err(ReplaceError::Io(e)) => Err(io_err(path, &e)),
    };
    if let Err(e) = result {
        set.discard_all();
        return Err(e);
    }
    match (backup, existing) {
        (Some(b), Some(old)) => {
            let rel = b.strip_prefix(backup_dir).unwrap_or(&b);
            let entry = ManifestEntry {
                path: path.display().to_string(),
                backup: display_path(rel),
                original_sha256: sha256_hex(&old),
                written_sha256: sha256_hex(bytes),
            };
            write_manifest(backup_dir, "generate", vec![entry]).map_err(|e| {
                WriteError::Backup {
                    path: backup_dir.display().to_string(),
                    reason: format!("writing its manifest: {}", io_message(&e)),
                }
            })?;
            Ok(Replaced::Replaced(b))
        }
        _ => Ok(Replaced::Created),
    }
}

/// Why a replacement did not happen.
#[derive(Debug)]
pub enum ReplaceError {
    /// The file is not what it was when read.
    Changed,
    /// An I/O error; the file is untouched.
    Io(io::Error),
}

impl From<io::Error> for ReplaceError {
    fn from(e: io::Error) -> Self {
        ReplaceError::Io(e)
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Remove `.cni-fix-<pid>-<n>.tmp` files in `dir` whose process no longer runs: what a run
/// killed between writing and renaming leaves. Best effort; no runtime loads these names.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix(".cni-fix-")
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Atomically replace (or create) the regular file at `path` (a host path) with `bytes`.
///
/// With `expected`, the file must still hold exactly those bytes, checked before writing and
/// again just before the rename. An existing file's mode, owner and extended attributes are
/// kept; a new file gets mode 0644.
pub fn replace_file(
    path: &Path,
    bytes: &[u8],
    expected: Option<&[u8]>,
) -> Result<(), ReplaceError> {
    replace_file_from(path, bytes, expected, None)
}

/// [`replace_file`], with the owner, mode and extended attributes taken from `meta_from`
/// instead of the file being replaced (a restore gives the original's back).
pub fn replace_file_from(
    path: &Path,
    bytes: &[u8],
    expected: Option<&[u8]>,
    meta_from: Option<&Path>,
) -> Result<(), ReplaceError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let existing = match fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound && expected.is_none() => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(m) = &existing {
        if !m.is_file() {
            return Err(io::Error::other("not a regular file").into());
        }
    }
    let unchanged = || -> Result<(), ReplaceError> {
        if let Some(want) = expected {
            if read_all(path)? != want {
                return Err(ReplaceError::Changed);
            }
        }
        Ok(())
    };
    unchanged()?;

    let name = format!(
        ".cni-fix-{}-{}.tmp",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let guard = TempGuard(Some(tmp.clone()));
    file.write_all(bytes)?;
    match (&existing, meta_from) {
        (_, Some(from)) => copy_metadata(from, &file)?,
        (Some(m), None) => {
            copy_xattrs(path, &file)?;
            std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid()))?;
            file.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
        (None, None) => file.set_permissions(fs::Permissions::from_mode(0o644))?,
    }
    file.sync_all()?;
    drop(file);
    unchanged()?;
    fs::rename(&tmp, path)?;
    let mut guard = guard;
    guard.0 = None;
    File::open(&dir)?.sync_all()?;
    Ok(())
}

/// What `cni-fix restore` does to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreOutcome {
    /// The file holds what cni-fix wrote; the original goes back.
    Restore {
        /// The file as it is now.
        current: Vec<u8>,
        /// The original, from the backup.
        original: Vec<u8>,
        /// The backup (a host path), whose owner, mode and extended attributes go back too.
        backup: PathBuf,
    },
    /// The file already holds the original.
    AlreadyOriginal,
    /// The file is not what cni-fix wrote (someone changed it since), or the backup is not
    /// what was recorded: left alone.
    Refused {
        /// Why.
        reason: String,
    },
}

/// One file of a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreFile {
    /// The file's node path.
    pub path: PathBuf,
    /// What happens to it.
    pub outcome: RestoreOutcome,
}

/// A restore: the originals a backup directory holds, and what putting each back does.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    /// The backup directory (a node path).
    pub backup_dir: PathBuf,
    /// One entry per file the directory's runs wrote, in path order.
    pub files: Vec<RestoreFile>,
}

impl RestorePlan {
    /// The plan as a unified diff with node paths, from the current files to the originals.
    pub fn unified_diff(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in &self.files {
            if let RestoreOutcome::Restore {
                current, original, ..
            } = &f.outcome
            {
                crate::rewrite::file_diff(&mut out, &f.path, current, original);
            }
        }
        out
    }
}

/// The newest backup directory under `parent` (a node path, normally
/// `/var/backups/cni-fix`): the greatest name among those holding a manifest.
pub fn latest_backup_dir(node: &NodeFs, parent: &Path) -> Option<PathBuf> {
    let host = host_path(node, parent);
    let mut names: Vec<std::ffi::OsString> = fs::read_dir(&host)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| read_manifests(&e.path()).is_ok_and(|m| !m.is_empty()))
        .map(|e| e.file_name())
        .collect();
    names.sort();
    names.pop().map(|n| parent.join(n))
}

/// Plan putting back the originals that the runs recorded in `backup_dir` (a node path)
/// replaced. For each file, the chain of runs is followed from the newest: the file must hold
/// what the newest run wrote, and each older run must have written what the newer one backed
/// up; the oldest original of that chain goes back.
pub fn plan_restore(node: &NodeFs, backup_dir: &Path) -> Result<RestorePlan, WriteError> {
    let host_backup = host_path(node, backup_dir);
    let manifests = read_manifests(&host_backup)?;
    if manifests.is_empty() {
        return Err(WriteError::Io {
            path: display_path(backup_dir),
            reason: "holds no cni-fix manifest (cni-fix-run-*.json); nothing to restore".into(),
        });
    }
    let mut paths: Vec<&str> = manifests
        .iter()
        .flat_map(|m| m.files.iter().map(|f| f.path.as_str()))
        .collect();
    paths.sort_unstable();
    paths.dedup();
    let mut files = Vec::new();
    for path in paths {
        // Newest first.
        let chain: Vec<&ManifestEntry> = manifests
            .iter()
            .rev()
            .flat_map(|m| m.files.iter().filter(|f| f.path == path))
            .collect();
        let node_path = PathBuf::from(path);
        let outcome = restore_outcome(node, &host_backup, &node_path, &chain);
        files.push(RestoreFile {
            path: node_path,
            outcome,
        });
    }
    Ok(RestorePlan {
        backup_dir: backup_dir.to_path_buf(),
        files,
    })
}

fn restore_outcome(
    node: &NodeFs,
    host_backup: &Path,
    path: &Path,
    chain: &[&ManifestEntry],
) -> RestoreOutcome {
    let refused = |reason: String| RestoreOutcome::Refused { reason };
    let current = match node.read_file(path, crate::node::MAX_CONFIG_BYTES) {
        Ok(b) => b,
        Err(e) => return refused(format!("cannot read it: {e}")),
    };
    let now = sha256_hex(&current);
    let Some(newest) = chain.first() else {
        return refused("no run recorded it".into());
    };
    if chain
        .last()
        .is_some_and(|oldest| oldest.original_sha256 == now)
    {
        return RestoreOutcome::AlreadyOriginal;
    }
    if newest.written_sha256 != now {
        return refused(
            "it changed since cni-fix wrote it; left alone (restore it by hand from the backup if that is what you want)"
                .into(),
        );
    }
    let mut pick = *newest;
    for older in &chain[1..] {
        if older.written_sha256 == pick.original_sha256 {
            pick = older;
        } else {
            break;
        }
    }
    let backup = host_backup.join(&pick.backup);
    let original =
        match crate::node::NodeFs::new("/").read_file(&backup, crate::node::MAX_CONFIG_BYTES) {
            Ok(b) => b,
            Err(e) => return refused(format!("cannot read its backup {}: {e}", pick.backup)),
        };
    if sha256_hex(&original) != pick.original_sha256 {
        return refused(format!(
            "its backup {} is not what cni-fix backed up (checksum differs); left alone",
            pick.backup
        ));
    }
    RestoreOutcome::Restore {
        current,
        original,
        backup,
    }
}

/// Carry out a restore: each original goes back atomically, with its owner, mode and extended
/// attributes, unless the file changed since it was planned.
pub fn apply_restore(node: &NodeFs, plan: &RestorePlan) -> Vec<(PathBuf, Written)> {
    let mut out = Vec::new();
    for f in &plan.files {
        let RestoreOutcome::Restore {
            current,
            original,
            backup,
        } = &f.outcome
        else {
            continue;
        };
        let result = match node.resolve(&f.path) {
            Err(e) => Written::Failed {
                reason: io_message(&e),
            },
            Ok(host) => match replace_file_from(&host, original, Some(current), Some(backup)) {
                Ok(()) => Written::Rewritten {
                    backup: plan.backup_dir.join(
                        backup
                            .strip_prefix(host_path(node, &plan.backup_dir))
                            .unwrap_or(backup),
                    ),
                },
                Err(ReplaceError::Changed) => Written::ChangedMeanwhile,
                Err(ReplaceError::Io(e)) => Written::Failed {
                    reason: io_message(&e),
                },
            },
        };
        out.push((f.path.clone(), result));
    }
    out
}

/// Copy every extended attribute of `from` onto `to`. A file system without extended
/// attributes has none to copy.
fn copy_xattrs(from: &Path, to: &File) -> io::Result<()> {
    use xattr::FileExt;
    let names = match xattr::list(from) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        if let Some(value) = xattr::get(from, &name)? {
            to.set_xattr(&name, &value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_326_640);
        assert_eq!(utc_stamp(t), "20261122T055040Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_825_600); // 2000-02-29 12:00:00
        assert_eq!(utc_stamp(leap), "20000229T120000Z");
    }

    #[test]
    fn replace_keeps_mode_owner_and_xattrs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("10-x.conflist");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        xattr::set(&p, "user.cni-fix-test", b"label").unwrap();
        replace_file(&p, b"new", Some(b"old")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        let m = fs::metadata(&p).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(
            xattr::get(&p, "user.cni-fix-test").unwrap().as_deref(),
            Some(&b"label"[..])
        );
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["10-x.conflist"]);
    }

    #[test]
    fn stale_temporaries_of_dead_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".cni-fix-999999999-3.tmp");
        let live = dir
            .path()
            .join(format!(".cni-fix-{}-0.tmp", std::process::id()));
        let other = dir.path().join(".cni-fix-notes.tmp");
        for p in [&dead, &live, &other] {
            fs::write(p, b"x").unwrap();
        }
        remove_stale_temporaries(dir.path());
        assert!(!dead.exists());
        assert!(
            live.exists() && other.exists(),
            "a running process's file and other names stay"
        );
    }

    #[test]
    fn a_changed_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.conflist");
        fs::write(&p, b"someone else's").unwrap();
        assert!(matches!(
            replace_file(&p, b"new", Some(b"old")),
            Err(ReplaceError::Changed)
        ));
        assert_eq!(fs::read(&p).unwrap(), b"someone else's");
    }
}

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
use crate::rewrite::{backup_path, Outcome, RewritePlan};

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The backup directory is unusable; nothing was written.
    #[error("backup directory {path}: {reason}; nothing was written")]
    Backup {
        /// The backup directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// An I/O operation failed.
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
/// replace each atomically.
pub fn apply(plan: &RewritePlan, backup_dir: &Path) -> Result<ApplyReport, WriteError> {
    let node = &plan.snapshot.node;
    let shown = display_path(backup_dir);
    let backup_err = |reason: String| WriteError::Backup {
        path: shown.clone(),
        reason,
    };
    if !backup_dir.is_absolute() {
        return Err(backup_err("not an absolute node path".into()));
    }
    let conf_dir = node
        .canonical_node_path(&plan.snapshot.conf_dir)
        .unwrap_or_else(|_| plan.snapshot.conf_dir.clone());
    if backup_dir.starts_with(&conf_dir) || backup_dir.starts_with(&plan.snapshot.conf_dir) {
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
    // Backups first, all of them: if one fails, nothing is written.
    let host_backup = host_path(node, backup_dir);
    create_private_dir(&host_backup).map_err(|(path, reason)| {
        // Name the offending path as a node path, like every report.
        let shown = path
            .strip_prefix(node.root())
            .map(|rel| Path::new("/").join(rel))
            .unwrap_or(path);
        backup_err(format!("{} {reason}", shown.display()))
    })?;
    let mut backups = Vec::with_capacity(rewrites.len());
    for (f, original, _) in &rewrites {
        let dest = backup_path(&host_backup, &f.target_path);
        let written = write_backup(&dest, original).map_err(|e| backup_err(io_message(&e)))?;
        // Report the backup as a node path.
        let rel = written.strip_prefix(&host_backup).unwrap_or(&written);
        backups.push(backup_dir.join(rel));
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
    for ((f, original, updated), backup) in rewrites.into_iter().zip(backups) {
        let result = match node.resolve(&f.path) {
            Err(e) => Written::Failed {
                reason: io_message(&e),
            },
            Ok(host) => match replace_file(&host, updated, Some(original)) {
                Ok(()) => Written::Rewritten { backup },
                Err(ReplaceError::Changed) => Written::ChangedMeanwhile,
                Err(ReplaceError::Io(e)) => Written::Failed {
                    reason: io_message(&e),
                },
            },
        };
        files.push((f.path.clone(), result));
    }
    Ok(ApplyReport {
        backup_dir: backup_dir.to_path_buf(),
        files,
    })
}

/// The host path of a node path that may not exist yet: its existing ancestors are resolved
/// inside the root.
fn host_path(node: &NodeFs, node_path: &Path) -> PathBuf {
    node.resolve(node_path).unwrap_or_else(|_| {
        node.root()
            .join(node_path.strip_prefix("/").unwrap_or(node_path))
    })
}

/// Create `dir` (and its parents) for backups, readable by its owner only. A path through a
/// file that is not a directory is named as such.
fn create_private_dir(dir: &Path) -> Result<(), (PathBuf, String)> {
    for ancestor in dir.ancestors() {
        if let Ok(m) = fs::metadata(ancestor) {
            if !m.is_dir() {
                return Err((ancestor.to_path_buf(), "is not a directory".to_string()));
            }
            break;
        }
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| (dir.to_path_buf(), io_message(&e)))
}

/// Write a backup at `dest`, or, when a backup is already there (an earlier run), at the first
/// free `dest.1`, `dest.2`, …: earlier backups, the oldest originals, are never overwritten.
fn write_backup(dest: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    if let Some(parent) = dest.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
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
                f.write_all(bytes)?;
                f.sync_all()?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 10_000 => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
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

/// Write `bytes` to `path` (a host path) atomically. An existing, different file is first
/// backed up under `backup_dir` (a host path) at its own absolute path, and keeps its mode,
/// owner and extended attributes.
pub fn replace_with_backup(
    path: &Path,
    bytes: &[u8],
    backup_dir: &Path,
) -> Result<Replaced, WriteError> {
    let io_err = |p: &Path, e: &io::Error| WriteError::Io {
        path: p.display().to_string(),
        reason: io_message(e),
    };
    let existing = match fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(path, &e)),
    };
    let backup = match &existing {
        Some(old) if old == bytes => return Ok(Replaced::Unchanged),
        Some(old) => {
            create_private_dir(backup_dir).map_err(|(p, reason)| WriteError::Backup {
                path: backup_dir.display().to_string(),
                reason: format!("{} {reason}", p.display()),
            })?;
            let dest = backup_path(backup_dir, path);
            Some(write_backup(&dest, old).map_err(|e| WriteError::Backup {
                path: backup_dir.display().to_string(),
                reason: io_message(&e),
            })?)
        }
        None => None,
    };
    match replace_file(path, bytes, existing.as_deref()) {
        Ok(()) => Ok(backup.map_or(Replaced::Created, Replaced::Replaced)),
        Err(ReplaceError::Changed) => Err(WriteError::Io {
            path: path.display().to_string(),
            reason: "it changed while cni-fix was writing it; left alone".into(),
        }),
        Err(ReplaceError::Io(e)) => Err(io_err(path, &e)),
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
    match &existing {
        Some(m) => {
            copy_xattrs(path, &file)?;
            std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid()))?;
            file.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
        None => file.set_permissions(fs::Permissions::from_mode(0o644))?,
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

//! The one place cni-fix writes files.
//!
//! Every write is atomic: the new text goes to a temporary file in the same directory, under
//! a name no runtime loads (`.cni-fix-*.tmp`), with the original's mode, owner and extended
//! attributes (an SELinux label survives), is synced, and is renamed over the original; then
//! the directory is synced. A crash leaves the old file or the new one, never a torn one.
//! Originals are copied into a backup directory first, and a file that changed since it was
//! read is left alone.

mod atomic;
mod backup;
mod restore;

pub use atomic::{
    remove_stale_temporaries, replace_file, replace_file_from, replace_with_backup, ReplaceError,
    Replaced,
};
pub use backup::{
    backup_path, read_manifests, sha256_hex, Manifest, ManifestEntry, MANIFEST_SCHEMA,
};
pub use restore::{
    apply_restore, latest_backup_dir, plan_restore, RestoreFile, RestoreOutcome, RestorePlan,
};

use atomic::copy_xattrs;
use backup::{copy_metadata, write_manifest, BackupSet};

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
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
    /// An operation on a file failed.
    #[error("{path}")]
    File {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file was refused, or the node cannot be written.
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
    let rewrites: Vec<Rewrite<'_>> = plan
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
    let (mut set, backups) = back_up(node, &rewrites, &host_backup, backup_dir)?;
    clear_stale_temporaries(node, &rewrites);
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

/// A file a plan rewrites: its plan, its original and its new text.
type Rewrite<'p> = (&'p crate::rewrite::FilePlan, &'p Vec<u8>, &'p Vec<u8>);

/// Back up every original of `rewrites` under `host_backup`: the set made, and each backup's
/// host path. When one fails, none is kept.
fn back_up(
    node: &NodeFs,
    rewrites: &[Rewrite<'_>],
    host_backup: &Path,
    backup_dir: &Path,
) -> Result<(BackupSet, Vec<PathBuf>), WriteError> {
    let backup_err = |reason: String| WriteError::Backup {
        path: display_path(backup_dir),
        reason,
    };
    let mut set = BackupSet::new(host_backup.to_path_buf());
    set.create_root().map_err(|(path, reason)| {
        // Name the offending path as a node path, like every report.
        let shown = path
            .strip_prefix(node.root())
            .map(|rel| Path::new("/").join(rel))
            .unwrap_or(path);
        backup_err(naming(&shown, backup_dir, &reason))
    })?;
    let mut backups = Vec::with_capacity(rewrites.len());
    for (f, original, _) in rewrites {
        let dest = backup_path(host_backup, &f.target_path);
        let meta_from = node.resolve(&f.path).ok();
        match set.write(&dest, original, meta_from.as_deref()) {
            Ok(written) => backups.push(written),
            Err(e) => {
                set.discard_all();
                return Err(backup_err(io_message(&e)));
            }
        }
    }
    Ok((set, backups))
}

/// Remove the temporary files of runs killed before their rename, in the directories of
/// `rewrites`.
fn clear_stale_temporaries(node: &NodeFs, rewrites: &[Rewrite<'_>]) {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (f, _, _) in rewrites {
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

/// The host path of a node path that may not exist yet: its existing ancestors are resolved
/// inside the root.
pub(super) fn host_path(node: &NodeFs, node_path: &Path) -> PathBuf {
    node.resolve(node_path).unwrap_or_else(|_| {
        node.root()
            .join(node_path.strip_prefix("/").unwrap_or(node_path))
    })
}

/// `reason`, preceded by `path` when it is not the backup directory itself (which the error
/// already names).
pub(super) fn naming(path: &Path, backup_dir: &Path, reason: &str) -> String {
    if path == backup_dir {
        reason.to_string()
    } else if reason.starts_with("is ") {
        format!("{} {reason}", path.display())
    } else {
        format!("{}: {reason}", path.display())
    }
}

/// Write `bytes` to `path` (a host path) atomically: a temporary file in the same directory,
/// synced, then renamed over `path`, so that a reader sees the old file or the new one, never
/// half of one. An existing file keeps its mode and owner; a new one gets mode 0644. For
/// cni-fix's own outputs (a metrics file, an archive), which need no backup.
pub fn write_new_or_replace(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_new_or_replace_with(path, |out| out.write_all(bytes))
}

/// [`write_new_or_replace`], the contents written by `fill` as they are made, so that output of
/// any length is never held whole; when `fill` fails, `path` is left as it was.
pub fn write_new_or_replace_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    atomic::replace_file_with(path, fill, None, None).map_err(|e| WriteError::Io {
        path: path.display().to_string(),
        reason: match e {
            atomic::ReplaceError::Io(e) => crate::node::io_message(&e),
            atomic::ReplaceError::Changed => "it changed while being written".to_string(),
        },
    })
}

/// Create `path` (a host path) holding `bytes`, with mode 0644, atomically; missing parent
/// directories are created (mode 0755) and removed again if the write fails. An existing
/// file is refused: this writes new files only, so nothing needs a backup.
pub fn create_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let refuse = |reason: String| WriteError::Io {
        path: path.display().to_string(),
        reason,
    };
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(refuse("it exists; only new files are created".to_string()));
    }
    let mut created = Vec::new();
    let mut dir = path.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        if std::fs::symlink_metadata(&d).is_ok() {
            break;
        }
        created.push(d.clone());
        dir = d.parent().map(Path::to_path_buf);
    }
    let result = (|| {
        for d in created.iter().rev() {
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(d)
                .map_err(|e| WriteError::File {
                    path: d.display().to_string(),
                    source: e,
                })?;
        }
        atomic::replace_file(path, bytes, None).map_err(|e| match e {
            atomic::ReplaceError::Io(e) => refuse(crate::node::io_message(&e)),
            atomic::ReplaceError::Changed => refuse("it changed while being written".to_string()),
        })
    })();
    if result.is_err() {
        for d in &created {
            let _ = std::fs::remove_dir(d);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

//! Putting back the originals a run replaced, from its backup directory.

use std::fs;
use std::path::Path;
use std::path::PathBuf;

use crate::node::display_path;
use crate::node::io_message;
use crate::node::NodeFs;
use crate::write::host_path;
use crate::write::read_manifests;
use crate::write::replace_file_from;
use crate::write::sha256_hex;
use crate::write::ManifestEntry;
use crate::write::ReplaceError;
use crate::write::WriteError;
use crate::write::Written;

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

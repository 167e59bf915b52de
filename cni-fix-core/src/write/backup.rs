//! Backups: where each goes, the set a run makes (removed whole when the run fails), and
//! the manifest that records what a run wrote, for `restore`.

use std::fs;
use std::fs::File;
use std::fs::OpenOptions;
use std::io;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use crate::node::io_message;
use crate::write::copy_xattrs;
use crate::write::replace_file;
use crate::write::utc_stamp;
use crate::write::ReplaceError;
use crate::write::WriteError;

/// The backups of one run: what it created, so that a failed run removes all of it, and a
/// file left alone loses its backup.
pub(super) struct BackupSet {
    root: PathBuf,
    /// Directories this run created, parents first.
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl BackupSet {
    pub(super) fn new(root: PathBuf) -> BackupSet {
        BackupSet {
            root,
            dirs: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Create `dir` and its missing parents, readable by the owner only, remembering which.
    pub(super) fn create_dirs(&mut self, dir: &Path) -> Result<(), (PathBuf, String)> {
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

    pub(super) fn create_root(&mut self) -> Result<(), (PathBuf, String)> {
        let root = self.root.clone();
        self.create_dirs(&root)
    }

    /// Write a backup of `bytes` at `dest` (or `dest.N`), with the metadata of `meta_from`.
    pub(super) fn write(
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
    pub(super) fn discard(&mut self, file: &Path) {
        if let Some(i) = self.files.iter().position(|f| f == file) {
            let _ = fs::remove_file(&self.files[i]);
            self.files.remove(i);
        }
        self.remove_empty_dirs();
    }

    /// Remove everything this run created.
    pub(super) fn discard_all(&mut self) {
        for f in self.files.drain(..) {
            let _ = fs::remove_file(f);
        }
        self.remove_empty_dirs();
    }

    /// Remove the directories this run created that hold nothing, deepest first.
    pub(super) fn remove_empty_dirs(&mut self) {
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
pub(super) fn write_manifest(
    host_backup: &Path,
    command: &str,
    files: Vec<ManifestEntry>,
) -> io::Result<()> {
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
    let file_err = |source: io::Error| WriteError::File {
        path: host_backup.display().to_string(),
        source,
    };
    let entries = fs::read_dir(host_backup).map_err(file_err)?;
    for entry in entries {
        let entry = entry.map_err(file_err)?;
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
pub(super) fn copy_metadata(from: &Path, to: &File) -> io::Result<()> {
    let m = fs::metadata(from)?;
    copy_xattrs(from, to)?;
    std::os::unix::fs::fchown(to, Some(m.uid()), Some(m.gid()))?;
    to.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))
}

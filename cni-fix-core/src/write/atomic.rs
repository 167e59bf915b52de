//! Atomic replacement of one file, keeping its mode, owner and extended attributes.

use std::fs;
use std::fs::File;
use std::fs::OpenOptions;
use std::io;
use std::io::Read;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use crate::node::display_path;
use crate::node::io_message;
use crate::write::backup_path;
use crate::write::copy_metadata;
use crate::write::naming;
use crate::write::sha256_hex;
use crate::write::write_manifest;
use crate::write::BackupSet;
use crate::write::ManifestEntry;
use crate::write::WriteError;

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
    let io_err = |p: &Path, e: io::Error| WriteError::File {
        path: p.display().to_string(),
        source: e,
    };
    let existing = match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(path, e)),
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
        Err(ReplaceError::Io(e)) => Err(io_err(path, e)),
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
    replace_file_with(path, |f| f.write_all(bytes), expected, meta_from)
}

/// [`replace_file_from`], the new contents written by `fill` into the temporary file (so that
/// output of any length is never held whole); an error from `fill` leaves `path` as it was.
pub fn replace_file_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
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
    {
        let mut out = io::BufWriter::with_capacity(64 * 1024, &mut file);
        fill(&mut out)?;
        out.flush()?;
    }
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

/// Copy every extended attribute of `from` onto `to`. A file system without extended
/// attributes has none to copy.
pub(super) fn copy_xattrs(from: &Path, to: &File) -> io::Result<()> {
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

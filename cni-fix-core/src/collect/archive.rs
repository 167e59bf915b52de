//! A collection as a gzip-compressed tar archive: the manifest first, then the files under
//! `files/`. Writing is deterministic (the same collection gives the same bytes); reading
//! holds everything in memory, never extracts, and is bounded.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use super::replay::CollectedNode;
use super::{path_key, CollectError, Collection, Looked, Manifest, FILES_DIR, MANIFEST};

/// The most bytes a collection may hold once decompressed (its manifest and files together).
pub const MAX_ARCHIVE_BYTES: u64 = 256 * 1024 * 1024;

/// The name of a collected file in the archive: `files/` and its node path when that path is
/// plain, else `files/.sha256/` and its hash (a path with `.` or `..` in it, which tar readers
/// refuse or resolve).
fn archive_name(node_path: &Path, sha256: &str) -> PathBuf {
    let plain = node_path.is_absolute()
        && node_path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let mut name = PathBuf::from(FILES_DIR);
    if plain {
        name.push(node_path.strip_prefix("/").unwrap_or(node_path));
    } else {
        name.push(".sha256");
        name.push(sha256);
    }
    name
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    name: &Path,
    bytes: &[u8],
    mode: u32,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, bytes)
}

impl Collection {
    /// Write the collection as a gzip-compressed tar archive.
    pub fn write_tar_gz(&self, w: impl Write) -> io::Result<()> {
        let gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let manifest = serde_json::to_vec_pretty(&self.manifest).map_err(io::Error::other)?;
        append(&mut tar, Path::new(MANIFEST), &manifest, 0o644)?;
        for (path, bytes) in &self.files {
            let rec = self.manifest.paths.get(&path_key(path));
            let sha = match rec.and_then(|r| r.read.as_ref()) {
                Some(Looked::Ok(c)) => c.sha256.clone(),
                _ => crate::write::sha256_hex(bytes),
            };
            let mode = match rec.and_then(|r| r.metadata.as_ref()) {
                Some(Looked::Ok(i)) => i.mode & 0o777,
                _ => 0o644,
            };
            append(&mut tar, &archive_name(path, &sha), bytes, mode)?;
        }
        tar.into_inner()?.finish()?.flush()
    }
}

/// A reader that fails once more than its limit has been read through it.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(format!(
                "holds more than {MAX_ARCHIVE_BYTES} bytes uncompressed; not a cni-fix collection"
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl CollectedNode {
    /// Read a collection written by [`Collection::write_tar_gz`]; `name` (the archive's path)
    /// names it in reports and errors. Nothing is written to disk.
    pub fn read_tar_gz(r: impl Read, name: &Path) -> Result<CollectedNode, CollectError> {
        let shown = crate::node::display_path(name);
        let fail = |reason: String| CollectError::Archive {
            path: shown.clone(),
            reason,
        };
        let gz = flate2::read::GzDecoder::new(r);
        let mut archive = tar::Archive::new(Bounded {
            inner: gz,
            left: MAX_ARCHIVE_BYTES,
        });
        let mut manifest: Option<Manifest> = None;
        let mut by_name: HashMap<PathBuf, Vec<u8>> = HashMap::new();
        let entries = archive
            .entries()
            .map_err(|e| fail(format!("not a gzip-compressed tar archive: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| fail(format!("not a readable tar.gz archive: {e}")))?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = entry
                .path()
                .map_err(|e| fail(format!("an entry's name: {e}")))?
                .into_owned();
            let mut bytes = Vec::with_capacity(entry.size().min(MAX_ARCHIVE_BYTES) as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| fail(format!("{}: {e}", path.display())))?;
            if path == Path::new(MANIFEST) {
                manifest = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    fail(format!(
                        "{MANIFEST}: not a cni-fix collection manifest: {e}"
                    ))
                })?);
            } else if path.starts_with(FILES_DIR) {
                by_name.insert(path, bytes);
            }
        }
        let manifest = manifest.ok_or_else(|| {
            fail(format!(
                "no {MANIFEST} in it: not made by `cni-fix collect`"
            ))
        })?;
        let mut files = HashMap::new();
        for (k, rec) in &manifest.paths {
            if let Some(Looked::Ok(c)) = &rec.read {
                let Some(p) = super::key_name(k).map(PathBuf::from) else {
                    continue;
                };
                if let Some(bytes) = by_name.remove(&archive_name(&p, &c.sha256)) {
                    files.insert(p, bytes);
                }
            }
        }
        CollectedNode::from_parts(manifest, files, name)
    }

    /// Open and read a collection archive.
    pub fn open(path: &Path) -> Result<CollectedNode, CollectError> {
        let file = std::fs::File::open(path).map_err(|e| CollectError::Archive {
            path: crate::node::display_path(path),
            reason: crate::node::io_message(&e),
        })?;
        CollectedNode::read_tar_gz(io::BufReader::new(file), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_never_climb() {
        assert_eq!(
            archive_name(Path::new("/etc/cni/net.d/10.conflist"), "ab"),
            Path::new("files/etc/cni/net.d/10.conflist")
        );
        assert_eq!(
            archive_name(Path::new("/etc/../../x"), "ab"),
            Path::new("files/.sha256/ab")
        );
    }
}

//! Reading a node's files under a root directory.
//!
//! Every path cni-fix reads is a *node path*, such as `/etc/cni/net.d`. On a live node
//! (root `/`) it is read as is. Under another root, such as a tree copied from a broken node,
//! it is resolved inside that root as the node's kernel would resolve it: absolute symlinks
//! point into the root, `..` stops at the root, and a loop fails after 40 links.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The largest config file cni-fix reads. Real network configs are a few kilobytes.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Linux's limit on symlinks followed in one path resolution.
const MAX_SYMLINKS: usize = 40;

/// A node's file system, seen through a root directory.
#[derive(Debug, Clone)]
pub struct NodeFs {
    root: PathBuf,
    live: bool,
    /// Directories already resolved (node path → resolved components and the symlinks
    /// followed on the way): the files of a directory of thousands are resolved by one
    /// `lstat` each, not one per component.
    dirs: Arc<Mutex<HashMap<PathBuf, Resolved>>>,
}

/// A resolved node path: its components under the root, and how many symlinks led there.
#[derive(Debug, Clone, Default)]
struct Resolved {
    parts: Vec<OsString>,
    links: usize,
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The operating system refused (missing, dangling link, loop, …).
    #[error("{message}")]
    Io {
        /// What kind of error it was.
        kind: io::ErrorKind,
        /// The error as a short message.
        message: String,
    },
    /// Permission denied: whoever reads it lacks the rights (see [`own_limit`]).
    #[error("permission denied")]
    Denied,
    /// It is not a regular file.
    #[error("not a regular file: it is a {0}")]
    NotRegular(&'static str),
    /// It is larger than cni-fix reads.
    #[error("larger than {cap} bytes ({size} bytes); not read")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        cap: u64,
    },
}

impl ReadError {
    /// The read error of an I/O error, its kind kept.
    pub fn io(e: &io::Error) -> ReadError {
        ReadError::Io {
            kind: e.kind(),
            message: io_message(e),
        }
    }
}

/// A directory entry, typed as Go's `os.ReadDir` types it (without following links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name.
    pub name: OsString,
    /// What `lstat` says it is.
    pub kind: EntryKind,
}

/// The type of a directory entry, from `lstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

impl EntryKind {
    /// The kind of a file type, links not followed.
    pub fn of(ft: fs::FileType) -> EntryKind {
        if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        }
    }
}

/// What a file type is called in messages.
pub fn file_type_name(ft: fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "named pipe"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "device"
    } else if ft.is_symlink() {
        "symbolic link"
    } else {
        "regular file"
    }
}

impl NodeFs {
    /// A node rooted at `root`. `/` (or any path that resolves to it) is the live node.
    pub fn new(root: impl Into<PathBuf>) -> NodeFs {
        let root = root.into();
        let live = fs::canonicalize(&root)
            .map(|p| p == Path::new("/"))
            .unwrap_or(false);
        NodeFs {
            root,
            live,
            dirs: Arc::default(),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this is the live node (root `/`).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The host path of a node path, symlinks resolved inside the root.
    pub fn resolve(&self, node_path: &Path) -> io::Result<PathBuf> {
        if self.live {
            return Ok(node_path.to_path_buf());
        }
        self.resolve_parts(node_path).map(|r| self.join(&r.parts))
    }

    /// [`NodeFs::resolve`]'s walk: the parent directory from the cache (resolved and kept on
    /// first use), then the last component.
    fn resolve_parts(&self, node_path: &Path) -> io::Result<Resolved> {
        let (start, last) = match (node_path.parent(), node_path.components().next_back()) {
            (Some(parent), Some(Component::Normal(name))) => {
                let known = self.dirs.lock().ok().and_then(|d| d.get(parent).cloned());
                let dir = match known {
                    Some(r) => r,
                    None => {
                        let r = self.walk(Resolved::default(), parent)?;
                        // Only a directory that exists is kept: a missing one may appear.
                        if fs::metadata(self.join(&r.parts)).is_ok_and(|m| m.is_dir()) {
                            if let Ok(mut d) = self.dirs.lock() {
                                d.insert(parent.to_path_buf(), r.clone());
                            }
                        }
                        r
                    }
                };
                (dir, Path::new(name))
            }
            _ => (Resolved::default(), node_path),
        };
        self.walk(start, last)
    }

    /// Resolve `rest` below the resolved `start`, one component at a time.
    fn walk(&self, start: Resolved, rest: &Path) -> io::Result<Resolved> {
        let Resolved {
            parts: mut done,
            mut links,
        } = start;
        let mut pending: Vec<OsString> = Vec::new();
        push_components(&mut pending, rest);
        while let Some(c) = pending.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let host = self.join(&done);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    let target = fs::read_link(&host)?;
                    done.pop();
                    if target.is_absolute() {
                        done.clear();
                    }
                    push_components(&mut pending, &target);
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // The rest cannot be links; let the caller's operation report it missing.
                    while let Some(rest) = pending.pop() {
                        if rest == ".." {
                            done.pop();
                        } else {
                            done.push(rest);
                        }
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Resolved { parts: done, links })
    }

    /// The node path that `node_path` resolves to, symlinks followed: where a symlinked
    /// config really lives.
    pub fn canonical_node_path(&self, node_path: &Path) -> io::Result<PathBuf> {
        if self.live {
            return fs::canonicalize(node_path);
        }
        let host = self.resolve(node_path)?;
        let rel = host
            .strip_prefix(&self.root)
            .map_err(|_| io::Error::other("path resolves outside the root"))?;
        Ok(Path::new("/").join(rel))
    }

    fn join(&self, parts: &[OsString]) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(parts);
        p
    }

    /// `stat` of a node path (following links).
    pub fn metadata(&self, node_path: &Path) -> io::Result<Metadata> {
        fs::metadata(self.resolve(node_path)?)
    }

    /// `lstat` of a node path (the last component not followed).
    pub fn symlink_metadata(&self, node_path: &Path) -> io::Result<Metadata> {
        let parent = node_path.parent().unwrap_or(Path::new("/"));
        let name = node_path.file_name().unwrap_or(OsStr::new(""));
        fs::symlink_metadata(self.resolve(parent)?.join(name))
    }

    /// The entries of a directory, in no particular order.
    pub fn read_dir(&self, node_dir: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.resolve(node_dir)?)? {
            let entry = entry?;
            out.push(DirEntry {
                kind: EntryKind::of(entry.file_type()?),
                name: entry.file_name(),
            });
        }
        Ok(out)
    }

    /// Open a regular file of at most `cap` bytes for reading. Never blocks on a FIFO or
    /// device.
    pub fn open_file(&self, node_path: &Path, cap: u64) -> Result<File, ReadError> {
        self.open_file_meta(node_path, cap).map(|(file, _)| file)
    }

    /// [`NodeFs::open_file`], with what `fstat` said of it.
    fn open_file_meta(&self, node_path: &Path, cap: u64) -> Result<(File, Metadata), ReadError> {
        let host = self.resolve(node_path).map_err(read_error)?;
        let file: File = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&host)
            .map_err(read_error)?;
        let meta = file.metadata().map_err(read_error)?;
        if !meta.file_type().is_file() {
            return Err(ReadError::NotRegular(file_type_name(meta.file_type())));
        }
        if meta.len() > cap {
            return Err(ReadError::TooLarge {
                size: meta.len(),
                cap,
            });
        }
        Ok((file, meta))
    }

    /// Read a regular file, at most `cap` bytes. Never blocks on a FIFO or device.
    pub fn read_file(&self, node_path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
        self.read_file_meta(node_path, cap).map(|(bytes, _)| bytes)
    }

    /// [`NodeFs::read_file`], with what `fstat` said of the file when it was opened.
    pub fn read_file_meta(
        &self,
        node_path: &Path,
        cap: u64,
    ) -> Result<(Vec<u8>, Metadata), ReadError> {
        let (file, meta) = self.open_file_meta(node_path, cap)?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() as u64 > cap {
            return Err(ReadError::TooLarge {
                size: bytes.len() as u64,
                cap,
            });
        }
        Ok((bytes, meta))
    }
}

fn read_error(e: io::Error) -> ReadError {
    if e.kind() == io::ErrorKind::PermissionDenied {
        ReadError::Denied
    } else {
        ReadError::io(&e)
    }
}

/// Whether this process runs as root, as the container runtime does.
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether failing to read something with `e` is cni-fix's own limit rather than the node's
/// problem: permission denied to a cni-fix that does not run as root, where the runtime (which
/// runs as root) would read it.
pub fn own_limit(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied && !running_as_root()
}

/// An I/O error as a short message, without Rust's `(os error N)` suffix.
pub fn io_message(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => {
            let mut m = s[..i].to_string();
            if let Some(first) = m.get(..1) {
                let lower = first.to_lowercase();
                m.replace_range(..1, &lower);
            }
            m
        }
        None => s,
    }
}

/// Push `path`'s components onto `stack` so that the first component is popped first.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

/// Join a node directory and an entry name into a node path.
pub fn node_join(dir: &Path, name: &OsStr) -> PathBuf {
    dir.join(name)
}

/// A node path as text: the path itself where it is UTF-8; otherwise each byte that is not
/// part of valid UTF-8 is written `\xNN`, so that distinct names stay distinct. Reports give the
/// exact bytes beside it (see [`path_bytes`]).
pub fn display_path(p: &Path) -> String {
    let bytes = p.as_os_str().as_bytes();
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

/// The exact bytes of a path that is not UTF-8, in standard base64; `None` for a UTF-8 path,
/// which [`display_path`] shows as it is.
pub fn path_bytes(p: &Path) -> Option<String> {
    use base64::Engine;
    let bytes = p.as_os_str().as_bytes();
    std::str::from_utf8(bytes)
        .is_err()
        .then(|| base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Compare names the way Go's `sort.Strings` compares them: by bytes.
pub fn byte_order(a: &OsStr, b: &OsStr) -> std::cmp::Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc/cni/net.d")).unwrap();
        fs::create_dir_all(root.join("opt/conf")).unwrap();
        fs::write(root.join("opt/conf/real.conflist"), b"{}").unwrap();
        symlink(
            "/opt/conf/real.conflist",
            root.join("etc/cni/net.d/10-a.conflist"),
        )
        .unwrap();
        symlink(
            "../../../opt/conf/real.conflist",
            root.join("etc/cni/net.d/11-b.conflist"),
        )
        .unwrap();
        symlink(
            "/etc/passwd-not-in-root",
            root.join("etc/cni/net.d/12-c.conflist"),
        )
        .unwrap();
        symlink("loop", root.join("etc/cni/net.d/loop")).unwrap();
        let node = NodeFs::new(root);
        assert!(!node.is_live());
        let read = |p: &str| node.read_file(Path::new(p), MAX_CONFIG_BYTES);
        assert_eq!(read("/etc/cni/net.d/10-a.conflist").unwrap(), b"{}");
        assert_eq!(read("/etc/cni/net.d/11-b.conflist").unwrap(), b"{}");
        assert_eq!(
            read("/etc/cni/net.d/12-c.conflist"),
            Err(ReadError::Io {
                kind: io::ErrorKind::NotFound,
                message: "no such file or directory".into()
            })
        );
        assert_eq!(
            read("/etc/cni/net.d/loop"),
            Err(ReadError::Io {
                kind: io::Error::from_raw_os_error(libc::ELOOP).kind(),
                message: "too many levels of symbolic links".into()
            })
        );
        assert_eq!(
            read("/etc/cni/net.d"),
            Err(ReadError::NotRegular("directory"))
        );
    }

    /// Directories are resolved once and kept; the files in them are resolved each time, and
    /// a directory that was missing is looked for again.
    #[test]
    fn resolved_directories_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("data/net.d")).unwrap();
        fs::create_dir_all(root.join("etc/cni")).unwrap();
        // The conf dir is a link to a directory elsewhere in the root, through `..`.
        symlink("../../data/net.d", root.join("etc/cni/net.d")).unwrap();
        fs::write(root.join("data/net.d/a.conflist"), b"a").unwrap();
        let node = NodeFs::new(root);
        let read = |p: &str| node.read_file(Path::new(p), MAX_CONFIG_BYTES);
        assert_eq!(read("/etc/cni/net.d/a.conflist").unwrap(), b"a");
        // A file that appears later, and one that becomes a link out of the directory.
        fs::write(root.join("data/net.d/b.conflist"), b"b").unwrap();
        fs::write(root.join("data/other"), b"o").unwrap();
        symlink("../other", root.join("data/net.d/c.conflist")).unwrap();
        assert_eq!(read("/etc/cni/net.d/b.conflist").unwrap(), b"b");
        assert_eq!(read("/etc/cni/net.d/c.conflist").unwrap(), b"o");
        assert_eq!(
            node.resolve(Path::new("/etc/cni/net.d/c.conflist"))
                .unwrap(),
            root.join("data/other")
        );
        // A missing directory is not remembered as missing.
        assert!(read("/etc/later/x.conf").is_err());
        fs::create_dir_all(root.join("etc/later")).unwrap();
        fs::write(root.join("etc/later/x.conf"), b"x").unwrap();
        assert_eq!(read("/etc/later/x.conf").unwrap(), b"x");
        // The links followed to the directory count toward the limit for its files: /l38 is
        // 40 links (39 and the conf dir's), a file in it is read, a link in it is one too many.
        let mut prev = "/etc/cni/net.d".to_string();
        for i in 0..MAX_SYMLINKS {
            let name = format!("/l{i}");
            symlink(&prev, root.join(&name[1..])).unwrap();
            prev = name;
        }
        assert_eq!(read("/l38/a.conflist").unwrap(), b"a");
        let eloop = io::Error::from_raw_os_error(libc::ELOOP).kind();
        assert!(
            matches!(read("/l38/c.conflist"), Err(ReadError::Io { kind, .. }) if kind == eloop)
        );
        assert!(
            matches!(read("/l39/a.conflist"), Err(ReadError::Io { kind, .. }) if kind == eloop)
        );
    }

    #[test]
    fn fifo_and_size_cap() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.conflist");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
        assert_eq!(rc, 0);
        let node = NodeFs::new(dir.path());
        assert_eq!(
            node.read_file(Path::new("/x.conflist"), 10),
            Err(ReadError::NotRegular("named pipe"))
        );
        fs::write(dir.path().join("big"), vec![b' '; 11]).unwrap();
        assert_eq!(
            node.read_file(Path::new("/big"), 10),
            Err(ReadError::TooLarge { size: 11, cap: 10 })
        );
    }
}

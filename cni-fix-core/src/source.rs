//! Where a snapshot's facts come from: the node's files ([`NodeSource`]) and the processes
//! cni-fix would run ([`Prober`]). cni-fix reads a real node through [`NodeFs`] and
//! [`SystemProber`]; tests, and node agents that hold the files already, build a snapshot from
//! an in-memory [`MemNode`] and a prober of their own.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::node::{DirEntry, EntryKind, NodeFs, ReadError};
use crate::probe::ProbeError;
use crate::runtime::{ContainerdVersion, RuntimeVersion};

/// What cni-fix needs to know of a file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Size in bytes.
    pub len: u64,
    /// Last modification, when known.
    pub modified: Option<SystemTime>,
}

impl FileInfo {
    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    fn of(m: &std::fs::Metadata) -> FileInfo {
        FileInfo {
            kind: EntryKind::of(m.file_type()),
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            len: m.len(),
            modified: m.modified().ok(),
        }
    }
}

/// A node's file system, as node paths (`/etc/cni/net.d/…`).
pub trait NodeSource: fmt::Debug + Send + Sync {
    /// The directory the node was read under, for reports (`/` for the live node).
    fn root(&self) -> &Path;
    /// Whether this is the live node, whose binaries may run and whose owners matter.
    fn is_live(&self) -> bool;
    /// The entries of a directory, in no particular order.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>>;
    /// A regular file's bytes, at most `cap` of them; never blocks.
    fn read_file(&self, path: &Path, cap: u64) -> Result<Vec<u8>, ReadError>;
    /// [`NodeSource::read_file`], and [`NodeSource::metadata`] of the file when it is known.
    /// By default the two are asked apart; a file system answers both from one open.
    fn read_file_info(
        &self,
        path: &Path,
        cap: u64,
    ) -> Result<(Vec<u8>, Option<FileInfo>), ReadError> {
        let info = self.metadata(path).ok();
        self.read_file(path, cap).map(|bytes| (bytes, info))
    }
    /// A regular file of at most `cap` bytes, to read in pieces (a plugin binary, of which
    /// the static probe reads a few parts). By default the whole file, read at once.
    fn open_read_at(
        &self,
        path: &Path,
        cap: u64,
    ) -> Result<Box<dyn crate::static_probe::ReadAt + '_>, ReadError> {
        Ok(Box::new(self.read_file(path, cap)?))
    }
    /// Information on what `path` leads to (links followed).
    fn metadata(&self, path: &Path) -> io::Result<FileInfo>;
    /// Information on `path` itself (a last-component link not followed).
    fn symlink_metadata(&self, path: &Path) -> io::Result<FileInfo>;
    /// The node path `path` leads to, links followed.
    fn canonical_node_path(&self, path: &Path) -> io::Result<PathBuf>;
    /// The file system on disk, when the node is one: only such a node can be written or have
    /// its binaries run.
    fn as_fs(&self) -> Option<&NodeFs> {
        None
    }
}

impl NodeSource for NodeFs {
    fn root(&self) -> &Path {
        NodeFs::root(self)
    }
    fn is_live(&self) -> bool {
        NodeFs::is_live(self)
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        NodeFs::read_dir(self, dir)
    }
    fn read_file_info(
        &self,
        path: &Path,
        cap: u64,
    ) -> Result<(Vec<u8>, Option<FileInfo>), ReadError> {
        NodeFs::read_file_meta(self, path, cap).map(|(bytes, m)| (bytes, Some(FileInfo::of(&m))))
    }
    fn read_file(&self, path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
        NodeFs::read_file(self, path, cap)
    }
    fn open_read_at(
        &self,
        path: &Path,
        cap: u64,
    ) -> Result<Box<dyn crate::static_probe::ReadAt + '_>, ReadError> {
        let file = NodeFs::open_file(self, path, cap)?;
        let at = crate::static_probe::FileAt::new(file).map_err(|e| ReadError::io(&e))?;
        Ok(Box::new(at))
    }
    fn metadata(&self, path: &Path) -> io::Result<FileInfo> {
        NodeFs::metadata(self, path).map(|m| FileInfo::of(&m))
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<FileInfo> {
        NodeFs::symlink_metadata(self, path).map(|m| FileInfo::of(&m))
    }
    fn canonical_node_path(&self, path: &Path) -> io::Result<PathBuf> {
        NodeFs::canonical_node_path(self, path)
    }
    fn as_fs(&self) -> Option<&NodeFs> {
        Some(self)
    }
}

/// The processes cni-fix runs to learn versions.
pub trait Prober: Send + Sync {
    /// Each binary's answer to `CNI_COMMAND=VERSION` (node paths of `node`), all at once.
    fn exec_versions(
        &self,
        node: &dyn NodeSource,
        binaries: &[PathBuf],
        timeout: Duration,
    ) -> Vec<Result<Vec<String>, ProbeError>>;
    /// A plugin's versions as its binary shows them (static probing), when this prober knows
    /// them without the binary: a recording of an earlier reading, as a collected node carries.
    /// `None`, the default, lets the check read the binary itself.
    fn static_versions(
        &self,
        node: &dyn NodeSource,
        binary: &Path,
        plugin_type: &str,
    ) -> Option<Result<crate::static_probe::StaticVersions, String>> {
        let _ = (node, binary, plugin_type);
        None
    }
    /// The output of `containerd --version`, read as a version.
    fn containerd_version(&self, timeout: Duration) -> Result<ContainerdVersion, String>;
    /// The output of `<binary> --version` for the node's kubelet binary (a node path), read
    /// as a version. Probers that cannot run it answer with why.
    fn kubelet_version(
        &self,
        node: &dyn NodeSource,
        binary: &Path,
        timeout: Duration,
    ) -> Result<crate::kubelet::KubeletVersion, String> {
        let _ = (node, timeout);
        Err(format!(
            "{} was not run: this prober runs no kubelet",
            crate::node::display_path(binary)
        ))
    }

    /// The output of `<binary> --version` for the node's cri-dockerd binary (a node path),
    /// read as a version. Probers that cannot run it answer with why.
    fn cri_dockerd_version(
        &self,
        node: &dyn NodeSource,
        binary: &Path,
        timeout: Duration,
    ) -> Result<RuntimeVersion, String> {
        let _ = (node, timeout);
        Err(format!(
            "{} was not run: this prober runs no cri-dockerd",
            crate::node::display_path(binary)
        ))
    }
}

/// Runs the node's own binaries ([`crate::probe`]) and `containerd --version` from `PATH`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemProber;

impl Prober for SystemProber {
    fn exec_versions(
        &self,
        node: &dyn NodeSource,
        binaries: &[PathBuf],
        timeout: Duration,
    ) -> Vec<Result<Vec<String>, ProbeError>> {
        let Some(fs) = node.as_fs() else {
            return binaries
                .iter()
                .map(|_| Err(ProbeError::Spawn("the node is not on disk".into())))
                .collect();
        };
        let hosts: Vec<Result<PathBuf, ProbeError>> = binaries
            .iter()
            .map(|b| {
                fs.resolve(b)
                    .map_err(|e| ProbeError::Spawn(crate::node::io_message(&e)))
            })
            .collect();
        let runnable: Vec<PathBuf> = hosts.iter().filter_map(|h| h.clone().ok()).collect();
        let mut answers = crate::probe::probe_all(&runnable, timeout).into_iter();
        hosts
            .into_iter()
            .map(|h| match h {
                Ok(_) => answers
                    .next()
                    .unwrap_or_else(|| Err(ProbeError::Spawn("no answer".into()))),
                Err(e) => Err(e),
            })
            .collect()
    }

    fn containerd_version(&self, timeout: Duration) -> Result<ContainerdVersion, String> {
        let text = version_output(Path::new("containerd"), "containerd", timeout)?;
        ContainerdVersion::from_version_output(&text).map_err(|e| e.to_string())
    }

    fn kubelet_version(
        &self,
        node: &dyn NodeSource,
        binary: &Path,
        timeout: Duration,
    ) -> Result<crate::kubelet::KubeletVersion, String> {
        let text = node_version_output(node, binary, "--kubelet-version", timeout)?;
        crate::kubelet::KubeletVersion::from_version_output(&text).map_err(|e| e.to_string())
    }

    fn cri_dockerd_version(
        &self,
        node: &dyn NodeSource,
        binary: &Path,
        timeout: Duration,
    ) -> Result<RuntimeVersion, String> {
        let text = node_version_output(node, binary, "--cri-dockerd-version", timeout)?;
        RuntimeVersion::from_cri_dockerd_output(&text).map_err(|e| e.to_string())
    }
}

/// The `--version` output of a binary of the live node (a node path); `flag` is the option
/// that gives the version instead.
fn node_version_output(
    node: &dyn NodeSource,
    binary: &Path,
    flag: &str,
    timeout: Duration,
) -> Result<String, String> {
    let shown = crate::node::display_path(binary);
    let Some(fs) = node.as_fs().filter(|_| node.is_live()) else {
        return Err(format!(
            "{shown} was not run: nothing is executed under a root other than /; pass {flag}"
        ));
    };
    let host = fs
        .resolve(binary)
        .map_err(|e| format!("{shown}: {}", crate::node::io_message(&e)))?;
    version_output(&host, &shown, timeout)
}

/// The standard output of `<program> --version`, bounded by `timeout`; `shown` names the
/// program in errors.
fn version_output(program: &Path, shown: &str, timeout: Duration) -> Result<String, String> {
    let mut cmd = std::process::Command::new(program);
    cmd.arg("--version");
    let out = crate::probe::run_bounded(cmd, timeout)
        .map_err(|e| format!("`{shown} --version` failed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{shown} --version` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // cri-dockerd writes its version to standard error.
    let text = if out.stdout.iter().all(u8::is_ascii_whitespace) {
        &out.stderr
    } else {
        &out.stdout
    };
    Ok(String::from_utf8_lossy(text).into_owned())
}

/// One entry of a [`MemNode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemEntry {
    /// A regular file.
    File {
        /// Its bytes.
        bytes: Vec<u8>,
        /// Permission bits.
        mode: u32,
    },
    /// A directory (its entries are the paths below it).
    Dir {
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link to a node path (absolute, or relative to its directory).
    Symlink(PathBuf),
}

/// A node held in memory: files, directories and links by node path, all owned by root. It is
/// never live: nothing in it runs, and it cannot be written.
///
/// ```
/// use std::sync::Arc;
/// use cni_fix_core::source::{MemNode, SystemProber};
/// use cni_fix_core::{rules, CheckOptions, ContainerdVersion, FindingId, ProbeMode, Report, Snapshot};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut node = MemNode::new();
/// node.file(
///     "/etc/cni/net.d/10-net.conflist",
///     r#"{"name":"net","plugins":[{"type":"bridge"}]}"#,
///     0o644,
/// );
/// let options = CheckOptions::default()
///     .containerd_version(ContainerdVersion::parse("1.6.3")?)
///     .probe(ProbeMode::None);
/// let snap = Snapshot::gather_from(&options, Arc::new(node), &SystemProber)?;
/// let report = Report::new(&snap, rules::evaluate(&snap));
/// assert!(report.findings.iter().any(|f| f.id == FindingId::MissingVersion));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemNode {
    entries: BTreeMap<PathBuf, MemEntry>,
    modified: Option<SystemTime>,
    /// Modification times of single entries, over `modified`.
    times: BTreeMap<PathBuf, SystemTime>,
}

const MAX_LINKS: usize = 40;

impl MemNode {
    /// An empty node (only `/`).
    pub fn new() -> MemNode {
        MemNode::default()
    }

    /// Add a file at a node path, creating its directories.
    pub fn file(
        &mut self,
        path: impl AsRef<Path>,
        bytes: impl Into<Vec<u8>>,
        mode: u32,
    ) -> &mut Self {
        let path = path.as_ref().to_path_buf();
        self.dirs_of(&path);
        self.entries.insert(
            path,
            MemEntry::File {
                bytes: bytes.into(),
                mode,
            },
        );
        self
    }

    /// Add a directory at a node path, with its parents.
    pub fn dir(&mut self, path: impl AsRef<Path>, mode: u32) -> &mut Self {
        let path = path.as_ref().to_path_buf();
        self.dirs_of(&path);
        self.entries.insert(path, MemEntry::Dir { mode });
        self
    }

    /// Add a symbolic link at a node path.
    pub fn symlink(&mut self, path: impl AsRef<Path>, target: impl Into<PathBuf>) -> &mut Self {
        let path = path.as_ref().to_path_buf();
        self.dirs_of(&path);
        self.entries.insert(path, MemEntry::Symlink(target.into()));
        self
    }

    /// The modification time every entry reports.
    pub fn modified_at(&mut self, t: SystemTime) -> &mut Self {
        self.modified = Some(t);
        self
    }

    /// The modification time one entry reports.
    pub fn modified(&mut self, path: impl AsRef<Path>, t: SystemTime) -> &mut Self {
        self.times.insert(path.as_ref().to_path_buf(), t);
        self
    }

    /// Load a tree from disk: `dir` becomes `/`, with its files, modes and links.
    pub fn load(dir: &Path) -> io::Result<MemNode> {
        let mut node = MemNode::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let entry = entry?;
                let host = entry.path();
                let rel = host.strip_prefix(dir).map_err(io::Error::other)?;
                let node_path = Path::new("/").join(rel);
                let meta = std::fs::symlink_metadata(&host)?;
                let mode = meta.mode() & 0o7777;
                if let Ok(t) = meta.modified() {
                    node.modified(&node_path, t);
                }
                if meta.file_type().is_symlink() {
                    node.symlink(&node_path, std::fs::read_link(&host)?);
                } else if meta.is_dir() {
                    node.dir(&node_path, mode);
                    stack.push(host);
                } else {
                    node.file(&node_path, std::fs::read(&host)?, mode);
                }
            }
        }
        Ok(node)
    }

    fn dirs_of(&mut self, path: &Path) {
        for a in path.ancestors().skip(1) {
            if a.as_os_str().is_empty() || a == Path::new("/") {
                continue;
            }
            self.entries
                .entry(a.to_path_buf())
                .or_insert(MemEntry::Dir { mode: 0o755 });
        }
    }

    /// The entry a node path leads to, links followed (the last one too when `follow`).
    fn lookup(&self, path: &Path, follow: bool) -> io::Result<(PathBuf, Option<&MemEntry>)> {
        let mut done = PathBuf::from("/");
        let mut pending: Vec<OsString> = components(path);
        pending.reverse();
        let mut links = 0;
        while let Some(c) = pending.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            let next = done.join(&c);
            let last = pending.is_empty();
            match self.entries.get(&next) {
                Some(MemEntry::Symlink(target)) if follow || !last => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    if target.is_absolute() {
                        done = PathBuf::from("/");
                    }
                    let mut t = components(target);
                    t.reverse();
                    pending.extend(t);
                }
                Some(MemEntry::File { .. }) if !last => {
                    return Err(io::Error::from_raw_os_error(libc::ENOTDIR))
                }
                Some(_) => done = next,
                None if last => return Ok((next, None)),
                None => return Err(not_found()),
            }
        }
        let entry = if done == Path::new("/") {
            None
        } else {
            self.entries.get(&done)
        };
        if done == Path::new("/") {
            return Ok((done, Some(&ROOT_DIR)));
        }
        Ok((done, entry))
    }

    fn info(&self, path: &Path, entry: &MemEntry) -> FileInfo {
        let (kind, mode, len) = match entry {
            MemEntry::File { bytes, mode } => (EntryKind::File, *mode, bytes.len() as u64),
            MemEntry::Dir { mode } => (EntryKind::Dir, *mode, 0),
            MemEntry::Symlink(t) => (EntryKind::Symlink, 0o777, t.as_os_str().len() as u64),
        };
        FileInfo {
            kind,
            mode,
            uid: 0,
            len,
            modified: self.times.get(path).copied().or(self.modified),
        }
    }
}

static ROOT_DIR: MemEntry = MemEntry::Dir { mode: 0o755 };

fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

fn not_found() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

impl NodeSource for MemNode {
    fn root(&self) -> &Path {
        Path::new("(memory)")
    }
    fn is_live(&self) -> bool {
        false
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let (dir, entry) = self.lookup(dir, true)?;
        match entry {
            Some(MemEntry::Dir { .. }) => {}
            Some(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            None => return Err(not_found()),
        }
        Ok(self
            .entries
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir.as_path()))
            .map(|(p, e)| DirEntry {
                name: p.file_name().unwrap_or_default().to_os_string(),
                kind: self.info(p, e).kind,
            })
            .collect())
    }
    fn read_file(&self, path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
        let io_err = |e: io::Error| ReadError::io(&e);
        match self.lookup(path, true).map_err(io_err)? {
            (_, Some(MemEntry::File { bytes, .. })) => {
                if bytes.len() as u64 > cap {
                    Err(ReadError::TooLarge {
                        size: bytes.len() as u64,
                        cap,
                    })
                } else {
                    Ok(bytes.clone())
                }
            }
            (_, Some(MemEntry::Dir { .. })) => Err(ReadError::NotRegular("directory")),
            (_, Some(MemEntry::Symlink(_))) => Err(ReadError::NotRegular("symbolic link")),
            (_, None) => Err(io_err(not_found())),
        }
    }
    fn metadata(&self, path: &Path) -> io::Result<FileInfo> {
        match self.lookup(path, true)? {
            (p, Some(e)) => Ok(self.info(&p, e)),
            (_, None) => Err(not_found()),
        }
    }
    fn symlink_metadata(&self, path: &Path) -> io::Result<FileInfo> {
        match self.lookup(path, false)? {
            (p, Some(e)) => Ok(self.info(&p, e)),
            (_, None) => Err(not_found()),
        }
    }
    fn canonical_node_path(&self, path: &Path) -> io::Result<PathBuf> {
        match self.lookup(path, true)? {
            (p, Some(_)) => Ok(p),
            (_, None) => Err(not_found()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_output_falls_back_to_standard_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("cri-dockerd");
        std::fs::write(&bin, "#!/bin/sh\necho 'cri-dockerd 0.3.1 (7e528b98)' >&2\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let text = version_output(&bin, "cri-dockerd", Duration::from_secs(5)).unwrap();
        assert_eq!(
            RuntimeVersion::from_cri_dockerd_output(&text)
                .unwrap()
                .release,
            semver::Version::new(0, 3, 1)
        );
        // Standard output wins when the program writes there.
        let other = dir.path().join("containerd");
        std::fs::write(
            &other,
            "#!/bin/sh\necho 'containerd x 1.6.20 y'\necho noise >&2\n",
        )
        .unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).unwrap();
        let text = version_output(&other, "containerd", Duration::from_secs(5)).unwrap();
        assert!(text.starts_with("containerd x 1.6.20"));
    }

    #[test]
    fn mem_node_reads_like_a_tree() {
        let mut n = MemNode::new();
        n.file("/etc/cni/net.d/10-a.conflist", "{}", 0o644)
            .symlink("/etc/cni/net.d/11-b.conflist", "/opt/real.conflist")
            .file("/opt/real.conflist", "[]", 0o600)
            .symlink("/etc/cni/net.d/loop", "loop");
        let names: Vec<String> = {
            let mut v: Vec<String> = n
                .read_dir(Path::new("/etc/cni/net.d"))
                .unwrap()
                .into_iter()
                .map(|e| e.name.to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names, ["10-a.conflist", "11-b.conflist", "loop"]);
        assert_eq!(
            n.read_file(Path::new("/etc/cni/net.d/11-b.conflist"), 10)
                .unwrap(),
            b"[]"
        );
        assert_eq!(
            n.canonical_node_path(Path::new("/etc/cni/net.d/11-b.conflist"))
                .unwrap(),
            Path::new("/opt/real.conflist")
        );
        assert!(n.read_file(Path::new("/etc/cni/net.d/loop"), 10).is_err());
        assert_eq!(
            n.read_file(Path::new("/etc/cni/net.d"), 10),
            Err(ReadError::NotRegular("directory"))
        );
        assert_eq!(
            n.symlink_metadata(Path::new("/etc/cni/net.d/11-b.conflist"))
                .unwrap()
                .kind,
            EntryKind::Symlink
        );
        assert_eq!(
            n.metadata(Path::new("/opt/real.conflist")).unwrap().mode,
            0o600
        );
        assert!(n.read_dir(Path::new("/missing")).is_err());
    }
}

//! The conf dir's entries as containerd lists and libcni reads them.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::conf::LibcniGeneration;
use crate::conf::{self, FileForm, NetworkList};
use crate::finding::Location;
use crate::node::{
    self, display_path, io_message, DirEntry, EntryKind, ReadError, MAX_CONFIG_BYTES,
};
use crate::rules::{encoding_problem, find_placeholder_at};
use crate::snapshot::own_read_limit;
use crate::snapshot::Snapshot;
use crate::snapshot::Unread;
use crate::source::NodeSource;

/// The status of a conf dir entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FileStatus {
    /// containerd loads it.
    Loaded,
    /// Valid, but containerd does not load it (past `max_conf_num`, or the load stopped at an
    /// invalid file).
    Shadowed,
    /// libcni rejects it, or it cannot be read.
    Invalid,
    /// Valid, but a Docker Engine shim skips it at load: a plugin of its chain is missing or
    /// does not list its version.
    Skipped,
    /// Not a name libcni lists.
    Ignored,
    /// cni-fix could not read it, though the runtime would (see [`Snapshot::incomplete`]).
    Unread,
}

/// Why a loadable file is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// libcni's error.
    pub libcni: String,
    /// go-cni's error when it stops loading at this file.
    pub load_error: String,
    /// Line and column of a JSON syntax error.
    pub line_col: Option<(usize, usize)>,
    /// The file could not be read at all.
    pub unreadable: bool,
}

/// One entry of the conf dir worth reporting.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConfFile {
    /// The entry's name.
    pub name: OsString,
    /// Its node path.
    pub path: PathBuf,
    /// What the entry is (from `lstat`).
    pub entry: EntryKind,
    /// What cni-fix read of it, and libcni's verdict.
    pub contents: Contents,
    /// What containerd does with it.
    pub status: FileStatus,
    /// When it was last modified, when known.
    pub modified: Option<std::time::SystemTime>,
    /// The permission bits and owner uid of what it leads to, learned as it was read.
    pub owner: Option<(u32, u32)>,
}

/// A conf dir entry, by what could be read of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Contents {
    /// Not a name libcni lists (or a directory): the runtime never reads it.
    NotListed,
    /// Listed, but cni-fix could not read it (see [`super::Snapshot::incomplete`]).
    Unread {
        /// How libcni would read it.
        form: FileForm,
    },
    /// Listed, and reading it fails for the runtime too (a dangling link, a FIFO, …).
    Failed {
        /// How libcni reads it.
        form: FileForm,
        /// libcni's and go-cni's errors.
        problem: FileProblem,
    },
    /// Read, with libcni's verdict.
    Read {
        /// How libcni reads it.
        form: FileForm,
        /// What the rules need of its text. The bytes are not kept:
        /// [`Snapshot::conf_bytes`] reads them again.
        text: TextFacts,
        /// The network, or why libcni rejects it.
        parsed: Result<NetworkList, FileProblem>,
    },
}

/// What the rules need of a read file's text, learned while it was read, so that a snapshot
/// holds a few bytes per file however large the files are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TextFacts {
    /// Its size in bytes.
    pub len: usize,
    /// Where the value of the network's own `cniVersion` stands, in a file libcni accepts
    /// (the last of duplicate keys, the one Go keeps).
    pub version_at: Option<Location>,
    /// The first template placeholder an installer left unrendered, and where it stands.
    pub placeholder: Option<(Location, String)>,
    /// Why the text is not UTF-8 JSON (a byte-order mark, UTF-16), in a file libcni rejects.
    pub encoding: Option<&'static str>,
}

/// Why [`Snapshot::conf_bytes`] has no bytes for a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RereadError {
    /// cni-fix did not read it when it took the snapshot.
    #[error("{path} was not read")]
    NotRead {
        /// The file's node path.
        path: String,
    },
    /// Reading it again failed.
    #[error("reading {path} again: {source}")]
    Read {
        /// The file's node path.
        path: String,
        /// Why.
        source: ReadError,
    },
    /// It no longer holds what was checked.
    #[error("{path} changed after it was checked; check again")]
    Changed {
        /// The file's node path.
        path: String,
    },
}

impl ConfFile {
    /// The node path as text.
    pub fn display(&self) -> String {
        display_path(&self.path)
    }

    /// How libcni reads it, or `None` when it is not listed.
    pub fn form(&self) -> Option<FileForm> {
        match &self.contents {
            Contents::NotListed => None,
            Contents::Unread { form }
            | Contents::Failed { form, .. }
            | Contents::Read { form, .. } => Some(*form),
        }
    }

    /// What the rules need of its text, when it was read.
    pub fn text(&self) -> Option<&TextFacts> {
        match &self.contents {
            Contents::Read { text, .. } => Some(text),
            _ => None,
        }
    }

    /// libcni's verdict on a listed file that could be read, or the error reading it.
    pub fn parsed(&self) -> Option<Result<&NetworkList, &FileProblem>> {
        match &self.contents {
            Contents::Read { parsed, .. } => Some(parsed.as_ref()),
            Contents::Failed { problem, .. } => Some(Err(problem)),
            _ => None,
        }
    }

    /// The network, when the file is valid.
    pub fn network(&self) -> Option<&NetworkList> {
        self.parsed()?.ok()
    }
}

/// Whether a name that libcni does not list looks like a network config someone meant to be
/// read: a config extension in the wrong case or followed by a suffix, YAML, or a template.
pub fn looks_like_config(name: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(name).to_lowercase();
    [".conf", ".json", ".yaml", ".yml", ".template", ".tmpl"]
        .iter()
        .any(|ext| lower.contains(ext))
}

impl Snapshot {
    pub(super) fn read_conf_dir(&mut self) {
        let Some(listing) = self.list_conf_dir() else {
            return;
        };
        let (files, unread) = self.read_entries(listing.into_iter());
        self.incomplete.extend(unread);
        self.files = files;
    }

    /// Listed entries of the conf dir, read and parsed as libcni reads them; and what cni-fix
    /// could not read of them.
    pub(super) fn read_entries(
        &self,
        entries: impl Iterator<Item = DirEntry>,
    ) -> (Vec<ConfFile>, Vec<Unread>) {
        let mut files: Vec<ConfFile> = entries
            .map(|e| ConfFile::listed(&self.conf_dir, e))
            .collect();
        let unread = read_files(
            self.node.as_ref(),
            &self.conf_dir,
            self.generation,
            &mut files,
        );
        (files, unread)
    }

    /// The conf dir's config-like entries in byte order of their names, or `None` when it
    /// cannot be listed (which the snapshot records).
    pub(super) fn list_conf_dir(&mut self) -> Option<Vec<DirEntry>> {
        let entries = match self.node.read_dir(&self.conf_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.conf_dir_missing = true;
                return None;
            }
            Err(e) if node::own_limit(&e) => {
                self.incomplete.push(Unread {
                    path: self.conf_dir.clone(),
                    what: "conf dir",
                    reason: "permission denied; run cni-fix as root, as the runtime runs".into(),
                });
                return None;
            }
            Err(e) => {
                self.conf_dir_error = Some(format!(
                    "open {}: {}",
                    display_path(&self.conf_dir),
                    io_message(&e)
                ));
                return None;
            }
        };
        let mut listing: Vec<DirEntry> = entries
            .into_iter()
            .filter(|e| {
                FileForm::of_name(e.name.as_bytes()).is_some()
                    || (e.kind != EntryKind::Dir && looks_like_config(e.name.as_bytes()))
            })
            .collect();
        // Held for the whole check: give back what the filtered collection over-reserved.
        listing.shrink_to_fit();
        listing.sort_by(|a, b| node::byte_order(&a.name, &b.name));
        Some(listing)
    }
}

impl Snapshot {
    /// Entries of the conf dir that come after the snapshot's files, read as its files were and
    /// given the status the runtime's load gives them: the load is settled before them
    /// ([`Snapshot::gather_settled`]), so none is loaded. Returns them and what cni-fix could
    /// not read.
    pub(crate) fn read_later(
        &self,
        entries: impl Iterator<Item = DirEntry>,
    ) -> (Vec<ConfFile>, Vec<Unread>) {
        let (mut files, unread) = self.read_entries(entries);
        for f in &mut files {
            if f.status == FileStatus::Unread {
                continue;
            }
            f.status = match f.parsed() {
                Some(Ok(_)) => FileStatus::Shadowed,
                Some(Err(_)) => FileStatus::Invalid,
                None => FileStatus::Ignored,
            };
        }
        (files, unread)
    }
}

impl ConfFile {
    /// A listed entry of the conf dir `conf_dir`, not read yet.
    fn listed(conf_dir: &Path, e: DirEntry) -> ConfFile {
        let form = match e.kind {
            EntryKind::Dir => None,
            _ => FileForm::of_name(e.name.as_bytes()),
        };
        ConfFile {
            path: node::node_join(conf_dir, &e.name),
            name: e.name,
            entry: e.kind,
            contents: match form {
                Some(form) => Contents::Unread { form },
                None => Contents::NotListed,
            },
            status: FileStatus::Ignored,
            modified: None,
            owner: None,
        }
    }
}

/// Read and parse listed files as libcni does, in parallel when there are enough of them to
/// pay for the threads: a slice of the files per core, each slice's unread files kept in
/// order, so that the result is the one a single pass gives. Returns what cni-fix could not
/// read.
fn read_files(
    node: &dyn NodeSource,
    conf_dir: &Path,
    generation: LibcniGeneration,
    files: &mut [ConfFile],
) -> Vec<Unread> {
    let mut unread = Vec::new();
    if files.len() <= PARALLEL_FROM {
        for f in files.iter_mut() {
            read_one(node, conf_dir, generation, f, &mut unread);
        }
        return unread;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = files.len().div_ceil(cores).max(PARALLEL_FROM);
    std::thread::scope(|s| {
        let slices: Vec<_> = files
            .chunks_mut(per_thread)
            .map(|slice| {
                s.spawn(move || {
                    let mut unread = Vec::new();
                    for f in slice {
                        read_one(node, conf_dir, generation, f, &mut unread);
                    }
                    unread
                })
            })
            .collect();
        for h in slices {
            unread.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
    });
    unread
}

/// The fewest files a thread of the conf dir's reading is given: below this, one thread
/// reads them all.
const PARALLEL_FROM: usize = 64;

/// Read one listed entry as libcni reads it: its contents and libcni's verdict, or why
/// cni-fix could not read it.
fn read_one(
    node: &dyn NodeSource,
    conf_dir: &Path,
    generation: LibcniGeneration,
    f: &mut ConfFile,
    incomplete: &mut Vec<Unread>,
) {
    let Some(form) = f.form() else { return };
    let shown = display_path(&f.path);
    match node.read_file_info(&f.path, MAX_CONFIG_BYTES) {
        Err(e) => {
            f.modified = node.metadata(&f.path).ok().and_then(|m| m.modified);
            if let Some(reason) = own_read_limit(&e) {
                incomplete.push(Unread {
                    path: f.path.clone(),
                    what: "config file",
                    reason,
                });
                f.status = FileStatus::Unread;
                return;
            }
            let libcni = match &e {
                ReadError::Io { message: m, .. } => {
                    format!("error reading {shown}: open {shown}: {m}")
                }
                ReadError::Denied => {
                    format!("error reading {shown}: open {shown}: permission denied")
                }
                ReadError::NotRegular("directory") => {
                    format!("error reading {shown}: read {shown}: is a directory")
                }
                other => format!("error reading {shown}: {other}"),
            };
            f.contents = Contents::Failed {
                form,
                problem: FileProblem {
                    load_error: go_cni_error(form, &shown, &libcni, false),
                    libcni,
                    line_col: None,
                    unreadable: true,
                },
            };
        }
        Ok((bytes, info)) => {
            f.modified = info.as_ref().and_then(|i| i.modified);
            f.owner = info.map(|i| (i.mode, i.uid));
            let verdict = libcni_verdict(node, conf_dir, generation, form, &shown, &bytes);
            f.contents = Contents::Read {
                form,
                text: text_facts(&bytes, &verdict),
                parsed: verdict.map(|(list, _)| list),
            };
        }
    }
}

/// What the rules need of a file's text, given libcni's verdict on it.
fn text_facts(
    bytes: &[u8],
    verdict: &Result<(NetworkList, Option<usize>), FileProblem>,
) -> TextFacts {
    TextFacts {
        len: bytes.len(),
        version_at: verdict
            .as_ref()
            .ok()
            .and_then(|(_, at)| *at)
            .map(|o| Location::at(bytes, o)),
        placeholder: find_placeholder_at(bytes).map(|(offset, p)| (Location::at(bytes, offset), p)),
        encoding: verdict.is_err().then(|| encoding_problem(bytes)).flatten(),
    }
}

/// libcni's verdict on a file's bytes, with the offset of the network's `cniVersion` value.
fn libcni_verdict(
    node: &dyn NodeSource,
    conf_dir: &Path,
    generation: LibcniGeneration,
    form: FileForm,
    shown: &str,
    bytes: &[u8],
) -> Result<(NetworkList, Option<usize>), FileProblem> {
    let reader = |name: &str| plugin_dir_files(node, conf_dir, name);
    let parsed = match form {
        FileForm::ConfList => {
            conf::parse_conflist_at(bytes, generation, Some(&reader)).map_err(|e| (e, false))
        }
        FileForm::SingleConf => conf::parse_single_conf_at(bytes).map_err(|e| {
            let convert = matches!(e, conf::SingleConfError::Convert(_));
            (e.inner().clone(), convert)
        }),
    };
    parsed.map_err(|(e, convert)| FileProblem {
        load_error: go_cni_error(form, shown, &e.message, convert),
        line_col: e.offset.map(|o| crate::json::line_col(bytes, o)),
        libcni: e.message,
        unreadable: false,
    })
}

impl Snapshot {
    /// The bytes of `files[index]`, read again from the node: a snapshot keeps only what the
    /// rules need of each file's text ([`TextFacts`]), so that a conf dir of any size costs
    /// it a few bytes per file. The file must still hold what was checked: the same length
    /// and libcni's same verdict.
    pub fn conf_bytes(&self, index: usize) -> Result<Vec<u8>, RereadError> {
        let f = &self.files[index];
        let path = || f.display();
        let (Contents::Read { form, text, parsed }, Some(_)) = (&f.contents, f.form()) else {
            return Err(RereadError::NotRead { path: path() });
        };
        let bytes = self
            .node
            .read_file(&f.path, MAX_CONFIG_BYTES)
            .map_err(|source| RereadError::Read {
                path: path(),
                source,
            })?;
        if bytes.len() != text.len {
            return Err(RereadError::Changed { path: path() });
        }
        // libcni's verdict again; what the rules learned of the text is not needed.
        let again = libcni_verdict(
            self.node.as_ref(),
            &self.conf_dir,
            self.generation,
            *form,
            &path(),
            &bytes,
        )
        .map(|(list, _)| list);
        if again != *parsed {
            return Err(RereadError::Changed { path: path() });
        }
        Ok(bytes)
    }
}

/// go-cni's wrapping of a libcni error when it stops loading at `path`.
fn go_cni_error(form: FileForm, path: &str, libcni: &str, convert: bool) -> String {
    match (form, convert) {
        (FileForm::ConfList, _) => {
            format!("failed to load CNI config list file {path}: {libcni}: invalid cni config")
        }
        (FileForm::SingleConf, false) => {
            format!("failed to load CNI config file {path}: {libcni}: invalid cni config")
        }
        (FileForm::SingleConf, true) => format!(
            "failed to convert CNI config file {path} to CNI config list: {libcni}: invalid cni config"
        ),
    }
}

/// libcni 1.3's `NetworkPluginConfsFromFiles`: `<conf dir>/<name>/*.conf`, sorted.
fn plugin_dir_files(
    node: &dyn NodeSource,
    conf_dir: &Path,
    name: &str,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = conf_dir.join(name);
    let shown = display_path(&dir);
    let entries = match node.read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "failed to read plugin config files in {shown}: open {shown}: {}",
                io_message(&e)
            ))
        }
    };
    let mut names: Vec<OsString> = entries
        .into_iter()
        .filter(|e| e.kind != EntryKind::Dir && conf::go_ext(e.name.as_bytes()) == b".conf")
        .map(|e| e.name)
        .collect();
    names.sort_by(|a, b| node::byte_order(a, b));
    names
        .into_iter()
        .map(|n| {
            let p = dir.join(&n);
            let shown = display_path(&p);
            node.read_file(&p, MAX_CONFIG_BYTES)
                .map(|b| (shown.clone(), b))
                .map_err(|e| format!("error reading {shown}: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckOptions, ContainerdVersion, ProbeMode};

    const NET: &str = r#"{"cniVersion": "0.3.1", "name": "net", "plugins": [{"type": "bridge"}]}"#;

    fn snapshot(root: &Path) -> Snapshot {
        let options = CheckOptions::for_root(root)
            .containerd_version(ContainerdVersion::parse("1.7.20").unwrap())
            .probe(ProbeMode::None);
        Snapshot::gather(&options).unwrap()
    }

    fn node(files: &[(&str, &str)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("etc/cni/net.d");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        tmp
    }

    /// What the rules need of the text is learned as it is read, and the bytes come back
    /// only while the file still holds what was checked.
    #[test]
    fn bytes_are_read_again_only_while_unchanged() {
        let tmp = node(&[
            ("10-net.conflist", NET),
            ("20-bad.conflist", "\u{feff}{}"),
            ("30-tpl.conflist", r#"{"name": "__NAME__"}"#),
            ("99-dir.conflist", ""),
        ]);
        let dir = tmp.path().join("etc/cni/net.d");
        std::fs::remove_file(dir.join("99-dir.conflist")).unwrap();
        std::fs::create_dir(dir.join("99-dir.conflist")).unwrap();
        let snap = snapshot(tmp.path());
        let text = |i: usize| snap.files[i].text().cloned();
        let good = text(0).unwrap();
        assert_eq!(good.len, NET.len());
        assert_eq!(
            good.version_at,
            Some(Location {
                line: 1,
                column: 16
            })
        );
        assert_eq!((good.placeholder, good.encoding), (None, None));
        assert!(text(1)
            .unwrap()
            .encoding
            .unwrap()
            .contains("byte-order mark"));
        let tpl = text(2).unwrap();
        assert_eq!(
            tpl.placeholder,
            Some((
                Location {
                    line: 1,
                    column: 11
                },
                "__NAME__".to_string()
            ))
        );
        assert_eq!(text(3), None);

        assert_eq!(snap.conf_bytes(0).unwrap(), NET.as_bytes());
        assert!(matches!(
            snap.conf_bytes(3),
            Err(RereadError::NotRead { .. })
        ));
        // The same length, another network.
        let other = NET.replace("\"net\"", "\"new\"");
        std::fs::write(dir.join("10-net.conflist"), &other).unwrap();
        assert_eq!(
            snap.conf_bytes(0),
            Err(RereadError::Changed {
                path: "/etc/cni/net.d/10-net.conflist".into()
            })
        );
        // Another length, the same network.
        std::fs::write(dir.join("10-net.conflist"), format!("{NET}\n")).unwrap();
        assert!(matches!(
            snap.conf_bytes(0),
            Err(RereadError::Changed { .. })
        ));
        // The same network in the same length: what the rules learned still holds.
        std::fs::write(dir.join("10-net.conflist"), NET.replace(": ", ":\t")).unwrap();
        assert_eq!(
            snap.conf_bytes(0).unwrap(),
            NET.replace(": ", ":\t").as_bytes()
        );
        std::fs::remove_file(dir.join("10-net.conflist")).unwrap();
        assert!(matches!(snap.conf_bytes(0), Err(RereadError::Read { .. })));
    }
}

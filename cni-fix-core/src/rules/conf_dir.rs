//! Rules about the conf dir as a whole: what containerd cannot load, what it never reaches, and
//! what it ignores.

use super::{Ctx, Draft};
use crate::finding::Location;
use crate::finding::{FindingId, Severity};
use crate::node::display_path;
use crate::runtime::CniHost;
use crate::snapshot::{ConfFile, FileProblem, FileStatus, Snapshot};

/// `no-config`: nothing the runtime can load.
enum NoConfig<'a> {
    /// The conf dir cannot be listed.
    Unreadable { dir: String, error: &'a str },
    /// The conf dir is missing, or holds no config.
    Empty {
        dir: String,
        missing: bool,
        /// A Docker Engine shim (which words its error otherwise), or `None` for containerd.
        shim: Option<&'static str>,
    },
}

impl From<NoConfig<'_>> for Draft {
    fn from(f: NoConfig<'_>) -> Draft {
        let (message, runtime_error, remedy) = match f {
            NoConfig::Unreadable { dir, error } => (
                format!("The conf dir {dir} cannot be read: {error}"),
                format!("failed to read config file: {error}: failed to read config file"),
                "Make the conf dir readable by root, or point --conf-dir at the right directory.",
            ),
            NoConfig::Empty { dir, missing, shim } => {
                let why = if missing {
                    format!("The conf dir {dir} does not exist")
                } else {
                    format!("The conf dir {dir} holds no .conf, .conflist or .json file")
                };
                let (says, error) = match shim {
                    None => (
                        "cni plugin not initialized",
                        format!("no network config found in {dir}: cni plugin not initialized"),
                    ),
                    Some(_) => (
                        "cni config uninitialized",
                        format!("no networks found in {dir}"),
                    ),
                };
                (
                    format!("{why}: the node has no pod network and reports `{says}`"),
                    error,
                    "Install the cluster's CNI, point conf_dir (or --conf-dir) at the directory it writes to, or write a standalone network with `cni-fix generate --output`.",
                )
            }
        };
        Draft {
            id: FindingId::NoConfig,
            severity: Severity::Error,
            file: None,
            plugin: None,
            message,
            runtime_error: Some(runtime_error),
            remedy: remedy.to_string(),
            fixable: false,
            location: None,
            files: Vec::new(),
        }
    }
}

/// What an invalid file does to containerd's load.
enum LoadEffect {
    /// The load stops here; these networks are lost (none: the node has no pod network).
    StopsHere { lost: Vec<String> },
    /// The load will stop here once the files before it are fixed.
    StopsOnceFixed,
    /// The load does not reach it today.
    NotReached,
    /// A Docker Engine shim skips it with a log line and goes on to the next file.
    Skipped {
        host: &'static str,
        /// The network it uses instead, if any.
        uses: Option<String>,
    },
}

/// `invalid-config`: libcni rejects (or cannot read) a file.
struct InvalidConfig<'a> {
    path: String,
    problem: &'a FileProblem,
    /// A plain account of an encoding problem, when that is the cause.
    encoding: Option<&'static str>,
    effect: LoadEffect,
    /// What the runtime reports.
    runtime_error: String,
}

impl From<InvalidConfig<'_>> for Draft {
    fn from(f: InvalidConfig<'_>) -> Draft {
        let problem = f.problem;
        let at = problem
            .line_col
            .map(|(l, c)| format!(" (line {l}, column {c})"))
            .unwrap_or_default();
        let (severity, effect) = match f.effect {
            LoadEffect::StopsHere { lost } if lost.is_empty() => (
                Severity::Error,
                "containerd stops loading here and the node has no pod network".to_string(),
            ),
            LoadEffect::StopsHere { lost } => (
                Severity::Error,
                format!(
                    "containerd stops loading here, so it loads no network at all, not even {}",
                    lost.join(", ")
                ),
            ),
            LoadEffect::StopsOnceFixed => (
                Severity::Error,
                "containerd stops loading at this file once the files before it are fixed"
                    .to_string(),
            ),
            LoadEffect::NotReached => (
                Severity::Warning,
                "containerd does not reach it today, but will stop at it if the files before it change"
                    .to_string(),
            ),
            LoadEffect::Skipped { host, uses: Some(uses) } => (
                Severity::Warning,
                format!("{host} skips it and uses {uses} instead"),
            ),
            LoadEffect::Skipped { host, uses: None } => (
                Severity::Error,
                format!("{host} skips it, and finds no valid network"),
            ),
        };
        let verb = if problem.unreadable {
            "cannot read"
        } else {
            "rejects"
        };
        let why = match f.encoding {
            Some(plain) => format!("{plain} (libcni: {})", problem.libcni),
            None => problem.libcni.clone(),
        };
        Draft {
            id: FindingId::InvalidConfig,
            severity,
            file: Some(f.path),
            plugin: None,
            message: format!("libcni {verb} this file{at}: {why}; {effect}"),
            runtime_error: Some(f.runtime_error),
            remedy: "Fix the file, or move it out of the conf dir (or rename it to *.bak) if it is not meant to be loaded.".into(),
            fixable: false,
            location: problem.line_col.map(|(line, column)| Location { line, column }),
            files: Vec::new(),
        }
    }
}

/// `unrendered-template`: a placeholder its installer never rendered.
struct UnrenderedTemplate {
    path: String,
    placeholder: String,
    /// Whether containerd loads (or reaches) the file.
    reached: bool,
    location: Location,
}

impl From<UnrenderedTemplate> for Draft {
    fn from(f: UnrenderedTemplate) -> Draft {
        Draft {
            id: FindingId::UnrenderedTemplate,
            severity: if f.reached {
                Severity::Error
            } else {
                Severity::Warning
            },
            file: Some(f.path),
            plugin: None,
            message: format!(
                "The file still holds the template placeholder `{}`: its installer never rendered it",
                f.placeholder
            ),
            runtime_error: None,
            remedy: "Re-run or repair the installer that renders this file (for Calico, the install-cni container); do not hand-edit values a controller will overwrite.".into(),
            fixable: false,
            location: Some(f.location),
            files: Vec::new(),
        }
    }
}

/// `ignored-file`: an entry that looks like a config but that the runtime never reads.
struct IgnoredFile {
    path: String,
    name: String,
    why: &'static str,
}

impl From<IgnoredFile> for Draft {
    fn from(f: IgnoredFile) -> Draft {
        Draft::manual(
            FindingId::IgnoredFile,
            Severity::Info,
            Some(f.path),
            format!(
                "{} is ignored by the runtime: {}; edits to it change nothing",
                f.name, f.why
            ),
            "Nothing to do if it is a backup; give it a loadable name if it should configure the node.".into(),
        )
    }
}

/// At most this many shadowed files are named in the summary's message (JSON lists all).
const SHADOWED_NAMED: usize = 5;

/// `shadowed-config`: valid configs containerd does not load.
enum ShadowedConfig {
    /// One file, named on its own.
    One {
        path: String,
        network: String,
        why: String,
        host: CniHost,
    },
    /// Several, in one finding for the conf dir.
    Many {
        dir: String,
        files: Vec<String>,
        why: String,
        host: CniHost,
    },
}

/// The remedy's last clause: only containerd loads several networks.
fn several(host: CniHost) -> &'static str {
    match host {
        CniHost::Containerd => "; raise max_conf_num only if you want several networks.",
        _ => ".",
    }
}

impl From<ShadowedConfig> for Draft {
    fn from(f: ShadowedConfig) -> Draft {
        let (file, message, remedy, files) = match f {
            ShadowedConfig::One {
                path,
                network,
                why,
                host,
            } => (
                Some(path),
                format!(
                    "Network {network:?} is valid but {} does not load it: {why}, so edits to this file change nothing",
                    host.name()
                ),
                format!("If this is the network you want, remove or rename (*.bak) the stale file that sorts first, or rename this one to sort first{}", several(host)),
                Vec::new(),
            ),
            ShadowedConfig::Many {
                dir,
                files,
                why,
                host,
            } => {
                let named = files
                    .iter()
                    .take(SHADOWED_NAMED)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                let more = match files.len().saturating_sub(SHADOWED_NAMED) {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                (
                    None,
                    format!(
                        "{} valid configs in {dir} are not loaded: {why}, so edits to them change nothing: {named}{more}",
                        files.len()
                    ),
                    format!("Move the configs that are not meant to be loaded out of the conf dir (or rename them to *.bak){}", several(host)),
                    files,
                )
            }
        };
        let mut d = Draft::manual(
            FindingId::ShadowedConfig,
            Severity::Warning,
            file,
            message,
            remedy,
        );
        d.files = files;
        d
    }
}

/// The conf dir rules' running state over its files in the order the runtime reads them.
pub(super) struct Walk {
    /// Valid networks read so far.
    valid_before: i64,
    /// The shadowed networks so far.
    shadowed: ShadowWalk,
}

impl Walk {
    pub(super) fn new() -> Walk {
        Walk {
            valid_before: 0,
            shadowed: ShadowWalk {
                count: 0,
                first: None,
                lone: None,
                grouped: Vec::new(),
            },
        }
    }

    /// Whether a finding about the file at `path` may still come, once more files are read.
    pub(super) fn pending(&self, path: &str) -> bool {
        self.shadowed.pending(path)
    }

    /// The findings only the whole conf dir settles: its shadowed networks.
    pub(super) fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.shadowed.finish(ctx);
    }
}

/// The rules over the snapshot's files; the shadowed networks stay in `walk`.
pub(super) fn conf_dir(ctx: &mut Ctx<'_>, walk: &mut Walk) {
    let snap = ctx.snap;
    let nothing_loadable = !snap.files.iter().any(loadable);
    no_config(ctx, nothing_loadable);
    let mut active = vec![false; snap.files.len()];
    for &i in &snap.load.active {
        active[i] = true;
    }
    for (i, f) in snap.files.iter().enumerate() {
        conf_file(ctx, f, active[i], snap.load.aborted_at == Some(i), walk);
    }
}

/// Whether the runtime lists the file and cni-fix could read it.
fn loadable(f: &ConfFile) -> bool {
    f.form().is_some() && f.status != FileStatus::Unread
}

/// The rules about one listed file, read in order: whether libcni rejects it, whether its
/// installer left a placeholder, whether it is shadowed. `active` and `aborted_here` say what
/// the load made of it.
pub(super) fn conf_file(
    ctx: &mut Ctx<'_>,
    f: &ConfFile,
    active: bool,
    aborted_here: bool,
    walk: &mut Walk,
) {
    if !loadable(f) {
        return;
    }
    let max = ctx.snap.max_conf_num;
    let reached = max <= 0 || walk.valid_before < max;
    let parsed = f.parsed();
    if let Some(Err(problem)) = parsed {
        invalid_config(ctx, f, problem, reached, aborted_here);
    }
    if let Some((location, placeholder)) = f.text().and_then(|t| t.placeholder.as_ref()) {
        ctx.push(UnrenderedTemplate {
            path: f.display(),
            placeholder: placeholder.clone(),
            reached: reached || active,
            location: *location,
        });
    }
    if let Some(Ok(net)) = parsed {
        if f.status == FileStatus::Shadowed && !active {
            walk.shadowed.push(ctx, f, &net.name);
        }
        walk.valid_before += 1;
    }
}

/// Nothing the runtime can load: the conf dir is unreadable, missing or empty.
fn no_config(ctx: &mut Ctx<'_>, nothing_loadable: bool) {
    let snap = ctx.snap;
    let dir = display_path(&snap.conf_dir);
    if let Some(error) = &snap.conf_dir_error {
        ctx.push(NoConfig::Unreadable { dir, error });
    } else if nothing_loadable && snap.incomplete.is_empty() {
        ctx.push(NoConfig::Empty {
            dir,
            missing: snap.conf_dir_missing,
            shim: (snap.runtime.host != CniHost::Containerd).then(|| snap.runtime.host.name()),
        });
    }
}

/// A file libcni rejects, and what that does to the load.
fn invalid_config(
    ctx: &mut Ctx<'_>,
    f: &ConfFile,
    problem: &FileProblem,
    reached: bool,
    aborted_here: bool,
) {
    let snap = ctx.snap;
    let shim = snap.runtime.host != CniHost::Containerd;
    let effect = if shim {
        LoadEffect::Skipped {
            host: snap.runtime.host.name(),
            uses: snap.load.loaded.first().map(|&l| snap.files[l].display()),
        }
    } else if aborted_here {
        LoadEffect::StopsHere {
            lost: snap
                .load
                .active
                .iter()
                .map(|&a| snap.files[a].display())
                .collect(),
        }
    } else if reached {
        LoadEffect::StopsOnceFixed
    } else {
        LoadEffect::NotReached
    };
    // dockershim's log lines (`getDefaultCNINetwork`).
    let runtime_error = if shim {
        let list = f.form() == Some(crate::conf::FileForm::ConfList);
        format!(
            "Error loading CNI config {} {}: {}",
            if list { "list file" } else { "file" },
            f.display(),
            problem.libcni
        )
    } else {
        problem.load_error.clone()
    };
    ctx.push(InvalidConfig {
        path: f.display(),
        problem,
        encoding: f.text().and_then(|t| t.encoding),
        effect,
        runtime_error,
    });
}

/// Entries that look like configs but that the runtime never reads.
pub(super) fn ignored_files(ctx: &mut Ctx<'_>) {
    for f in &ctx.snap.files {
        ignored_file(ctx, f);
    }
}

/// An entry that looks like a config but that the runtime never reads.
pub(super) fn ignored_file(ctx: &mut Ctx<'_>, f: &ConfFile) {
    if f.form().is_some() {
        return;
    }
    let name = f.name.to_string_lossy().into_owned();
    let lower = name.to_lowercase();
    let why = if f.entry == crate::node::EntryKind::Dir {
        "it is a directory, which containerd skips"
    } else if [".conf", ".conflist", ".json"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        "extensions are case-sensitive: only .conf, .conflist and .json are read"
    } else {
        "only files ending in .conf, .conflist or .json are read"
    };
    ctx.push(IgnoredFile {
        path: f.display(),
        name,
        why,
    });
}

/// A plain account of a file that is not UTF-8 JSON because of its encoding: a byte-order
/// mark, or UTF-16 text. Go's JSON decoder, and so libcni, reads neither.
pub fn encoding_problem(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Some("the file starts with a UTF-8 byte-order mark, which libcni rejects; save it as UTF-8 without a BOM");
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Some("the file is UTF-16 text (it starts with a UTF-16 byte-order mark), and libcni reads only UTF-8; save it as UTF-8");
    }
    // UTF-16 without a mark: ASCII text with a zero byte beside every character.
    let head = &bytes[..bytes.len().min(64)];
    if head.len() >= 4 {
        let zeros_even = head.iter().step_by(2).all(|&b| b == 0);
        let zeros_odd = head.iter().skip(1).step_by(2).all(|&b| b == 0);
        if zeros_even != zeros_odd {
            return Some("the file is UTF-16 text, and libcni reads only UTF-8; save it as UTF-8");
        }
    }
    None
}

/// A shadowed network, until its finding is settled.
struct Shadowed {
    path: String,
    network: String,
    /// Whether the file is newer than the network the runtime loads (someone likely edited
    /// it expecting it to take effect).
    newer: bool,
}

/// Valid configs the runtime does not load: one finding each when a single file is shadowed,
/// or when a file is newer than the network it loads (named as soon as a second shadowed file
/// shows it is not the only one); the rest in one finding for the conf dir that lists them all
/// (a single file left over is named on its own).
struct ShadowWalk {
    /// Shadowed networks so far.
    count: usize,
    /// The first one, until a second decides how it is named.
    first: Option<Shadowed>,
    /// The first one of the group, named on its own if it stays alone.
    lone: Option<Shadowed>,
    /// The group's paths.
    grouped: Vec<String>,
}

impl ShadowWalk {
    /// Whether the finding about the file at `path` waits on files not read yet: the first
    /// shadowed network until a second one, and the first of the group while it is alone.
    fn pending(&self, path: &str) -> bool {
        self.first.as_ref().is_some_and(|s| s.path == path)
            || (self.grouped.len() == 1 && self.lone.as_ref().is_some_and(|s| s.path == path))
    }

    fn push(&mut self, ctx: &mut Ctx<'_>, f: &ConfFile, network: &str) {
        let snap = ctx.snap;
        let loaded_at = snap
            .load
            .active
            .first()
            .and_then(|&a| snap.files[a].modified);
        let s = Shadowed {
            path: f.display(),
            network: network.to_string(),
            newer: matches!((f.modified, loaded_at), (Some(m), Some(l)) if m > l),
        };
        self.count += 1;
        match self.count {
            1 => self.first = Some(s),
            2 => {
                if let Some(first) = self.first.take() {
                    self.place(ctx, first);
                }
                self.place(ctx, s);
            }
            _ => self.place(ctx, s),
        }
    }

    /// Name a newer file on its own, or add an older one to the group.
    fn place(&mut self, ctx: &mut Ctx<'_>, s: Shadowed) {
        if !s.newer {
            self.grouped.push(s.path.clone());
            if self.lone.is_none() {
                self.lone = Some(s);
            }
        } else {
            ctx.push(shadowed_one(ctx.snap, s));
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        let snap = ctx.snap;
        // A single shadowed file is named on its own, however old, and so is a single file
        // left over from the group.
        if let Some(first) = self.first.take() {
            ctx.push(shadowed_one(snap, first));
        }
        if self.grouped.len() == 1 {
            if let Some(lone) = self.lone.take() {
                ctx.push(shadowed_one(snap, lone));
            }
        }
        if self.grouped.len() > 1 {
            ctx.push(ShadowedConfig::Many {
                dir: display_path(&snap.conf_dir),
                files: std::mem::take(&mut self.grouped),
                why: shadowed_why(snap),
                host: snap.runtime.host,
            });
        }
    }
}

fn shadowed_one(snap: &Snapshot, s: Shadowed) -> ShadowedConfig {
    ShadowedConfig::One {
        path: s.path,
        network: s.network,
        why: shadowed_why(snap),
        host: snap.runtime.host,
    }
}

/// Why the runtime loads none of the shadowed networks.
fn shadowed_why(snap: &Snapshot) -> String {
    let max = snap.max_conf_num;
    match snap.runtime.host {
        CniHost::Containerd => format!(
            "max_conf_num is {max} and {} sorts first",
            snap.load
                .active
                .first()
                .map(|&a| snap.files[a].display())
                .unwrap_or_default()
        ),
        host => format!(
            "{} uses only the first valid network, {}",
            host.name(),
            snap.load
                .loaded
                .first()
                .map(|&a| snap.files[a].display())
                .unwrap_or_default()
        ),
    }
}

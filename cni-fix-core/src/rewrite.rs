//! `cni-fix rewrite`: which files to change, to which version, with which edits.
//!
//! Planning reads only. [`RewritePlan::unified_diff`] shows the plan; [`crate::write::apply`]
//! carries it out.
//!
//! ```
//! use std::path::Path;
//! use cni_fix_core::rewrite::{plan, RewriteOptions, Scope};
//! use cni_fix_core::{CheckOptions, ContainerdVersion, PluginsRelease};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let root = tmp.path();
//! # std::fs::create_dir_all(root.join("etc/cni/net.d"))?;
//! # std::fs::create_dir_all(root.join("opt/cni/bin"))?;
//! # for p in ["bridge", "loopback", "portmap"] {
//! #     let f = root.join("opt/cni/bin").join(p);
//! #     std::fs::write(&f, "")?;
//! #     std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
//! # }
//! # std::fs::write(root.join("etc/cni/net.d/10-net.conflist"),
//! #     "{\n  \"name\": \"net\",\n  \"plugins\": [{\"type\": \"bridge\"}, {\"type\": \"portmap\"}]\n}\n")?;
//! let options = RewriteOptions::new(
//!     CheckOptions::for_root(root)
//!         .containerd_version(ContainerdVersion::parse("1.6.2")?)
//!         .assume_plugins_release(PluginsRelease::parse("1.1.1")?),
//! )
//! .scope(Scope::Loaded);
//! let plan = plan(&options)?;
//! let diff = String::from_utf8(plan.unified_diff())?;
//! assert!(diff.contains("+  \"cniVersion\": \"1.0.0\","));
//! // cni_fix_core::write::apply(&plan, Path::new("/var/backups/cni-fix/now"))? writes it.
//! # let _ = Path::new("");
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::conf::{self, FileForm};
use crate::edit::{apply_edits, version_edits, Edit};
use crate::finding::Repair;
use crate::finding::{Finding, FindingId};
use crate::fix::Applicability;
use crate::fix::{choose_target, TargetError};
use crate::node::display_path;
use crate::rules::network_findings;
use crate::snapshot::{CheckError, CheckOptions, FileStatus, RereadError, Snapshot};
use crate::spec::SpecVersion;

/// Which files a rewrite considers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The networks containerd loads (or, when an invalid file stops the load, would load).
    Loaded,
    /// Every valid config in the conf dir.
    All,
    /// These files: node paths, or names in the conf dir.
    Files(Vec<PathBuf>),
}

/// What to rewrite, and how: [`RewriteOptions::new`] and the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RewriteOptions {
    /// How to read the node (the same discovery as `check`).
    pub check: CheckOptions,
    /// Which files.
    pub scope: Scope,
    /// The version to set instead of the highest common one.
    pub cni_version: Option<SpecVersion>,
    /// Also raise working but older versions to the target.
    pub upgrade: bool,
}

impl RewriteOptions {
    /// Rewrite the networks containerd loads on the node `check` describes, to the version
    /// the rules choose.
    pub fn new(check: CheckOptions) -> RewriteOptions {
        RewriteOptions {
            check,
            scope: Scope::Loaded,
            cni_version: None,
            upgrade: false,
        }
    }

    /// Which files.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Set this version instead of the one the rules choose.
    pub fn cni_version(mut self, v: SpecVersion) -> Self {
        self.cni_version = Some(v);
        self
    }

    /// Also raise working but older versions.
    pub fn upgrade(mut self, upgrade: bool) -> Self {
        self.upgrade = upgrade;
        self
    }
}

/// Why a rewrite could not be planned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// The node could not be read.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// A file named on the command line is not a config in the conf dir.
    #[error("{path}: {why}")]
    NotAConfig {
        /// The path given.
        path: String,
        /// The conf dir.
        conf_dir: String,
        /// What it is instead: missing, a directory, a name libcni does not read, outside
        /// the conf dir.
        why: String,
    },
}

/// What a rewrite does to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The file gets new text.
    Rewrite {
        /// The version the network had (`None`: none declared).
        from: Option<String>,
        /// The version it gets.
        to: SpecVersion,
        /// The findings this fixes (empty for an `--upgrade`).
        fixes: Vec<FindingId>,
        /// The edits.
        edits: Vec<Edit>,
        /// The text as read.
        original: Vec<u8>,
        /// The new text.
        updated: Vec<u8>,
    },
    /// Nothing to change.
    Unchanged {
        /// Why.
        reason: String,
    },
    /// It needs fixing, but a config change cannot fix it.
    NotFixable {
        /// Why, and what to do instead.
        reason: String,
    },
    /// It needs fixing, but cni-fix needs more to know how.
    NeedsInput {
        /// What is missing.
        reason: String,
    },
    /// cni-fix could not read it, though the runtime would: nothing is known about it.
    Unread {
        /// Why, and what would let cni-fix read it.
        reason: String,
    },
}

/// One file's plan.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FilePlan {
    /// The config's node path, as listed in the conf dir.
    pub path: PathBuf,
    /// Where its text really is (a symlink's target), as a node path.
    pub target_path: PathBuf,
    /// What happens to it.
    pub outcome: Outcome,
}

/// The plan of a rewrite.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RewritePlan {
    /// The node as read.
    pub snapshot: Snapshot,
    /// One entry per file considered, in conf dir order.
    pub files: Vec<FilePlan>,
    /// The findings of the check the plan was made from (the networks containerd loads, and
    /// the node), evaluated once.
    pub findings: Vec<Finding>,
}

impl RewritePlan {
    /// Whether any file will change.
    pub fn has_changes(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f.outcome, Outcome::Rewrite { .. }))
    }

    /// The findings that remain once the plan is carried out: every finding of the check but
    /// those of files the plan rewrites that a cniVersion change fixes.
    pub fn remaining(&self) -> impl Iterator<Item = &Finding> {
        let rewritten: Vec<String> = self
            .files
            .iter()
            .filter(|f| matches!(f.outcome, Outcome::Rewrite { .. }))
            .map(|f| display_path(&f.path))
            .collect();
        self.findings.iter().filter(move |f| {
            !(f.id.repair() == Repair::CniVersion
                && f.file.as_ref().is_some_and(|p| rewritten.contains(p)))
        })
    }

    /// Whether cni-fix could not read a file in scope (the plan is incomplete).
    pub fn has_unread(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f.outcome, Outcome::Unread { .. }))
    }

    /// Whether some file needs a fix that this plan does not make.
    pub fn has_unfixed(&self) -> bool {
        self.files.iter().any(|f| {
            matches!(
                f.outcome,
                Outcome::NotFixable { .. } | Outcome::NeedsInput { .. }
            )
        })
    }

    /// The plan as a unified diff with node paths (`a/etc/cni/net.d/…`), which `patch -p1` and
    /// `git apply` accept from the node's root directory.
    pub fn unified_diff(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in &self.files {
            if let Outcome::Rewrite {
                original, updated, ..
            } = &f.outcome
            {
                file_diff(&mut out, &f.target_path, original, updated);
            }
        }
        out
    }
}

/// Append the unified diff of one file (a node path) to `out`, with git's `a/` and `b/`
/// prefixes. Names are quoted as git quotes them, so that a newline or an escape in a file
/// name cannot split or fake a header.
pub(crate) fn file_diff(out: &mut Vec<u8>, node_path: &Path, original: &[u8], updated: &[u8]) {
    let rel = node_path.as_os_str().as_bytes();
    let rel = &rel[rel.iter().take_while(|b| **b == b'/').count()..];
    let side = |prefix: &[u8]| {
        let mut p = prefix.to_vec();
        p.extend_from_slice(rel);
        crate::quote::quote_path(&p).into_owned()
    };
    let (a, b) = (side(b"a/"), side(b"b/"));
    out.extend_from_slice(format!("diff --git {a} {b}\n").as_bytes());
    similar::TextDiff::from_lines(original, updated)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_writer(&mut *out)
        .expect("writing to a Vec cannot fail");
}

/// Plan a rewrite: read the node, and decide for each file in scope.
pub fn plan(options: &RewriteOptions) -> Result<RewritePlan, RewriteError> {
    let snapshot = Snapshot::gather(&options.check)?;
    let indexes = select(&snapshot, &options.scope)?;
    // The rules run once: over the node as `check` sees it, and over the files in scope that
    // containerd does not load (whose findings `check` does not report).
    let findings = crate::rules::evaluate(&snapshot);
    let mut by_file: HashMap<&str, Vec<Finding>> = HashMap::new();
    for x in &findings {
        if let Some(file) = &x.file {
            by_file.entry(file.as_str()).or_default().push(x.clone());
        }
    }
    let mut active = vec![false; snapshot.files.len()];
    for &i in &snapshot.load.active {
        active[i] = true;
    }
    let files = indexes
        .into_iter()
        .map(|i| {
            let f = &snapshot.files[i];
            let own: Vec<Finding> = if active[i] {
                by_file.remove(f.display().as_str()).unwrap_or_default()
            } else {
                network_findings(&snapshot, i)
            };
            FilePlan {
                path: f.path.clone(),
                target_path: snapshot
                    .node
                    .canonical_node_path(&f.path)
                    .unwrap_or_else(|_| f.path.clone()),
                outcome: decide(&snapshot, i, &own, options),
            }
        })
        .collect();
    Ok(RewritePlan {
        snapshot,
        files,
        findings,
    })
}

fn select(snap: &Snapshot, scope: &Scope) -> Result<Vec<usize>, RewriteError> {
    match scope {
        // A file cni-fix could not read may be one the runtime loads: it is never skipped
        // silently.
        Scope::Loaded => {
            let mut out = snap.load.active.clone();
            out.extend(
                (0..snap.files.len()).filter(|&i| snap.files[i].status == FileStatus::Unread),
            );
            out.sort_unstable();
            Ok(out)
        }
        Scope::All => Ok((0..snap.files.len())
            .filter(|&i| {
                snap.files[i].network().is_some() || snap.files[i].status == FileStatus::Unread
            })
            .collect()),
        Scope::Files(paths) => {
            let mut out = Vec::new();
            for p in paths {
                let node_path = if p.is_absolute() {
                    p.clone()
                } else {
                    snap.conf_dir.join(p)
                };
                let i = snap
                    .files
                    .iter()
                    .position(|f| f.path == node_path && f.form().is_some())
                    .ok_or_else(|| RewriteError::NotAConfig {
                        path: display_path(p),
                        conf_dir: display_path(&snap.conf_dir),
                        why: not_a_config(snap, &node_path),
                    })?;
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            out.sort_unstable();
            Ok(out)
        }
    }
}

/// Why a path named for rewrite is not a config containerd reads.
fn not_a_config(snap: &Snapshot, node_path: &Path) -> String {
    let conf_dir = display_path(&snap.conf_dir);
    if node_path.parent() != Some(snap.conf_dir.as_path()) {
        return format!("not in the conf dir {conf_dir}; only its configs are rewritten");
    }
    match snap.node.symlink_metadata(node_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("no such file in the conf dir {conf_dir}")
        }
        Err(e) => format!("cannot be read: {}", crate::node::io_message(&e)),
        Ok(m) if m.is_dir() => {
            "a directory, which the runtime skips; only files are configs".to_string()
        }
        Ok(_) => "the runtime does not read it: only names ending in .conf, .conflist or .json are configs".to_string(),
    }
}

/// What to do with one file, from its findings: their fix, re-targeted only by
/// `--cni-version` or `--upgrade`.
fn decide(snap: &Snapshot, i: usize, findings: &[Finding], options: &RewriteOptions) -> Outcome {
    let file = &snap.files[i];
    if file.status == FileStatus::Unread {
        let reason = snap
            .incomplete
            .iter()
            .find(|u| u.path == file.path)
            .map(|u| u.reason.clone())
            .unwrap_or_else(|| "cni-fix could not read it".to_string());
        return Outcome::Unread {
            reason: format!("cni-fix could not read it: {reason}"),
        };
    }
    let (net, form) = match (file.parsed(), file.form()) {
        (Some(Ok(net)), Some(form)) => (net, form),
        (Some(Err(problem)), _) => {
            return Outcome::NotFixable {
                reason: format!("libcni rejects the file: {}", problem.libcni),
            }
        }
        _ => {
            return Outcome::NotFixable {
                reason: "the file could not be read".to_string(),
            }
        }
    };
    // The snapshot keeps what it learned of the file, not its bytes.
    let bytes = match snap.conf_bytes(i) {
        Ok(b) => b,
        Err(e) => {
            return Outcome::NotFixable {
                reason: e.to_string(),
            }
        }
    };
    let bytes = bytes.as_slice();
    let repaired: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.id.repair() == Repair::CniVersion)
        .collect();
    let mut fixes: Vec<FindingId> = repaired.iter().map(|f| f.id).collect();
    fixes.dedup();
    if fixes.is_empty() && !options.upgrade {
        return Outcome::Unchanged {
            reason: "nothing to fix".to_string(),
        };
    }
    if options.cni_version.is_none() {
        // The findings carry their fix: take it as it is.
        if let Some(fix) = repaired.iter().find_map(|f| f.fix.as_ref()) {
            return match (&fix.applicability, fix.target) {
                // The edits the finding carries, for the bytes read again only when the
                // same edits would be worked out from them.
                (Applicability::Safe, Some(target)) => {
                    if version_edits(bytes, form, target).as_ref() != Ok(&fix.edits) {
                        return Outcome::NotFixable {
                            reason: RereadError::Changed {
                                path: file.display(),
                            }
                            .to_string(),
                        };
                    }
                    rewrite_with(
                        bytes,
                        form,
                        net.declared_cni_version.clone(),
                        target,
                        fix.edits.clone(),
                        fixes,
                    )
                }
                (Applicability::NeedsInput(reason), _) => Outcome::NeedsInput {
                    reason: reason.clone(),
                },
                (Applicability::NotFixable(reason), _) => Outcome::NotFixable {
                    reason: reason.clone(),
                },
                _ => Outcome::Unchanged {
                    reason: "nothing to fix".to_string(),
                },
            };
        }
    }
    // --cni-version, or --upgrade of a file with nothing to fix: choose again.
    let target = match choose_target(snap, net, options.cni_version) {
        Ok(t) => t,
        Err(e @ TargetError::UnknownVersions { .. }) => {
            return Outcome::NeedsInput {
                reason: e.to_string(),
            }
        }
        Err(e) => {
            return Outcome::NotFixable {
                reason: e.to_string(),
            }
        }
    };
    if fixes.is_empty() {
        // --upgrade alone never lowers a working version.
        if let Some(current) = SpecVersion::exact(&net.cni_version) {
            if current >= target {
                return Outcome::Unchanged {
                    reason: format!("already at {current}"),
                };
            }
        }
    }
    rewrite_to(bytes, form, net.declared_cni_version.clone(), target, fixes)
}

/// The rewrite that sets `target`, with edits worked out from the file.
fn rewrite_to(
    bytes: &[u8],
    form: FileForm,
    from: Option<String>,
    target: SpecVersion,
    fixes: Vec<FindingId>,
) -> Outcome {
    match version_edits(bytes, form, target) {
        Ok(edits) => rewrite_with(bytes, form, from, target, edits, fixes),
        Err(e) => Outcome::NotFixable {
            reason: e.to_string(),
        },
    }
}

/// The rewrite that applies `edits` to set `target`, checked by reading the result back.
fn rewrite_with(
    bytes: &[u8],
    form: FileForm,
    from: Option<String>,
    target: SpecVersion,
    edits: Vec<Edit>,
    fixes: Vec<FindingId>,
) -> Outcome {
    if edits.is_empty() {
        return Outcome::Unchanged {
            reason: format!("already at {target}"),
        };
    }
    let updated = match apply_edits(bytes, &edits) {
        Ok(u) => u,
        Err(e) => {
            return Outcome::NotFixable {
                reason: e.to_string(),
            }
        }
    };
    // The result must read back, with libcni's rules, as the same network at the target.
    let reread = match form {
        FileForm::ConfList => {
            conf::parse_conflist(&updated, conf::LibcniGeneration::Classic, None).ok()
        }
        FileForm::SingleConf => conf::parse_single_conf(&updated).ok(),
    };
    if reread.map(|n| n.cni_version) != Some(target.as_str().to_string()) {
        return Outcome::NotFixable {
            reason: "cni-fix could not produce a valid file for this layout; left alone"
                .to_string(),
        };
    }
    Outcome::Rewrite {
        from,
        to: target,
        fixes,
        edits,
        original: bytes.to_vec(),
        updated,
    }
}

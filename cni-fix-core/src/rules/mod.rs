//! The rules: from a [`Snapshot`] to [`Finding`]s. Pure functions of the snapshot.

use crate::finding::{Finding, FindingId, Location, Severity};
use crate::snapshot::Snapshot;

mod chain;
mod conf_dir;
mod containerd_config;
mod facts;
mod loopback;
mod migration;
mod network;
mod permissions;
mod placeholders;
mod plugins;
pub(crate) mod runtime_text;

pub use conf_dir::encoding_problem;
pub use placeholders::{find_placeholder, find_placeholder_at};
use runtime_text::describe;
pub use runtime_text::SANDBOX;

use conf_dir::{conf_dir, conf_file, ignored_file, ignored_files};
use containerd_config::{conf_template, containerd_config, runtime};
use loopback::loopback;
use migration::migration;
use network::network_rules;
use permissions::{permission, permissions};
use plugins::plugins;

struct Ctx<'a> {
    snap: &'a Snapshot,
    out: Vec<Finding>,
}

/// A finding in the common shape, before it becomes a [`Finding`]. Each kind of finding is a
/// typed struct of its rule's module that owns its wording and converts into a `Draft`.
struct Draft {
    id: FindingId,
    severity: Severity,
    file: Option<String>,
    plugin: Option<String>,
    message: String,
    runtime_error: Option<String>,
    remedy: String,
    fixable: bool,
    /// Where in the file, when the rule knows.
    location: Option<Location>,
    /// Further files the finding is about.
    files: Vec<String>,
}

impl Draft {
    /// A finding repaired by hand, about one file or none, with no runtime text, location or
    /// further files; set those on the result where a rule has them.
    fn manual(
        id: FindingId,
        severity: Severity,
        file: Option<String>,
        message: String,
        remedy: String,
    ) -> Draft {
        Draft {
            id,
            severity,
            file,
            plugin: None,
            message,
            runtime_error: None,
            remedy,
            fixable: false,
            location: None,
            files: Vec::new(),
        }
    }
}

impl Ctx<'_> {
    fn push(&mut self, d: impl Into<Draft>) {
        let mut d = d.into();
        // `format!` reserves ahead; a finding is held until the report is written, so give the
        // slack back (a shrink in place, no copy).
        d.message.shrink_to_fit();
        d.remedy.shrink_to_fit();
        self.out.push(Finding {
            id: d.id,
            severity: d.severity,
            file: d.file,
            plugin: d.plugin,
            message: d.message,
            runtime_error: d.runtime_error,
            remedy: d.remedy,
            fixable: d.fixable,
            fix: None,
            files: d.files,
            location: d.location,
        });
    }

    /// Why a Docker Engine shim skips the network in `files[i]` at load, and what it does
    /// instead; `None` when it does not skip it (or the runtime is containerd).
    fn skipped(&self, i: usize) -> Option<Skipped> {
        let snap = self.snap;
        let (_, reason) = snap.load.rejected.iter().find(|(r, _)| *r == i)?;
        let host = snap.runtime.host.name();
        let effect = match snap.load.loaded.first() {
            Some(&l) => format!(
                "{host} skips this network at load and uses {} from {} instead",
                snap.files[l]
                    .network()
                    .map(|n| format!("{:?}", n.name))
                    .unwrap_or_default(),
                snap.files[l].display()
            ),
            None => format!(
                "{host} skips this network at load and finds no valid network, so the node reports NetworkPluginNotReady (cni config uninitialized) and no pod starts"
            ),
        };
        Some(Skipped {
            reason: reason.clone(),
            effect,
        })
    }
}

/// A network a Docker Engine shim skips at load.
#[derive(Debug, Clone)]
pub(super) struct Skipped {
    /// libcni's validation error.
    pub(super) reason: String,
    /// What the shim does instead.
    pub(super) effect: String,
}

/// Evaluate every rule over a snapshot.
pub fn evaluate(snap: &Snapshot) -> Vec<Finding> {
    let mut ctx = Ctx {
        snap,
        out: Vec::new(),
    };
    let mut walk = conf_dir::Walk::new();
    evaluate_in(&mut ctx, &mut walk);
    if snap.cni_not_checked().is_none() {
        walk.finish(&mut ctx);
    }
    // A large conf dir gives a finding per file, held until the report is written.
    ctx.out.shrink_to_fit();
    ctx.out
}

/// Every rule over `ctx.snap`, but what only the whole conf dir settles, which `walk` keeps
/// for [`conf_dir::Walk::finish`]: the shadowed networks. Where their findings are pushed does
/// not matter, as `shadowed-config` sorts last among a file's (or the node's) findings of its
/// severity ([`crate::report::within_file`]).
fn evaluate_in(ctx: &mut Ctx<'_>, walk: &mut conf_dir::Walk) {
    let snap = ctx.snap;
    if snap.cni_not_checked().is_none() {
        if snap.runtime.host == crate::runtime::CniHost::Containerd {
            containerd_config(ctx);
            conf_template(ctx);
        }
        runtime(ctx);
        conf_dir(ctx, walk);
        ignored_files(ctx);
        for &i in &snap.load.active {
            network_rules(ctx, i);
        }
        plugins(ctx);
        loopback(ctx);
        permissions(ctx);
    }
    migration(ctx);
}

/// The rules over a conf dir read a part at a time: the snapshot holds the files up to the
/// point where the runtime's load is settled (every network it loads, and every one the
/// network rules check), and the files after it are given one at a time. The findings are the
/// ones [`evaluate`] gives over the whole conf dir. Once started, the rules need of the
/// snapshot's files only their paths and times: their networks may be moved out.
pub(crate) struct Stream {
    walk: conf_dir::Walk,
    /// Whether the CNI rules apply (see [`Snapshot::cni_not_checked`]).
    cni: bool,
}

impl Stream {
    /// Start with every rule over the snapshot's files and the node.
    pub(crate) fn start(snap: &Snapshot) -> (Stream, Vec<Finding>) {
        let mut ctx = Ctx {
            snap,
            out: Vec::new(),
        };
        let mut walk = conf_dir::Walk::new();
        evaluate_in(&mut ctx, &mut walk);
        let stream = Stream {
            walk,
            cni: snap.cni_not_checked().is_none(),
        };
        (stream, ctx.out)
    }

    /// The rules about a file after the snapshot's `snap`, which the runtime neither loads nor
    /// checks; `ownership` is its owner and mode. A finding about an earlier file may come
    /// with it.
    pub(crate) fn file(
        &mut self,
        snap: &Snapshot,
        f: &crate::snapshot::ConfFile,
        ownership: Option<&crate::snapshot::Ownership>,
    ) -> Vec<Finding> {
        let mut ctx = Ctx {
            snap,
            out: Vec::new(),
        };
        if self.cni {
            conf_file(&mut ctx, f, false, false, &mut self.walk);
            ignored_file(&mut ctx, f);
            if let Some(o) = ownership {
                permission(&mut ctx, o);
            }
        }
        ctx.out
    }

    /// Whether a finding about the file at `path`, already given, may still come from a later
    /// file or from [`Stream::finish`].
    pub(crate) fn pending(&self, path: &str) -> bool {
        self.cni && self.walk.pending(path)
    }

    /// The findings only the whole conf dir settles.
    pub(crate) fn finish(mut self, snap: &Snapshot) -> Vec<Finding> {
        let mut ctx = Ctx {
            snap,
            out: Vec::new(),
        };
        if self.cni {
            self.walk.finish(&mut ctx);
        }
        ctx.out
    }
}

/// The rules about one network's version, name and chain, for the file at `snap.files[index]`
/// (whether containerd loads it or not).
pub fn network_findings(snap: &Snapshot, index: usize) -> Vec<Finding> {
    let mut ctx = Ctx {
        snap,
        out: Vec::new(),
    };
    network_rules(&mut ctx, index);
    ctx.out
}

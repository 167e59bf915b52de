//! Rules about the plugin binaries the loaded networks need: found, executable, versions known.

use super::runtime_text as rt;
use super::{describe, Ctx, Draft};
use crate::chain::executed;
use crate::finding::{FindingId, Severity};
use crate::node::display_path;
use crate::plugins_release::RELEASE_PLUGINS;
use crate::runtime::RuntimeLine;
use crate::snapshot::{PluginInfo, Snapshot};

/// Who needs a plugin: the files of the networks that run it, or (`None`) the runtime's
/// loopback network.
struct Users {
    indexes: Vec<Option<usize>>,
    files: Vec<Option<String>>,
}

pub(super) fn plugins(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let needed = snap.needed_plugins();
    for info in snap
        .plugins
        .iter()
        .filter(|p| p.needed && p.unread.is_none())
    {
        let t = info.plugin_type.as_str();
        let indexes: Vec<Option<usize>> = match needed.get(t) {
            Some(f) if !f.is_empty() => f.iter().map(|&i| Some(i)).collect(),
            _ => vec![None],
        };
        let users = Users {
            files: indexes
                .iter()
                .map(|u| u.map(|i| snap.files[i].display()))
                .collect(),
            indexes,
        };
        match (&info.path, info.executable) {
            (None, _) => not_found(ctx, info, &users),
            (Some(path), false) => not_executable(ctx, info, path, &users),
            (Some(_), true) if info.supported().is_none() => {
                let only_loopback = needed.get(t).is_none_or(|f| f.is_empty());
                versions_unknown(ctx, info, &users, only_loopback)
            }
            (Some(_), true) => {}
        }
    }
}

fn for_what(file: &Option<String>) -> &'static str {
    match file {
        Some(_) => "This network",
        None => "The runtime's built-in loopback network",
    }
}

/// `plugin-not-found`: no executable for a plugin a network (or loopback) needs.
enum PluginNotFound {
    /// No file of that name in the plugin directories.
    Missing {
        plugin: String,
        file: Option<String>,
        dirs: Vec<String>,
        /// What the runtime reports (nothing for a plugin of a network a shim skips that is
        /// not in its chain: it never runs).
        runtime_error: Option<String>,
        /// What it does to the node, when not a failed pod start: a shim skips the network.
        effect: Option<String>,
    },
    /// libcni finds the file first, but cannot run it.
    NotExecutable {
        plugin: String,
        file: Option<String>,
        path: String,
        line: RuntimeLine,
    },
}

impl From<PluginNotFound> for Draft {
    fn from(f: PluginNotFound) -> Draft {
        let (plugin, file, message, runtime_error, remedy) = match f {
            PluginNotFound::Missing {
                plugin: t,
                file,
                dirs,
                runtime_error,
                effect,
            } => (
                t.clone(),
                file.clone(),
                format!(
                    "{} needs the plugin {t}, but no file named {t} is in {}{}",
                    for_what(&file),
                    dirs.join(", "),
                    effect.map(|e| format!(": {e}")).unwrap_or_default()
                ),
                runtime_error,
                format!(
                    "Install {t} into {} (or point bin_dir / --bin-dir at the directory that holds it).",
                    dirs.first().map(String::as_str).unwrap_or("the plugin dir")
                ),
            ),
            PluginNotFound::NotExecutable {
                plugin: t,
                file,
                path,
                line,
            } => (
                t.clone(),
                file.clone(),
                format!(
                    "{} needs the plugin {t}; libcni finds {path} first, but it is not executable",
                    for_what(&file)
                ),
                Some(rt::add_failed(
                    line,
                    &describe(&t, ""),
                    &format!("fork/exec {path}: permission denied"),
                )),
                format!("chmod 755 {path}"),
            ),
        };
        Draft {
            id: FindingId::PluginNotFound,
            severity: Severity::Error,
            file,
            plugin: Some(plugin),
            message,
            runtime_error,
            remedy,
            fixable: false,
            location: None,
            files: Vec::new(),
        }
    }
}

/// `plugin-version-unknown`: the binary is there, but its versions are unknown, so the version
/// rules skipped it.
struct PluginVersionUnknown {
    plugin: String,
    file: Option<String>,
    path: String,
    /// Why the versions are unknown.
    why: String,
    /// Whether a probe was tried and failed (a warning) or none was made (information).
    probe_failed: bool,
    /// The rules that were skipped.
    skipped: &'static str,
    remedy: String,
}

impl From<PluginVersionUnknown> for Draft {
    fn from(f: PluginVersionUnknown) -> Draft {
        Draft {
            id: FindingId::PluginVersionUnknown,
            severity: if f.probe_failed {
                Severity::Warning
            } else {
                Severity::Info
            },
            file: f.file,
            message: format!(
                "The spec versions of {} ({}) are unknown: {}; {} was skipped for it",
                f.plugin, f.path, f.why, f.skipped
            ),
            plugin: Some(f.plugin),
            runtime_error: None,
            remedy: f.remedy,
            fixable: false,
            location: None,
            files: Vec::new(),
        }
    }
}

/// No file of that name in the plugin directories.
fn not_found(ctx: &mut Ctx<'_>, info: &PluginInfo, users: &Users) {
    let snap = ctx.snap;
    let t = info.plugin_type.as_str();
    let dirs: Vec<String> = snap.bin_dirs.iter().map(|d| display_path(d)).collect();
    for (file, user) in users.files.iter().zip(&users.indexes) {
        let runner = user
            .and_then(|i| snap.files[i].network())
            .and_then(|n| {
                executed(n)
                    .into_iter()
                    .find(|e| e.plugin_type == t)
                    .map(|e| describe(&e.runner.plugin_type, e.runner.name()))
            })
            .unwrap_or_else(|| describe(t, ""));
        let error = info
            .problem()
            .map(str::to_string)
            .unwrap_or_else(|| snap.find_in_path_error(t));
        // A shim skips a network whose chain names a missing plugin.
        let (runtime_error, effect) = match user.and_then(|i| ctx.skipped(i)) {
            Some(s) if user.is_some_and(|i| chain_runs(snap, i, t)) => {
                (Some(rt::skipped_at_load(&s.reason)), Some(s.effect))
            }
            Some(s) => (None, Some(s.effect)),
            None => (
                Some(rt::add_failed(
                    snap.runtime.effective().line,
                    &runner,
                    &error,
                )),
                None,
            ),
        };
        ctx.push(PluginNotFound::Missing {
            plugin: t.to_string(),
            file: file.clone(),
            dirs: dirs.clone(),
            runtime_error,
            effect,
        });
    }
}

/// Whether the network in `files[i]` has `t` in its own chain (what a shim validates).
fn chain_runs(snap: &Snapshot, i: usize, t: &str) -> bool {
    snap.files[i]
        .network()
        .is_some_and(|n| n.plugins.iter().any(|p| p.plugin_type == t))
}

/// libcni finds the file first, but cannot run it.
fn not_executable(ctx: &mut Ctx<'_>, info: &PluginInfo, path: &std::path::Path, users: &Users) {
    for file in &users.files {
        ctx.push(PluginNotFound::NotExecutable {
            plugin: info.plugin_type.clone(),
            file: file.clone(),
            path: display_path(path),
            line: ctx.snap.runtime.effective().line,
        });
    }
}

/// The binary is there, but its versions are unknown.
fn versions_unknown(ctx: &mut Ctx<'_>, info: &PluginInfo, users: &Users, only_loopback: bool) {
    let snap = ctx.snap;
    let skipped = if info.for_loopback && only_loopback {
        "loopback-incompatible"
    } else if info.for_loopback {
        "incompatible-version and loopback-incompatible"
    } else {
        "incompatible-version"
    };
    ctx.push(PluginVersionUnknown {
        plugin: info.plugin_type.clone(),
        file: users.files.first().cloned().flatten(),
        path: info.path.as_deref().map(display_path).unwrap_or_default(),
        why: info
            .problem()
            .unwrap_or("no source of versions")
            .to_string(),
        probe_failed: info.probe_failed(),
        skipped,
        remedy: unknown_versions_remedy(snap, info),
    });
}

/// What to do about a plugin whose versions are unknown, given how cni-fix already tried.
fn unknown_versions_remedy(snap: &Snapshot, info: &PluginInfo) -> String {
    use crate::snapshot::ProbeMode;
    let mut steps = Vec::new();
    match snap.probe {
        ProbeMode::Exec if info.probe_failed() => steps.push(
            "check that the binary runs on this machine, or raise --probe-timeout if it is slow to answer".to_string(),
        ),
        ProbeMode::Exec => {}
        ProbeMode::Static if info.probe_failed() => steps.push(
            "run with --probe exec on the node (the binary could not be read statically)".to_string(),
        ),
        ProbeMode::Static | ProbeMode::None => {
            steps.push("run with --probe exec on the node".to_string())
        }
    }
    match &snap.assumed_release {
        None if RELEASE_PLUGINS.contains(&info.plugin_type.as_str()) => steps.push(
            "name the plugins release with --assume-plugins-release".to_string(),
        ),
        None => {}
        Some(r) => steps.push(format!(
            "{} is not in containernetworking/plugins {r}, so --assume-plugins-release cannot tell its versions",
            info.plugin_type
        )),
    }
    if steps.is_empty() {
        return "Check the plugin's versions by hand (CNI_COMMAND=VERSION).".to_string();
    }
    let mut text = steps.join("; ");
    if let Some(first) = text.get(..1) {
        let upper = first.to_uppercase();
        text.replace_range(..1, &upper);
    }
    format!("{text}.")
}

//! Which cniVersion a network should have, and the fix that sets it.
//!
//! One function, [`choose_target`], decides for both the findings (each rewritable finding
//! carries its [`Fix`]) and `cni-fix rewrite`, so the two never disagree.

use std::fmt;

use serde::Serialize;

use crate::chain::executed_types;
use crate::conf::NetworkList;
use crate::edit::{version_edits, Edit};
use crate::node::display_path;
use crate::plugins_release::{plugin_project, RELEASE_PLUGINS};
use crate::snapshot::Snapshot;
use crate::spec::SpecVersion;

/// The repair a finding carries: the network's new version and the edits to the file's text
/// that make it so, and whether `cni-fix rewrite` applies them on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Fix {
    /// The cniVersion the network gets (`None` when no version can be chosen).
    pub target: Option<SpecVersion>,
    /// The edits, in the file's byte offsets (empty when no version can be chosen).
    pub edits: Vec<Edit>,
    /// Whether the edits are applied, and if not, why.
    pub applicability: Applicability,
}

/// Whether `cni-fix rewrite` applies a [`Fix`] on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Applicability {
    /// Applied: it removes the finding and changes nothing else.
    Safe,
    /// The versions of some plugins are unknown: `rewrite` needs a version or a source of
    /// versions to choose one.
    NeedsInput(String),
    /// No config change can fix it (no version works for every plugin): binaries must be
    /// upgraded.
    NotFixable(String),
}

impl Fix {
    /// The fix for the network of `snap.files[index]`, whose target version was chosen (or
    /// could not be).
    pub fn for_target(
        snap: &Snapshot,
        index: usize,
        target: &Result<SpecVersion, TargetError>,
    ) -> Option<Fix> {
        match target {
            Ok(t) => fix_to(snap, index, *t),
            Err(e @ TargetError::UnknownVersions { .. }) => Some(Fix {
                target: None,
                edits: Vec::new(),
                applicability: Applicability::NeedsInput(e.to_string()),
            }),
            Err(e) => Some(Fix {
                target: None,
                edits: Vec::new(),
                applicability: Applicability::NotFixable(e.to_string()),
            }),
        }
    }

    /// Whether `rewrite` applies it on its own.
    pub fn is_safe(&self) -> bool {
        self.applicability == Applicability::Safe && self.target.is_some()
    }
}

/// The JSON form of a finding's fix: the one `rewrite` applies on its own, else null.
pub(crate) fn serialize_safe_fix<S: serde::Serializer>(
    fix: &Option<Fix>,
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct SafeFix<'a> {
        target: SpecVersion,
        edits: &'a [Edit],
    }
    match fix {
        Some(Fix {
            target: Some(target),
            edits,
            applicability: Applicability::Safe,
        }) => SafeFix {
            target: *target,
            edits,
        }
        .serialize(s),
        _ => s.serialize_none(),
    }
}

/// Why no target version could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetError {
    /// Some plugins' versions are unknown; cni-fix does not guess.
    UnknownVersions {
        /// The plugin types whose versions are unknown.
        plugins: Vec<String>,
        /// Why, for each of them.
        reasons: Vec<String>,
        /// The inputs that would tell, leaving out any already given.
        suggestions: Vec<String>,
    },
    /// No spec version is supported by every plugin and the runtime.
    NoCommonVersion {
        /// Which binaries to upgrade, to which release.
        advice: String,
    },
    /// The requested version cannot work for this file.
    Refused {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::UnknownVersions {
                plugins,
                reasons,
                suggestions,
            } => {
                let why: Vec<String> = plugins
                    .iter()
                    .zip(reasons)
                    .map(|(p, r)| format!("{p}: {r}"))
                    .collect();
                write!(
                    f,
                    "the spec versions of {} are unknown ({}); cni-fix does not guess: {}",
                    plugins.join(", "),
                    why.join("; "),
                    or_list(suggestions)
                )
            }
            TargetError::NoCommonVersion { advice } => {
                write!(
                    f,
                    "no cniVersion works for every plugin in the chain: {advice}"
                )
            }
            TargetError::Refused { reason } => f.write_str(reason),
        }
    }
}

/// `a`, `a or b`, `a, b, or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
    }
}

/// What would tell cni-fix the versions of plugins it could not learn, leaving out what the
/// snapshot shows was already tried.
pub fn version_suggestions(snap: &Snapshot) -> Vec<String> {
    let mut out = vec!["pass --cni-version V".to_string()];
    if snap.assumed_release.is_none() {
        out.push(
            "--assume-plugins-release R (the containernetworking/plugins release on the node)"
                .into(),
        );
    }
    match snap.probe {
        crate::snapshot::ProbeMode::Exec => {
            out.push("a longer --probe-timeout if a plugin is slow to answer".into())
        }
        crate::snapshot::ProbeMode::Static | crate::snapshot::ProbeMode::None => {
            out.push("--probe exec on a machine that can run the plugins".into())
        }
    }
    out
}

/// The highest spec version the runtime the rules apply can use: an unknown runtime is taken
/// as the conservative release, before containerd 2.0, so nothing above 1.0.0.
pub fn runtime_cap(snap: &Snapshot) -> SpecVersion {
    snap.runtime.effective().line.max_spec_version()
}

/// The version a network should have: `requested` when it can work, otherwise the highest
/// version every plugin of the chain supports and the runtime can use.
pub fn choose_target(
    snap: &Snapshot,
    net: &NetworkList,
    requested: Option<SpecVersion>,
) -> Result<SpecVersion, TargetError> {
    let cap = runtime_cap(snap);
    let types = executed_types(net);
    let lists: Vec<(&str, Option<&[String]>)> = types
        .iter()
        .map(|t| {
            let info = snap.plugin(t);
            (*t, info.and_then(|p| p.supported()))
        })
        .collect();
    if let Some(v) = requested {
        return check_requested(snap, &lists, v, cap);
    }
    let unknown: Vec<String> = lists
        .iter()
        .filter(|(_, l)| l.is_none())
        .map(|(t, _)| t.to_string())
        .collect();
    if !unknown.is_empty() {
        let reasons = unknown
            .iter()
            .map(|t| {
                snap.plugin(t)
                    .and_then(|p| p.problem().map(str::to_string).or_else(|| p.unread.clone()))
                    .unwrap_or_else(|| "no source of versions".to_string())
            })
            .collect();
        return Err(TargetError::UnknownVersions {
            plugins: unknown,
            reasons,
            suggestions: version_suggestions(snap),
        });
    }
    let known: Vec<(&str, &[String])> = lists.iter().map(|(t, l)| (*t, l.unwrap_or(&[]))).collect();
    highest_common(&known, cap)
}

fn supports(list: &[String], v: SpecVersion) -> bool {
    list.iter().any(|s| s == v.as_str())
}

/// A requested version, refused with the reason when the runtime or a plugin cannot use it.
fn check_requested(
    snap: &Snapshot,
    lists: &[(&str, Option<&[String]>)],
    v: SpecVersion,
    cap: SpecVersion,
) -> Result<SpecVersion, TargetError> {
    let runtime = match &snap.runtime.version {
        Some(_) if snap.runtime.line.is_some() => snap.runtime.label(),
        _ if snap.runtime.host == crate::runtime::CniHost::Containerd => {
            "the runtime (version unknown, so taken as older than 2.0)".to_string()
        }
        _ => format!(
            "{} (version unknown, so taken as its oldest release)",
            snap.runtime.host.name()
        ),
    };
    if v > cap {
        return Err(TargetError::Refused {
            reason: format!("cniVersion {v} is refused: {runtime} reads results only up to {cap}"),
        });
    }
    for (t, list) in lists {
        if let Some(list) = list {
            if !supports(list, v) {
                let path = snap
                    .plugin(t)
                    .and_then(|p| p.path.as_deref())
                    .map(display_path)
                    .unwrap_or_default();
                return Err(TargetError::Refused {
                    reason: format!(
                        "cniVersion {v} is refused: {t} ({path}) supports only {}",
                        list.join(", ")
                    ),
                });
            }
        }
    }
    Ok(v)
}

/// The highest version up to `cap` that every plugin lists; when none does, which binaries to
/// upgrade (the fewest, for the highest version).
fn highest_common(
    known: &[(&str, &[String])],
    cap: SpecVersion,
) -> Result<SpecVersion, TargetError> {
    let candidates: Vec<SpecVersion> = SpecVersion::ALL.into_iter().filter(|v| *v <= cap).collect();
    if let Some(v) = candidates
        .iter()
        .rev()
        .find(|v| known.iter().all(|(_, l)| supports(l, **v)))
    {
        return Ok(*v);
    }
    let (best, lacking) = candidates
        .iter()
        .rev()
        .map(|v| {
            let lacking: Vec<&str> = known
                .iter()
                .filter(|(_, l)| !supports(l, *v))
                .map(|(t, _)| *t)
                .collect();
            (*v, lacking)
        })
        .min_by_key(|(_, lacking)| lacking.len())
        .unwrap_or((SpecVersion::V1_0_0, Vec::new()));
    let upgrades: Vec<String> = lacking.iter().map(|t| upgrade_to(t, best)).collect();
    Err(TargetError::NoCommonVersion {
        advice: format!(
            "upgrade {}, then use cniVersion {best}",
            upgrades.join(" and ")
        ),
    })
}

/// What to upgrade `plugin` to so that it supports `spec`, naming the project it comes from:
/// `bridge to containernetworking/plugins v1.0.1 or later`, `flannel from flannel-io/cni-plugin
/// (…) to a release that supports 1.0.0`, or, for a plugin cni-fix does not know, `x to a
/// release that supports 1.0.0`.
pub fn upgrade_to(plugin: &str, spec: SpecVersion) -> String {
    match plugin_project(plugin) {
        Some(_) if RELEASE_PLUGINS.contains(&plugin) => {
            match crate::plugins_release::first_release_supporting_all(spec) {
                Some(release) => {
                    format!("{plugin} to containernetworking/plugins v{release} or later")
                }
                None => format!("{plugin} to a release that supports {spec}"),
            }
        }
        Some(project) => format!("{plugin} from {project} to a release that supports {spec}"),
        None => format!("{plugin} to a release that supports {spec}"),
    }
}

/// The fix that sets the network of `snap.files[index]` to `target`, or `None` when the file
/// already says it (or cannot be edited). The edits are worked out from the file's bytes, read
/// again ([`Snapshot::conf_bytes`]): a file that changed since it was checked gets none
/// (`rewrite` says why).
pub fn fix_to(snap: &Snapshot, index: usize, target: SpecVersion) -> Option<Fix> {
    let form = snap.files[index].form()?;
    let bytes = snap.conf_bytes(index).ok()?;
    let edits = version_edits(&bytes, form, target).ok()?;
    (!edits.is_empty()).then_some(Fix {
        target: Some(target),
        edits,
        applicability: Applicability::Safe,
    })
}

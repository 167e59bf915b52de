//! Rules about a network's chain: each plugin it runs against the network's version, and the
//! results one plugin passes to the next.

use super::network::Net;
use super::runtime_text as rt;
use super::{describe, facts, Ctx, Draft};
use crate::chain::{Executed, Role};
use crate::conf::PluginConf;
use crate::finding::{FindingId, Severity};
use crate::fix::upgrade_to;
use crate::node::display_path;
use crate::plugins_release::RELEASE_PLUGINS;
use crate::runtime::Regression;
use crate::snapshot::PluginInfo;
use crate::spec::{SpecVersion, IMPLICIT_VERSION};

/// Plugins that return results without a `cniVersion`.
const UNVERSIONED_RESULT_PLUGINS: &[&str] = &["weave-net"];

/// `incompatible-version`: a plugin the network runs does not list its version.
struct IncompatibleVersion<'a> {
    n: &'a Net<'a>,
    /// The plugin, and the chain plugin that runs it.
    executed: &'a Executed<'a>,
    info: &'a PluginInfo,
    /// What the plugin supports.
    supported: &'a [String],
    /// The version the plugin gets: the network's, or 0.1.0 for none.
    version: &'a str,
}

impl IncompatibleVersion<'_> {
    fn remedy(&self) -> String {
        let (t, v, list) = (self.executed.plugin_type, self.version, self.supported);
        let minimum = list.iter().filter_map(|s| SpecVersion::exact(s)).min();
        let below_minimum =
            matches!((SpecVersion::exact(v), minimum), (Some(sv), Some(m)) if sv < m);
        let wanted = SpecVersion::exact(v).unwrap_or(SpecVersion::V1_0_0);
        match (self.n.target, below_minimum) {
            (Some(tv), true) => format!(
                "Raise the version: set \"cniVersion\": \"{tv}\" (`cni-fix rewrite` does this); {t} supports nothing older than {}",
                minimum.map(SpecVersion::as_str).unwrap_or_default()
            ),
            (Some(tv), false) => format!(
                "Set \"cniVersion\": \"{tv}\" (`cni-fix rewrite` does this), or upgrade {}",
                upgrade_to(t, wanted)
            ),
            (None, _) if RELEASE_PLUGINS.contains(&t) => format!(
                "No cniVersion works for every plugin in this chain: upgrade the plugins that support the fewest versions, starting with {t} (containernetworking/plugins {} or later supports 0.1.0 to 1.0.0, {} or later adds 1.1.0)",
                facts::plugins_for(SpecVersion::V1_0_0),
                facts::plugins_for(SpecVersion::V1_1_0)
            ),
            (None, _) => format!(
                "No cniVersion works for every plugin in this chain: upgrade the plugins that support the fewest versions, starting with {}",
                upgrade_to(t, wanted)
            ),
        }
    }
}

impl From<IncompatibleVersion<'_>> for Draft {
    fn from(f: IncompatibleVersion<'_>) -> Draft {
        let (n, e, v, list) = (f.n, f.executed, f.version, f.supported);
        let t = e.plugin_type;
        let runner: &PluginConf = e.runner;
        let too = match SpecVersion::exact(v) {
            Some(sv)
                if list
                    .iter()
                    .filter_map(|s| SpecVersion::exact(s))
                    .all(|s| s < sv) =>
            {
                "too new"
            }
            _ => "not supported",
        };
        let declared = if n.effective.is_empty() {
            format!("no cniVersion, which plugins read as {v}")
        } else {
            format!("cniVersion {v}")
        };
        let role = match e.role {
            Role::Chain => String::new(),
            Role::Ipam => format!(" (IPAM plugin of {})", runner.plugin_type),
            Role::Delegate => format!(" (delegate of {})", runner.plugin_type),
        };
        Draft {
            id: FindingId::IncompatibleVersion,
            severity: Severity::Error,
            file: Some(n.path.clone()),
            plugin: Some(t.to_string()),
            message: format!(
                "Network {:?} has {declared}, {too} for {t}{role} at {}, which supports {}: {}",
                n.net.name,
                f.info.path.as_deref().map(display_path).unwrap_or_default(),
                list.join(", "),
                match &n.skipped {
                    Some(s) => s.effect.clone(),
                    None => "every pod start and stop fails".to_string(),
                }
            ),
            // A shim validates only the chain's own plugins at load; the others never run.
            runtime_error: match (&n.skipped, e.role) {
                (Some(_), Role::Ipam | Role::Delegate) => None,
                _ => Some(n.start_error(
                    &describe(&runner.plugin_type, runner.name()),
                    &rt::incompatible(v, list),
                )),
            },
            remedy: format!("{}.", f.remedy()),
            fixable: n.target.is_some(),
            location: n.version_at,
            files: Vec::new(),
        }
    }
}

/// Plugins that reject the version.
pub(super) fn incompatible_plugins(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let effective = n.effective;
    if SpecVersion::exact(effective).is_none() && !effective.is_empty() {
        return;
    }
    let version = if effective.is_empty() {
        IMPLICIT_VERSION
    } else {
        effective
    };
    let snap = ctx.snap;
    for executed in &n.types {
        let Some(info) = snap.plugin(executed.plugin_type) else {
            continue;
        };
        let Some(supported) = info.supported() else {
            continue;
        };
        if !supported.iter().any(|s| s == version) {
            ctx.push(IncompatibleVersion {
                n,
                executed,
                info,
                supported,
                version,
            });
        }
    }
}

/// `result-version-regression`: a plugin whose results carry no version, followed by another,
/// on a runtime that reads such results as 0.1.0.
struct ResultVersionRegression<'a> {
    n: &'a Net<'a>,
    plugin: &'a PluginConf,
    next: &'a PluginConf,
}

impl From<ResultVersionRegression<'_>> for Draft {
    fn from(f: ResultVersionRegression<'_>) -> Draft {
        let n = f.n;
        let (severity, when) = if n.rt.assumed {
            (
                Severity::Warning,
                format!(
                    "on containerd {} (the runtime version is unknown)",
                    facts::affected(Regression::ResultWithoutVersion)
                ),
            )
        } else {
            (Severity::Error, format!("on {}", n.runtime))
        };
        Draft {
            id: FindingId::ResultVersionRegression,
            severity,
            file: Some(n.path.clone()),
            plugin: Some(f.plugin.plugin_type.to_string()),
            message: format!(
                "{} returns results without a cniVersion and {} follows it in the chain: {when}, libcni reads that result as 0.1.0 and the next plugin fails",
                f.plugin.plugin_type, f.next.plugin_type
            ),
            runtime_error: Some(rt::add_failed(
                n.rt.line,
                &describe(&f.next.plugin_type, f.next.name()),
                rt::PREV_RESULT_0_1_0,
            )),
            remedy: match facts::upgrade_for(n.rt.line, Regression::ResultWithoutVersion) {
                Some(release) => format!(
                    "Upgrade to {release} or later; a config change cannot fix this."
                ),
                None => "Move to a runtime whose libcni is 1.1.1 or later; a config change cannot fix this.".to_string(),
            },
            fixable: false,
            location: None,
            files: Vec::new(),
        }
    }
}

/// Results without a version, chained.
pub(super) fn result_regression(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    if !n.rt.line.has(Regression::ResultWithoutVersion) {
        return;
    }
    for pair in n.net.plugins.windows(2) {
        if UNVERSIONED_RESULT_PLUGINS.contains(&pair[0].plugin_type.as_str()) {
            ctx.push(ResultVersionRegression {
                n,
                plugin: &pair[0],
                next: &pair[1],
            });
        }
    }
}

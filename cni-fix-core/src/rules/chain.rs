//! Rules about a network's chain: each plugin it runs against the network's version, and the
//! results one plugin passes to the next.

use super::network::Net;
use super::runtime_text as rt;
use super::{describe, facts, Ctx, Draft};
use crate::chain::Role;
use crate::finding::{FindingId, Severity};
use crate::fix::upgrade_to;
use crate::node::display_path;
use crate::plugins_release::RELEASE_PLUGINS;
use crate::runtime::Regression;
use crate::spec::{SpecVersion, IMPLICIT_VERSION};

/// Plugins that return results without a `cniVersion`.
const UNVERSIONED_RESULT_PLUGINS: &[&str] = &["weave-net"];

pub(super) fn incompatible_plugins(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let net = n.net;
    let path = &n.path;
    let types = &n.types;
    let effective = n.effective;
    let target = n.target;
    // Plugins that reject the version.
    if SpecVersion::exact(effective).is_some() || effective.is_empty() {
        let v = if effective.is_empty() {
            IMPLICIT_VERSION
        } else {
            effective
        };
        for e in types {
            let (t, runner, runner_name) = (e.plugin_type, &e.runner.plugin_type, &e.runner.name);
            let Some(info) = ctx.plugin(t) else { continue };
            let Some(list) = info.supported() else {
                continue;
            };
            if list.iter().any(|s| s == v) {
                continue;
            }
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
            let declared = if effective.is_empty() {
                format!("no cniVersion, which plugins read as {v}")
            } else {
                format!("cniVersion {v}")
            };
            let role = match e.role {
                Role::Chain => String::new(),
                Role::Ipam => format!(" (IPAM plugin of {runner})"),
                Role::Delegate => format!(" (delegate of {runner})"),
            };
            let minimum = list.iter().filter_map(|s| SpecVersion::exact(s)).min();
            let below_minimum =
                matches!((SpecVersion::exact(v), minimum), (Some(sv), Some(m)) if sv < m);
            let wanted = SpecVersion::exact(v).unwrap_or(SpecVersion::V1_0_0);
            let remedy = match (target, below_minimum) {
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
            };
            ctx.push(Draft {
id: FindingId::IncompatibleVersion,
severity: Severity::Error,
file: Some(path.clone()),
plugin: Some(t.to_string()),
message: format!(
                    "Network {:?} has {declared}, {too} for {t}{role} at {}, which supports {}: every pod start and stop fails",
                    net.name,
                    info.path.as_deref().map(display_path).unwrap_or_default(),
                    list.join(", ")
                ),
runtime_error: Some(rt::add_failed(
                    &describe(runner, runner_name),
                    &rt::incompatible(v, list),
                )),
remedy: format!("{remedy}."),
fixable: target.is_some(),
location: n.version_at,
files: Vec::new(),
});
        }
    }
}

pub(super) fn result_regression(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let net = n.net;
    let path = &n.path;
    let runtime = &n.runtime;
    // Results without a version, chained.
    let regression =
        n.rt.release
            .has(Regression::ResultWithoutVersion)
            .then_some(if n.rt.assumed {
                Severity::Warning
            } else {
                Severity::Error
            });
    if let Some(severity) = regression {
        let count = net.plugins.len();
        for (k, p) in net.plugins.iter().enumerate() {
            if k + 1 < count && UNVERSIONED_RESULT_PLUGINS.contains(&p.plugin_type.as_str()) {
                let next = &net.plugins[k + 1];
                let when = if !n.rt.assumed {
                    format!("on {runtime}")
                } else {
                    format!(
                        "on containerd {} (the runtime version is unknown)",
                        facts::affected(Regression::ResultWithoutVersion)
                    )
                };
                ctx.push(Draft {
id: FindingId::ResultVersionRegression,
severity,
file: Some(path.clone()),
plugin: Some(p.plugin_type.clone()),
message: format!(
                        "{} returns results without a cniVersion and {} follows it in the chain: {when}, libcni reads that result as 0.1.0 and the next plugin fails",
                        p.plugin_type, next.plugin_type
                    ),
runtime_error: Some(rt::add_failed(
                        &describe(&next.plugin_type, &next.name),
                        rt::PREV_RESULT_0_1_0,
                    )),
remedy: format!(
                    "Upgrade containerd to {} or later; a config change cannot fix this.",
                    facts::fixed_in(Regression::ResultWithoutVersion)
                ),
fixable: false,
location: None,
files: Vec::new(),
});
            }
        }
    }
}

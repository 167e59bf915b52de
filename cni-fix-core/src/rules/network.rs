//! Rules about one network: its version, the versions its plugins support, its name, and the
//! results its chain passes on.

use super::runtime_text as rt;
use super::{describe, facts, Ctx, Draft};
use crate::chain::{executed, Executed};
use crate::conf::{FileForm, NetworkList, PluginConf};
use crate::finding::Location;
use crate::finding::{FindingId, Repair, Severity};
use crate::fix::{choose_target, Fix};
use crate::runtime::{ContainerdRelease, Regression};
use crate::snapshot::ConfFile;
use crate::snapshot::Effective;
use crate::spec::{go_quote_list, parse_libcni_version, SpecVersion};

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub(super) fn network_rules(ctx: &mut Ctx<'_>, i: usize) {
    let Some(net) = ctx.snap.files[i].network() else {
        return;
    };
    // One target for the messages and the fix.
    let chosen = choose_target(ctx.snap, net, None);
    let first_new = ctx.out.len();
    network_rules_inner(ctx, i, chosen.as_ref().ok().copied());
    if let Some(fix) = Fix::for_target(&ctx.snap.files[i], &chosen) {
        for f in &mut ctx.out[first_new..] {
            if f.id.repair() == Repair::CniVersion {
                f.fix = Some(fix.clone());
            }
        }
    }
}

/// What every rule about one network needs to know about it.
pub(super) struct Net<'a> {
    pub(super) net: &'a NetworkList,
    /// The file's node path.
    pub(super) path: String,
    pub(super) release: Option<&'static ContainerdRelease>,
    /// `containerd 1.6.3`, or the unknown runtime.
    pub(super) runtime: String,
    /// Every plugin the network runs.
    pub(super) types: Vec<Executed<'a>>,
    pub(super) first: Option<&'a PluginConf>,
    /// The first plugin as libcni names it in errors.
    pub(super) first_desc: String,
    /// How to set the version the rules chose, for remedies.
    pub(super) target_hint: String,
    /// The cniVersion in effect (empty when none).
    pub(super) effective: &'a str,
    /// The version the rules chose, when one works.
    pub(super) target: Option<SpecVersion>,
    /// Where the network's `cniVersion` value is, when the file has one.
    pub(super) version_at: Option<Location>,
    /// The release line the rules apply (the conservative one for an unknown runtime).
    pub(super) rt: Effective,
}

/// Where the value of the network's own `cniVersion` stands in the file (the last of
/// duplicate keys, which is the one Go keeps).
fn version_location(file: &ConfFile) -> Option<Location> {
    let bytes = file.bytes()?;
    let doc = crate::json::parse(bytes).ok()?;
    let members = doc.as_object()?;
    let m = members.iter().rev().find(|m| match file.form() {
        Some(FileForm::ConfList) => m.key == "cniVersion",
        _ => crate::json::go_field_matches("cniVersion", &m.key),
    })?;
    Some(Location::at(bytes, m.value.span.start))
}

fn network_rules_inner(ctx: &mut Ctx<'_>, i: usize, target: Option<SpecVersion>) {
    let snap = ctx.snap;
    let f = &snap.files[i];
    let Some(net) = f.network() else { return };
    let first = net.plugins.first();
    let n = Net {
        net,
        path: f.display(),
        release: snap.runtime.release,
        runtime: ctx.runtime_label(),
        types: executed(net),
        first,
        first_desc: first
            .map(|p| describe(&p.plugin_type, &p.name))
            .unwrap_or_default(),
        target_hint: match target {
            Some(v) => format!("set \"cniVersion\": \"{v}\", the highest version every plugin in the chain and the runtime support (`cni-fix rewrite` does this)"),
            None => "set a cniVersion every plugin in the chain supports (`cni-fix rewrite --cni-version V`)".to_string(),
        },
        effective: net.cni_version.as_str(),
        target,
        version_at: version_location(f),
        rt: snap.runtime.effective(),
    };
    presence(ctx, &n);
    spec_support(ctx, &n);
    cni_versions_list(ctx, &n);
    super::chain::incompatible_plugins(ctx, &n);
    name(ctx, &n);
    super::chain::result_regression(ctx, &n);
}

fn presence(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let net = n.net;
    let path = &n.path;
    let release = n.release;
    let runtime = &n.runtime;
    let first = n.first;
    let first_desc = &n.first_desc;
    let target_hint = &n.target_hint;
    let effective = n.effective;
    // Version presence and validity.
    if effective.is_empty() {
        let teardown = n.rt.release.has(Regression::EmptyVersionTeardown);
        let declared = match &net.declared_cni_version {
            Some(_) => "declares an empty cniVersion",
            None => "declares no cniVersion",
        };
        let (severity, message, runtime_error) = if teardown {
            let why = if release.is_some() {
                format!("{runtime} links libcni older than 1.1.0, which cannot tear such a network down")
            } else {
                format!("the runtime version is unknown, and every containerd before {} links a libcni that cannot tear such a network down", facts::fixed_in(Regression::EmptyVersionTeardown))
            };
            (
                Severity::Error,
                format!(
                    "Network {:?} {declared}: pods start, but {why}, so pods never stop cleanly",
                    net.name
                ),
                Some(rt::del_failed(rt::EMPTY_VERSION)),
            )
        } else {
            (
                Severity::Warning,
                format!(
                    "Network {:?} {declared}: {runtime} reads it as 0.1.0, so it runs at the oldest spec version (no CHECK, old result format), and containerd before {} cannot tear it down",
                    net.name,
                    facts::fixed_in(Regression::EmptyVersionTeardown)
                ),
                None,
            )
        };
        ctx.push(Draft {
            id: FindingId::MissingVersion,
            severity,
            file: Some(path.clone()),
            plugin: None,
            message,
            runtime_error,
            remedy: format!("Declare the version: {target_hint}."),
            fixable: true,
            location: None,
            files: Vec::new(),
        });
    } else if SpecVersion::exact(effective).is_none() {
        let list = first
            .and_then(|p| ctx.plugin(&p.plugin_type))
            .and_then(|p| p.supported())
            .map(go_quote_list)
            .unwrap_or_else(|| "[…]".to_string());
        ctx.push(Draft {
id: FindingId::InvalidVersion,
severity: Severity::Error,
file: Some(path.clone()),
plugin: None,
message: format!(
                "Network {:?} has cniVersion {effective:?}, which is not a CNI spec version (0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0): plugins match versions as exact strings and every one rejects it",
                net.name
            ),
runtime_error: Some(rt::add_failed(
                first_desc,
                &format!("incompatible CNI versions; config is {effective:?}, plugin supports {list}"),
            )),
remedy: format!("Use a spec version: {target_hint}."),
fixable: true,
location: n.version_at,
files: Vec::new(),
});
    }
}

fn spec_support(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let net = n.net;
    let path = &n.path;
    let release = n.release;
    let runtime = &n.runtime;
    let first_desc = &n.first_desc;
    let target_hint = &n.target_hint;
    let effective = n.effective;
    // Spec versions the runtime cannot use.
    if let Some(spec) = SpecVersion::exact(effective) {
        let max = n.rt.release.max_spec_version();
        match n.rt.assumed {
            false if spec > max => ctx.push(Draft {
id: FindingId::UnsupportedSpecVersion,
severity: Severity::Error,
file: Some(path.clone()),
plugin: None,
message: format!(
                    "Network {:?} uses spec {spec}, but {runtime} links libcni {}, which reads results only up to {max}",
                    net.name,
                    release.map(|r| r.libcni.to_string()).unwrap_or_default()
                ),
runtime_error: Some(rt::add_failed(first_desc, &rt::unsupported_result(spec.as_str()))),
remedy: format!(
                    "Lower the version: {target_hint}; or upgrade containerd ({} needs containerd {} or later).",
                    spec,
                    facts::reads_spec(spec)
                ),
fixable: true,
location: n.version_at,
files: Vec::new(),
}),
            true if spec > max => ctx.push(Draft {
id: FindingId::UnsupportedSpecVersion,
severity: Severity::Warning,
file: Some(path.clone()),
plugin: None,
message: format!(
                    "Network {:?} uses spec {spec}, which only containerd {} and later can use; the runtime version is unknown",
                    net.name,
                    facts::reads_spec(spec)
                ),
runtime_error: Some(rt::add_failed(first_desc, &rt::unsupported_result(spec.as_str()))),
remedy: format!("Check the containerd version (--containerd-version), or {target_hint}."),
fixable: true,
location: n.version_at,
files: Vec::new(),
}),
            _ => {}
        }
    }
}

fn cni_versions_list(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let net = n.net;
    let path = &n.path;
    let runtime = &n.runtime;
    let target_hint = &n.target_hint;
    if let Some(list) = &net.cni_versions {
        let old = n.rt.release.libcni_generation() < crate::conf::LibcniGeneration::V1_2;
        let declared = net.declared_cni_version.as_deref().unwrap_or("");
        let negotiated = negotiated_version(list, declared);
        if old && negotiated.as_deref().is_some_and(|n| n != declared) {
            let negotiated = negotiated.unwrap_or_default();
            let uses = if declared.is_empty() {
                "it declares no cniVersion of its own".to_string()
            } else {
                format!("it runs at cniVersion {declared:?}")
            };
            ctx.push(Draft {
id: FindingId::UnsupportedSpecVersion,
severity: Severity::Warning,
file: Some(path.clone()),
plugin: None,
message: format!(
                    "Network {:?} has a cniVersions list, which {runtime} ignores (only libcni 1.2 and later, containerd {n} and later, read it): {uses} here, but containerd {n} and later negotiate {negotiated:?} from the list, so upgrading containerd changes the version its plugins get",
                    net.name,
                    n = facts::negotiates()
                ),
runtime_error: None,
remedy: format!("Make the two agree: {target_hint}, and keep no cniVersions entry above it."),
fixable: true,
location: n.version_at,
files: Vec::new(),
});
        }
    }
}

fn name(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let net = n.net;
    let path = &n.path;
    let first_desc = &n.first_desc;
    // Network name.
    if !valid_name(&net.name) {
        let detail = if net.name.is_empty() {
            "missing network name:".to_string()
        } else {
            format!("invalid characters found in network name; {}", net.name)
        };
        let what = if net.name.is_empty() {
            "has no name".to_string()
        } else {
            format!("has the name {:?}", net.name)
        };
        ctx.push(Draft {
id: FindingId::InvalidNetworkName,
severity: Severity::Error,
file: Some(path.clone()),
plugin: None,
message: format!(
                "The network {what}; plugins require a name matching ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$ and reject every pod start and stop"
            ),
runtime_error: Some(rt::add_failed(first_desc, &detail)),
remedy: "Give the network a name of letters, digits, '_', '.' and '-' that starts with a letter or digit.".into(),
fixable: false,
location: None,
files: Vec::new(),
});
    }
}

/// The version libcni 1.2 and later negotiate from a `cniVersions` list and the declared
/// `cniVersion`: the highest of them not above 1.1.0 (`NetworkConfFromBytes`). `None` when
/// none is readable.
fn negotiated_version(list: &[String], declared: &str) -> Option<String> {
    let cap = (1, 1, 0);
    list.iter()
        .map(String::as_str)
        .chain((!declared.is_empty()).then_some(declared))
        .filter_map(|v| parse_libcni_version(v).ok().map(|p| (p, v)))
        .filter(|(p, _)| *p <= cap)
        .max_by_key(|(p, _)| *p)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["cbr0", "containerd-net", "k8s-pod-network", "a.b_c-d", "0"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-x", "bad name!", "_x", "ñ"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

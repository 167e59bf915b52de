//! Rules about one network: its version, the versions its plugins support, its name, and the
//! results its chain passes on.

use super::runtime_text as rt;
use super::{describe, facts, Ctx, Draft};
use crate::chain::{executed, Executed};
use crate::conf::{NetworkList, PluginConf};
use crate::finding::Location;
use crate::finding::{FindingId, Repair, Severity};
use crate::fix::{choose_target, Fix};
use crate::runtime::{CniHost, Regression};
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
    let repaired = |f: &crate::finding::Finding| f.id.repair() == Repair::CniVersion;
    if !ctx.out[first_new..].iter().any(repaired) {
        return;
    }
    if let Some(fix) = Fix::for_target(ctx.snap, i, &chosen) {
        for f in ctx.out[first_new..].iter_mut().filter(|f| repaired(f)) {
            f.fix = Some(fix.clone());
        }
    }
}

/// What every rule about one network needs to know about it.
pub(super) struct Net<'a> {
    pub(super) net: &'a NetworkList,
    /// The file's node path.
    pub(super) path: String,
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
    /// Under a Docker Engine shim, why it skips this network at load, and what it does
    /// instead.
    pub(super) skipped: Option<super::Skipped>,
}

impl Net<'_> {
    /// What the runtime reports when a plugin of the network fails with `detail`: a pod start
    /// failure, or for a network a shim skips, its log line at load.
    pub(super) fn start_error(&self, plugin: &str, detail: &str) -> String {
        match &self.skipped {
            Some(s) => rt::skipped_at_load(&s.reason),
            None => rt::add_failed(self.rt.line, plugin, detail),
        }
    }
}

fn network_rules_inner(ctx: &mut Ctx<'_>, i: usize, target: Option<SpecVersion>) {
    let snap = ctx.snap;
    let f = &snap.files[i];
    let Some(net) = f.network() else { return };
    let first = net.plugins.first();
    let n = Net {
        net,
        path: f.display(),
        runtime: ctx.snap.runtime.label(),
        types: executed(net),
        first,
        first_desc: first
            .map(|p| describe(&p.plugin_type, p.name()))
            .unwrap_or_default(),
        target_hint: match target {
            Some(v) => format!("set \"cniVersion\": \"{v}\", the highest version every plugin in the chain and the runtime support (`cni-fix rewrite` does this)"),
            None => "set a cniVersion every plugin in the chain supports (`cni-fix rewrite --cni-version V`)".to_string(),
        },
        effective: net.cni_version.as_str(),
        target,
        version_at: f.text().and_then(|t| t.version_at),
        rt: snap.runtime.effective(),
        skipped: ctx.skipped(i),
    };
    presence(ctx, &n);
    spec_support(ctx, &n);
    cni_versions_list(ctx, &n);
    super::chain::incompatible_plugins(ctx, &n);
    name(ctx, &n);
    super::chain::result_regression(ctx, &n);
}

/// `missing-version`: a network without `cniVersion`.
struct MissingVersion<'a> {
    n: &'a Net<'a>,
    /// Whether the runtime's libcni fails to tear such a network down.
    teardown_fails: bool,
}

impl From<MissingVersion<'_>> for Draft {
    fn from(f: MissingVersion<'_>) -> Draft {
        let n = f.n;
        let declared = match &n.net.declared_cni_version {
            Some(_) => "declares an empty cniVersion",
            None => "declares no cniVersion",
        };
        let fixed_in = facts::fixed_in(Regression::EmptyVersionTeardown);
        let host = n.rt.line.host();
        let (severity, message, runtime_error) = if f.teardown_fails {
            let why = match (n.rt.assumed, host) {
                (true, CniHost::Containerd) => format!("the runtime version is unknown, and every containerd before {fixed_in} links a libcni that cannot tear such a network down"),
                (true, CniHost::Dockershim) => "every dockershim links a libcni older than 1.1.0, which cannot tear such a network down".to_string(),
                (true, host) => format!(
                    "the {host} version is unknown, and every {host} before {} links a libcni that cannot tear such a network down",
                    facts::fixed_in_for(host, Regression::EmptyVersionTeardown)
                        .unwrap_or_default(),
                    host = host.name(),
                ),
                (false, _) => format!(
                    "{} links libcni older than 1.1.0, which cannot tear such a network down",
                    n.runtime
                ),
            };
            (
                Severity::Error,
                format!(
                    "Network {:?} {declared}: pods start, but {why}, so pods never stop cleanly",
                    n.net.name
                ),
                Some(rt::del_failed(n.rt.line, rt::EMPTY_VERSION)),
            )
        } else {
            (
                Severity::Warning,
                format!(
                    "Network {:?} {declared}: {} reads it as 0.1.0, so it runs at the oldest spec version (no CHECK, old result format), and containerd before {fixed_in} cannot tear it down",
                    n.net.name, n.runtime
                ),
                None,
            )
        };
        Draft {
            id: FindingId::MissingVersion,
            severity,
            file: Some(n.path.clone()),
            plugin: None,
            message,
            runtime_error,
            remedy: format!("Declare the version: {}.", n.target_hint),
            fixable: true,
            location: None,
            files: Vec::new(),
        }
    }
}

/// `invalid-version`: a `cniVersion` that is not a spec version.
struct InvalidVersion<'a> {
    n: &'a Net<'a>,
    /// The first plugin's versions, Go-quoted, as its refusal lists them.
    first_supports: String,
}

impl From<InvalidVersion<'_>> for Draft {
    fn from(f: InvalidVersion<'_>) -> Draft {
        let n = f.n;
        let effective = n.effective;
        Draft {
            id: FindingId::InvalidVersion,
            severity: Severity::Error,
            file: Some(n.path.clone()),
            plugin: None,
            message: format!(
                "Network {:?} has cniVersion {effective:?}, which is not a CNI spec version (0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0): plugins match versions as exact strings and every one rejects it{}",
                n.net.name,
                n.skipped.as_ref().map(|s| format!("; {}", s.effect)).unwrap_or_default()
            ),
            runtime_error: Some(n.start_error(
                &n.first_desc,
                &format!(
                    "incompatible CNI versions; config is {effective:?}, plugin supports {}",
                    f.first_supports
                ),
            )),
            remedy: format!("Use a spec version: {}.", n.target_hint),
            fixable: true,
            location: n.version_at,
            files: Vec::new(),
        }
    }
}

/// `unsupported-spec-version`: a version or `cniVersions` list the runtime's libcni cannot use.
enum UnsupportedSpecVersion<'a> {
    /// A spec above what the known runtime reads.
    AboveRuntime {
        n: &'a Net<'a>,
        spec: SpecVersion,
        max: SpecVersion,
    },
    /// A spec above what the runtimes before the first that reads it can use; the runtime is
    /// unknown.
    AboveUnknownRuntime { n: &'a Net<'a>, spec: SpecVersion },
    /// A `cniVersions` list the runtime ignores, negotiating otherwise on newer ones.
    ListIgnored { n: &'a Net<'a>, negotiated: String },
}

impl From<UnsupportedSpecVersion<'_>> for Draft {
    fn from(f: UnsupportedSpecVersion<'_>) -> Draft {
        let (n, severity, message, runtime_error, remedy) = match f {
            UnsupportedSpecVersion::AboveRuntime { n, spec, max } => (
                n,
                Severity::Error,
                format!(
                    "Network {:?} uses spec {spec}, but {} links libcni {}, which reads results only up to {max}",
                    n.net.name,
                    n.runtime,
                    n.rt.line.libcni()
                ),
                Some(rt::add_failed(n.rt.line, &n.first_desc, &rt::unsupported_result(spec.as_str()))),
                match facts::reads_spec_for(n.rt.line, spec) {
                    Some(first) => format!(
                        "Lower the version: {}; or upgrade {} ({spec} needs {first} or later).",
                        n.target_hint,
                        n.rt.line.host().name()
                    ),
                    None => format!("Lower the version: {}.", n.target_hint),
                },
            ),
            UnsupportedSpecVersion::AboveUnknownRuntime { n, spec } => {
                let host = n.rt.line.host();
                let first = facts::reads_spec_for(n.rt.line, spec)
                    .unwrap_or_else(|| format!("no {} release", host.name()));
                (
                    n,
                    Severity::Warning,
                    format!(
                        "Network {:?} uses spec {spec}, which only {first} and later can use; the {} version is unknown",
                        n.net.name,
                        match host {
                            CniHost::Containerd => "runtime",
                            CniHost::CriDockerd => "cri-dockerd",
                            CniHost::Dockershim => "kubelet",
                        }
                    ),
                    Some(rt::add_failed(n.rt.line, &n.first_desc, &rt::unsupported_result(spec.as_str()))),
                    format!(
                        "Check the {} version ({}), or {}.",
                        host.name(),
                        facts::version_flag(host),
                        n.target_hint
                    ),
                )
            }
            UnsupportedSpecVersion::ListIgnored { n, negotiated } => {
                let declared = n.net.declared_cni_version.as_deref().unwrap_or("");
                let uses = if declared.is_empty() {
                    "it declares no cniVersion of its own".to_string()
                } else {
                    format!("it runs at cniVersion {declared:?}")
                };
                let since = facts::negotiates();
                (
                    n,
                    Severity::Warning,
                    format!(
                        "Network {:?} has a cniVersions list, which {} ignores (only libcni 1.2 and later, containerd {since} and later, read it): {uses} here, but containerd {since} and later negotiate {negotiated:?} from the list, so upgrading containerd changes the version its plugins get",
                        n.net.name, n.runtime
                    ),
                    None,
                    format!(
                        "Make the two agree: {}, and keep no cniVersions entry above it.",
                        n.target_hint
                    ),
                )
            }
        };
        Draft {
            id: FindingId::UnsupportedSpecVersion,
            severity,
            file: Some(n.path.clone()),
            plugin: None,
            message,
            runtime_error,
            remedy,
            fixable: true,
            location: n.version_at,
            files: Vec::new(),
        }
    }
}

/// `invalid-network-name`: a name plugins reject.
struct InvalidNetworkName<'a> {
    n: &'a Net<'a>,
}

impl From<InvalidNetworkName<'_>> for Draft {
    fn from(f: InvalidNetworkName<'_>) -> Draft {
        let n = f.n;
        let name = &n.net.name;
        let (detail, what) = if name.is_empty() {
            (
                "missing network name:".to_string(),
                "has no name".to_string(),
            )
        } else {
            (
                format!("invalid characters found in network name; {name}"),
                format!("has the name {name:?}"),
            )
        };
        Draft {
            id: FindingId::InvalidNetworkName,
            severity: Severity::Error,
            file: Some(n.path.clone()),
            plugin: None,
            message: format!(
                "The network {what}; plugins require a name matching ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$ and reject every pod start and stop"
            ),
            runtime_error: Some(n.start_error(&n.first_desc, &detail)),
            remedy: "Give the network a name of letters, digits, '_', '.' and '-' that starts with a letter or digit.".into(),
            fixable: false,
            location: None,
            files: Vec::new(),
        }
    }
}

/// Version presence and validity.
fn presence(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    if n.effective.is_empty() {
        ctx.push(MissingVersion {
            n,
            teardown_fails: n.rt.line.has(Regression::EmptyVersionTeardown),
        });
    } else if SpecVersion::exact(n.effective).is_none() {
        let first_supports = n
            .first
            .and_then(|p| ctx.snap.plugin(&p.plugin_type))
            .and_then(|p| p.supported())
            .map(go_quote_list)
            .unwrap_or_else(|| "[…]".to_string());
        ctx.push(InvalidVersion { n, first_supports });
    }
}

/// Spec versions the runtime cannot use.
fn spec_support(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let Some(spec) = SpecVersion::exact(n.effective) else {
        return;
    };
    let max = n.rt.line.max_spec_version();
    if spec <= max {
        return;
    }
    if n.rt.assumed {
        ctx.push(UnsupportedSpecVersion::AboveUnknownRuntime { n, spec });
    } else {
        ctx.push(UnsupportedSpecVersion::AboveRuntime { n, spec, max });
    }
}

/// A `cniVersions` list that the runtime ignores, and that newer runtimes would read otherwise.
fn cni_versions_list(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    let Some(list) = &n.net.cni_versions else {
        return;
    };
    let old = n.rt.line.libcni_generation() < crate::conf::LibcniGeneration::V1_2;
    let declared = n.net.declared_cni_version.as_deref().unwrap_or("");
    match negotiated_version(list, declared) {
        Some(negotiated) if old && negotiated != declared => {
            ctx.push(UnsupportedSpecVersion::ListIgnored { n, negotiated })
        }
        _ => {}
    }
}

/// The network's name.
fn name(ctx: &mut Ctx<'_>, n: &Net<'_>) {
    if !valid_name(&n.net.name) {
        ctx.push(InvalidNetworkName { n });
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

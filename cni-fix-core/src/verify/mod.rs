//! `verify`: run a node's networks through a pod's life with the real plugins, in throwaway
//! network namespaces, and report each step in the terms `check` uses.
//!
//! For each network the runtime loads (or each file named), and for the runtime's built-in
//! loopback network, verify makes a sandbox (`sandbox.rs`): a stand-in host namespace, a pod
//! namespace, and fresh tmpfs directories over the plugins' state. There it calls the
//! plugins as the runtime's libcni does (`call.rs`): ADD, CHECK where the spec version has it,
//! DEL and DEL again. What the network did to the stand-in host while the pod lived, and what
//! it left behind, is read back through rtnetlink and `iptables-save`. Plugins that cannot work
//! in isolation are not run; [`PLUGIN_NEEDS`] says which, and why.

mod call;
mod needs;
mod netlink;
mod result;
mod sandbox;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::Digest;

pub use call::{ErrorSource, PluginRun, StepError};
pub use needs::{known_bug, need_of, KnownBug, Need, PluginNeed, KNOWN_BUGS, PLUGIN_NEEDS};
pub use result::{Dns, Interface, IpConfig, Route};
pub use sandbox::SandboxError;

use crate::conf::FileForm;
use crate::finding::{Finding, FindingId};
use crate::node::NodeFs;
use crate::runtime::CniHost;
use crate::snapshot::{CheckError, CheckOptions, RereadError, Snapshot};
use call::{CallNetwork, Caller, PluginObject, RuntimeModel};
use result::CniResult;

/// The JSON schema of a verify report.
pub const SCHEMA: &str = "cni-fix.verify/v1";

/// The default deadline of one plugin call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The name of the runtime's built-in loopback network (go-cni `WithLoNetwork`, dockershim's
/// `getLoNetwork`).
pub const LOOPBACK_NETWORK: &str = "cni-loopback";

/// What to verify and how.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// How to read the node (root, conf dir, plugin directories, runtime versions).
    pub check: CheckOptions,
    /// Config files to verify instead of the networks the runtime loads.
    pub files: Vec<PathBuf>,
    /// The deadline of one plugin call.
    pub timeout: Duration,
}

impl VerifyOptions {
    /// Verify what the runtime of the node read with `check` loads.
    pub fn new(check: CheckOptions) -> VerifyOptions {
        VerifyOptions {
            check,
            files: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why verify could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The node could not be read.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The process may not make namespaces.
    #[error("{0}")]
    NotPermitted(String),
    /// A file named could not be read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// A verify report.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The runtime whose calls were replayed.
    pub runtime: RuntimeSummary,
    /// One entry per network, the built-in loopback network first.
    pub networks: Vec<NetworkReport>,
    /// Counts.
    pub summary: VerifySummary,
}

/// The runtime verify acted as.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeSummary {
    /// `containerd`, `cri-dockerd` or `dockershim`.
    pub program: &'static str,
    /// Its version, when known.
    pub version: Option<String>,
    /// Whether its behaviour is assumed (the version is unknown).
    pub assumed: bool,
    /// The libcni it vendors.
    pub libcni: String,
    /// `CNI_PATH`, as host paths.
    pub cni_path: Vec<String>,
    /// The capability arguments it passes for the sample pod.
    pub capability_args: Value,
}

/// Counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerifySummary {
    /// Networks whose pod's life (ADD, DEL, DEL again) passed.
    pub verified: usize,
    /// Of those, networks whose CHECK failed (the runtime never calls it).
    pub check_failed: usize,
    /// Networks with a failed step.
    pub failed: usize,
    /// Networks not run.
    pub not_run: usize,
}

/// A network's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// ADD, DEL and DEL again passed (CHECK, which the runtime never calls, may have failed).
    Verified,
    /// ADD, DEL or DEL again failed.
    Failed,
    /// Not run; see [`NetworkReport::not_run`].
    NotRun,
}

/// Why a network was not run, and what would let it run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotRun {
    /// The plugin that cannot run in isolation, when one is the reason.
    pub plugin: Option<String>,
    /// Why.
    pub reason: String,
    /// What would let it run.
    pub to_run: Option<String>,
}

/// One network's verification.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkReport {
    /// The network's name.
    pub name: String,
    /// The file it comes from; `None` for the runtime's built-in loopback network.
    pub file: Option<String>,
    /// The version libcni uses for it.
    pub cni_version: String,
    /// Its plugins, in order.
    pub plugins: Vec<String>,
    /// The verdict.
    pub status: Status,
    /// Why it was not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_run: Option<NotRun>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Dummy links made in the stand-in host for the plugins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dummies: Vec<String>,
    /// What the network did to the stand-in host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostChanges>,
    /// The findings `check` reports for this network; `None` for a file named on the command
    /// line, which `check` does not read.
    pub predicted: Option<Vec<FindingId>>,
    /// What the sandbox could not reproduce of the node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The steps of a pod's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// ADD, at pod start.
    Add,
    /// CHECK.
    Check,
    /// DEL, at pod stop.
    Del,
    /// DEL again, as the runtime repeats it (DEL must be idempotent).
    DelAgain,
}

impl StepKind {
    /// The CNI command.
    pub fn command(self) -> &'static str {
        match self {
            StepKind::Add => "ADD",
            StepKind::Check => "CHECK",
            StepKind::Del | StepKind::DelAgain => "DEL",
        }
    }

    /// Whether the runtime runs this step in a pod's life (it never runs CHECK).
    pub fn in_pod_life(self) -> bool {
        self != StepKind::Check
    }

    /// The command's name.
    pub fn label(self) -> &'static str {
        match self {
            StepKind::Add => "ADD",
            StepKind::Check => "CHECK",
            StepKind::Del => "DEL",
            StepKind::DelAgain => "DEL again",
        }
    }
}

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It succeeded.
    Passed,
    /// It failed.
    Failed,
    /// The runtime would not run it.
    Skipped,
}

/// One step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The command.
    pub step: StepKind,
    /// How it went.
    pub outcome: Outcome,
    /// ADD's result, in short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultSummary>,
    /// The error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// The `check` finding this failure is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<FindingId>,
    /// Why it was skipped, or an error the runtime ignores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The plugin bug this failure is, when verify knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_bug: Option<KnownBug>,
    /// The plugin processes run.
    pub runs: Vec<PluginRun>,
}

/// An ADD result in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultSummary {
    /// Its `cniVersion`.
    pub cni_version: String,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Addresses.
    pub ips: Vec<IpConfig>,
    /// Routes.
    pub routes: Vec<Route>,
    /// DNS.
    pub dns: Dns,
}

impl From<&CniResult> for ResultSummary {
    fn from(r: &CniResult) -> ResultSummary {
        ResultSummary {
            cni_version: r.cni_version.clone(),
            interfaces: r.interfaces.clone(),
            ips: r.ips.clone(),
            routes: r.routes.clone(),
            dns: r.dns.clone(),
        }
    }
}

/// What a network changed in the stand-in host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostChanges {
    /// Present while the pod lived (after ADD), and not before.
    pub during_pod: HostState,
    /// Still present after the last DEL.
    pub left_after_del: HostState,
}

/// Links, addresses and iptables rules of a namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostState {
    /// Links, as `name (kind)`.
    pub links: Vec<String>,
    /// Addresses, as `link address/prefix`.
    pub addresses: Vec<String>,
    /// iptables rules, as `table: rule` (from `iptables-save`, `ip6tables-save`).
    pub rules: Vec<String>,
}

impl HostState {
    fn minus(&self, before: &HostState) -> HostState {
        let diff = |a: &[String], b: &[String]| {
            let b: BTreeSet<&String> = b.iter().collect();
            a.iter().filter(|x| !b.contains(x)).cloned().collect()
        };
        HostState {
            links: diff(&self.links, &before.links),
            addresses: diff(&self.addresses, &before.addresses),
            rules: diff(&self.rules, &before.rules),
        }
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty() && self.addresses.is_empty() && self.rules.is_empty()
    }
}

/// A network to verify, with what it came from.
struct Planned {
    file: Option<String>,
    network: CallNetwork,
    plugins: Vec<String>,
    predicted: Option<Vec<FindingId>>,
    /// A plugin (or IPAM plugin) found unable to run, or a parse failure.
    blocked: Option<NotRun>,
    failed_to_load: Option<(StepError, FindingId)>,
    dummies: Vec<String>,
    state_dirs: Vec<PathBuf>,
}

/// Verify a node's networks.
pub fn verify(options: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    if !rustix::process::geteuid().is_root() {
        return Err(VerifyError::NotPermitted(
            "verify needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to make network and mount namespaces".to_string(),
        ));
    }
    let snap = Snapshot::gather(&options.check)?;
    let all_findings = crate::rules::evaluate(&snap);
    let findings = Some(all_findings.as_slice());
    // Files named on the command line are not what check read.
    let file_findings = if options.files.is_empty() {
        findings
    } else {
        None
    };
    let node = NodeFs::new(&options.check.root);
    let effective = snap.runtime.effective();
    let line = effective.line;
    let libcni = line.libcni().clone();
    let bin_dirs: Vec<PathBuf> = snap
        .bin_dirs
        .iter()
        .map(|d| {
            let host = node.resolve(d).unwrap_or_else(|_| d.clone());
            std::fs::canonicalize(&host).unwrap_or(host)
        })
        .collect();
    let model = RuntimeModel {
        line,
        behaviour: crate::libcni::behaviour_at(&libcni),
        max_spec: line.max_spec_version(),
        libcni: libcni.clone(),
        bin_dirs: bin_dirs.clone(),
        capability_args: capability_args(line.host()),
        args: Vec::new(),
        container_id: String::new(),
        ifname: "eth0".to_string(),
    };
    let mut planned = Vec::new();
    if let Some(lo) = loopback_network(&snap) {
        planned.push(plan(None, lo, findings));
    }
    if options.files.is_empty() {
        for &i in &snap.load.active {
            let file = &snap.files[i];
            let display = file.display();
            let bytes = match snap.conf_bytes(i) {
                Ok(b) => b,
                Err(RereadError::NotRead { .. }) => continue,
                Err(e) => {
                    let name = file.network().map(|n| n.name.clone()).unwrap_or_default();
                    planned.push(invalid(display, name, e.to_string(), file_findings));
                    continue;
                }
            };
            planned.push(match file.parsed() {
                Some(Ok(list)) => match call_network(&bytes, file.form(), list) {
                    Ok(net) => plan(Some(display), net, file_findings),
                    Err(e) => invalid(display, list.name.clone(), e, file_findings),
                },
                Some(Err(p)) => invalid(display, String::new(), p.libcni.clone(), file_findings),
                None => continue,
            });
        }
    } else {
        for path in &options.files {
            let bytes = std::fs::read(path).map_err(|e| VerifyError::File {
                path: path.clone(),
                message: crate::node::io_message(&e),
            })?;
            let display = path.display().to_string();
            let form = if path.extension().is_some_and(|e| e == "conflist") {
                FileForm::ConfList
            } else {
                FileForm::SingleConf
            };
            let parsed = match form {
                FileForm::ConfList => crate::conf::parse_conflist(&bytes, snap.generation, None)
                    .map_err(|e| e.message),
                FileForm::SingleConf => {
                    crate::conf::parse_single_conf(&bytes).map_err(|e| e.inner().message.clone())
                }
            };
            planned.push(match parsed {
                Ok(list) => match call_network(&bytes, Some(form), &list) {
                    Ok(net) => plan(Some(display), net, file_findings),
                    Err(e) => invalid(display, list.name.clone(), e, file_findings),
                },
                Err(e) => invalid(display, String::new(), e, file_findings),
            });
        }
    }
    let reports: Vec<Result<NetworkReport, VerifyError>> = std::thread::scope(|s| {
        let handles: Vec<_> = planned
            .into_iter()
            .map(|p| {
                let model = &model;
                s.spawn(move || run_network(p, model, options.timeout))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(VerifyError::NotPermitted(
                        "a verify thread panicked".to_string(),
                    ))
                })
            })
            .collect()
    });
    let networks = reports.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut summary = VerifySummary::default();
    for n in &networks {
        match n.status {
            Status::Verified => {
                summary.verified += 1;
                if n.steps.iter().any(|s| s.outcome == Outcome::Failed) {
                    summary.check_failed += 1;
                }
            }
            Status::Failed => summary.failed += 1,
            Status::NotRun => summary.not_run += 1,
        }
    }
    Ok(VerifyReport {
        schema: SCHEMA,
        runtime: RuntimeSummary {
            program: line.host().name(),
            version: snap.runtime.version.as_ref().map(|v| v.raw.clone()),
            assumed: effective.assumed,
            libcni: libcni.to_string(),
            cni_path: bin_dirs.iter().map(|d| d.display().to_string()).collect(),
            capability_args: Value::Object(model.capability_args.clone()),
        },
        networks,
        summary,
    })
}

/// The capability arguments the runtime passes for a sample pod with one port mapping and the
/// cluster DNS: containerd through go-cni (`WithCapabilityPortMap`, `WithCapabilityDNS`, the
/// pod annotations; containerd v1.6.20 `pkg/cri/server/sandbox_run.go`, Go field names since
/// go-cni's types have no JSON tags), the Docker Engine shims with their own JSON tags and the
/// node's pod CIDR as `ipRanges` (cri-dockerd v0.4.3 `network/cni/cni.go`).
fn capability_args(host: CniHost) -> Map<String, Value> {
    let value = match host {
        CniHost::Containerd => json!({
            "portMappings": [{"HostPort": 8080, "ContainerPort": 80, "Protocol": "tcp", "HostIP": ""}],
            "dns": {
                "Servers": ["10.96.0.10"],
                "Searches": ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"],
                "Options": ["ndots:5"]
            },
            "io.kubernetes.cri.pod-annotations": {"kubernetes.io/config.source": "api"}
        }),
        _ => json!({
            "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}],
            "ipRanges": [[{"subnet": "10.244.0.0/24"}]]
        }),
    };
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The runtime's built-in loopback network, unless the runtime brings `lo` up itself.
fn loopback_network(snap: &Snapshot) -> Option<CallNetwork> {
    if snap.internal_loopback {
        return None;
    }
    let line = snap.runtime.effective().line;
    let version = line.loopback().as_str().to_string();
    let mut raw = Map::new();
    raw.insert("type".into(), Value::String("loopback".into()));
    let name = if line.host() == CniHost::Containerd {
        String::new()
    } else {
        // dockershim's loopback is a single .conf, so the plugin has the network's name.
        raw.insert("name".into(), Value::String(LOOPBACK_NETWORK.into()));
        raw.insert("cniVersion".into(), Value::String(version.clone()));
        LOOPBACK_NETWORK.to_string()
    };
    Some(CallNetwork {
        name: LOOPBACK_NETWORK.to_string(),
        cni_version: version,
        disable_check: false,
        plugins: vec![PluginObject {
            plugin_type: "loopback".into(),
            name,
            raw,
        }],
    })
}

/// The plugin objects of a file libcni accepted, as Go decodes them.
fn call_network(
    bytes: &[u8],
    form: Option<FileForm>,
    list: &crate::conf::NetworkList,
) -> Result<CallNetwork, String> {
    let text = String::from_utf8_lossy(bytes);
    let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let value = call::go_decode(value);
    let objects: Vec<Map<String, Value>> = match form {
        Some(FileForm::ConfList) => match value.get("plugins") {
            Some(Value::Array(a)) => a.iter().filter_map(|p| p.as_object().cloned()).collect(),
            _ => return Err("no plugins".to_string()),
        },
        _ => match value {
            Value::Object(m) => vec![m],
            _ => return Err("not an object".to_string()),
        },
    };
    let plugins = objects
        .into_iter()
        .map(|raw| PluginObject {
            plugin_type: raw
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            name: raw
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            raw,
        })
        .collect();
    Ok(CallNetwork {
        name: list.name.clone(),
        cni_version: list.cni_version.clone(),
        disable_check: list.disable_check,
        plugins,
    })
}

fn predicted(file: Option<&str>, findings: Option<&[Finding]>) -> Option<Vec<FindingId>> {
    let findings = findings?;
    let mut ids: Vec<FindingId> = findings
        .iter()
        .filter(|f| match file {
            Some(file) => f.file.as_deref() == Some(file) || f.files.iter().any(|x| x == file),
            None => f.id == FindingId::LoopbackIncompatible,
        })
        .map(|f| f.id)
        .collect();
    ids.sort_by_key(|id| id.as_str());
    ids.dedup();
    Some(ids)
}

fn invalid(file: String, name: String, message: String, findings: Option<&[Finding]>) -> Planned {
    let predicted = predicted(Some(&file), findings);
    Planned {
        network: CallNetwork {
            name,
            cni_version: String::new(),
            disable_check: false,
            plugins: Vec::new(),
        },
        file: Some(file),
        plugins: Vec::new(),
        predicted,
        blocked: None,
        failed_to_load: Some((
            StepError {
                source: ErrorSource::Runtime,
                plugin: None,
                object: None,
                code: None,
                runtime_message: message.clone(),
                msg: message,
                details: None,
            },
            FindingId::InvalidConfig,
        )),
        dummies: Vec::new(),
        state_dirs: Vec::new(),
    }
}

/// Default state directories: libcni's cache and host-local's leases, and dhcp's socket.
const STATE_DIRS: &[&str] = &["/var/lib/cni", "/run/cni"];

fn plan(file: Option<String>, network: CallNetwork, findings: Option<&[Finding]>) -> Planned {
    let mut blocked = None;
    let mut dummies = Vec::new();
    let mut state_dirs: Vec<PathBuf> = STATE_DIRS.iter().map(PathBuf::from).collect();
    let mut plugins = Vec::new();
    for p in &network.plugins {
        plugins.push(p.plugin_type.clone());
        let ipam = p.raw.get("ipam").and_then(Value::as_object);
        if let Some(dir) = ipam.and_then(|i| i.get("dataDir")).and_then(Value::as_str) {
            if Path::new(dir).is_absolute() {
                state_dirs.push(PathBuf::from(dir));
            }
        }
        let ipam_type = ipam.and_then(|i| i.get("type")).and_then(Value::as_str);
        for name in std::iter::once(p.plugin_type.as_str()).chain(ipam_type) {
            let Some(need) = need_of(name) else { continue };
            match need.need {
                Need::Agent { needs, to_run } => {
                    blocked.get_or_insert(NotRun {
                        plugin: Some(name.to_string()),
                        reason: format!(
                            "{name} needs {needs}, which a throwaway namespace does not have"
                        ),
                        to_run: Some(to_run.to_string()),
                    });
                }
                Need::HostLink { keys, other_keys } => {
                    let named = keys
                        .iter()
                        .find_map(|k| p.raw.get(*k).and_then(Value::as_str))
                        .filter(|s| !s.is_empty());
                    match named {
                        Some(link) => dummies.push(link.to_string()),
                        None if other_keys.iter().any(|k| p.raw.contains_key(*k)) => {
                            blocked.get_or_insert(NotRun {
                                plugin: Some(name.to_string()),
                                reason: format!(
                                    "{name} names its device by {}, which a dummy link cannot stand in for",
                                    other_keys.join(", ")
                                ),
                                to_run: Some("name the device with `device` to verify it".to_string()),
                            });
                        }
                        None => {
                            blocked.get_or_insert(NotRun {
                                plugin: Some(name.to_string()),
                                reason: format!(
                                    "{name} names no {}: it takes the node's default-route link, which a throwaway namespace does not have",
                                    keys.join(" or ")
                                ),
                                to_run: Some(format!("set {} to the node's uplink to verify it", keys[0])),
                            });
                        }
                    }
                }
            }
        }
    }
    dummies.sort();
    dummies.dedup();
    let predicted = predicted(file.as_deref(), findings);
    Planned {
        file,
        network,
        plugins,
        predicted,
        blocked,
        failed_to_load: None,
        dummies,
        state_dirs,
    }
}

/// The `check` finding a failure is.
fn finding_for(err: &StepError, loopback: bool) -> Option<FindingId> {
    let text = &err.runtime_message;
    if err.code == Some(1) || text.contains("incompatible CNI versions") {
        return Some(if loopback {
            FindingId::LoopbackIncompatible
        } else {
            FindingId::IncompatibleVersion
        });
    }
    if text.contains(r#"invalid version "": the version is empty"#) {
        return Some(FindingId::MissingVersion);
    }
    if text.contains("failed to find plugin") {
        return Some(FindingId::PluginNotFound);
    }
    if text.contains(r#"unmarshalled CNIVersion is """#) {
        return Some(FindingId::ResultVersionRegression);
    }
    if text.contains("unsupported CNI result version") {
        return Some(FindingId::UnsupportedSpecVersion);
    }
    None
}

fn run_network(
    p: Planned,
    model: &RuntimeModel,
    timeout: Duration,
) -> Result<NetworkReport, VerifyError> {
    let loopback = p.file.is_none();
    let mut report = NetworkReport {
        name: p.network.name.clone(),
        file: p.file.clone(),
        cni_version: p.network.cni_version.clone(),
        plugins: p.plugins.clone(),
        status: Status::NotRun,
        not_run: None,
        steps: Vec::new(),
        dummies: p.dummies.clone(),
        host: None,
        predicted: p.predicted.clone(),
        notes: Vec::new(),
    };
    if let Some((err, id)) = p.failed_to_load {
        report.status = Status::Failed;
        report.steps.push(Step {
            step: StepKind::Add,
            outcome: Outcome::Failed,
            result: None,
            error: Some(err),
            finding: Some(id),
            note: Some("the runtime does not load this file".to_string()),
            known_bug: None,
            runs: Vec::new(),
        });
        return Ok(report);
    }
    if let Some(blocked) = p.blocked {
        report.not_run = Some(blocked);
        return Ok(report);
    }
    let mut model = model.clone();
    model.container_id = container_id(&p.network.name, p.file.as_deref());
    model.args = vec![
        ("K8S_POD_NAMESPACE".into(), "default".into()),
        ("K8S_POD_NAME".into(), "cni-fix-verify".into()),
        (
            "K8S_POD_INFRA_CONTAINER_ID".into(),
            model.container_id.clone(),
        ),
        (
            "K8S_POD_UID".into(),
            "00000000-0000-4000-8000-000000000000".into(),
        ),
        ("IgnoreUnknown".into(), "1".into()),
    ];
    if model.line.host() != CniHost::Containerd {
        // The shims pass IgnoreUnknown first and no pod UID.
        model.args.rotate_right(1);
        model.args.retain(|(k, _)| k != "K8S_POD_UID");
    }
    let iso = sandbox::Isolation {
        state_dirs: p.state_dirs.clone(),
        keep_visible: model.bin_dirs.clone(),
        dummies: p.dummies.clone(),
    };
    let network = p.network;
    let outcome = sandbox::isolated(&iso, |inside| {
        let netns = inside.pod_netns.clone();
        let caller = Caller {
            runtime: &model,
            netns: &netns,
            timeout,
        };
        let before = observe(inside);
        let mut steps = Vec::new();
        let add = caller.add(&network);
        let cached = add.result.as_ref().ok().cloned();
        steps.push(step(
            StepKind::Add,
            add.runs,
            add.result.map(Some),
            loopback,
        ));
        let during = observe(inside);
        if let Some(cached) = &cached {
            let check = caller.check(&network, Some(cached));
            steps.push(match check.result {
                Ok(Some(reason)) => Step {
                    step: StepKind::Check,
                    outcome: Outcome::Skipped,
                    result: None,
                    error: None,
                    finding: None,
                    note: Some(reason),
                    known_bug: None,
                    runs: check.runs,
                },
                Ok(None) => step(StepKind::Check, check.runs, Ok(None), loopback),
                Err(e) => step(StepKind::Check, check.runs, Err(e), loopback),
            });
        }
        // A failed ADD is torn down as the runtime tears down a pod that did not start.
        let del = caller.del(&network, cached.as_ref());
        let first_ok = del.result.is_ok();
        steps.push(del_step(StepKind::Del, del.runs, del.result, loopback));
        // libcni drops the cached result after a DEL that succeeds.
        let again = caller.del(&network, if first_ok { None } else { cached.as_ref() });
        steps.push(del_step(
            StepKind::DelAgain,
            again.runs,
            again.result,
            loopback,
        ));
        let after = observe(inside);
        let notes = std::mem::take(&mut inside.notes);
        (steps, before, during, after, notes)
    });
    match outcome {
        Err(SandboxError::NotPermitted(m)) => return Err(VerifyError::NotPermitted(m)),
        Err(e @ SandboxError::CannotIsolate { .. }) => {
            report.not_run = Some(NotRun {
                plugin: None,
                reason: e.to_string(),
                to_run: Some("give ipam.dataDir a directory that exists on the node".to_string()),
            });
        }
        Err(e) => {
            report.not_run = Some(NotRun {
                plugin: None,
                reason: format!("the sandbox could not be made: {e}"),
                to_run: None,
            });
        }
        Ok((steps, before, during, after, notes)) => {
            report.status = if steps
                .iter()
                .any(|s| s.outcome == Outcome::Failed && s.step.in_pod_life())
            {
                Status::Failed
            } else {
                Status::Verified
            };
            report.steps = steps;
            report.notes = notes;
            match (before, during, after) {
                (Ok(before), Ok(during), Ok(after)) => {
                    report.host = Some(HostChanges {
                        during_pod: during.minus(&before),
                        left_after_del: after.minus(&before),
                    });
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => report
                    .notes
                    .push(format!("the stand-in host could not be read: {e}")),
            }
        }
    }
    Ok(report)
}

fn step(
    kind: StepKind,
    runs: Vec<PluginRun>,
    result: Result<Option<CniResult>, StepError>,
    loopback: bool,
) -> Step {
    match result {
        Ok(r) => Step {
            step: kind,
            outcome: Outcome::Passed,
            result: r.as_ref().map(ResultSummary::from),
            error: None,
            finding: None,
            note: None,
            known_bug: None,
            runs,
        },
        Err(e) => Step {
            step: kind,
            outcome: Outcome::Failed,
            result: None,
            finding: finding_for(&e, loopback),
            known_bug: e
                .plugin
                .as_deref()
                .and_then(|p| known_bug(p, kind.command(), &e.runtime_message))
                .copied(),
            note: (kind == StepKind::Check).then(|| {
                "the runtime never calls CHECK (containerd, cri-dockerd and dockershim do not), so pods are not affected".to_string()
            }),
            error: Some(e),
            runs,
        },
    }
}

fn del_step(
    kind: StepKind,
    runs: Vec<PluginRun>,
    result: Result<Option<String>, StepError>,
    loopback: bool,
) -> Step {
    match result {
        Ok(ignored) => Step {
            step: kind,
            outcome: Outcome::Passed,
            result: None,
            error: None,
            finding: None,
            note: ignored.map(|e| format!("go-cni ignores this error on teardown: {e}")),
            known_bug: None,
            runs,
        },
        Err(e) => step(kind, runs, Err(e), loopback),
    }
}

/// A container ID for the sample pod: 64 hex digits, as the runtime makes them, stable for a
/// network so that reports compare.
fn container_id(name: &str, file: Option<&str>) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"cni-fix verify\0");
    h.update(name.as_bytes());
    h.update(b"\0");
    h.update(file.unwrap_or("").as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The stand-in host's links, addresses and iptables rules.
fn observe(inside: &mut sandbox::Inside) -> Result<HostState, String> {
    let links = inside.host.links().map_err(|e| e.to_string())?;
    let name_of = |i: u32| {
        links
            .iter()
            .find(|l| l.index == i)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| i.to_string())
    };
    let mut addresses: Vec<String> = inside
        .host
        .addresses()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(i, a)| format!("{} {a}", name_of(i)))
        .collect();
    addresses.sort();
    let mut link_names: Vec<String> = links
        .iter()
        .map(|l| match &l.kind {
            Some(k) => format!("{} ({k})", l.name),
            None => l.name.clone(),
        })
        .collect();
    link_names.sort();
    let mut rules = Vec::new();
    for program in ["iptables-save", "ip6tables-save"] {
        let Ok(out) = crate::probe::run_bounded(Command::new(program), Duration::from_secs(10))
        else {
            continue;
        };
        let mut table = String::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = t.to_string();
            } else if line.starts_with("-A ") {
                let family = if program.starts_with("ip6") {
                    "ip6 "
                } else {
                    ""
                };
                rules.push(format!("{family}{table}: {line}"));
            }
        }
    }
    Ok(HostState {
        links: link_names,
        addresses,
        rules,
    })
}

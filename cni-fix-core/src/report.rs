//! The report of a check: the node as cni-fix saw it, and the findings.
//!
//! [`Report`] serializes to the documented JSON schema `cni-fix.check/v1`.

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::node::display_path;
use crate::snapshot::{
    CheckError, CheckOptions, ContainerdConfigState, Contents, FileStatus, RuntimeSource, Snapshot,
    VersionSource, Versions,
};

/// The schema identifier of [`Report`]'s JSON form.
pub const SCHEMA: &str = "cni-fix.check/v1";

/// The result of checking a node.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The node's settings as cni-fix found them.
    pub node: NodeReport,
    /// The conf dir's config files, in the order containerd reads them.
    pub files: Vec<FileReport>,
    /// The plugins the loaded networks and loopback need.
    pub plugins: Vec<PluginReport>,
    /// What is wrong: the findings about each file in the order of `files`, then those about
    /// the node; most severe first within each, and among equals in the order the rules found
    /// them, except that a shadowed network comes last.
    pub findings: Vec<Finding>,
    /// Counts by severity.
    pub summary: Summary,
    /// What the runtime reads but cni-fix could not (for example, as a user other than root):
    /// when not empty, the check is incomplete and its verdict unknown.
    pub incomplete: Vec<UnreadReport>,
}

/// Something cni-fix could not read, though the runtime would.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct UnreadReport {
    /// Its node path.
    pub path: String,
    /// `config file`, `conf dir`, `plugin`, `plugin dir` or `containerd config`.
    pub what: &'static str,
    /// Why, and what would let cni-fix read it.
    pub reason: String,
}

/// The node's settings.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct NodeReport {
    /// The root directory the node was read under.
    pub root: String,
    /// The conf dir in effect.
    pub conf_dir: String,
    /// The plugin directories in effect.
    pub bin_dirs: Vec<String>,
    /// `max_conf_num` in effect (0: all).
    pub max_conf_num: i64,
    /// containerd's config file, or null when there is none.
    pub containerd_config: Option<String>,
    /// The runtime.
    pub runtime: RuntimeReport,
    /// go-cni's error when containerd loads no network, else null.
    pub load_error: Option<String>,
    /// Why the CNI rules were not applied (the kubelet uses another runtime than the one
    /// cni-fix models), or null when they were.
    pub cni_not_checked: Option<String>,
    /// The kubelet's runtime settings.
    pub kubelet: KubeletReport,
    /// Docker Engine and cri-dockerd on the node.
    pub docker: DockerReport,
    /// The Node object given with `--node`, or null.
    pub node_object: Option<NodeObjectReport>,
}

/// The kubelet as the node's files configure it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct KubeletReport {
    /// Whether a kubelet unit, process or config was found.
    pub found: bool,
    /// Its version, or null.
    pub version: Option<String>,
    /// `flag`, `exec`, `node-object` or `unknown`.
    pub version_source: crate::snapshot::KubeletVersionSource,
    /// The runtime endpoint in effect, or null.
    pub endpoint: Option<String>,
    /// Where the endpoint comes from (`flag` with `at`, `config-file` with `path`, `default`),
    /// or null.
    pub source: Option<crate::snapshot::SettingSource>,
    /// `dockershim`, `cri-dockerd`, `containerd`, `cri-o` or `unknown`.
    pub runtime: crate::kubelet::RuntimeKind,
    /// The cgroup driver in effect, or null when the config file that sets it was not read.
    pub cgroup_driver: Option<String>,
    /// Where the command line came from: `unit`, `process` or `none`.
    pub command_source: crate::snapshot::CommandSource,
    /// The unit file and drop-ins read, in the order systemd applies them.
    pub unit_files: Vec<String>,
    /// The `KubeletConfiguration` file (`--config`), or null.
    pub config: Option<String>,
    /// The running kubelet's endpoint on the live node when it differs from the configured
    /// one (a restart is pending), else null.
    pub running_endpoint: Option<String>,
}

/// Docker Engine and cri-dockerd on the node.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DockerReport {
    /// Whether Docker Engine (`docker.service` or `dockerd`) is installed.
    pub engine: bool,
    /// Whether `/etc/docker/daemon.json` was read.
    pub daemon_json: bool,
    /// The socket cri-dockerd serves, or null when it is not installed.
    pub cri_dockerd_socket: Option<String>,
}

/// What the Node object says.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct NodeObjectReport {
    /// The file it was read from.
    pub file: String,
    /// `metadata.name`.
    pub name: Option<String>,
    /// kubeadm's `cri-socket` annotation.
    pub cri_socket: Option<String>,
    /// `status.nodeInfo.containerRuntimeVersion`.
    pub container_runtime_version: Option<String>,
}

/// The runtime.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RuntimeReport {
    /// The program that runs the plugins: `containerd`, `cri-dockerd` or `dockershim`.
    pub name: &'static str,
    /// Its version (for dockershim, the kubelet's), or null.
    pub version: Option<String>,
    /// `flag`, `exec`, `kubelet` or `unknown`.
    pub source: RuntimeSource,
    /// How it loads the conf dir: `go-cni` (the files in order up to `max_conf_num`; an
    /// invalid one stops the load) or `first-valid` (dockershim's: the first network whose
    /// plugins validate; invalid ones are skipped).
    pub load: &'static str,
    /// The `--network-plugin` of a Docker Engine shim, or null for containerd.
    pub network_plugin: Option<String>,
    /// The libcni version of its release, or null when unknown.
    pub libcni: Option<String>,
    /// The cniVersion of its built-in loopback network, or null (unknown, or not used).
    pub loopback_cni_version: Option<&'static str>,
}

/// One config file.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FileReport {
    /// Its node path (non-UTF-8 bytes written `\xNN`).
    pub path: String,
    /// The exact bytes of the path in base64 when it is not UTF-8, else null.
    pub path_bytes: Option<String>,
    /// `loaded`, `shadowed`, `invalid` or `ignored`.
    pub status: FileStatus,
    /// The network name, or null.
    pub name: Option<String>,
    /// The declared cniVersion, or null when absent or unknown.
    pub cni_version: Option<String>,
    /// The plugin types in chain order (empty when not parsed).
    pub plugins: Vec<crate::conf::PluginType>,
}

/// One plugin.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PluginReport {
    /// The plugin type.
    #[serde(rename = "type")]
    pub plugin_type: String,
    /// The binary libcni runs, or null when there is none.
    pub path: Option<String>,
    /// Its supported spec versions, or null when unknown.
    pub supported_versions: Option<Vec<String>>,
    /// `exec`, `assumed`, `static` or `unknown`.
    pub source: VersionSource,
    /// For `static`: `high` (from the Go build information) or `medium` (from library
    /// package markers); null otherwise.
    pub confidence: Option<crate::static_probe::Confidence>,
    /// For `static`: what the versions were read from; null otherwise.
    pub evidence: Option<String>,
    /// For `assumed`: the containernetworking/plugins release whose table gave the versions;
    /// null otherwise.
    pub release: Option<String>,
    /// Why the versions are unknown (or why a probe failed before the release table gave
    /// them); null when nothing went wrong.
    pub problem: Option<String>,
}

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Errors: pods on this node will fail.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Informational findings.
    pub infos: usize,
}

impl Report {
    /// Build the report of a snapshot and its findings.
    pub fn new(snap: &Snapshot, findings: Vec<Finding>) -> Report {
        let (mut report, order) = Report::without_files(snap, findings);
        report.files = order
            .iter()
            .map(|&i| FileReport::of(&snap.files[i]))
            .collect();
        report
    }

    /// [`Report::new`], taking the snapshot: each file's network is moved into the report and
    /// the rest of it dropped as it goes, so that a large conf dir is not held twice.
    pub fn from_snapshot(mut snap: Snapshot, findings: Vec<Finding>) -> Report {
        let (mut report, order) = Report::without_files(&snap, findings);
        report.files = order
            .iter()
            .map(|&i| FileReport::take(&mut snap.files[i]))
            .collect();
        report
    }

    /// The report but its files, and the order of the files.
    fn without_files(snap: &Snapshot, mut findings: Vec<Finding>) -> (Report, Vec<usize>) {
        let order = file_order(snap);
        in_report_order(snap, &order, &mut findings);
        let report = Report {
            schema: SCHEMA,
            node: NodeReport::of(snap),
            files: Vec::new(),
            plugins: PluginReport::needed(snap),
            summary: Summary::of(&findings),
            findings,
            incomplete: snap.incomplete.iter().map(UnreadReport::of).collect(),
        };
        (report, order)
    }

    /// Whether any finding is at least `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }

    /// Each finding id once, most severe first (in report order within a severity).
    pub fn finding_ids(&self) -> Vec<crate::finding::FindingId> {
        let mut ids = FindingIds::default();
        for f in &self.findings {
            ids.add(f);
        }
        ids.most_severe_first()
    }
}

/// The ids of findings given in report order (a report's, or a streamed check's as they
/// come), each once with the severity it first came with.
#[derive(Debug, Clone, Default)]
pub struct FindingIds(Vec<(Severity, crate::finding::FindingId)>);

impl FindingIds {
    /// Count a finding's id, unless it came before.
    pub fn add(&mut self, f: &Finding) {
        if !self.0.iter().any(|(_, i)| *i == f.id) {
            self.0.push((f.severity, f.id));
        }
    }

    /// Each id once, most severe first (in the order they came within a severity).
    pub fn most_severe_first(mut self) -> Vec<crate::finding::FindingId> {
        self.0.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
        self.0.into_iter().map(|(_, i)| i).collect()
    }
}

/// Sort `findings` as the report lists them: by their file's place in `order` (the snapshot's
/// files in report order), then the findings about other files, then those about the node;
/// [`within_file`] within each.
pub(crate) fn in_report_order(snap: &Snapshot, order: &[usize], findings: &mut [Finding]) {
    let ranks: std::collections::HashMap<String, usize> = order
        .iter()
        .enumerate()
        .map(|(rank, &i)| (snap.files[i].display(), rank))
        .collect();
    let rank = |file: &Option<String>| match file {
        Some(f) => ranks.get(f).copied().unwrap_or(order.len()),
        None => order.len() + 1,
    };
    findings.sort_by_cached_key(|f| (rank(&f.file), within_file(f)));
}

/// The order of the findings about one file (or about the node): most severe first, and among
/// equals in the order the rules found them, except that a shadowed network comes last: what
/// is wrong in a file before the news that the runtime does not load it. (The latter is only
/// settled once the files after it are read, so the rule is the same however the conf dir is
/// read.) A stable sort's key.
pub(crate) fn within_file(f: &Finding) -> (std::cmp::Reverse<Severity>, bool) {
    (
        std::cmp::Reverse(f.severity),
        f.id == crate::finding::FindingId::ShadowedConfig,
    )
}

/// Files in report order: the loaded networks first (the pod network at their head), then the
/// rest in the byte order containerd reads them.
pub(crate) fn file_order(snap: &Snapshot) -> Vec<usize> {
    let mut loaded = vec![false; snap.files.len()];
    for &i in &snap.load.loaded {
        loaded[i] = true;
    }
    let mut order: Vec<usize> = snap.load.loaded.clone();
    order.extend((0..snap.files.len()).filter(|&i| !loaded[i]));
    order
}

impl UnreadReport {
    pub(crate) fn of(u: &crate::snapshot::Unread) -> UnreadReport {
        UnreadReport {
            path: display_path(&u.path),
            what: u.what,
            reason: u.reason.clone(),
        }
    }
}

impl NodeReport {
    pub(crate) fn of(snap: &Snapshot) -> NodeReport {
        let line = snap.runtime.line;
        NodeReport {
            root: display_path(snap.node.root()),
            conf_dir: display_path(&snap.conf_dir),
            bin_dirs: snap.bin_dirs.iter().map(|d| display_path(d)).collect(),
            max_conf_num: snap.max_conf_num,
            containerd_config: match snap.containerd_config {
                ContainerdConfigState::Missing => None,
                _ => Some(display_path(&snap.containerd_config_path)),
            },
            runtime: RuntimeReport {
                name: snap.runtime.host.name(),
                version: snap.runtime.version.as_ref().map(|v| v.raw.clone()),
                source: snap.runtime.source,
                load: if snap.runtime.effective().line.loads_first_valid() {
                    "first-valid"
                } else {
                    "go-cni"
                },
                network_plugin: snap.runtime.network_plugin.clone(),
                libcni: line.map(|r| r.libcni().to_string()),
                loopback_cni_version: if snap.internal_loopback {
                    None
                } else {
                    line.map(|r| r.loopback().as_str())
                },
            },
            load_error: snap.load.error.clone(),
            cni_not_checked: snap.cni_not_checked(),
            kubelet: KubeletReport::of(snap),
            docker: DockerReport {
                engine: snap.migration.docker.engine.present(),
                daemon_json: snap.migration.docker.daemon_json.is_some(),
                cri_dockerd_socket: snap
                    .migration
                    .docker
                    .cri_dockerd
                    .as_ref()
                    .map(|c| c.socket.clone()),
            },
            node_object: snap
                .migration
                .node_object
                .as_ref()
                .map(|(file, n)| NodeObjectReport {
                    file: file.clone(),
                    name: n.name.clone(),
                    cri_socket: n.cri_socket.clone(),
                    container_runtime_version: n.container_runtime_version.clone(),
                }),
        }
    }
}

impl KubeletReport {
    fn of(snap: &Snapshot) -> KubeletReport {
        let k = &snap.migration.kubelet;
        KubeletReport {
            found: k.found(),
            version: k.version.as_ref().map(ToString::to_string),
            version_source: k.version_source,
            endpoint: k.endpoint.as_ref().map(|e| e.value.clone()),
            source: k.endpoint.as_ref().map(|e| e.source.clone()),
            runtime: k.runtime,
            cgroup_driver: k.cgroup_driver.as_ref().map(|c| c.value.clone()),
            command_source: k.command_source,
            unit_files: k.unit.all().map(|p| display_path(p)).collect(),
            config: k.config_path.as_deref().map(display_path),
            running_endpoint: k.running_endpoint(),
        }
    }
}

impl FileReport {
    fn of(f: &crate::snapshot::ConfFile) -> FileReport {
        let mut file = FileReport::of_unparsed(f);
        if let Some(net) = f.network() {
            file.name = Some(net.name.clone());
            file.cni_version = net.declared_cni_version.clone();
            file.plugins = net.plugins.iter().map(|p| p.plugin_type.clone()).collect();
        }
        file
    }

    /// The file's entry, its network moved out of it.
    pub(crate) fn take(f: &mut crate::snapshot::ConfFile) -> FileReport {
        let mut file = FileReport::of_unparsed(f);
        let contents = std::mem::replace(&mut f.contents, Contents::NotListed);
        if let Contents::Read {
            parsed: Ok(net), ..
        } = contents
        {
            file.name = Some(net.name);
            file.cni_version = net.declared_cni_version;
            file.plugins = net.plugins.into_iter().map(|p| p.plugin_type).collect();
        }
        file
    }

    /// The file's entry without its network.
    fn of_unparsed(f: &crate::snapshot::ConfFile) -> FileReport {
        FileReport {
            path: f.display(),
            path_bytes: crate::node::path_bytes(&f.path),
            status: f.status,
            name: None,
            cni_version: None,
            plugins: Vec::new(),
        }
    }
}

impl PluginReport {
    /// The plugins the loaded networks and loopback need.
    pub(crate) fn needed(snap: &Snapshot) -> Vec<PluginReport> {
        snap.plugins
            .iter()
            .filter(|p| p.needed)
            .map(PluginReport::of)
            .collect()
    }

    fn of(p: &crate::snapshot::PluginInfo) -> PluginReport {
        let (confidence, evidence, release) = match &p.versions {
            Versions::Static {
                confidence,
                evidence,
                ..
            } => (Some(*confidence), Some(evidence.clone()), None),
            Versions::Assumed { release, .. } => (None, None, Some(release.to_string())),
            _ => (None, None, None),
        };
        PluginReport {
            plugin_type: p.plugin_type.clone(),
            path: p.path.as_deref().map(display_path),
            supported_versions: p.supported().map(<[String]>::to_vec),
            source: p.versions.source(),
            confidence,
            evidence,
            release,
            problem: p.problem().map(str::to_string),
        }
    }
}

impl Summary {
    fn of(findings: &[Finding]) -> Summary {
        let mut summary = Summary::default();
        for f in findings {
            summary.count(f);
        }
        summary
    }

    /// Count one more finding.
    pub fn count(&mut self, f: &Finding) {
        match f.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Info => self.infos += 1,
        }
    }

    /// Whether any finding counted is at least `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        match threshold {
            Severity::Error => self.errors > 0,
            Severity::Warning => self.errors + self.warnings > 0,
            Severity::Info => self.errors + self.warnings + self.infos > 0,
        }
    }
}

/// Check a node: gather a [`Snapshot`], evaluate every rule, and build the [`Report`].
pub fn check(options: &CheckOptions) -> Result<Report, CheckError> {
    check_from(
        options,
        crate::snapshot::open_root(options)?,
        &crate::source::SystemProber,
    )
}

/// [`check`] any node source, asking `prober` (a recording, a collection, an agent's own).
pub fn check_from(
    options: &CheckOptions,
    node: std::sync::Arc<dyn crate::source::NodeSource>,
    prober: &dyn crate::source::Prober,
) -> Result<Report, CheckError> {
    let snap = Snapshot::gather_from(options, node, prober)?;
    let findings = crate::rules::evaluate(&snap);
    Ok(Report::from_snapshot(snap, findings))
}

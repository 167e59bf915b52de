//! Command-line arguments, and their validation into the core's options.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cni_fix_core::generate::{parse_subnets, GenerateError, GenerateOptions};
use cni_fix_core::rewrite::{RewriteOptions, Scope};
use cni_fix_core::{
    runtime::RuntimeVersion, CheckOptions, ContainerdVersion, FindingId, PluginsRelease, ProbeMode,
    Severity, SpecVersion,
};

/// Find and repair the CNI configuration problems that break Kubernetes nodes when their
/// container runtime changes.
#[derive(Debug, Parser)]
#[command(
    name = "cni-fix",
    version,
    about = "cni-fix: diagnose and repair a Kubernetes node's CNI configuration",
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Diagnose a node's CNI setup against its runtime and its plugins, and its runtime
    /// migration (kubelet, containerd, Docker).
    ///
    /// Exit status: 0 when no finding reaches --fail-on, 1 when one does, 2 when the check
    /// could not run (node-problem-detector's custom plugin convention).
    Check(CheckArgs),
    /// Fix every finding a config change can fix: set, correct or lower the networks' cniVersion.
    ///
    /// Exit status: 0 when everything that needed fixing was fixed (or nothing needed it), 1
    /// when something could not be fixed (or, with --dry-run --exit-code, when there is
    /// something to change), 2 on an operational error.
    Rewrite(RewriteArgs),
    /// Write a reference network (bridge + portmap, as in the Kubernetes documentation), or
    /// with `registry-hosts`, containerd's hosts.toml files from Docker's daemon.json.
    Generate(GenerateArgs),
    /// Put back the originals that a rewrite (or generate --output) replaced, from its backup
    /// directory.
    ///
    /// A file is restored only if it still holds what cni-fix wrote; one changed since is left
    /// alone. Exit status: 0 when everything was restored (or already was), 1 when a file was
    /// left alone, 2 on an operational error.
    Restore(RestoreArgs),
    /// Find the pods and agents that depend on Docker Engine, in Kubernetes objects: a live
    /// cluster's `kubectl get pods -A -o json`, or a repository of manifests.
    ///
    /// Reads files, directories (recursively: .yaml, .yml, .json) and standard input (`-`, the
    /// default). Exit status: 0 when no finding reaches --fail-on, 1 when one does, 2 when an
    /// input could not be read or parsed.
    Workloads(WorkloadsArgs),
    /// Prove the node's networks work: run the real plugins through a pod's life (ADD, CHECK,
    /// DEL, DEL again) as the runtime's libcni calls them, in throwaway network namespaces.
    ///
    /// Verifies the runtime's built-in loopback network and the networks it loads (or the
    /// FILEs given). Nothing touches the host: the plugins run in a new network namespace that
    /// stands in for the host, the pod is another, and fresh tmpfs directories cover the
    /// plugins' state. Needs root. Exit status: 0 when every network that ran passed, 1 when
    /// one failed, 2 when verify could not run.
    Verify(VerifyArgs),
    /// Check many nodes: node trees (directories) and `cni-fix collect` archives, in
    /// parallel, a line (or a JSON Lines object) per node as each is done, then each finding
    /// id with the number of nodes it was found on.
    ///
    /// Exit status: 0 when no node has a finding that reaches --fail-on, 1 when one does, 2
    /// when a node could not be checked, or not completely.
    Scan(ScanArgs),
    /// Collect what `check` reads on this node (or under --root) into one .tar.gz, with the
    /// answers of its programs and plugins, to check elsewhere with `cni-fix scan`.
    ///
    /// Holds the files check reads and nothing else (secret values in TOML files replaced by
    /// REDACTED), and no binary. Exit status: 0 when written, 2 when not.
    Collect(CollectArgs),
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (cni-fix.1 and one per subcommand) into DIR.
    #[command(hide = true)]
    Manpages {
        /// Where to write them.
        dir: PathBuf,
    },
    /// Explain a finding id: cause, affected runtime versions, symptoms, remedy, references.
    ///
    /// Without an id, list every id.
    Explain {
        /// A finding id, for example missing-version.
        id: Option<String>,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Grouped by file, for people.
    Human,
    /// One JSON object (schema cni-fix.check/v1), for programs.
    Json,
}

/// The severity that makes the exit status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warning,
    /// Never: exit 0 whatever is found.
    Never,
}

impl FailOn {
    /// The severity that fails the run; `None` never fails.
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Error => Some(Severity::Error),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Never => None,
        }
    }
}

/// How plugin versions are learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Probe {
    /// Run each plugin with CNI_COMMAND=VERSION.
    Exec,
    /// Read each plugin's binary (Go build information, library markers) without running it.
    Static,
    /// Run and read nothing.
    None,
}

/// When to colour human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always, even with NO_COLOR set (the explicit flag wins).
    Always,
    /// Never.
    Never,
}

/// How to find and read the node: shared by `check` and `rewrite`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Read the node under DIR (for example a tree copied from a broken node). Reports show
    /// node paths, without this prefix. `check` takes it again for more nodes, checked in
    /// parallel, one line each [default: /].
    #[arg(long, value_name = "DIR")]
    pub root: Vec<PathBuf>,

    /// containerd's config, a node path [default: /etc/containerd/config.toml, which may be
    /// missing; a FILE given here must exist].
    #[arg(long, value_name = "FILE")]
    pub containerd_config: Option<PathBuf>,

    /// The CNI conf dir (node path); overrides the config's conf_dir.
    #[arg(long, value_name = "DIR")]
    pub conf_dir: Option<PathBuf>,

    /// A plugin directory (node path); repeat for several. Overrides the config's
    /// bin_dir/bin_dirs.
    #[arg(long = "bin-dir", value_name = "DIR")]
    pub bin_dirs: Vec<PathBuf>,

    /// How many networks containerd loads (0: all); overrides the config's max_conf_num.
    #[arg(long, value_name = "N")]
    pub max_conf_num: Option<i64>,

    /// The containerd version (for example 1.6.3, v1.6.20, 1.6.20~ds1), instead of asking
    /// `containerd --version`. Also asks: what breaks if this node runs that version?
    #[arg(long, value_name = "V")]
    pub containerd_version: Option<String>,

    /// The cri-dockerd version (for example 0.3.1), instead of asking `cri-dockerd
    /// --version`: the plugins run under cri-dockerd, and the check follows that release.
    #[arg(long, value_name = "V", conflicts_with = "containerd_version")]
    pub cri_dockerd_version: Option<String>,

    /// How to learn plugin versions [default: exec on the live node (root /), static under
    /// another root; none when --assume-plugins-release is given].
    #[arg(long, value_enum)]
    pub probe: Option<Probe>,

    /// Seconds one plugin may take to answer VERSION.
    #[arg(long, value_name = "SECONDS", default_value = "5")]
    pub probe_timeout: String,

    /// Take plugin versions from this containernetworking/plugins release (for example 0.9.1)
    /// instead of running the binaries.
    #[arg(long, value_name = "V")]
    pub assume_plugins_release: Option<String>,

    /// The kubelet version (for example 1.23.17 or 1.24), instead of asking `kubelet
    /// --version`. Also asks: what breaks when this node's kubelet becomes that version?
    #[arg(long, value_name = "V")]
    pub kubelet_version: Option<String>,

    /// The node's Node object, from `kubectl get node NAME -o yaml` (or -o json): a file on
    /// this machine, not under --root. Adds kubeadm's cri-socket annotation to the check.
    #[arg(long = "node", value_name = "FILE")]
    pub node_object: Option<PathBuf>,
}

/// Read the --node file: a regular file of at most 4 MiB.
fn read_node_object(path: &std::path::Path) -> Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("--node {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("--node {}", path.display()))?;
    if !meta.is_file() {
        bail!("--node {}: not a regular file", path.display());
    }
    let cap = cni_fix_core::node::MAX_CONFIG_BYTES;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("--node {}", path.display()))?;
    if bytes.len() as u64 > cap {
        bail!(
            "--node {}: larger than {cap} bytes; a Node object is a few kilobytes",
            path.display()
        );
    }
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("--node {}: not UTF-8 text", path.display()))
}

/// Arguments of `cni-fix check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// How to find and read the node.
    #[command(flatten)]
    pub node: NodeArgs,

    /// Output format. With several --root: human (a line per node) or json (JSON Lines).
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,

    /// Write the output to FILE instead of standard output, atomically (a reader such as
    /// node_exporter never sees half a file).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// When to colour human output: auto colours a terminal unless NO_COLOR is set; always
    /// and never override NO_COLOR.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// With several --root: how many nodes are checked at once [default: the number of cores].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,

    /// Check again every SECONDS, forever, rewriting --output each time (for a DaemonSet whose
    /// image has no shell or cron). Needs --output.
    #[arg(long, value_name = "SECONDS")]
    pub interval: Option<String>,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Grouped by file, for people.
    Human,
    /// One JSON object (schema cni-fix.check/v1), for programs.
    Json,
    /// JSON Lines (schema cni-fix.check-stream/v1): the node, then each file with its findings
    /// as it is checked, then the node's findings and the counts. Its memory does not grow
    /// with the conf dir.
    Ndjson,
    /// Prometheus metrics, for node_exporter's textfile collector.
    Prometheus,
    /// SARIF 2.1.0, for code scanning of conflists in a repository (--root .).
    Sarif,
    /// One line: the verdict, the counts and the finding ids (node-problem-detector's message).
    Summary,
}

/// Output formats of `scan` (and of `check` over several nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// A line per node as each is done, then the finding ids across nodes.
    Human,
    /// JSON Lines: an object per node (schema cni-fix.scan/v1), then a summary object.
    Json,
}

/// Arguments of `cni-fix scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Node trees (directories, read as --root reads them) and collections (`cni-fix collect`
    /// archives).
    #[arg(value_name = "PATH", required_unless_present = "from")]
    pub paths: Vec<PathBuf>,

    /// Also check the paths listed in FILE, one per line (- reads standard input), after the
    /// PATH arguments. The list is read as nodes are checked, never held whole, and is not
    /// bound by the command line's length.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// How to read each node; for a collection, what is not given here is taken from the
    /// options it was collected with.
    #[command(flatten)]
    pub node: NodeArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Human)]
    pub format: ScanFormat,

    /// A node's verdict is a problem when a finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// When to colour human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// How many nodes are checked at once [default: the number of cores].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
}

/// Validated options for `cni-fix scan` (and `check` over several roots).
#[derive(Debug)]
pub struct ScanRun {
    /// The inputs.
    pub paths: Vec<PathBuf>,
    /// A file listing more inputs, one per line (`-`: standard input).
    pub from: Option<PathBuf>,
    /// How to check each node.
    pub options: cni_fix_core::fleet::ScanOptions,
    /// How to print.
    pub format: ScanFormat,
    /// `None`: never fail.
    pub fail_on: Option<Severity>,
    /// Colour requested or refused.
    pub color: ColorChoice,
}

fn jobs(n: Option<usize>, options: &mut cni_fix_core::fleet::ScanOptions) -> Result<()> {
    if let Some(n) = n {
        if !(1..=1024).contains(&n) {
            bail!("--jobs must be from 1 to 1024, not {n}");
        }
        options.jobs = n;
    }
    Ok(())
}

impl ScanArgs {
    /// Validate the arguments into options for the core.
    pub fn validate(self) -> Result<ScanRun> {
        if !self.node.root.is_empty() {
            bail!("scan reads the node trees and collections given as PATH arguments, not --root");
        }
        let mut options = cni_fix_core::fleet::ScanOptions::new(self.node.validate()?);
        jobs(self.jobs, &mut options)?;
        Ok(ScanRun {
            paths: self.paths,
            from: self.from,
            options,
            format: self.format,
            fail_on: self.fail_on.threshold(),
            color: self.color,
        })
    }
}

/// Arguments of `cni-fix collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// How to find and read the node.
    #[command(flatten)]
    pub node: NodeArgs,

    /// The archive to write (a .tar.gz), atomically; - writes it to standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,

    /// The node's name in the archive [default: the host name on the live node, else
    /// ROOT/etc/hostname when there is one].
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

/// Validated options for `cni-fix collect`.
#[derive(Debug)]
pub struct CollectRun {
    /// What the core collects.
    pub options: cni_fix_core::collect::CollectOptions,
    /// Where the archive goes (`-`: standard output).
    pub output: PathBuf,
}

impl CollectArgs {
    /// Validate the arguments into options for the core.
    pub fn validate(self) -> Result<CollectRun> {
        let check = self.node.validate()?;
        let mut options =
            cni_fix_core::collect::CollectOptions::new(check, std::time::SystemTime::now());
        options.hostname = match self.hostname {
            Some(h) if h.trim().is_empty() || h.len() > 253 => {
                bail!("--hostname takes a host name of 1 to 253 characters, not {h:?}")
            }
            Some(h) => Some(h),
            None => host_name(&options.check.root),
        };
        Ok(CollectRun {
            options,
            output: self.output,
        })
    }
}

/// The node's host name: the kernel's on the live node, else the tree's /etc/hostname.
fn host_name(root: &std::path::Path) -> Option<String> {
    let file = if root == std::path::Path::new("/") {
        PathBuf::from("/proc/sys/kernel/hostname")
    } else {
        root.join("etc/hostname")
    };
    let text = std::fs::read(file).ok()?;
    let name = String::from_utf8(text.into_iter().take(253).collect()).ok()?;
    let name = name.trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| name.to_string())
}

/// Arguments of `cni-fix verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// How to find and read the node.
    #[command(flatten)]
    pub node: NodeArgs,

    /// Network config files to verify (paths on this machine) instead of the networks the
    /// runtime loads.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Seconds one plugin call may take before it is killed.
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    pub timeout: String,

    /// When to colour human output (as for check).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Validated options for `cni-fix verify`.
#[derive(Debug)]
pub struct VerifyRun {
    /// What the core verifies.
    pub options: cni_fix_core::verify::VerifyOptions,
    /// How to print.
    pub format: Format,
    /// Colour requested or refused.
    pub color: ColorChoice,
}

impl VerifyArgs {
    /// Validate the arguments into options for the core.
    pub fn validate(self) -> Result<VerifyRun> {
        let mut options = cni_fix_core::verify::VerifyOptions::new(self.node.validate()?);
        options.files = self.files;
        options.timeout = seconds("--timeout", &self.timeout)?;
        Ok(VerifyRun {
            options,
            format: self.format,
            color: self.color,
        })
    }
}

/// Output formats of `cni-fix workloads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadsFormat {
    /// Grouped by namespace and workload, for people.
    Human,
    /// One JSON object (schema cni-fix.workloads/v1), for programs.
    Json,
    /// SARIF 2.1.0, for code scanning of a manifest repository (files only, not standard input).
    Sarif,
}

/// Arguments of `cni-fix workloads`.
#[derive(Debug, Args)]
pub struct WorkloadsArgs {
    /// Manifest files, directories (searched recursively for .yaml, .yml and .json), or - for
    /// standard input [default: -].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = WorkloadsFormat::Human)]
    pub format: WorkloadsFormat,

    /// Exit 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// When to colour human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// The largest single input read: bytes, or with a suffix K, M or G (KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", default_value = "256M")]
    pub max_input_size: String,
}

/// Validated options for `cni-fix workloads`.
#[derive(Debug)]
pub struct WorkloadsRun {
    /// What to read (`-` is standard input).
    pub paths: Vec<PathBuf>,
    /// How to print.
    pub format: WorkloadsFormat,
    /// `None`: never fail.
    pub fail_on: Option<Severity>,
    /// Colour requested or refused.
    pub color: ColorChoice,
    /// The largest input, in bytes.
    pub max_input_bytes: u64,
}

/// A size such as 1048576, 512K, 256M or 1G (binary units).
fn size(raw: &str) -> Result<u64> {
    let t = raw.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => bail!("--max-input-size takes bytes or a size such as 256M or 1G, not {raw:?}"),
    };
    let n: u64 = digits.parse().map_err(|_| {
        anyhow::anyhow!("--max-input-size takes bytes or a size such as 256M or 1G, not {raw:?}")
    })?;
    let bytes = n
        .checked_mul(1u64 << shift)
        .filter(|b| (1..=(16u64 << 30)).contains(b))
        .ok_or_else(|| {
            anyhow::anyhow!("--max-input-size must be from 1 byte to 16G, not {raw:?}")
        })?;
    Ok(bytes)
}

impl WorkloadsArgs {
    /// Validate into the options of a run.
    pub fn validate(self) -> Result<WorkloadsRun> {
        let paths = if self.paths.is_empty() {
            vec![PathBuf::from("-")]
        } else {
            self.paths
        };
        if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            bail!("standard input (-) can be read only once");
        }
        if self.format == WorkloadsFormat::Sarif && paths.iter().any(|p| p.as_os_str() == "-") {
            bail!("--format sarif reports locations in files: give the manifest files or directories, not standard input");
        }
        Ok(WorkloadsRun {
            paths,
            format: self.format,
            fail_on: self.fail_on.threshold(),
            color: self.color,
            max_input_bytes: size(&self.max_input_size)?,
        })
    }
}

/// Validated options for `cni-fix check`.
#[derive(Debug)]
pub struct CheckRun {
    /// What the core checks.
    pub options: CheckOptions,
    /// How to print.
    pub format: CheckFormat,
    /// Where to write (standard output when `None`).
    pub output: Option<PathBuf>,
    /// With several roots: the scan to run instead.
    pub many: Option<ScanRun>,
    /// Check again after this long, forever.
    pub interval: Option<Duration>,
    /// `None`: never fail.
    pub fail_on: Option<Severity>,
    /// Colour requested or refused.
    pub color: ColorChoice,
}

fn node_path(flag: &str, p: PathBuf) -> Result<PathBuf> {
    if !p.is_absolute() {
        let example = match flag {
            "--containerd-config" => "/etc/containerd/config.toml",
            "--backup-dir" | "BACKUP_DIR" => "/var/backups/cni-fix/20261122T101500Z",
            "--bin-dir" => "/opt/cni/bin",
            "--config-dir" => "/etc/containerd/certs.d",
            _ => "/etc/cni/net.d",
        };
        bail!("{flag} takes an absolute node path (such as {example}), not {p:?}");
    }
    Ok(p)
}

/// Seconds for a deadline flag: a number from 0.001 to 600.
fn seconds(flag: &str, raw: &str) -> Result<Duration> {
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag} takes seconds (such as 5 or 0.5), not {raw:?}"))?;
    if !(secs.is_finite() && (0.001..=600.0).contains(&secs)) {
        bail!("{flag} takes seconds from 0.001 to 600, not {raw}");
    }
    Ok(Duration::from_secs_f64(secs))
}

impl NodeArgs {
    /// Validate the discovery arguments into the core's options, for one node.
    pub fn validate(self) -> Result<CheckOptions> {
        if self.root.len() > 1 {
            bail!(
                "--root is given {} times; only check reads several nodes",
                self.root.len()
            );
        }
        Ok(self.validate_roots()?.0)
    }

    /// Validate the discovery arguments into the core's options (for the first root, or `/`)
    /// and every root given.
    pub fn validate_roots(mut self) -> Result<(CheckOptions, Vec<PathBuf>)> {
        let roots = std::mem::take(&mut self.root);
        let first = roots.first().cloned().unwrap_or_else(|| PathBuf::from("/"));
        let options = self.validate_for(first)?;
        Ok((options, roots))
    }

    fn validate_for(self, root: PathBuf) -> Result<CheckOptions> {
        let containerd_version = self
            .containerd_version
            .as_deref()
            .map(ContainerdVersion::parse)
            .transpose()
            .context("--containerd-version")?;
        let cri_dockerd_version = self
            .cri_dockerd_version
            .as_deref()
            .map(RuntimeVersion::parse)
            .transpose()
            .context("--cri-dockerd-version")?;
        let assume_plugins_release = self
            .assume_plugins_release
            .as_deref()
            .map(PluginsRelease::parse)
            .transpose()
            .context("--assume-plugins-release")?;
        let kubelet_version = self
            .kubelet_version
            .as_deref()
            .map(cni_fix_core::kubelet::KubeletVersion::parse)
            .transpose()
            .context("--kubelet-version")?;
        let probe_timeout = seconds("--probe-timeout", &self.probe_timeout)?;
        let mut o = CheckOptions::for_root(root).probe_timeout(probe_timeout);
        if let Some(p) = self.containerd_config {
            o = o.containerd_config(node_path("--containerd-config", p)?);
        }
        if let Some(p) = self.conf_dir {
            o = o.conf_dir(node_path("--conf-dir", p)?);
        }
        for p in self.bin_dirs {
            o = o.bin_dir(node_path("--bin-dir", p)?);
        }
        if let Some(n) = self.max_conf_num {
            o = o.max_conf_num(n);
        }
        if let Some(v) = containerd_version {
            o = o.containerd_version(v);
        }
        if let Some(v) = cri_dockerd_version {
            o = o.cri_dockerd_version(v);
        }
        if let Some(p) = self.probe {
            o = o.probe(match p {
                Probe::Exec => ProbeMode::Exec,
                Probe::Static => ProbeMode::Static,
                Probe::None => ProbeMode::None,
            });
        }
        if let Some(r) = assume_plugins_release {
            o = o.assume_plugins_release(r);
        }
        if let Some(v) = kubelet_version {
            o = o.kubelet_version(v);
        }
        if let Some(p) = self.node_object {
            let text = read_node_object(&p)?;
            o = o.node_object(p.display().to_string(), text);
        }
        Ok(o)
    }
}

impl CheckArgs {
    /// Validate the arguments into options for the core: one node, or several (with more
    /// than one --root) to check as `scan` does.
    pub fn validate(self) -> Result<CheckRun> {
        let (options, roots) = self.node.validate_roots()?;
        let fail_on = self.fail_on.threshold();
        let many = roots.len() > 1;
        if many {
            let format = match self.format {
                CheckFormat::Human => ScanFormat::Human,
                CheckFormat::Json => ScanFormat::Json,
                other => bail!(
                    "--format {} describes one node; with several --root use human or json",
                    other
                        .to_possible_value()
                        .map(|v| v.get_name().to_string())
                        .unwrap_or_default()
                ),
            };
            for r in &roots {
                if !r.is_dir() {
                    bail!("--root {}: not a directory", r.display());
                }
            }
            let mut scan = cni_fix_core::fleet::ScanOptions::new(options.clone());
            jobs(self.jobs, &mut scan)?;
            if self.interval.is_some() {
                bail!("--interval repeats the check of one node");
            }
            return Ok(CheckRun {
                options,
                format: self.format,
                output: self.output,
                fail_on,
                color: self.color,
                interval: None,
                many: Some(ScanRun {
                    paths: roots,
                    from: None,
                    options: scan,
                    format,
                    fail_on,
                    color: self.color,
                }),
            });
        }
        if self.jobs.is_some() {
            bail!("--jobs applies to several --root; one node is checked at a time");
        }
        let interval = match &self.interval {
            None => None,
            Some(_) if self.output.is_none() => {
                bail!("--interval rewrites a file: give --output FILE")
            }
            Some(raw) => {
                let secs: u64 = raw
                    .trim()
                    .parse()
                    .ok()
                    .filter(|s| (1..=86_400).contains(s))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "--interval takes whole seconds from 1 to 86400, not {raw:?}"
                        )
                    })?;
                Some(Duration::from_secs(secs))
            }
        };
        Ok(CheckRun {
            options,
            format: self.format,
            output: self.output,
            fail_on,
            color: self.color,
            interval,
            many: None,
        })
    }
}

/// Parse a finding id given to `explain`.
pub fn finding_id(s: &str) -> Result<FindingId> {
    Ok(s.parse::<FindingId>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `cni-fix SUB ARGS`, parsed.
    fn command(sub: &str, args: &[&str]) -> Result<Cmd> {
        let mut all = vec!["cni-fix", sub];
        all.extend_from_slice(args);
        Ok(Cli::try_parse_from(all)?.command)
    }

    fn workloads(args: &[&str]) -> Result<WorkloadsRun> {
        match command("workloads", args)? {
            Cmd::Workloads(a) => a.validate(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn workloads_arguments() {
        let r = workloads(&[]).unwrap();
        assert_eq!(r.paths, vec![PathBuf::from("-")]);
        assert_eq!(r.max_input_bytes, 256 << 20);
        assert_eq!(
            workloads(&["--max-input-size", "1G", "a"])
                .unwrap()
                .max_input_bytes,
            1 << 30
        );
        assert_eq!(
            workloads(&["--max-input-size", "512KiB"])
                .unwrap()
                .max_input_bytes,
            512 << 10
        );
        assert_eq!(
            workloads(&["--max-input-size", "100"])
                .unwrap()
                .max_input_bytes,
            100
        );
        for bad in ["0", "17G", "1T", "x", "-1", "99999999999999999999G"] {
            assert!(workloads(&["--max-input-size", bad]).is_err(), "{bad}");
        }
        let e = workloads(&["--format", "sarif"]).unwrap_err().to_string();
        assert!(e.contains("not standard input"), "{e}");
        assert!(workloads(&["--format", "sarif", "deploy/"]).is_ok());
        assert!(workloads(&["-", "a", "-"]).is_err());
    }

    fn check(args: &[&str]) -> Result<CheckRun> {
        match command("check", args)? {
            Cmd::Check(a) => a.validate(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let run = check(&[]).unwrap();
        assert_eq!(run.options.root, PathBuf::from("/"));
        assert_eq!(run.options.probe, None);
        assert_eq!(run.fail_on, Some(Severity::Error));
        assert_eq!(run.format, CheckFormat::Human);
        assert_eq!(run.options.probe_timeout, Duration::from_secs(5));
        assert!(run.many.is_none());
    }

    #[test]
    fn several_roots_make_a_scan() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let run = check(&[
            "--root", dir, "--root", dir, "--jobs", "3", "--format", "json",
        ])
        .unwrap();
        let scan = run.many.unwrap();
        assert_eq!(scan.paths.len(), 2);
        assert_eq!(scan.options.jobs, 3);
        assert_eq!(scan.format, ScanFormat::Json);
        let err = check(&["--root", dir, "--root", dir, "--format", "prometheus"]).unwrap_err();
        assert!(err.to_string().contains("describes one node"), "{err}");
        let err = check(&["--root", dir, "--root", "/nonexistent/x"]).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        let err = check(&["--jobs", "2"]).unwrap_err();
        assert!(err.to_string().contains("several --root"), "{err}");
        let err = check(&["--root", dir, "--root", dir, "--jobs", "0"]).unwrap_err();
        assert!(err.to_string().contains("--jobs must be"), "{err}");
        // Only check reads several nodes.
        let Ok(Cmd::Rewrite(a)) = command("rewrite", &["--root", dir, "--root", dir]) else {
            panic!("rewrite parses");
        };
        assert!(a.validate().unwrap_err().to_string().contains("only check"));
        let Ok(Cmd::Scan(a)) = command("scan", &["--root", dir, dir]) else {
            panic!("scan parses");
        };
        assert!(a.validate().unwrap_err().to_string().contains("not --root"));
        let Ok(Cmd::Collect(a)) = command("collect", &["-o", "x", "--hostname", " "]) else {
            panic!("collect parses");
        };
        assert!(a.validate().unwrap_err().to_string().contains("--hostname"));
    }

    #[test]
    fn versions_are_validated() {
        let run = check(&[
            "--containerd-version",
            "v1.6.3-6-gdb40e2128",
            "--assume-plugins-release",
            "v0.9.1",
        ])
        .unwrap();
        assert_eq!(
            run.options.containerd_version.unwrap().release.to_string(),
            "1.6.3"
        );
        assert!(check(&["--containerd-version", "1.6"]).is_err());
        assert!(check(&["--assume-plugins-release", "0.1.0"]).is_err());
    }

    #[test]
    fn node_paths_must_be_absolute() {
        let e = check(&["--conf-dir", "etc/cni"]).unwrap_err().to_string();
        assert!(e.contains("absolute node path"), "{e}");
        assert!(check(&["--bin-dir", "/a", "--bin-dir", "b"]).is_err());
        assert_eq!(
            check(&["--bin-dir", "/a", "--bin-dir", "/b"])
                .unwrap()
                .options
                .bin_dirs
                .len(),
            2
        );
    }

    #[test]
    fn probe_timeout_bounds() {
        for bad in ["0", "-1", "NaN", "inf", "1000"] {
            assert!(check(&["--probe-timeout", bad]).is_err(), "{bad}");
        }
        assert_eq!(
            check(&["--probe-timeout", "0.5"])
                .unwrap()
                .options
                .probe_timeout,
            Duration::from_millis(500)
        );
    }

    fn rewrite(args: &[&str]) -> Result<RewriteRun> {
        match command("rewrite", args)? {
            Cmd::Rewrite(a) => a.validate(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn rewrite_arguments() {
        let run = rewrite(&[]).unwrap();
        assert_eq!(run.options.scope, Scope::Loaded);
        assert!(!run.dry_run && !run.options.upgrade);
        assert_eq!(rewrite(&["--all"]).unwrap().options.scope, Scope::All);
        assert_eq!(
            rewrite(&["10-a.conflist", "/etc/cni/net.d/20-b.conf"])
                .unwrap()
                .options
                .scope,
            Scope::Files(vec![
                "10-a.conflist".into(),
                "/etc/cni/net.d/20-b.conf".into()
            ])
        );
        assert!(
            rewrite(&["--all", "x.conflist"]).is_err(),
            "--all conflicts with files"
        );
        assert!(
            rewrite(&["--exit-code"]).is_err(),
            "--exit-code needs --dry-run"
        );
        assert!(rewrite(&["--cni-version", "1.0"]).is_err());
        assert_eq!(
            rewrite(&["--cni-version", "0.4.0"])
                .unwrap()
                .options
                .cni_version,
            Some(SpecVersion::V0_4_0)
        );
        assert!(rewrite(&["--backup-dir", "backups"]).is_err());
    }

    #[test]
    fn generate_arguments() {
        let parse = |args: &[&str]| -> Result<GenerateOptions> {
            let mut all = vec!["cni-fix", "generate"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all)?.command {
                Cmd::Generate(a) => a.validate(),
                _ => unreachable!(),
            }
        };
        assert_eq!(parse(&[]).unwrap(), GenerateOptions::default());
        let o = parse(&["--subnet", "10.244.0.0/16", "--no-external-set-mark-chain"]).unwrap();
        assert_eq!(o.subnets.len(), 1);
        assert_eq!(o.external_set_mark_chain, None);
        assert!(parse(&["--subnet", "10.244.0.1/16"]).is_err());
        assert!(parse(&["--cni-version", "0.2.0"]).is_err());
        assert!(
            parse(&["--backup-dir", "/x"]).is_err(),
            "--backup-dir needs --output"
        );
    }

    #[test]
    fn fail_on_and_probe() {
        assert_eq!(check(&["--fail-on", "never"]).unwrap().fail_on, None);
        assert_eq!(
            check(&["--fail-on", "warning"]).unwrap().fail_on,
            Some(Severity::Warning)
        );
        assert_eq!(
            check(&["--probe", "none"]).unwrap().options.probe,
            Some(ProbeMode::None)
        );
        assert!(check(&["--probe", "sometimes"]).is_err());
        assert!(check(&["--format", "yaml"]).is_err());
    }
}

/// Arguments of `cni-fix rewrite`.
#[derive(Debug, Args)]
pub struct RewriteArgs {
    /// How to find and read the node.
    #[command(flatten)]
    pub node: NodeArgs,

    /// Rewrite these configs (node paths, or names in the conf dir) instead of the ones
    /// containerd loads.
    #[arg(value_name = "FILE", conflicts_with = "all")]
    pub files: Vec<PathBuf>,

    /// Rewrite every valid config in the conf dir, not only the ones containerd loads.
    #[arg(long)]
    pub all: bool,

    /// Set this spec version instead of the highest one every plugin and the runtime support.
    /// Refused for a file whose plugins do not all support it.
    #[arg(long, value_name = "V")]
    pub cni_version: Option<String>,

    /// Also raise working but older versions to the target (for example 0.3.1 to 1.0.0, which
    /// enables CHECK).
    #[arg(long)]
    pub upgrade: bool,

    /// Change nothing; print a unified diff (for patch -p1 or git apply from the node's root).
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: exit 1 when there is something to change and everything can be fixed,
    /// 3 when some file needs input or cannot be fixed (0: nothing to do).
    #[arg(long, requires = "dry_run")]
    pub exit_code: bool,

    /// Output format: what happened to each file, for people, or one JSON object (schema
    /// cni-fix.rewrite/v1). With --dry-run, json replaces the diff on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Where to keep the originals (a node path) [default: /var/backups/cni-fix/YYYYMMDDTHHMMSSZ, in UTC].
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
}

/// Validated options for `cni-fix rewrite`.
#[derive(Debug)]
pub struct RewriteRun {
    /// What the core plans.
    pub options: RewriteOptions,
    /// Print a diff instead of writing.
    pub dry_run: bool,
    /// Exit 1 when a dry run has changes.
    pub exit_code: bool,
    /// The backup directory, when given.
    pub backup_dir: Option<PathBuf>,
    /// How to print.
    pub format: Format,
}

fn spec_version(flag: &str, v: &str) -> Result<SpecVersion> {
    v.parse::<SpecVersion>().with_context(|| flag.to_string())
}

impl RewriteArgs {
    /// Validate the arguments.
    pub fn validate(self) -> Result<RewriteRun> {
        let scope = if self.all {
            Scope::All
        } else if self.files.is_empty() {
            Scope::Loaded
        } else {
            Scope::Files(self.files)
        };
        let mut options = RewriteOptions::new(self.node.validate()?)
            .scope(scope)
            .upgrade(self.upgrade);
        if let Some(v) = &self.cni_version {
            options = options.cni_version(spec_version("--cni-version", v)?);
        }
        Ok(RewriteRun {
            options,
            dry_run: self.dry_run,
            exit_code: self.exit_code,
            format: self.format,
            backup_dir: self
                .backup_dir
                .map(|p| node_path("--backup-dir", p))
                .transpose()?,
        })
    }
}

/// What `cni-fix generate` writes besides the reference network.
#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// Write containerd's hosts.toml files from Docker's /etc/docker/daemon.json
    /// (registry-mirrors and insecure-registries), under containerd's registry config_path.
    ///
    /// New files only: an existing hosts.toml that differs is left alone. Exit status: 0 when
    /// every file is written (or already holds the same), 1 when one is left alone or an entry
    /// cannot be carried over, 2 on an operational error.
    RegistryHosts(RegistryHostsArgs),
}

/// Arguments of `cni-fix generate registry-hosts`.
#[derive(Debug, Args)]
pub struct RegistryHostsArgs {
    /// The node's root directory.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// containerd's config (a node path), for its registry config_path.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/containerd/config.toml"
    )]
    pub containerd_config: PathBuf,

    /// The directory to write under (a node path) [default: the config's first config_path
    /// directory, else /etc/containerd/certs.d].
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Print the files as a unified diff instead of writing them.
    #[arg(long)]
    pub dry_run: bool,
}

impl RegistryHostsArgs {
    /// Check the node paths.
    pub fn validate(&self) -> Result<()> {
        node_path("--containerd-config", self.containerd_config.clone())?;
        if let Some(d) = &self.config_dir {
            node_path("--config-dir", d.clone())?;
        }
        Ok(())
    }
}

/// Arguments of `cni-fix generate`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GenerateArgs {
    /// Something else to generate.
    #[command(subcommand)]
    pub what: Option<GenerateWhat>,

    /// The network name.
    #[arg(long, default_value = "containerd-net")]
    pub name: String,

    /// The bridge interface.
    #[arg(long, default_value = "cni0")]
    pub bridge: String,

    /// A pod subnet; repeat for IPv4 and IPv6 (one per family)
    /// [default: 10.88.0.0/16 and 2001:db8:4860::/64].
    #[arg(long = "subnet", value_name = "CIDR")]
    pub subnets: Vec<String>,

    /// The network's cniVersion.
    #[arg(long, value_name = "V", default_value = "1.0.0")]
    pub cni_version: String,

    /// portmap's externalSetMarkChain: the chain that marks traffic for masquerading.
    #[arg(long, value_name = "CHAIN", default_value = "KUBE-MARK-MASQ")]
    pub external_set_mark_chain: String,

    /// Leave externalSetMarkChain out (portmap then masquerades by itself).
    #[arg(long, conflicts_with = "external_set_mark_chain")]
    pub no_external_set_mark_chain: bool,

    /// Write the network to FILE, atomically, instead of printing it (- prints it). An
    /// existing FILE must be a regular file; it keeps its mode, owner and extended attributes,
    /// and is backed up first.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Where to back up an existing FILE [default: /var/backups/cni-fix/YYYYMMDDTHHMMSSZ, in UTC].
    #[arg(long, value_name = "DIR", requires = "output")]
    pub backup_dir: Option<PathBuf>,
}

impl GenerateArgs {
    /// Validate the arguments into the network to generate.
    pub fn validate(&self) -> Result<GenerateOptions> {
        let defaults = GenerateOptions::default();
        let options = GenerateOptions {
            name: self.name.clone(),
            bridge: self.bridge.clone(),
            subnets: if self.subnets.is_empty() {
                defaults.subnets
            } else {
                parse_subnets(&self.subnets).map_err(with_flag)?
            },
            cni_version: spec_version("--cni-version", &self.cni_version)?,
            external_set_mark_chain: (!self.no_external_set_mark_chain)
                .then(|| self.external_set_mark_chain.clone()),
        };
        options.validate().map_err(with_flag)?;
        Ok(options)
    }
}

/// A generate error, named by the flag that set the value.
fn with_flag(e: GenerateError) -> anyhow::Error {
    let flag = match &e {
        GenerateError::NotACidr(_)
        | GenerateError::HostBits { .. }
        | GenerateError::Overlap(..)
        | GenerateError::SameFamily(..)
        | GenerateError::NoSubnet => "--subnet",
        GenerateError::BadName(_) => "--name",
        GenerateError::BadBridge(_) => "--bridge",
        GenerateError::TooOld(_) => "--cni-version",
        GenerateError::BadChain(_) => "--external-set-mark-chain",
        _ => "generate",
    };
    anyhow::anyhow!("{flag}: {e}")
}

/// Arguments of `cni-fix restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory of the run to undo (a node path) [default: the newest under
    /// /var/backups/cni-fix].
    #[arg(value_name = "BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Read and write the node under DIR.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Change nothing; print a unified diff from the current files to the originals.
    #[arg(long)]
    pub dry_run: bool,
}

/// Validated options for `cni-fix restore`.
#[derive(Debug)]
pub struct RestoreRun {
    /// The node's root.
    pub root: PathBuf,
    /// The backup directory (a node path), or `None` for the newest.
    pub backup_dir: Option<PathBuf>,
    /// Print a diff instead of writing.
    pub dry_run: bool,
}

impl RestoreArgs {
    /// Validate the arguments.
    pub fn validate(self) -> Result<RestoreRun> {
        if !self.root.is_dir() {
            bail!("--root {}: not a directory", self.root.display());
        }
        Ok(RestoreRun {
            root: self.root,
            backup_dir: self
                .backup_dir
                .map(|p| node_path("BACKUP_DIR", p))
                .transpose()?,
            dry_run: self.dry_run,
        })
    }
}

//! Rules about containerd itself: its config file as its release reads it, `conf_template`,
//! and whether its version is known.

use super::{facts, Ctx, Draft};
use crate::containerd_config::{ConfigProblem, ContainerdConfig, DEFAULT_CONF_DIR};
use crate::finding::{FindingId, Severity};
use crate::node::display_path;
use crate::runtime::{CniHost, Regression};
use crate::snapshot::ContainerdConfigState;
use crate::spec::SpecVersion;

/// `invalid-containerd-config`: the config cannot be read or parsed, containerd rejects what
/// it names, or its CNI settings sit where they are not read.
enum InvalidContainerdConfig<'a> {
    /// The file exists but cannot be read.
    Unreadable { path: String, error: &'a str },
    /// The file is not valid TOML, or wrongly typed.
    NotToml { path: String, error: &'a str },
    /// A CNI table this config version does not read.
    IgnoredTable {
        path: String,
        warning: &'a str,
        table: &'static str,
    },
}

/// A config that stops containerd: `unsupported-config-version` when its version is the cause
/// (containerd refuses it, or crashes on it), `invalid-containerd-config` otherwise.
struct DoesNotStart<'a> {
    path: String,
    message: &'a str,
    runtime_error: &'a str,
    runtime: String,
    /// Whether the config's version is the cause.
    version: bool,
}

impl From<DoesNotStart<'_>> for Draft {
    fn from(f: DoesNotStart<'_>) -> Draft {
        let (id, remedy) = if f.version {
            (
                FindingId::UnsupportedConfigVersion,
                "Write the config in a version this containerd knows: `containerd config default` prints one, and `containerd config migrate` (2.x) converts an older one.",
            )
        } else {
            (
                FindingId::InvalidContainerdConfig,
                "Name every plugin by its full URI (for example io.containerd.grpc.v1.cri instead of cri), or go back to version 1.",
            )
        };
        let mut d = Draft::manual(
            id,
            Severity::Error,
            Some(f.path.clone()),
            format!(
                "{}: {}; {} does not start, so no pod runs on this node",
                f.path, f.message, f.runtime
            ),
            remedy.to_string(),
        );
        d.runtime_error = Some(f.runtime_error.to_string());
        d
    }
}

impl From<InvalidContainerdConfig<'_>> for Draft {
    fn from(f: InvalidContainerdConfig<'_>) -> Draft {
        let (path, severity, message, runtime_error, remedy) = match f {
            InvalidContainerdConfig::Unreadable { path, error } => (
                path.clone(),
                Severity::Warning,
                format!("{path} could not be read ({error}); containerd's defaults were checked instead"),
                None,
                "Run cni-fix as root, or point --containerd-config at a readable copy.".to_string(),
            ),
            InvalidContainerdConfig::NotToml { path, error } => (
                path.clone(),
                Severity::Error,
                format!("{path} is not a valid containerd config: {error}; containerd's defaults were checked instead"),
                Some(format!("failed to load TOML: {path}: {error}")),
                "Fix the TOML, or regenerate it with `containerd config default`.".to_string(),
            ),
            InvalidContainerdConfig::IgnoredTable {
                path,
                warning,
                table,
            } => (
                path.clone(),
                Severity::Warning,
                format!("{path}: {warning}"),
                None,
                format!("Move the CNI settings into [{table}]."),
            ),
        };
        let mut d = Draft::manual(
            FindingId::InvalidContainerdConfig,
            severity,
            Some(path),
            message,
            remedy,
        );
        d.runtime_error = runtime_error;
        d
    }
}

/// `unsupported-config-version`: the release reads the config's version otherwise than it
/// declares (a config that stops containerd is a [`DoesNotStart`]).
struct UnsupportedConfigVersion<'a> {
    path: String,
    message: &'a str,
    runtime: String,
    config: &'a ContainerdConfig,
    /// Whether the settings in effect differ from the file's own table.
    changes_settings: bool,
}

impl From<UnsupportedConfigVersion<'_>> for Draft {
    fn from(f: UnsupportedConfigVersion<'_>) -> Draft {
        let (runtime, c) = (&f.runtime, f.config);
        let (severity, effect) = if f.changes_settings {
            (
                Severity::Error,
                format!(
                    "{runtime} takes other CNI settings than the file sets (conf_dir {}, plugin dirs {})",
                    c.cni.conf_dir.as_deref().unwrap_or(DEFAULT_CONF_DIR),
                    c.cni.effective_bin_dirs().join(", ")
                ),
            )
        } else {
            (
                Severity::Warning,
                "the CNI settings in effect are the same today, but edits to that table will change nothing".to_string(),
            )
        };
        Draft::manual(
            FindingId::UnsupportedConfigVersion,
            severity,
            Some(f.path.clone()),
            format!("{}: {}; {effect}", f.path, f.message),
            format!(
                "Write the config in the version {runtime} reads: `containerd config default` prints one (`containerd config migrate` converts with 2.x); the CNI settings then belong in [{}].",
                c.table
            ),
        )
    }
}

pub(super) fn containerd_config(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let path = display_path(&snap.containerd_config_path);
    match &snap.containerd_config {
        ContainerdConfigState::Missing | ContainerdConfigState::Unread => {}
        ContainerdConfigState::Unreadable(error) => {
            ctx.push(InvalidContainerdConfig::Unreadable { path, error })
        }
        ContainerdConfigState::Invalid(error) => {
            ctx.push(InvalidContainerdConfig::NotToml { path, error })
        }
        ContainerdConfigState::Parsed(c) => {
            for warning in &c.warnings {
                ctx.push(InvalidContainerdConfig::IgnoredTable {
                    path: path.clone(),
                    warning,
                    table: c.table,
                });
            }
            let runtime = ctx.snap.runtime.label();
            for p in &c.problems {
                config_problem(ctx, &path, c, p, &runtime);
            }
        }
    }
}

/// What the release does with a config other than what the config declares.
fn config_problem(
    ctx: &mut Ctx<'_>,
    path: &str,
    c: &ContainerdConfig,
    p: &ConfigProblem,
    runtime: &str,
) {
    let (path, runtime) = (path.to_string(), runtime.to_string());
    match p {
        ConfigProblem::Fatal {
            message,
            runtime_error,
            version,
        } => ctx.push(DoesNotStart {
            path,
            message,
            runtime_error,
            runtime,
            version: *version,
        }),
        ConfigProblem::VersionMismatch {
            message,
            changes_settings,
        } => ctx.push(UnsupportedConfigVersion {
            path,
            message,
            runtime,
            config: c,
            changes_settings: *changes_settings,
        }),
    }
}

/// The name containerd renders `conf_template` into.
const TEMPLATE_TARGET: &str = "10-containerd-net.conflist";

/// `conf-template`: containerd's config names a template it renders when no network loads.
struct ConfTemplate<'a> {
    config: String,
    template: String,
    target: String,
    /// Why the template cannot be read, if it cannot.
    unreadable: Option<&'a str>,
    /// Whether a network loads today (so the template is not used).
    network_loads: bool,
}

impl From<ConfTemplate<'_>> for Draft {
    fn from(f: ConfTemplate<'_>) -> Draft {
        let ConfTemplate {
            config,
            template: shown,
            target,
            unreadable,
            network_loads,
        } = f;
        let (severity, message, remedy) = match unreadable {
            Some(e) => (
                Severity::Warning,
                format!(
                    "{config} sets conf_template = {shown}, which cannot be read ({e}): if containerd ever needs it (no network loads and the kubelet sends the pod CIDR), it fails with `failed to parse cni config template`"
                ),
                "Point conf_template at the template, or remove the setting if the cluster's CNI writes the conf dir.".to_string(),
            ),
            None if network_loads => (
                Severity::Info,
                format!(
                    "{config} sets conf_template = {shown}: containerd renders it into {target} only while no network loads, so today it is not used; if the networks in the conf dir go, containerd writes {target} from it once the kubelet sends the node's pod CIDR"
                ),
                "Nothing to do while a network loads; cni-fix cannot render the template without the node's pod CIDR.".to_string(),
            ),
            None => (
                Severity::Info,
                format!(
                    "{config} sets conf_template = {shown}: no network loads, so containerd will render it into {target} when the kubelet sends the node's pod CIDR (check that file once it appears: containerd writes it without truncating an older one)"
                ),
                "Make sure the node has a pod CIDR (spec.podCIDR), or install the cluster's CNI; run cni-fix check again after containerd has written the file.".to_string(),
            ),
        };
        Draft::manual(
            FindingId::ConfTemplate,
            severity,
            Some(config),
            message,
            remedy,
        )
    }
}

pub(super) fn conf_template(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let Some(t) = &snap.conf_template else { return };
    ctx.push(ConfTemplate {
        config: display_path(&snap.containerd_config_path),
        template: display_path(&t.path),
        target: display_path(&snap.conf_dir.join(TEMPLATE_TARGET)),
        unreadable: t.text.as_ref().err().map(String::as_str),
        network_loads: !snap.load.loaded.is_empty(),
    });
}

/// `runtime-unknown`: the version of the program that runs the plugins (containerd,
/// cri-dockerd, or the kubelet for dockershim), or its release, is unknown, so the rules took
/// the conservative side.
struct RuntimeUnknown<'a> {
    /// Whether the version itself is unknown (else only its release).
    version_unknown: bool,
    problem: &'a str,
    host: CniHost,
}

impl From<RuntimeUnknown<'_>> for Draft {
    fn from(f: RuntimeUnknown<'_>) -> Draft {
        let name = match f.host {
            CniHost::Dockershim => "kubelet (and so dockershim)",
            other => other.name(),
        };
        let what = if f.version_unknown {
            format!("The {name} version is unknown")
        } else {
            format!("The {name} release is unknown")
        };
        let conservative = match f.host {
            CniHost::Containerd => format!(
                "a missing cniVersion counts as an error, the loopback plugin is checked against containerd {}'s loopback network, and spec 1.1.0 against runtimes older than {}",
                facts::affected(Regression::LoopbackAt1_0_0),
                facts::reads_spec(SpecVersion::V1_1_0)
            ),
            host => {
                let line = crate::runtime::RuntimeLine::conservative(host);
                format!(
                    "they apply the oldest {} cni-fix knows, which links libcni {}: a missing cniVersion counts as an error and nothing above spec {} is read",
                    host.name(),
                    line.libcni(),
                    line.max_spec_version()
                )
            }
        };
        let example = match f.host {
            CniHost::Containerd => "1.6.20",
            CniHost::CriDockerd => "0.3.1",
            CniHost::Dockershim => "1.23.17",
        };
        Draft::manual(
            FindingId::RuntimeUnknown,
            Severity::Warning,
            None,
            format!(
                "{what}: {}. Version-dependent rules took the conservative side: {conservative}.",
                f.problem,
            ),
            format!(
                "Pass {flag} (for example {flag} {example}).",
                flag = facts::version_flag(f.host)
            ),
        )
    }
}

pub(super) fn runtime(ctx: &mut Ctx<'_>) {
    let rt = &ctx.snap.runtime;
    if let Some(problem) = &rt.problem {
        ctx.push(RuntimeUnknown {
            version_unknown: rt.version.is_none(),
            problem,
            host: rt.host,
        });
    }
}

//! Rules about containerd itself: its config file as its release reads it, `conf_template`,
//! and whether its version is known.

use super::{facts, Ctx, Draft};
use crate::containerd_config::{ConfigProblem, DEFAULT_CONF_DIR};
use crate::finding::{FindingId, Severity};
use crate::node::display_path;
use crate::runtime::Regression;
use crate::snapshot::ContainerdConfigState;
use crate::spec::SpecVersion;

pub(super) fn containerd_config(ctx: &mut Ctx<'_>) {
    let path = display_path(&ctx.snap.containerd_config_path);
    match &ctx.snap.containerd_config {
        ContainerdConfigState::Missing
        | ContainerdConfigState::Parsed(_)
        | ContainerdConfigState::Unread => {}
        ContainerdConfigState::Unreadable(e) => ctx.push(Draft {
id: FindingId::InvalidContainerdConfig,
severity: Severity::Warning,
file: Some(path.clone()),
plugin: None,
message: format!("{path} could not be read ({e}); containerd's defaults were checked instead"),
runtime_error: None,
remedy: "Run cni-fix as root, or point --containerd-config at a readable copy.".into(),
fixable: false,
location: None,
}),
        ContainerdConfigState::Invalid(e) => ctx.push(Draft {
id: FindingId::InvalidContainerdConfig,
severity: Severity::Error,
file: Some(path.clone()),
plugin: None,
message: format!("{path} is not a valid containerd config: {e}; containerd's defaults were checked instead"),
runtime_error: Some(format!("failed to load TOML: {path}: {e}")),
remedy: "Fix the TOML, or regenerate it with `containerd config default`.".into(),
fixable: false,
location: None,
}),
    }
    if let ContainerdConfigState::Parsed(c) = &ctx.snap.containerd_config {
        for w in &c.warnings {
            ctx.push(Draft {
                id: FindingId::InvalidContainerdConfig,
                severity: Severity::Warning,
                file: Some(path.clone()),
                plugin: None,
                message: format!("{path}: {w}"),
                runtime_error: None,
                remedy: format!("Move the CNI settings into [{}].", c.table),
                fixable: false,
                location: None,
            });
        }
        let runtime = ctx.runtime_label();
        for p in &c.problems {
            config_problem(ctx, &path, c, p, &runtime);
        }
    }
}

/// What the release does with a config other than what the config declares.
fn config_problem(
    ctx: &mut Ctx<'_>,
    path: &str,
    c: &crate::containerd_config::ContainerdConfig,
    p: &ConfigProblem,
    runtime: &str,
) {
    match p {
        ConfigProblem::Fatal {
            message,
            runtime_error,
            version,
        } => ctx.push(Draft {
id: if *version {
                FindingId::UnsupportedConfigVersion
            } else {
                FindingId::InvalidContainerdConfig
            },
severity: Severity::Error,
file: Some(path.to_string()),
plugin: None,
message: format!("{path}: {message}; {runtime} does not start, so no pod runs on this node"),
runtime_error: Some(runtime_error.clone()),
remedy: if *version {
                "Write the config in a version this containerd knows: `containerd config default` prints one, and `containerd config migrate` (2.x) converts an older one.".to_string()
            } else {
                "Name every plugin by its full URI (for example io.containerd.grpc.v1.cri instead of cri), or go back to version 1.".to_string()
            },
fixable: false,
location: None,
}),
        ConfigProblem::VersionMismatch {
            message,
            changes_settings,
        } => {
            let (severity, effect) = if *changes_settings {
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
            ctx.push(Draft {
id: FindingId::UnsupportedConfigVersion,
severity,
file: Some(path.to_string()),
plugin: None,
message: format!("{path}: {message}; {effect}"),
runtime_error: None,
remedy: format!(
                    "Write the config in the version {runtime} reads: `containerd config default` prints one (`containerd config migrate` converts with 2.x); the CNI settings then belong in [{}].",
                    c.table
                ),
fixable: false,
location: None,
});
        }
    }
}

/// The name containerd renders `conf_template` into.
const TEMPLATE_TARGET: &str = "10-containerd-net.conflist";

pub(super) fn conf_template(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let Some(t) = &snap.conf_template else { return };
    let shown = display_path(&t.path);
    let config = display_path(&snap.containerd_config_path);
    let target = display_path(&snap.conf_dir.join(TEMPLATE_TARGET));
    let loads = !snap.load.loaded.is_empty();
    let (severity, message, remedy) = match &t.text {
        Err(e) => (
            Severity::Warning,
            format!(
                "{config} sets conf_template = {shown}, which cannot be read ({e}): if containerd ever needs it (no network loads and the kubelet sends the pod CIDR), it fails with `failed to parse cni config template`"
            ),
            "Point conf_template at the template, or remove the setting if the cluster's CNI writes the conf dir.".to_string(),
        ),
        Ok(_) if loads => (
            Severity::Info,
            format!(
                "{config} sets conf_template = {shown}: containerd renders it into {target} only while no network loads, so today it is not used; if the networks in the conf dir go, containerd writes {target} from it once the kubelet sends the node's pod CIDR"
            ),
            "Nothing to do while a network loads; cni-fix cannot render the template without the node's pod CIDR.".to_string(),
        ),
        Ok(_) => (
            Severity::Info,
            format!(
                "{config} sets conf_template = {shown}: no network loads, so containerd will render it into {target} when the kubelet sends the node's pod CIDR (check that file once it appears: containerd writes it without truncating an older one)"
            ),
            "Make sure the node has a pod CIDR (spec.podCIDR), or install the cluster's CNI; run cni-fix check again after containerd has written the file.".to_string(),
        ),
    };
    ctx.push(Draft {
        id: FindingId::ConfTemplate,
        severity,
        file: Some(config),
        plugin: None,
        message,
        runtime_error: None,
        remedy,
        fixable: false,
        location: None,
    });
}

pub(super) fn runtime(ctx: &mut Ctx<'_>) {
    let rt = &ctx.snap.runtime;
    if let Some(problem) = &rt.problem {
        let what = if rt.version.is_none() {
            "The containerd version is unknown"
        } else {
            "The containerd release is unknown"
        };
        ctx.push(Draft {
id: FindingId::RuntimeUnknown,
severity: Severity::Warning,
file: None,
plugin: None,
message: format!(
                "{what}: {problem}. Version-dependent rules took the conservative side: a missing cniVersion counts as an error, the loopback plugin is checked against containerd {}'s loopback network, and spec 1.1.0 against runtimes older than {}.",
                facts::affected(Regression::LoopbackAt1_0_0),
                facts::reads_spec(SpecVersion::V1_1_0)
            ),
runtime_error: None,
remedy: "Pass --containerd-version (for example --containerd-version 1.6.20).".into(),
fixable: false,
location: None,
});
    }
}

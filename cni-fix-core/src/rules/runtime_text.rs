//! The runtime's error wording, in one place: what containerd (through go-cni and libcni), the
//! Docker Engine shims and the plugins print when a pod's network fails. Rules fill in the
//! values; the texts follow containerd's `failed to setup network for sandbox` /
//! `failed to destroy network for sandbox` wrapping, the shims' `networkPlugin cni failed to …`,
//! and libcni's `plugin type=… failed (add)` and version errors (libcni v1.0.1
//! `libcni/api.go`, `pkg/version/plugin.go`; containerd v1.6 `pkg/cri/server/sandbox_run.go`).

use crate::runtime::{CniHost, RuntimeLine};
use crate::spec::go_quote_list;

/// Placeholder for a sandbox id in runtime error texts.
pub const SANDBOX: &str = "<sandbox-id>";

/// `plugin type="x" name="y"` as libcni describes a plugin in errors.
pub(crate) fn describe(plugin_type: &str, name: &str) -> String {
    if name.is_empty() {
        format!("type={plugin_type:?}")
    } else {
        format!("type={plugin_type:?} name={name:?}")
    }
}

/// Placeholder for the pod in the Docker Engine shims' texts (`<pod>_<namespace>`, as
/// `buildPodFullName` writes it).
pub const POD: &str = "<pod>_<namespace>";

/// libcni's `plugin type=… failed (add): ` before `detail`, from libcni 1.0 on.
pub(crate) fn in_plugin(line: RuntimeLine, plugin: &str, op: &str, detail: &str) -> String {
    if line.names_failing_plugin() {
        format!("plugin {plugin} failed ({op}): {detail}")
    } else {
        detail.to_string()
    }
}

/// A pod start that fails in `plugin` (as [`describe`]d) with `detail`, as the runtime of
/// `line` reports it: containerd's `failed to setup network for sandbox`, or the shims'
/// `networkPlugin cni failed to set up pod` (cri-dockerd `core/sandbox_run.go`,
/// `network/plugins.go`).
pub(crate) fn add_failed(line: RuntimeLine, plugin: &str, detail: &str) -> String {
    let detail = in_plugin(line, plugin, "add", detail);
    match line.host() {
        CniHost::Containerd => {
            format!("failed to setup network for sandbox \"{SANDBOX}\": {detail}")
        }
        _ => format!(
            "failed to set up sandbox container \"{SANDBOX}\" network for pod \"<pod>\": networkPlugin cni failed to set up pod \"{POD}\" network: {detail}"
        ),
    }
}

/// A pod teardown that fails with `detail`.
pub(crate) fn del_failed(line: RuntimeLine, detail: &str) -> String {
    match line.host() {
        CniHost::Containerd => {
            format!("failed to destroy network for sandbox \"{SANDBOX}\": {detail}")
        }
        _ => format!("networkPlugin cni failed to teardown pod \"{POD}\" network: {detail}"),
    }
}

/// The shims' log line for a network they skip at load because `ValidateNetworkList` failed
/// (dockershim's `getDefaultCNINetwork`).
pub(super) fn skipped_at_load(reason: &str) -> String {
    format!("Error validating CNI config list (<config>): {reason}")
}

/// A plugin's refusal of a config version it does not list.
pub(super) fn incompatible(config: &str, supported: &[String]) -> String {
    format!(
        "incompatible CNI versions; config is {config:?}, plugin supports {}",
        go_quote_list(supported)
    )
}

/// libcni's refusal of a result version it cannot read.
pub(super) fn unsupported_result(spec: &str) -> String {
    format!("unsupported CNI result version \"{spec}\"")
}

/// libcni's teardown failure for a network without a version (before libcni 1.1.0).
pub(super) const EMPTY_VERSION: &str = "invalid version \"\": the version is empty";

/// A plugin's failure to read a `prevResult` that libcni turned into 0.1.0.
pub(super) const PREV_RESULT_0_1_0: &str = "failed to parse config: could not parse prevResult: could not parse prevResult: result type supports [0.3.0 0.3.1 0.4.0] but unmarshalled CNIVersion is \"0.1.0\"";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_runtimes() {
        let containerd = RuntimeLine::Containerd(crate::runtime::conservative_release());
        assert_eq!(
            add_failed(containerd, &describe("bridge", "cbr0"), &incompatible("1.0.0", &["0.4.0".into()])),
            "failed to setup network for sandbox \"<sandbox-id>\": plugin type=\"bridge\" name=\"cbr0\" failed (add): incompatible CNI versions; config is \"1.0.0\", plugin supports [\"0.4.0\"]"
        );
        assert_eq!(
            del_failed(containerd, EMPTY_VERSION),
            "failed to destroy network for sandbox \"<sandbox-id>\": invalid version \"\": the version is empty"
        );
        // containerd 1.5's libcni 0.8 does not name the plugin.
        let old = RuntimeLine::Containerd(&crate::runtime::CONTAINERD_RELEASES[1]);
        assert_eq!(
            add_failed(old, &describe("bridge", ""), "boom"),
            "failed to setup network for sandbox \"<sandbox-id>\": boom"
        );
        let shim = RuntimeLine::CriDockerd(&crate::shim::CRI_DOCKERD_RELEASES[1]);
        assert_eq!(
            del_failed(shim, EMPTY_VERSION),
            "networkPlugin cni failed to teardown pod \"<pod>_<namespace>\" network: invalid version \"\": the version is empty"
        );
        let new_shim = RuntimeLine::CriDockerd(&crate::shim::CRI_DOCKERD_RELEASES[2]);
        assert_eq!(
            add_failed(new_shim, &describe("bridge", ""), "boom"),
            "failed to set up sandbox container \"<sandbox-id>\" network for pod \"<pod>\": networkPlugin cni failed to set up pod \"<pod>_<namespace>\" network: plugin type=\"bridge\" failed (add): boom"
        );
    }
}

//! The runtime's error wording, in one place: what containerd (through go-cni and libcni) and
//! the plugins print when a pod's network fails. Rules fill in the values; the texts follow
//! containerd's `failed to setup network for sandbox` / `failed to destroy network for sandbox`
//! wrapping and libcni's `plugin type=… failed (add)` and version errors (libcni v1.0.1
//! `libcni/api.go`, `pkg/version/plugin.go`; containerd v1.6 `pkg/cri/server/sandbox_run.go`).

use crate::spec::go_quote_list;

/// Placeholder for a sandbox id in runtime error texts.
pub const SANDBOX: &str = "<sandbox-id>";

/// `plugin type="x" name="y"` as libcni describes a plugin in errors.
pub(super) fn describe(plugin_type: &str, name: &str) -> String {
    if name.is_empty() {
        format!("type={plugin_type:?}")
    } else {
        format!("type={plugin_type:?} name={name:?}")
    }
}

/// A pod start that fails in `plugin` (as [`describe`]d) with `detail`.
pub(super) fn add_failed(plugin: &str, detail: &str) -> String {
    format!(
        "failed to setup network for sandbox \"{SANDBOX}\": plugin {plugin} failed (add): {detail}"
    )
}

/// A pod teardown that fails with `detail`.
pub(super) fn del_failed(detail: &str) -> String {
    format!("failed to destroy network for sandbox \"{SANDBOX}\": {detail}")
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
        assert_eq!(
            add_failed(&describe("bridge", "cbr0"), &incompatible("1.0.0", &["0.4.0".into()])),
            "failed to setup network for sandbox \"<sandbox-id>\": plugin type=\"bridge\" name=\"cbr0\" failed (add): incompatible CNI versions; config is \"1.0.0\", plugin supports [\"0.4.0\"]"
        );
        assert_eq!(
            del_failed(EMPTY_VERSION),
            "failed to destroy network for sandbox \"<sandbox-id>\": invalid version \"\": the version is empty"
        );
    }
}

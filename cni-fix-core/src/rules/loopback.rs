//! The runtime's built-in loopback network against the loopback binary.

use super::runtime_text as rt;
use super::{describe, facts, Ctx, Draft};
use crate::finding::{FindingId, Severity};
use crate::node::display_path;
use crate::runtime::Regression;
use crate::spec::SpecVersion;

pub(super) fn loopback(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    if snap.internal_loopback {
        return;
    }
    let Some(info) = ctx.plugin("loopback") else {
        return;
    };
    let Some(list) = info.supported().map(<[String]>::to_vec) else {
        return;
    };
    let path = info.path.as_deref().map(display_path).unwrap_or_default();
    let runtime = ctx.runtime_label();
    let err = |v: &str| rt::add_failed(&describe("loopback", ""), &rt::incompatible(v, &list));
    let supports = |v: SpecVersion| list.iter().any(|s| s == v.as_str());
    let eff = snap.runtime.effective();
    match (eff.assumed, eff.release) {
        (false, r) => {
            if !supports(r.loopback) {
                ctx.push(Draft {
id: FindingId::LoopbackIncompatible,
severity: Severity::Error,
file: None,
plugin: Some("loopback"),
message: format!(
                        "{runtime} runs its built-in cni-loopback network at cniVersion {}, but {path} supports only {}: every pod fails",
                        r.loopback,
                        list.join(", ")
                    ),
runtime_error: Some(err(r.loopback.as_str())),
remedy: if r.has(Regression::LoopbackAt1_0_0) {
                        format!("Upgrade containerd to {} or later, or replace the loopback binary with one from containernetworking/plugins {} or later; a config change cannot fix this.", facts::fixed_in(Regression::LoopbackAt1_0_0), facts::plugins_for(SpecVersion::V1_0_0))
                    } else {
                        format!("Replace the loopback binary with one from containernetworking/plugins {} or later; a config change cannot fix this.", facts::plugins_for(SpecVersion::V1_0_0))
                    },
fixable: false,
location: None,
});
            }
        }
        (true, _) => {
            if !supports(SpecVersion::V0_3_1) {
                ctx.push(Draft {
id: FindingId::LoopbackIncompatible,
severity: Severity::Error,
file: None,
plugin: Some("loopback"),
message: format!(
                        "Every containerd release runs its built-in cni-loopback network at cniVersion 0.3.1 or 1.0.0, but {path} supports only {}",
                        list.join(", ")
                    ),
runtime_error: Some(err("0.3.1")),
remedy: format!("Replace the loopback binary with one from containernetworking/plugins {} or later.", facts::plugins_for(SpecVersion::V1_0_0)),
fixable: false,
location: None,
});
            } else if !supports(SpecVersion::V1_0_0) {
                ctx.push(Draft {
id: FindingId::LoopbackIncompatible,
severity: Severity::Warning,
file: None,
plugin: Some("loopback"),
message: format!(
                        "{path} does not support 1.0.0, the cniVersion of containerd {}'s built-in loopback network; the runtime version is unknown",
                        facts::affected(Regression::LoopbackAt1_0_0)
                    ),
runtime_error: Some(err("1.0.0")),
remedy: format!("Make sure containerd is not {} (--containerd-version), or replace the loopback binary with one from containernetworking/plugins {} or later.", facts::affected(Regression::LoopbackAt1_0_0), facts::plugins_for(SpecVersion::V1_0_0)),
fixable: false,
location: None,
});
            }
        }
    }
}

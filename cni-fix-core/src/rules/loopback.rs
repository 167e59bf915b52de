//! The runtime's built-in loopback network against the loopback binary.

use super::runtime_text as rt;
use super::{describe, facts, Ctx, Draft};
use crate::finding::{FindingId, Severity};
use crate::node::display_path;
use crate::runtime::{CniHost, Regression, RuntimeLine};
use crate::spec::SpecVersion;

/// `loopback-incompatible`: the loopback binary rejects the runtime's built-in loopback
/// network.
enum LoopbackIncompatible<'a> {
    /// A known runtime whose loopback network's version the binary lacks.
    Known {
        runtime: String,
        line: RuntimeLine,
        path: String,
        supported: &'a [String],
    },
    /// An unknown runtime: the binary lacks 0.3.1, the version of every release but one.
    LacksEveryVersion {
        path: String,
        supported: &'a [String],
    },
    /// An unknown runtime: the binary lacks 1.0.0, the version of the one release with it.
    LacksOne {
        path: String,
        supported: &'a [String],
    },
}

fn loopback_error(line: RuntimeLine, config: &str, supported: &[String]) -> String {
    rt::add_failed(
        line,
        &describe("loopback", ""),
        &rt::incompatible(config, supported),
    )
}

impl From<LoopbackIncompatible<'_>> for Draft {
    fn from(f: LoopbackIncompatible<'_>) -> Draft {
        let plugins = facts::plugins_for(SpecVersion::V1_0_0);
        let conservative = RuntimeLine::conservative(CniHost::Containerd);
        let (severity, message, runtime_error, remedy) = match f {
            LoopbackIncompatible::Known {
                runtime,
                line,
                path,
                supported,
            } => (
                Severity::Error,
                format!(
                    "{runtime} runs its built-in cni-loopback network at cniVersion {}, but {path} supports only {}: every pod fails",
                    line.loopback(),
                    supported.join(", ")
                ),
                loopback_error(line, line.loopback().as_str(), supported),
                if line.has(Regression::LoopbackAt1_0_0) {
                    format!(
                        "Upgrade containerd to {} or later, or replace the loopback binary with one from containernetworking/plugins {plugins} or later; a config change cannot fix this.",
                        facts::fixed_in(Regression::LoopbackAt1_0_0)
                    )
                } else {
                    format!(
                        "Replace the loopback binary with one from containernetworking/plugins {plugins} or later; a config change cannot fix this."
                    )
                },
            ),
            LoopbackIncompatible::LacksEveryVersion { path, supported } => (
                Severity::Error,
                format!(
                    "Every containerd release runs its built-in cni-loopback network at cniVersion 0.3.1 or 1.0.0, but {path} supports only {}",
                    supported.join(", ")
                ),
                loopback_error(conservative, "0.3.1", supported),
                format!(
                    "Replace the loopback binary with one from containernetworking/plugins {plugins} or later."
                ),
            ),
            LoopbackIncompatible::LacksOne { path, supported } => {
                let release = facts::affected(Regression::LoopbackAt1_0_0);
                (
                    Severity::Warning,
                    format!(
                        "{path} does not support 1.0.0, the cniVersion of containerd {release}'s built-in loopback network; the runtime version is unknown"
                    ),
                    loopback_error(conservative, "1.0.0", supported),
                    format!(
                        "Make sure containerd is not {release} (--containerd-version), or replace the loopback binary with one from containernetworking/plugins {plugins} or later."
                    ),
                )
            }
        };
        Draft {
            id: FindingId::LoopbackIncompatible,
            severity,
            file: None,
            plugin: Some("loopback".to_string()),
            message,
            runtime_error: Some(runtime_error),
            remedy,
            fixable: false,
            location: None,
            files: Vec::new(),
        }
    }
}

pub(super) fn loopback(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    if snap.internal_loopback {
        return;
    }
    let Some(info) = snap.plugin("loopback") else {
        return;
    };
    let Some(supported) = info.supported() else {
        return;
    };
    let path = info.path.as_deref().map(display_path).unwrap_or_default();
    let supports = |v: SpecVersion| supported.iter().any(|s| s == v.as_str());
    let eff = snap.runtime.effective();
    // The shims' loopback network is 0.2.0 in every release: known even when the release is not.
    let known = !eff.assumed || eff.line.host() != CniHost::Containerd;
    let finding = match known {
        true if !supports(eff.line.loopback()) => Some(LoopbackIncompatible::Known {
            runtime: ctx.snap.runtime.label(),
            line: eff.line,
            path,
            supported,
        }),
        false if !supports(SpecVersion::V0_3_1) => {
            Some(LoopbackIncompatible::LacksEveryVersion { path, supported })
        }
        false if !supports(SpecVersion::V1_0_0) => {
            Some(LoopbackIncompatible::LacksOne { path, supported })
        }
        _ => None,
    };
    if let Some(f) = finding {
        ctx.push(f);
    }
}

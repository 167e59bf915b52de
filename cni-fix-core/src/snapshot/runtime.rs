//! The container runtime: its version, from the operator or `containerd --version`, and its
//! line in the release table.

use serde::Serialize;

use crate::runtime::{containerd_release, ContainerdRelease, ContainerdVersion};
use crate::snapshot::CheckOptions;
use crate::source::{NodeSource, Prober};

/// Where the runtime version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RuntimeSource {
    /// `--containerd-version`.
    Flag,
    /// `containerd --version`.
    Exec,
    /// Not determined.
    Unknown,
}

/// The release line the rules apply: the runtime's own, or, when it is unknown, the
/// conservative one with `assumed` set (see [`crate::runtime::conservative_release`]).
#[derive(Debug, Clone, Copy)]
pub struct Effective {
    /// The release line.
    pub release: &'static ContainerdRelease,
    /// Whether it stands in for an unknown runtime.
    pub assumed: bool,
}

impl RuntimeInfo {
    /// The release line the rules apply, resolved once for every rule.
    pub fn effective(&self) -> Effective {
        match self.release {
            Some(release) => Effective {
                release,
                assumed: false,
            },
            None => Effective {
                release: crate::runtime::conservative_release(),
                assumed: true,
            },
        }
    }
}

/// The container runtime.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// The version, when known.
    pub version: Option<ContainerdVersion>,
    /// Where it came from.
    pub source: RuntimeSource,
    /// Its release line in cni-fix's table, when known.
    pub release: Option<&'static ContainerdRelease>,
    /// Why the version or its behaviour is unknown.
    pub problem: Option<String>,
}

pub(super) fn determine_runtime(
    options: &CheckOptions,
    node: &dyn NodeSource,
    prober: &dyn Prober,
) -> RuntimeInfo {
    let (version, source, mut problem) = if let Some(v) = &options.containerd_version {
        (Some(v.clone()), RuntimeSource::Flag, None)
    } else if node.is_live() {
        match prober.containerd_version(options.probe_timeout) {
            Ok(v) => (Some(v), RuntimeSource::Exec, None),
            Err(e) => (None, RuntimeSource::Unknown, Some(e)),
        }
    } else {
        (
            None,
            RuntimeSource::Unknown,
            Some(
                "nothing is executed under a root other than /; pass --containerd-version"
                    .to_string(),
            ),
        )
    };
    let release = version
        .as_ref()
        .and_then(|v| containerd_release(&v.release));
    if let (Some(v), None) = (&version, release) {
        problem = Some(format!(
            "containerd {v} is not in cni-fix's table of releases ({})",
            crate::runtime::known_releases(&crate::runtime::CONTAINERD_RELEASES)
        ));
    }
    RuntimeInfo {
        version,
        source,
        release,
        problem,
    }
}

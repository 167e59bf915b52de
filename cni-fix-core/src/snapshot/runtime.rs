//! The program that runs the CNI plugins (containerd, cri-dockerd or the kubelet's dockershim),
//! its version, from the operator or its `--version`, and its line in the release tables.

use semver::Version;
use serde::Serialize;

use super::migration::MigrationState;
use crate::kubelet::RuntimeKind;
use crate::runtime::{known_releases, CniHost, ContainerdRelease, RuntimeLine, RuntimeVersion};
use crate::snapshot::CheckOptions;
use crate::source::{NodeSource, Prober};

/// Where the runtime version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RuntimeSource {
    /// `--containerd-version` or `--cri-dockerd-version`.
    Flag,
    /// The program's `--version`.
    Exec,
    /// The kubelet's version: dockershim is part of the kubelet.
    Kubelet,
    /// Not determined.
    Unknown,
}

/// The release line the rules apply: the runtime's own, or, when it is unknown, the
/// conservative one of its program with `assumed` set (see [`RuntimeLine::conservative`]).
#[derive(Debug, Clone, Copy)]
pub struct Effective {
    /// The release line.
    pub line: RuntimeLine,
    /// Whether it stands in for an unknown release.
    pub assumed: bool,
}

/// The program that runs the CNI plugins for the kubelet's pods.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// The program.
    pub host: CniHost,
    /// Its version, when known (for dockershim, the kubelet's).
    pub version: Option<RuntimeVersion>,
    /// Where it came from.
    pub source: RuntimeSource,
    /// Its release line in cni-fix's tables, when known.
    pub line: Option<RuntimeLine>,
    /// The `--network-plugin` a Docker Engine shim runs with (`cni` reads the conf dir);
    /// `None` for containerd.
    pub network_plugin: Option<String>,
    /// Why the version or its behaviour is unknown.
    pub problem: Option<String>,
}

impl RuntimeInfo {
    /// The release line the rules apply, resolved once for every rule.
    pub fn effective(&self) -> Effective {
        match self.line {
            Some(line) => Effective {
                line,
                assumed: false,
            },
            None => Effective {
                line: RuntimeLine::conservative(self.host),
                assumed: true,
            },
        }
    }

    /// The containerd release line, when the program is a containerd cni-fix knows.
    pub fn release(&self) -> Option<&'static ContainerdRelease> {
        self.line.and_then(RuntimeLine::containerd)
    }

    /// The runtime as texts name it: `containerd 1.6.3`, `cri-dockerd 0.3.1`,
    /// `dockershim (kubelet 1.23.17)`, or with the version unknown.
    pub fn label(&self) -> String {
        match (&self.version, self.host) {
            (Some(v), CniHost::Dockershim) => format!("dockershim (kubelet {v})"),
            (Some(v), host) => format!("{} {v}", host.name()),
            (None, CniHost::Containerd) => "the runtime (version unknown)".to_string(),
            (None, host) => format!("{} (version unknown)", host.name()),
        }
    }
}

/// The program that runs the plugins: containerd unless the kubelet uses Docker Engine (and no
/// containerd version was given to ask about a move to containerd, and the kubelet is not
/// about to lose dockershim).
fn host_of(options: &CheckOptions, migration: &MigrationState) -> CniHost {
    if options.containerd_version.is_some() {
        return CniHost::Containerd;
    }
    if options.cri_dockerd_version.is_some() {
        return CniHost::CriDockerd;
    }
    let k = &migration.kubelet;
    match k.runtime {
        RuntimeKind::CriDockerd => CniHost::CriDockerd,
        RuntimeKind::Dockershim if k.version.as_ref().is_none_or(|v| v.has_dockershim()) => {
            CniHost::Dockershim
        }
        _ => CniHost::Containerd,
    }
}

/// Whether `containerd --version` may be asked: on a live node with no runtime version given,
/// it is unless the kubelet turns out to use Docker Engine. It is then asked ahead, at the same
/// time as the kubelet's own probe, and its answer left unused on a Docker Engine node (see
/// [`determine_runtime`]).
pub(super) fn asks_containerd(options: &CheckOptions, node: &dyn NodeSource) -> bool {
    node.is_live() && options.containerd_version.is_none() && options.cri_dockerd_version.is_none()
}

/// `early`: the answer of `containerd --version`, when it was asked ahead of time.
pub(super) fn determine_runtime(
    options: &CheckOptions,
    node: &dyn NodeSource,
    prober: &dyn Prober,
    migration: &MigrationState,
    early: Option<Result<crate::ContainerdVersion, String>>,
) -> RuntimeInfo {
    let host = host_of(options, migration);
    let (version, source, mut problem) = match host {
        CniHost::Containerd => from_flag_or_probe(
            options.containerd_version.as_ref(),
            node.is_live(),
            "--containerd-version",
            || early.unwrap_or_else(|| prober.containerd_version(options.probe_timeout)),
        ),
        CniHost::CriDockerd => {
            let binary = migration
                .docker
                .cri_dockerd
                .as_ref()
                .and_then(|c| c.binary())
                .unwrap_or_else(|| crate::kubelet::CRI_DOCKERD_BINARY.into());
            from_flag_or_probe(
                options.cri_dockerd_version.as_ref(),
                node.is_live(),
                "--cri-dockerd-version",
                || prober.cri_dockerd_version(node, &binary, options.probe_timeout),
            )
        }
        CniHost::Dockershim => match &migration.kubelet.version {
            Some(k) => (
                Some(RuntimeVersion {
                    release: Version::new(k.release.major, k.release.minor, k.release.patch),
                    raw: k.to_string(),
                }),
                RuntimeSource::Kubelet,
                None,
            ),
            None => (
                None,
                RuntimeSource::Unknown,
                Some(
                    "the kubelet's version is unknown, and dockershim is part of the kubelet; pass --kubelet-version"
                        .to_string(),
                ),
            ),
        },
    };
    let line = version
        .as_ref()
        .and_then(|v| RuntimeLine::of(host, &v.release));
    if let (Some(v), None) = (&version, line) {
        let known = match host {
            CniHost::Containerd => known_releases(&crate::runtime::CONTAINERD_RELEASES),
            other => known_releases(other.table()),
        };
        problem = Some(match host {
            CniHost::Dockershim => {
                format!("dockershim of kubelet {v} is not in cni-fix's table of releases ({known})")
            }
            _ => format!(
                "{} {v} is not in cni-fix's table of releases ({known})",
                host.name()
            ),
        });
    }
    let network_plugin = (host != CniHost::Containerd).then(|| {
        migration
            .shim_flag(host, "network-plugin")
            .unwrap_or_else(|| default_network_plugin(host, line))
    });
    RuntimeInfo {
        host,
        version,
        source,
        line,
        network_plugin,
        problem,
    }
}

/// A program's version: the operator's, else on the live node its `--version` through
/// `probe`; under another root nothing is run, and `flag` is the way to give it.
fn from_flag_or_probe(
    given: Option<&RuntimeVersion>,
    live: bool,
    flag: &str,
    probe: impl FnOnce() -> Result<RuntimeVersion, String>,
) -> (Option<RuntimeVersion>, RuntimeSource, Option<String>) {
    if let Some(v) = given {
        (Some(v.clone()), RuntimeSource::Flag, None)
    } else if live {
        match probe() {
            Ok(v) => (Some(v), RuntimeSource::Exec, None),
            Err(e) => (None, RuntimeSource::Unknown, Some(e)),
        }
    } else {
        (
            None,
            RuntimeSource::Unknown,
            Some(format!(
                "nothing is executed under a root other than /; pass {flag}"
            )),
        )
    }
}

/// The `--network-plugin` default of the line, or of the newest line for an unknown release.
fn default_network_plugin(host: CniHost, line: Option<RuntimeLine>) -> String {
    let row = match line {
        Some(RuntimeLine::CriDockerd(r)) | Some(RuntimeLine::Dockershim(r)) => Some(r),
        _ => host.table().last(),
    };
    row.map(|r| r.default_network_plugin)
        .unwrap_or("")
        .to_string()
}

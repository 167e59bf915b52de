//! Findings: what is wrong on a node, as data with stable ids.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; nothing fails.
    Info,
    /// Something is off and may fail later or elsewhere.
    Warning,
    /// Pods on this node will fail to start or to stop.
    Error,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How a kind of finding is repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Repair {
    /// A change of the network's `cniVersion` (`cni-fix rewrite`).
    CniVersion,
    /// Nothing cni-fix edits: an upgrade, an installation or a change by hand.
    Manual,
}

/// What a kind of finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Scope {
    /// A node's CNI setup or runtime migration (`cni-fix check`).
    Node,
    /// A workload's pod template (`cni-fix workloads`).
    Workload,
}

macro_rules! finding_catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $scope:ident, $severity:ident, $repair:ident, $summary:literal; )*) => {
        /// The stable identifier of a kind of finding. New kinds are added as cni-fix grows, so
        /// a `match` needs a wildcard arm.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum FindingId {
            $( $(#[$doc])* $variant, )*
        }

        impl FindingId {
            /// Every finding id, in catalogue order.
            pub const ALL: &'static [FindingId] = &[$(FindingId::$variant),*];

            /// The id as written in reports, for example `missing-version`.
            pub fn as_str(self) -> &'static str {
                match self { $(FindingId::$variant => $id,)* }
            }

            /// A one-line description.
            pub fn summary(self) -> &'static str {
                match self { $(FindingId::$variant => $summary,)* }
            }

            /// The severity a finding of this kind usually has; rules may lower or raise it
            /// (for example when the runtime's version is unknown).
            pub fn default_severity(self) -> Severity {
                match self { $(FindingId::$variant => Severity::$severity,)* }
            }

            /// What a finding of this kind is about: a node (`check`) or a workload
            /// (`workloads`).
            pub fn scope(self) -> Scope {
                match self { $(FindingId::$variant => Scope::$scope,)* }
            }

            /// How a finding of this kind is repaired.
            pub fn repair(self) -> Repair {
                match self { $(FindingId::$variant => Repair::$repair,)* }
            }

            /// The long explanation printed by `cni-fix explain`: cause, affected runtime
            /// versions, symptoms, remedy and references (`src/explain/<id>.md`).
            pub fn explanation(self) -> &'static str {
                match self { $(FindingId::$variant => include_str!(concat!("explain/", $id, ".md")),)* }
            }
        }
    };
}

finding_catalogue! {
    /// A plugin does not list the network's cniVersion.
    IncompatibleVersion = "incompatible-version", Node, Error, CniVersion, "a plugin in a loaded network does not support the network's cniVersion";
    /// A loaded network declares no cniVersion.
    MissingVersion = "missing-version", Node, Error, CniVersion, "a loaded network declares no cniVersion";
    /// A cniVersion that is not a spec version.
    InvalidVersion = "invalid-version", Node, Error, CniVersion, "a cniVersion that is not one of the seven CNI spec versions";
    /// A spec version or `cniVersions` list the runtime's libcni cannot use.
    UnsupportedSpecVersion = "unsupported-spec-version", Node, Error, CniVersion, "a spec version or cniVersions list the runtime's libcni cannot use";
    /// The runtime's built-in loopback network is not supported by the loopback binary.
    LoopbackIncompatible = "loopback-incompatible", Node, Error, Manual, "the loopback plugin does not support the runtime's built-in loopback network";
    /// No executable for a needed plugin.
    PluginNotFound = "plugin-not-found", Node, Error, Manual, "no executable for a plugin that a loaded network (or loopback) needs";
    /// A chain after weave-net on containerd 1.6.0 to 1.6.4.
    ResultVersionRegression = "result-version-regression", Node, Error, Manual, "a chain after a plugin whose results carry no version, on containerd 1.6.0 to 1.6.4";
    /// libcni rejects the file.
    InvalidConfig = "invalid-config", Node, Error, Manual, "libcni rejects the file";
    /// Template placeholders were never rendered.
    UnrenderedTemplate = "unrendered-template", Node, Error, Manual, "the file still holds template placeholders";
    /// A network name that plugins reject.
    InvalidNetworkName = "invalid-network-name", Node, Error, Manual, "a network name that plugins reject";
    /// A valid config containerd does not load.
    ShadowedConfig = "shadowed-config", Node, Warning, Manual, "a valid config that containerd does not load";
    /// Nothing loadable in the conf dir.
    NoConfig = "no-config", Node, Error, Manual, "nothing loadable in the conf dir";
    /// A file in the conf dir the runtime ignores.
    IgnoredFile = "ignored-file", Node, Info, Manual, "a file in the conf dir that the runtime ignores";
    /// A plugin's versions could not be determined.
    PluginVersionUnknown = "plugin-version-unknown", Node, Warning, Manual, "a plugin's supported versions could not be determined";
    /// Writable by others, or not owned by root.
    InsecurePermissions = "insecure-permissions", Node, Warning, Manual, "a config or plugin, or their directory, that others can write";
    /// The runtime's version could not be determined.
    RuntimeUnknown = "runtime-unknown", Node, Warning, Manual, "the runtime's version could not be determined";
    /// containerd's config does not parse or sets CNI settings it ignores.
    InvalidContainerdConfig = "invalid-containerd-config", Node, Error, Manual, "containerd's config does not parse, or CNI settings in it are ignored";
    /// containerd's config sets `conf_template`.
    ConfTemplate = "conf-template", Node, Info, Manual, "containerd's config sets conf_template, which containerd renders when no network loads";
    /// A containerd config version the running containerd does not read as declared.
    UnsupportedConfigVersion = "unsupported-config-version", Node, Error, Manual, "containerd's config declares a version this containerd reads differently, or not at all";
    /// The kubelet still uses dockershim.
    DockershimEndpoint = "dockershim-endpoint", Node, Error, Manual, "the kubelet still uses dockershim, which kubelet 1.24 and later do not have";
    /// A kubelet flag the kubelet's version no longer accepts.
    KubeletRemovedFlag = "kubelet-removed-flag", Node, Error, Manual, "a kubelet flag that the kubelet's version removed, so it does not start";
    /// The kubelet's runtime endpoint names a socket nothing serves.
    RuntimeSocketMissing = "runtime-socket-missing", Node, Error, Manual, "the kubelet's runtime endpoint names a socket that does not exist or that no installed runtime serves";
    /// An endpoint without `unix://`.
    EndpointWithoutScheme = "endpoint-without-scheme", Node, Warning, Manual, "the kubelet's runtime endpoint or kubeadm's cri-socket annotation lacks unix://";
    /// kubeadm's annotation differs from the kubelet's endpoint.
    CriSocketAnnotationMismatch = "cri-socket-annotation-mismatch", Node, Warning, Manual, "the Node's kubeadm cri-socket annotation differs from the kubelet's runtime endpoint";
    /// containerd's CRI plugin is disabled.
    CriPluginDisabled = "cri-plugin-disabled", Node, Error, Manual, "containerd's config disables the CRI plugin the kubelet talks to";
    /// The kubelet and the runtime use different cgroup drivers.
    CgroupDriverMismatch = "cgroup-driver-mismatch", Node, Error, Manual, "the kubelet and the runtime use different cgroup drivers";
    /// containerd's sandbox image differs from the kubelet's.
    SandboxImageMismatch = "sandbox-image-mismatch", Node, Warning, Manual, "containerd's sandbox (pause) image differs from the one the kubelet is set to";
    /// Docker's registry settings are not carried over to containerd.
    DockerRegistryConfigNotMigrated = "docker-registry-config-not-migrated", Node, Warning, Manual, "Docker's registry mirrors or insecure registries are not carried over to containerd";
    /// Something on the node calls Docker though the kubelet no longer uses it.
    DockerUsedOnNode = "docker-used-on-node", Node, Warning, Manual, "a unit, cron job or rc.local runs docker or needs docker.service, though the kubelet no longer uses Docker Engine";
    /// A file the kubelet, systemd or Docker reads is malformed.
    InvalidNodeFile = "invalid-node-file", Node, Warning, Manual, "a kubelet, systemd, Docker or Node file that is malformed, so part or all of it is ignored or refused";
    /// A hostPath volume of Docker's socket.
    DockerSocketMount = "docker-socket-mount", Workload, Error, Manual, "a workload mounts Docker's socket (/var/run/docker.sock) from the node";
    /// A hostPath of a directory holding Docker's socket, mounted or reached through subPath.
    DockerSocketParentMount = "docker-socket-parent-mount", Workload, Error, Manual, "a workload mounts a directory that holds Docker's socket (/var/run, /run, /var or /), or reaches it through subPath";
    /// A hostPath of Docker's data directory.
    DockerDataMount = "docker-data-mount", Workload, Warning, Manual, "a workload mounts Docker's data directory /var/lib/docker (or part of it, such as its container logs)";
    /// `DOCKER_HOST` names the node's Docker daemon.
    DockerHostEnv = "docker-host-env", Workload, Warning, Manual, "a container sets DOCKER_HOST to the node's Docker daemon (a unix socket, or TCP on 2375/2376)";
    /// A command, argument or exec handler runs the docker client.
    DockerCliInCommand = "docker-cli-in-command", Workload, Warning, Manual, "a container's command, args, exec probe or hook runs the docker client";
    /// A known telemetry, security or logging agent.
    KnownAgent = "known-agent", Workload, Warning, Manual, "a telemetry, security or logging agent whose vendor documents a migration off Docker Engine";
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The error for an unknown finding id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown finding id {0:?}; known ids: {known}", known = FindingId::ALL.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", "))]
pub struct UnknownFindingId(pub String);

impl FromStr for FindingId {
    type Err = UnknownFindingId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FindingId::ALL
            .iter()
            .copied()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| UnknownFindingId(s.to_string()))
    }
}

/// One problem found on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// What kind of problem.
    pub id: FindingId,
    /// How bad.
    pub severity: Severity,
    /// The config file concerned (a node path), if any.
    pub file: Option<String>,
    /// The plugin type concerned, if any.
    pub plugin: Option<String>,
    /// What is wrong, with the values involved.
    pub message: String,
    /// The error text the runtime or plugin prints for it, values filled in.
    pub runtime_error: Option<String>,
    /// What to do.
    pub remedy: String,
    /// Whether `cni-fix rewrite` can fix it by editing the config.
    pub fixable: bool,
    /// The repair of a finding that a cniVersion change fixes, with its applicability. JSON
    /// shows only the fix `cni-fix rewrite` applies on its own (null otherwise; it may still
    /// fix the finding when given `--cni-version`).
    #[serde(serialize_with = "crate::fix::serialize_safe_fix")]
    pub fix: Option<crate::fix::Fix>,
    /// Further files the finding is about (node paths), such as every config a conf dir
    /// shadows; empty for most findings.
    pub files: Vec<String>,
    /// Where in `file` the finding points, when it points at a place: a syntax error, the
    /// network's `cniVersion`, a placeholder.
    pub location: Option<Location>,
}

impl Finding {
    /// A finding of kind `id` about the node, with its message and remedy; the other fields
    /// are empty, to be set as needed.
    pub fn new(
        id: FindingId,
        severity: Severity,
        message: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Finding {
        Finding {
            id,
            severity,
            file: None,
            plugin: None,
            message: message.into(),
            runtime_error: None,
            remedy: remedy.into(),
            fixable: false,
            fix: None,
            files: Vec::new(),
            location: None,
        }
    }
}

/// A place in a file: 1-based line and column (in bytes), as Go's JSON errors count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `bytes`.
    pub fn at(bytes: &[u8], offset: usize) -> Location {
        let (line, column) = crate::json::line_col(bytes, offset);
        Location { line, column }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let ids: Vec<&str> = FindingId::ALL.iter().map(|i| i.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        for id in FindingId::ALL {
            assert_eq!(id.as_str().parse::<FindingId>().unwrap(), *id);
            let text = id.explanation();
            assert!(text.starts_with(&format!("# {}", id.as_str())), "{id}");
            for section in [
                "## Cause",
                "## Affected",
                "## Symptoms",
                "## Remedy",
                "## References",
            ] {
                assert!(text.contains(section), "{id} lacks {section}");
            }
        }
        insta::assert_snapshot!(ids.join("\n"));
    }

    #[test]
    fn unknown_ids_list_the_known_ones() {
        let e = "missing".parse::<FindingId>().unwrap_err().to_string();
        assert!(e.contains("missing-version"), "{e}");
    }
}

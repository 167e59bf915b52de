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

macro_rules! finding_ids {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $summary:literal; )*) => {
        /// The stable identifier of a kind of finding.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
        }
    };
}

finding_ids! {
    /// A plugin does not list the network's cniVersion.
    IncompatibleVersion = "incompatible-version", "a plugin in a loaded network does not support the network's cniVersion";
    /// A loaded network declares no cniVersion.
    MissingVersion = "missing-version", "a loaded network declares no cniVersion";
    /// A cniVersion that is not a spec version.
    InvalidVersion = "invalid-version", "a cniVersion that is not one of the seven CNI spec versions";
    /// A spec version or `cniVersions` list the runtime's libcni cannot use.
    UnsupportedSpecVersion = "unsupported-spec-version", "a spec version or cniVersions list the runtime's libcni cannot use";
    /// The runtime's built-in loopback network is not supported by the loopback binary.
    LoopbackIncompatible = "loopback-incompatible", "the loopback plugin does not support the runtime's built-in loopback network";
    /// No executable for a needed plugin.
    PluginNotFound = "plugin-not-found", "no executable for a plugin that a loaded network (or loopback) needs";
    /// A chain after weave-net on containerd 1.6.0 to 1.6.4.
    ResultVersionRegression = "result-version-regression", "a chain after a plugin whose results carry no version, on containerd 1.6.0 to 1.6.4";
    /// libcni rejects the file.
    InvalidConfig = "invalid-config", "libcni rejects the file";
    /// Template placeholders were never rendered.
    UnrenderedTemplate = "unrendered-template", "the file still holds template placeholders";
    /// A network name that plugins reject.
    InvalidNetworkName = "invalid-network-name", "a network name that plugins reject";
    /// A valid config containerd does not load.
    ShadowedConfig = "shadowed-config", "a valid config that containerd does not load";
    /// Nothing loadable in the conf dir.
    NoConfig = "no-config", "nothing loadable in the conf dir";
    /// A file in the conf dir the runtime ignores.
    IgnoredFile = "ignored-file", "a file in the conf dir that the runtime ignores";
    /// A plugin's versions could not be determined.
    PluginVersionUnknown = "plugin-version-unknown", "a plugin's supported versions could not be determined";
    /// Writable by others, or not owned by root.
    InsecurePermissions = "insecure-permissions", "a config or plugin, or their directory, that others can write";
    /// The runtime's version could not be determined.
    RuntimeUnknown = "runtime-unknown", "the runtime's version could not be determined";
    /// containerd's config does not parse or sets CNI settings it ignores.
    InvalidContainerdConfig = "invalid-containerd-config", "containerd's config does not parse, or CNI settings in it are ignored";
    /// containerd's config sets `conf_template`.
    ConfTemplate = "conf-template", "containerd's config sets conf_template, which containerd renders when no network loads";
    /// A containerd config version the running containerd does not read as declared.
    UnsupportedConfigVersion = "unsupported-config-version", "containerd's config declares a version this containerd reads differently, or not at all";
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
    /// The edit `cni-fix rewrite` would make, when it can choose one on its own (it may still
    /// fix a finding without one when given `--cni-version`).
    pub fix: Option<crate::fix::Fix>,
    /// Further files the finding is about (node paths), such as every config a conf dir
    /// shadows; empty for most findings.
    pub files: Vec<String>,
}

impl FindingId {
    /// The long explanation printed by `cni-fix explain`: cause, affected runtime versions,
    /// symptoms, remedy and references.
    pub fn explanation(self) -> &'static str {
        match self {
            FindingId::IncompatibleVersion => include_str!("explain/incompatible-version.md"),
            FindingId::MissingVersion => include_str!("explain/missing-version.md"),
            FindingId::InvalidVersion => include_str!("explain/invalid-version.md"),
            FindingId::UnsupportedSpecVersion => {
                include_str!("explain/unsupported-spec-version.md")
            }
            FindingId::LoopbackIncompatible => include_str!("explain/loopback-incompatible.md"),
            FindingId::PluginNotFound => include_str!("explain/plugin-not-found.md"),
            FindingId::ResultVersionRegression => {
                include_str!("explain/result-version-regression.md")
            }
            FindingId::InvalidConfig => include_str!("explain/invalid-config.md"),
            FindingId::UnrenderedTemplate => include_str!("explain/unrendered-template.md"),
            FindingId::InvalidNetworkName => include_str!("explain/invalid-network-name.md"),
            FindingId::ShadowedConfig => include_str!("explain/shadowed-config.md"),
            FindingId::NoConfig => include_str!("explain/no-config.md"),
            FindingId::IgnoredFile => include_str!("explain/ignored-file.md"),
            FindingId::PluginVersionUnknown => include_str!("explain/plugin-version-unknown.md"),
            FindingId::InsecurePermissions => include_str!("explain/insecure-permissions.md"),
            FindingId::RuntimeUnknown => include_str!("explain/runtime-unknown.md"),
            FindingId::InvalidContainerdConfig => {
                include_str!("explain/invalid-containerd-config.md")
            }
            FindingId::ConfTemplate => include_str!("explain/conf-template.md"),
            FindingId::UnsupportedConfigVersion => {
                include_str!("explain/unsupported-config-version.md")
            }
        }
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

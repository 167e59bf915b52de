//! The spec versions each containernetworking/plugins release supports, per plugin.
//!
//! Used by `--assume-plugins-release`: when the binaries on a node are known to come from one
//! release, their `VERSION` answers follow from the release's vendored libcni
//! (`version.All`) and a few per-plugin exceptions.

use std::fmt;

use semver::Version;

use crate::spec::SpecVersion;

/// A containernetworking/plugins release, such as `v0.9.1` or `1.1.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginsRelease {
    version: Version,
    line: &'static ReleaseLine,
}

impl fmt::Display for PluginsRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.version)
    }
}

/// Why a plugins release could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// The text is not a version.
    #[error("cannot read {0:?} as a plugins release (for example 0.9.1 or v1.1.1)")]
    Syntax(String),
    /// No release line covers it.
    #[error("containernetworking/plugins {0} is not in cni-fix's release table ({known}); probe the binaries instead", known = known_releases(&LINES))]
    Unknown(String),
}

#[derive(Debug, PartialEq, Eq)]
struct ReleaseLine {
    first: Version,
    last: Version,
    /// `version.All` of the vendored libcni.
    all: SpecVersion,
    /// Per-plugin lists that differ from `all`; `None` where the list is not known.
    exceptions: &'static [(&'static str, Option<&'static [SpecVersion]>)],
}

use SpecVersion::*;

/// Plugins whose binaries every containernetworking/plugins release in the table ships.
/// `flannel` shipped there too until v1.0.0 removed it (`plugins/meta/flannel` at v0.9.1, gone
/// at v1.0.0); since then it comes from flannel-io/cni-plugin. See [`PluginsRelease::ships`].
pub const RELEASE_PLUGINS: &[&str] = &[
    "bandwidth",
    "bridge",
    "dhcp",
    "dummy",
    "firewall",
    "host-device",
    "host-local",
    "ipvlan",
    "loopback",
    "macvlan",
    "portmap",
    "ptp",
    "sbr",
    "static",
    "tap",
    "tuning",
    "vlan",
    "vrf",
    "win-bridge",
    "win-overlay",
];

/// The meta plugin that containernetworking/plugins shipped until v1.0.0. Its `main` there
/// is `skel.PluginMain(…, version.All, …)`, so it answers with the release's full list
/// (plugins v0.6.0 to v0.9.1, `plugins/meta/flannel/flannel.go`).
const FLANNEL: &str = "flannel";
/// The first release without flannel.
const FLANNEL_REMOVED: Version = Version::new(1, 0, 0);

/// Where plugins that containernetworking/plugins does not ship come from, for remedies that
/// name the right project: (plugin types, project).
pub const PLUGIN_PROJECTS: &[(&[&str], &str)] = &[
    (
        &["flannel"],
        "flannel-io/cni-plugin (flannel's own CNI plugin, installed by flannel's DaemonSet)",
    ),
    (
        &["calico", "calico-ipam"],
        "Calico (projectcalico/calico; calico-node's install-cni container installs it)",
    ),
    (
        &["cilium-cni"],
        "Cilium (cilium/cilium; the Cilium agent installs it)",
    ),
    (
        &["aws-cni", "egress-cni"],
        "the Amazon VPC CNI (aws/amazon-vpc-cni-k8s)",
    ),
    (&["antrea"], "Antrea (antrea-io/antrea)"),
    (&["weave-net", "weave-ipam"], "Weave Net (weaveworks/weave)"),
    (
        &["multus", "multus-shim"],
        "Multus (k8snetworkplumbingwg/multus-cni)",
    ),
    (
        &["whereabouts"],
        "Whereabouts (k8snetworkplumbingwg/whereabouts)",
    ),
    (&["kube-ovn"], "Kube-OVN (kubeovn/kube-ovn)"),
    (
        &["ovn-k8s-cni-overlay"],
        "OVN-Kubernetes (ovn-org/ovn-kubernetes)",
    ),
    (
        &["azure-vnet", "azure-vnet-ipam"],
        "Azure CNI (Azure/azure-container-networking)",
    ),
];

/// Where a plugin comes from today, when cni-fix knows: `containernetworking/plugins` for the
/// plugins its current releases ship, the project of [`PLUGIN_PROJECTS`] otherwise, and `None`
/// for a plugin cni-fix does not know.
pub fn plugin_project(plugin: &str) -> Option<&'static str> {
    if RELEASE_PLUGINS.contains(&plugin) {
        return Some("containernetworking/plugins");
    }
    PLUGIN_PROJECTS
        .iter()
        .find(|(types, _)| types.contains(&plugin))
        .map(|(_, project)| *project)
}

const WIN_OLD: Option<&[SpecVersion]> = Some(&[V0_1_0, V0_2_0, V0_3_0]);
const STARTING_FROM_LATER: &[(&str, Option<&[SpecVersion]>)] = &[
    ("bandwidth", Some(&[V0_3_0, V0_3_1, V0_4_0, V1_0_0])),
    ("firewall", Some(&[V0_4_0, V1_0_0])),
    ("vrf", Some(&[V0_3_1, V0_4_0, V1_0_0])),
    ("win-bridge", None),
    ("win-overlay", None),
];
const STARTING_FROM_1_1: &[(&str, Option<&[SpecVersion]>)] = &[
    ("bandwidth", Some(&[V0_3_0, V0_3_1, V0_4_0, V1_0_0, V1_1_0])),
    ("firewall", Some(&[V0_4_0, V1_0_0, V1_1_0])),
    ("vrf", Some(&[V0_3_1, V0_4_0, V1_0_0, V1_1_0])),
    ("win-bridge", None),
    ("win-overlay", None),
];

static LINES: [ReleaseLine; 5] = [
    ReleaseLine {
        first: Version::new(0, 6, 0),
        last: Version::new(0, 7, 999),
        all: V0_3_1,
        exceptions: &[
            ("bandwidth", None),
            ("win-bridge", WIN_OLD),
            ("win-overlay", WIN_OLD),
        ],
    },
    ReleaseLine {
        first: Version::new(0, 8, 0),
        last: Version::new(0, 9, 999),
        all: V0_4_0,
        exceptions: &[
            ("bandwidth", Some(&[V0_3_0, V0_3_1, V0_4_0])),
            ("firewall", Some(&[V0_4_0])),
            ("vrf", None),
            ("win-bridge", WIN_OLD),
            ("win-overlay", WIN_OLD),
        ],
    },
    ReleaseLine {
        first: Version::new(1, 0, 0),
        last: Version::new(1, 0, 0),
        all: V1_0_0,
        exceptions: &[
            ("bandwidth", Some(&[V0_3_0, V0_3_1, V1_0_0])),
            ("firewall", Some(&[V0_4_0])),
            ("vrf", Some(&[V0_3_1, V0_4_0])),
            ("win-bridge", WIN_OLD),
            ("win-overlay", WIN_OLD),
        ],
    },
    ReleaseLine {
        first: Version::new(1, 0, 1),
        last: Version::new(1, 5, 999),
        all: V1_0_0,
        exceptions: STARTING_FROM_LATER,
    },
    ReleaseLine {
        first: Version::new(1, 6, 0),
        last: Version::new(1, 9, 999),
        all: V1_1_0,
        exceptions: STARTING_FROM_1_1,
    },
];

/// The releases a table of lines covers, as `v0.6.0 to v1.9.x`.
fn known_releases(lines: &[ReleaseLine]) -> String {
    match (lines.first(), lines.last()) {
        (Some(a), Some(b)) => format!("v{} to v{}.{}.x", a.first, b.last.major, b.last.minor),
        _ => "none".to_string(),
    }
}

/// Whether a line's `plugin` lists `spec` (unknown lists do not).
fn line_supports(line: &ReleaseLine, plugin: &str, spec: SpecVersion) -> bool {
    match line.exceptions.iter().find(|(name, _)| *name == plugin) {
        Some((_, list)) => list.is_some_and(|l| l.contains(&spec)),
        None => spec <= line.all,
    }
}

/// The first release from which `plugin` supports `spec` in every later release too, or
/// `None` when no release in the table does.
pub fn first_release_supporting(plugin: &str, spec: SpecVersion) -> Option<Version> {
    first_supporting_in(&LINES, |line| line_supports(line, plugin, spec))
}

/// The first release from which every plugin of the project whose list is known supports
/// `spec`, in every later release too: the release to upgrade a node's plugins to. The
/// Windows plugins, whose lists are not known for every line, are left out.
pub fn first_release_supporting_all(spec: SpecVersion) -> Option<Version> {
    first_supporting_in(&LINES, |line| {
        RELEASE_PLUGINS
            .iter()
            .filter(|p| !p.starts_with("win-"))
            .all(|p| line_supports(line, p, spec))
    })
}

fn first_supporting_in(
    lines: &[ReleaseLine],
    ok: impl Fn(&ReleaseLine) -> bool,
) -> Option<Version> {
    let from = lines.iter().rposition(|l| !ok(l)).map_or(0, |i| i + 1);
    lines.get(from).map(|l| l.first.clone())
}

impl PluginsRelease {
    /// Read a release as `0.9.1`, `v1.1.1` or a packaged `1.1.1+ds1`.
    pub fn parse(raw: &str) -> Result<PluginsRelease, ReleaseError> {
        let (major, minor, patch) = crate::runtime::release_triple(raw)
            .ok_or_else(|| ReleaseError::Syntax(raw.to_string()))?;
        let version = Version::new(major, minor, patch);
        let line = LINES
            .iter()
            .find(|l| l.first <= version && version <= l.last)
            .ok_or_else(|| ReleaseError::Unknown(format!("v{version}")))?;
        Ok(PluginsRelease { version, line })
    }

    /// The release's version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// Whether this release ships a binary named `plugin`: every plugin of
    /// [`RELEASE_PLUGINS`], and `flannel` before v1.0.0.
    pub fn ships(&self, plugin: &str) -> bool {
        RELEASE_PLUGINS.contains(&plugin) || (plugin == FLANNEL && self.version < FLANNEL_REMOVED)
    }

    /// The spec versions `plugin` from this release answers `VERSION` with, or `None` when the
    /// plugin is not one of this project's or its list for this release is not known.
    pub fn supported_versions(&self, plugin: &str) -> Option<Vec<SpecVersion>> {
        if !self.ships(plugin) {
            return None;
        }
        match self
            .line
            .exceptions
            .iter()
            .find(|(name, _)| *name == plugin)
        {
            Some((_, list)) => list.map(<[SpecVersion]>::to_vec),
            None => Some(V0_1_0.range_to(self.line.all)),
        }
    }

    /// The highest spec version this release's plugins implement (`version.Current()`).
    pub fn current(&self) -> SpecVersion {
        self.line.all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Option<Vec<SpecVersion>>) -> Option<Vec<&'static str>> {
        v.map(|l| l.into_iter().map(SpecVersion::as_str).collect())
    }

    #[test]
    fn release_lines() {
        let r = PluginsRelease::parse("0.9.1").unwrap();
        assert_eq!(
            strs(r.supported_versions("loopback")).unwrap(),
            ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0"]
        );
        assert_eq!(strs(r.supported_versions("firewall")).unwrap(), ["0.4.0"]);
        assert_eq!(r.supported_versions("calico"), None);
        let r = PluginsRelease::parse("v1.0.0").unwrap();
        assert_eq!(
            strs(r.supported_versions("bandwidth")).unwrap(),
            ["0.3.0", "0.3.1", "1.0.0"]
        );
        let r = PluginsRelease::parse("1.1.1+ds1").unwrap();
        assert_eq!(r.current(), V1_0_0);
        assert_eq!(
            strs(r.supported_versions("firewall")).unwrap(),
            ["0.4.0", "1.0.0"]
        );
        let r = PluginsRelease::parse("1.6.0").unwrap();
        assert_eq!(
            r.supported_versions("bridge").unwrap().last(),
            Some(&V1_1_0)
        );
        assert_eq!(
            strs(
                PluginsRelease::parse("0.7.6")
                    .unwrap()
                    .supported_versions("bridge")
            )
            .unwrap(),
            ["0.1.0", "0.2.0", "0.3.0", "0.3.1"]
        );
    }

    #[test]
    fn flannel_ships_until_v1_0_0() {
        let r = PluginsRelease::parse("0.8.7").unwrap();
        assert_eq!(
            strs(r.supported_versions("flannel")).unwrap(),
            ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0"]
        );
        assert!(PluginsRelease::parse("0.6.0").unwrap().ships("flannel"));
        assert!(!PluginsRelease::parse("1.0.0").unwrap().ships("flannel"));
        assert_eq!(
            PluginsRelease::parse("1.1.1")
                .unwrap()
                .supported_versions("flannel"),
            None
        );
        assert_eq!(
            plugin_project("bridge"),
            Some("containernetworking/plugins")
        );
        assert!(plugin_project("flannel")
            .unwrap()
            .starts_with("flannel-io/cni-plugin"));
        assert!(plugin_project("calico-ipam").unwrap().starts_with("Calico"));
        assert_eq!(plugin_project("my-own-plugin"), None);
    }

    #[test]
    fn first_releases_supporting_a_spec() {
        let v = |s: &str| Some(Version::parse(s).unwrap());
        assert_eq!(first_release_supporting_all(V1_0_0), v("1.0.1"));
        assert_eq!(first_release_supporting_all(V1_1_0), v("1.6.0"));
        assert_eq!(first_release_supporting("bridge", V1_0_0), v("1.0.0"));
        // bandwidth lost 0.4.0 in v1.0.0 and got it back in v1.0.1.
        assert_eq!(first_release_supporting("bandwidth", V0_4_0), v("1.0.1"));
        assert_eq!(first_release_supporting("loopback", V0_3_1), v("0.6.0"));
        assert_eq!(
            ReleaseError::Unknown("v2.0.0".into()).to_string(),
            "containernetworking/plugins v2.0.0 is not in cni-fix's release table (v0.6.0 to v1.9.x); probe the binaries instead"
        );
    }

    #[test]
    fn bad_releases() {
        assert!(matches!(
            PluginsRelease::parse("1.1"),
            Err(ReleaseError::Syntax(_))
        ));
        assert!(matches!(
            PluginsRelease::parse("latest"),
            Err(ReleaseError::Syntax(_))
        ));
        assert!(matches!(
            PluginsRelease::parse("0.5.2"),
            Err(ReleaseError::Unknown(_))
        ));
        assert!(matches!(
            PluginsRelease::parse("2.0.0"),
            Err(ReleaseError::Unknown(_))
        ));
    }
}

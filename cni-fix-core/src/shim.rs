//! Docker Engine's CRI shims, which run CNI plugins for the kubelet's pods when Docker Engine is
//! the runtime: dockershim, inside the kubelet before 1.24, and cri-dockerd, its continuation
//! outside the kubelet. Both load the conf dir with dockershim's `getDefaultCNINetwork`: the
//! `.conf`, `.conflist` and `.json` files in sorted order; a file libcni cannot read, a `.conf`
//! without a `type`, a list without plugins, or a list whose plugins are missing or do not list
//! its `cniVersion` (`ValidateNetworkList`, which runs each plugin's VERSION) is skipped with a
//! log line, and the first valid one is the pod network; with none,
//! `no valid networks found in <dir>`.
//!
//! Sources: Mirantis/cri-dockerd at each tag, `network/cni/cni.go` (`src/network/cni/cni.go`
//! before v0.2.1), `network/cni/cni_others.go` (`getLoNetwork`), `cmd/cri/options/options.go`
//! (defaults) and `go.mod` (libcni); kubernetes/kubernetes `pkg/kubelet/dockershim/network/cni`,
//! the code cri-dockerd took, with libcni v0.8.0 from kubernetes PR #91896 (1.19) and v0.8.1
//! from PR #101759 (1.22).

use semver::Version;

use crate::runtime::{Regression, ReleaseRow};
use crate::spec::SpecVersion;

/// A range of releases of a Docker Engine shim that run CNI the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimRelease {
    /// First release of the range (inclusive): a cri-dockerd release, or for dockershim the
    /// kubelet's.
    pub first: Version,
    /// Last release of the range (inclusive).
    pub last: Version,
    /// The libcni (containernetworking/cni) version it vendors.
    pub libcni: Version,
    /// Its `--network-plugin` default: `cni` reads the conf dir; `kubenet` and the empty
    /// default (no network plugin) do not.
    pub default_network_plugin: &'static str,
}

impl ReleaseRow for ShimRelease {
    fn first(&self) -> &Version {
        &self.first
    }
    fn last(&self) -> &Version {
        &self.last
    }
    /// The libcni regressions only: the shims have none of their own.
    fn has(&self, regression: Regression) -> bool {
        crate::runtime::libcni_has(&self.libcni, regression).unwrap_or(false)
    }
}

/// The cniVersion of the shims' built-in `cni-loopback` network (`getLoNetwork`, the same in
/// every cri-dockerd tag and in dockershim).
pub const LOOPBACK_VERSION: SpecVersion = SpecVersion::V0_2_0;

/// The shims' CNI defaults (cri-dockerd `cmd/cri/options/options.go`; the kubelet's
/// `--cni-conf-dir`, `--cni-bin-dir` and `--cni-cache-dir` before 1.24).
pub const DEFAULT_CONF_DIR: &str = "/etc/cni/net.d";
/// See [`DEFAULT_CONF_DIR`]; `--cni-bin-dir` is a comma-separated list.
pub const DEFAULT_BIN_DIR: &str = "/opt/cni/bin";

const fn v(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

/// cri-dockerd releases: v0.2.0 to v0.3.0 vendor libcni v0.8.0 and v0.3.1 to v0.4.3 v1.1.2
/// (`go.mod`); before v0.2.5 the Linux default network plugin was `kubenet`.
pub static CRI_DOCKERD_RELEASES: [ShimRelease; 3] = [
    ShimRelease {
        first: v(0, 2, 0),
        last: v(0, 2, 4),
        libcni: v(0, 8, 0),
        default_network_plugin: "kubenet",
    },
    ShimRelease {
        first: v(0, 2, 5),
        last: v(0, 3, 0),
        libcni: v(0, 8, 0),
        default_network_plugin: "cni",
    },
    ShimRelease {
        first: v(0, 3, 1),
        last: v(0, 4, 999),
        libcni: v(1, 1, 2),
        default_network_plugin: "cni",
    },
];

/// dockershim, by the kubelet release that contains it (removed in 1.24). The kubelet's
/// `--network-plugin` defaults to none; kubeadm sets `cni`.
pub static DOCKERSHIM_RELEASES: [ShimRelease; 2] = [
    ShimRelease {
        first: v(1, 19, 0),
        last: v(1, 21, 999),
        libcni: v(0, 8, 0),
        default_network_plugin: "",
    },
    ShimRelease {
        first: v(1, 22, 0),
        last: v(1, 23, 999),
        libcni: v(0, 8, 1),
        default_network_plugin: "",
    },
];

/// The row of `table` for `version`, when the table has one.
pub fn release_in(
    table: &'static [ShimRelease],
    version: &Version,
) -> Option<&'static ShimRelease> {
    let plain = v(version.major, version.minor, version.patch);
    table.iter().find(|r| r.first <= plain && plain <= r.last)
}

/// Split `--cni-bin-dir` as the shims do (`SplitDirs`: commas; empty parts dropped).
pub fn split_dirs(dirs: &str) -> Vec<String> {
    dirs.split(',')
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{first_release_without, most_regressed};

    #[test]
    fn tables_are_ordered() {
        for t in [&CRI_DOCKERD_RELEASES[..], &DOCKERSHIM_RELEASES[..]] {
            for pair in t.windows(2) {
                assert!(pair[0].last < pair[1].first);
            }
        }
    }

    #[test]
    fn cri_dockerd_rows_follow_its_tags() {
        let at = |s: &str| release_in(&CRI_DOCKERD_RELEASES, &Version::parse(s).unwrap()).unwrap();
        assert_eq!(at("0.2.4").default_network_plugin, "kubenet");
        assert_eq!(at("0.2.5").default_network_plugin, "cni");
        assert_eq!(at("0.3.0").libcni, v(0, 8, 0));
        assert_eq!(at("0.3.1").libcni, v(1, 1, 2));
        assert!(at("0.3.0").has(Regression::EmptyVersionTeardown));
        assert!(!at("0.3.1").has(Regression::EmptyVersionTeardown));
        assert!(!at("0.3.1").has(Regression::ResultWithoutVersion));
        assert_eq!(
            first_release_without(&CRI_DOCKERD_RELEASES, Regression::EmptyVersionTeardown),
            Some(&v(0, 3, 1))
        );
        assert_eq!(most_regressed(&CRI_DOCKERD_RELEASES).first, v(0, 2, 0));
        assert!(release_in(&CRI_DOCKERD_RELEASES, &v(0, 5, 0)).is_none());
    }

    #[test]
    fn every_dockershim_tears_down_badly() {
        for r in &DOCKERSHIM_RELEASES {
            assert!(r.has(Regression::EmptyVersionTeardown));
        }
        assert_eq!(
            first_release_without(&DOCKERSHIM_RELEASES, Regression::EmptyVersionTeardown),
            None
        );
    }

    #[test]
    fn bin_dirs_split_on_commas() {
        assert_eq!(
            split_dirs("/opt/cni/bin,,/usr/lib/cni"),
            ["/opt/cni/bin", "/usr/lib/cni"]
        );
        assert!(split_dirs("").is_empty());
    }
}

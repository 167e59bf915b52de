//! libcni (containernetworking/cni) releases: what each reads and does, and how a plugin binary
//! shows which one it links. One table serves config parsing (the rule generation), the
//! runtime rules (the highest spec version, the teardown and result-version bugs) and static
//! probing (package markers, and the plugins release line that vendors each).
//!
//! Sources: libcni's `pkg/version/version.go` (`Current`, `All`) and `pkg/version/plugin.go`
//! (`ParseVersion`) at each tag; `libcni/conf.go` (v1.2.0 `cniVersions`, v1.3.0 plugin dirs);
//! libcni PRs #893 (v1.1.0, empty version) and #896 (v1.1.1, result version).

use semver::Version;

use crate::conf::LibcniGeneration;
use crate::spec::SpecVersion;

/// A range of libcni releases that behave the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibcniRelease {
    /// First release of the range (inclusive).
    pub first: Version,
    /// Last release of the range (inclusive).
    pub last: Version,
    /// How it reads config files.
    pub generation: LibcniGeneration,
    /// The highest spec version it implements (`version.Current()`).
    pub max_spec: SpecVersion,
    /// Whether DEL of a network without `cniVersion` fails with
    /// `invalid version "": the version is empty` (before v1.1.0, PR #893).
    pub empty_version_teardown: bool,
    /// Whether a result without `cniVersion` is read as 0.1.0, breaking the next plugin of a
    /// chain (v1.0.0 to v1.1.0; PR #896 fixed it in v1.1.1).
    pub result_without_version: bool,
    /// The containernetworking/plugins release whose plugins vendor it, for reading a plugin's
    /// versions from the libcni it links.
    pub plugins_line: &'static str,
    /// Package paths in a binary that show it links this range (all must be present), newest
    /// ranges tried first; empty when no marker tells this range from its neighbours.
    pub markers: &'static [&'static str],
    /// What the markers mean, for evidence.
    pub marker_meaning: &'static str,
}

const fn v(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

const CNI_PKG: &str = "github.com/containernetworking/cni/pkg/";

/// libcni releases, oldest first.
pub static LIBCNI_RELEASES: [LibcniRelease; 6] = [
    LibcniRelease {
        first: v(0, 0, 0),
        last: v(0, 6, 999),
        generation: LibcniGeneration::Classic,
        max_spec: SpecVersion::V0_3_1,
        empty_version_teardown: true,
        result_without_version: false,
        plugins_line: "0.7.6",
        markers: &["types/current"],
        marker_meaning: "pkg/types/current without CHECK: libcni 0.6 or older",
    },
    LibcniRelease {
        first: v(0, 7, 0),
        last: v(0, 8, 999),
        generation: LibcniGeneration::Classic,
        max_spec: SpecVersion::V0_4_0,
        empty_version_teardown: true,
        result_without_version: false,
        plugins_line: "0.9.1",
        markers: &["types/current", "version.GreaterThanOrEqualTo"],
        marker_meaning: "pkg/types/current with a CHECK-aware skel: libcni 0.7 or 0.8",
    },
    LibcniRelease {
        first: v(1, 0, 0),
        last: v(1, 0, 0),
        generation: LibcniGeneration::Classic,
        max_spec: SpecVersion::V1_0_0,
        empty_version_teardown: true,
        result_without_version: true,
        plugins_line: "1.0.0",
        markers: &[],
        marker_meaning: "",
    },
    LibcniRelease {
        first: v(1, 0, 1),
        last: v(1, 1, 999),
        generation: LibcniGeneration::Classic,
        max_spec: SpecVersion::V1_0_0,
        // Both fixed within the range: see `behaviour_at`.
        empty_version_teardown: true,
        result_without_version: true,
        plugins_line: "1.1.1",
        markers: &["types/100"],
        marker_meaning: "pkg/types/100: libcni 1.0 or later",
    },
    LibcniRelease {
        first: v(1, 2, 0),
        last: v(1, 2, 999),
        generation: LibcniGeneration::V1_2,
        max_spec: SpecVersion::V1_1_0,
        empty_version_teardown: false,
        result_without_version: false,
        plugins_line: "1.6.0",
        markers: &["skel.PluginMainFuncs"],
        marker_meaning: "pkg/skel.PluginMainFuncs: libcni 1.2 or later",
    },
    LibcniRelease {
        first: v(1, 3, 0),
        last: v(1, 999, 999),
        generation: LibcniGeneration::V1_3,
        max_spec: SpecVersion::V1_1_0,
        empty_version_teardown: false,
        result_without_version: false,
        plugins_line: "1.6.0",
        markers: &[],
        marker_meaning: "",
    },
];

/// The first release that tears down a network without `cniVersion` (PR #893).
pub const EMPTY_VERSION_FIXED: Version = v(1, 1, 0);
/// The first release that gives a result without `cniVersion` the config's version (PR #896).
pub const RESULT_VERSION_FIXED: Version = v(1, 1, 1);

/// The range a libcni version belongs to (the newest range for versions past the table).
pub fn libcni_release(version: &Version) -> &'static LibcniRelease {
    let plain = v(version.major, version.minor, version.patch);
    LIBCNI_RELEASES
        .iter()
        .find(|r| r.first <= plain && plain <= r.last)
        .unwrap_or(&LIBCNI_RELEASES[LIBCNI_RELEASES.len() - 1])
}

/// What a libcni version does, with the fixes made inside a range applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    /// See [`LibcniRelease::empty_version_teardown`].
    pub empty_version_teardown: bool,
    /// See [`LibcniRelease::result_without_version`].
    pub result_without_version: bool,
}

/// The behaviour of exactly this libcni version.
pub fn behaviour_at(version: &Version) -> Behaviour {
    let r = libcni_release(version);
    let plain = v(version.major, version.minor, version.patch);
    Behaviour {
        empty_version_teardown: r.empty_version_teardown && plain < EMPTY_VERSION_FIXED,
        result_without_version: r.result_without_version && plain < RESULT_VERSION_FIXED,
    }
}

/// The newest range whose markers all occur in a binary, with what they mean; `has` tells
/// whether a package path (under `github.com/containernetworking/cni/pkg/`) occurs.
pub fn by_markers(has: impl Fn(&str) -> bool) -> Option<&'static LibcniRelease> {
    LIBCNI_RELEASES
        .iter()
        .rev()
        .filter(|r| !r.markers.is_empty())
        .find(|r| r.markers.iter().all(|m| has(&format!("{CNI_PKG}{m}"))))
}

/// [`by_markers`] over the bytes of a binary (its function names), in one pass: every
/// occurrence of libcni's package prefix is compared with each marker.
pub fn by_markers_in(hay: &[u8]) -> Option<&'static LibcniRelease> {
    let mut seen: Vec<&'static str> = Vec::new();
    for at in memchr::memmem::find_iter(hay, CNI_PKG.as_bytes()) {
        let rest = &hay[at + CNI_PKG.len()..];
        for r in &LIBCNI_RELEASES {
            for m in r.markers {
                if !seen.contains(m) && rest.starts_with(m.as_bytes()) {
                    seen.push(m);
                }
            }
        }
    }
    by_markers(|full| {
        full.strip_prefix(CNI_PKG)
            .is_some_and(|m| seen.contains(&m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ordered_and_gapless() {
        for pair in LIBCNI_RELEASES.windows(2) {
            let next = &pair[1].first;
            let last = &pair[0].last;
            assert!(last < next);
            // The next range starts right after the last one ends.
            assert!(
                (last.major, last.minor + 1, 0) == (next.major, next.minor, next.patch)
                    || (last.major, last.minor, last.patch + 1)
                        == (next.major, next.minor, next.patch)
                    || (last.major + 1, 0, 0) == (next.major, next.minor, next.patch)
                    || last.patch == 999,
                "{last} → {next}"
            );
        }
    }

    #[test]
    fn behaviours_follow_the_fixes() {
        let at = |s: &str| behaviour_at(&Version::parse(s).unwrap());
        assert!(at("1.0.1").empty_version_teardown);
        assert!(!at("1.1.0").empty_version_teardown);
        assert!(at("1.1.0").result_without_version);
        assert!(!at("1.1.1").result_without_version);
        assert!(at("0.8.1").empty_version_teardown && !at("0.8.1").result_without_version);
        assert_eq!(libcni_release(&v(1, 2, 3)).max_spec, SpecVersion::V1_1_0);
        assert_eq!(
            libcni_release(&v(1, 3, 0)).generation,
            LibcniGeneration::V1_3
        );
    }

    #[test]
    fn markers_pick_the_newest_match() {
        let bin =
            |marks: &'static [&'static str]| move |p: &str| marks.iter().any(|m| p.ends_with(m));
        assert_eq!(
            by_markers(bin(&["types/100"])).unwrap().plugins_line,
            "1.1.1"
        );
        assert_eq!(
            by_markers(bin(&["types/current", "version.GreaterThanOrEqualTo"]))
                .unwrap()
                .plugins_line,
            "0.9.1"
        );
        assert_eq!(
            by_markers(bin(&["types/current"])).unwrap().plugins_line,
            "0.7.6"
        );
        assert!(by_markers(bin(&[])).is_none());
    }
}

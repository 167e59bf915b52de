//! containerd: its version, what each release does with CNI configs, and its CNI settings.

use std::fmt;

use semver::Version;
use serde::Serialize;

use crate::conf::LibcniGeneration;
use crate::containerd_config::{ConfigReading, Migration};
use crate::spec::SpecVersion;

/// A runtime's version (containerd's or cri-dockerd's) as its `--version` reports it or as
/// the operator gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuntimeVersion {
    /// The numeric release, for example 1.6.20.
    #[serde(serialize_with = "ser_display")]
    pub release: Version,
    /// The text it was read from, for example `1.6.20~ds1`.
    pub raw: String,
}

fn ser_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A containerd version: the name the containerd-specific readers are called by.
pub type ContainerdVersion = RuntimeVersion;

impl fmt::Display for RuntimeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.release)
    }
}

/// The numbers of the release in a packaged version string: a leading `v` dropped, cut at the
/// first `~`, `-` or `+`, dot-separated numbers of at most 9 digits each.
pub(crate) fn release_parts(raw: &str) -> Option<Vec<u64>> {
    let t = raw.trim();
    let t = t.strip_prefix('v').unwrap_or(t);
    let numeric = t.split(['~', '-', '+']).next()?;
    numeric
        .split('.')
        .map(|p| {
            if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse::<u64>().ok()
            }
        })
        .collect()
}

/// The numeric release in a packaged version string: exactly three numbers
/// (see [`release_parts`]).
pub(crate) fn release_triple(raw: &str) -> Option<(u64, u64, u64)> {
    match release_parts(raw)?.as_slice() {
        [major, minor, patch] => Some((*major, *minor, *patch)),
        _ => None,
    }
}

/// Why a containerd version string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {raw:?} as a version: {reason}")]
pub struct VersionError {
    /// The text given.
    pub raw: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl RuntimeVersion {
    /// Read a version as packagers spell it: `v1.6.1`, `1.6.21`, `1.6.20~ds1`,
    /// `1.5.2-0ubuntu1~21.04.2`, `v1.6.3-6-gdb40e2128`, `2.0.0+unknown`. A leading `v` is
    /// dropped and the numeric triple ends at the first `~`, `-` or `+`.
    pub fn parse(raw: &str) -> Result<ContainerdVersion, VersionError> {
        let fail = |reason| VersionError {
            raw: raw.to_string(),
            reason,
        };
        let (major, minor, patch) = release_triple(raw)
            .ok_or_else(|| fail("expected MAJOR.MINOR.PATCH, for example 1.6.20"))?;
        Ok(ContainerdVersion {
            release: Version::new(major, minor, patch),
            raw: raw.trim().to_string(),
        })
    }

    /// Read the output of `cri-dockerd --version` (which it writes to standard error):
    /// `cri-dockerd <version>[-<prerelease>] (<commit>)`, for example
    /// `cri-dockerd 0.3.1 (7e528b98)` (`cmd/version/version.go` `FullVersion`).
    pub fn from_cri_dockerd_output(output: &str) -> Result<RuntimeVersion, VersionError> {
        let line = output.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["cri-dockerd", version, ..] => RuntimeVersion::parse(version),
            _ => Err(VersionError {
                raw: line.to_string(),
                reason: "not the output of `cri-dockerd --version`",
            }),
        }
    }

    /// Read the output of `containerd --version`:
    /// `containerd <package> <version> [<revision>]`, for example
    /// `containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3` or
    /// `containerd containerd.io 1.6.21 3dce8eb055cbb6872793272b4f20ed16117344f8`.
    pub fn from_version_output(output: &str) -> Result<ContainerdVersion, VersionError> {
        let line = output.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let tokens: Vec<&str> = line.split_whitespace().collect();
        match tokens.as_slice() {
            [_, _, version, ..] => ContainerdVersion::parse(version),
            [_, version] => ContainerdVersion::parse(version),
            _ => Err(VersionError {
                raw: line.to_string(),
                reason: "not the output of `containerd --version`",
            }),
        }
    }
}

/// A regression in a range of containerd releases that affects CNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Regression {
    /// libcni before v1.1.0 fails DEL for a network with no cniVersion:
    /// `invalid version "": the version is empty` (every containerd before 1.6.4).
    EmptyVersionTeardown,
    /// go-cni v1.1.4's built-in loopback network at cniVersion 1.0.0 (containerd 1.6.3 only).
    LoopbackAt1_0_0,
    /// libcni v1.0.x/v1.1.0 parse a result without cniVersion as 0.1.0, breaking chains after
    /// weave-net (containerd 1.6.0 to 1.6.4).
    ResultWithoutVersion,
}

/// What a line of containerd releases does with CNI configs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerdRelease {
    /// First release of the line (inclusive).
    #[serde(serialize_with = "ser_display")]
    pub first: Version,
    /// Last release of the line that behaves the same (inclusive).
    #[serde(serialize_with = "ser_display")]
    pub last: Version,
    /// The go-cni version it vendors.
    pub go_cni: &'static str,
    /// The libcni (containernetworking/cni) version it vendors.
    #[serde(serialize_with = "ser_display")]
    pub libcni: Version,
    /// The cniVersion of its built-in `cni-loopback` network.
    pub loopback: SpecVersion,
    /// Whether it has `use_internal_loopback` (containerd 2.0 and later).
    pub internal_loopback_option: bool,
    /// Known CNI regressions in the line that its go-cni brings (the libcni ones follow from
    /// [`ContainerdRelease::libcni`]).
    pub regressions: &'static [Regression],
    /// How it reads its config file.
    pub config: ConfigReading,
}

impl ContainerdRelease {
    /// How this line's libcni reads configs.
    pub fn libcni_generation(&self) -> LibcniGeneration {
        LibcniGeneration::of(&self.libcni)
    }

    /// The highest spec version its libcni can use: results of a newer version fail with
    /// `unsupported CNI result version`.
    pub fn max_spec_version(&self) -> SpecVersion {
        max_spec_for_libcni(&self.libcni)
    }

    /// Whether the line has `regression`: the libcni ones from the libcni it links, the others
    /// from its own list.
    pub fn has(&self, regression: Regression) -> bool {
        libcni_has(&self.libcni, regression)
            .unwrap_or_else(|| self.regressions.contains(&regression))
    }
}

/// Whether the libcni `libcni` has `regression`, for the regressions libcni brings; `None`
/// for the others (a runtime's own).
pub(crate) fn libcni_has(libcni: &Version, regression: Regression) -> Option<bool> {
    let b = crate::libcni::behaviour_at(libcni);
    match regression {
        Regression::EmptyVersionTeardown => Some(b.empty_version_teardown),
        Regression::ResultWithoutVersion => Some(b.result_without_version),
        Regression::LoopbackAt1_0_0 => None,
    }
}

/// A row of a release table: a range of releases that behave the same, and the regressions
/// it has. [`first_release_without`], [`releases_with`] and [`known_releases`] read any such
/// table.
pub trait ReleaseRow {
    /// First release of the range (inclusive).
    fn first(&self) -> &Version;
    /// Last release of the range (inclusive).
    fn last(&self) -> &Version;
    /// Whether the range has `regression`.
    fn has(&self, regression: Regression) -> bool;
}

impl ReleaseRow for ContainerdRelease {
    fn first(&self) -> &Version {
        &self.first
    }
    fn last(&self) -> &Version {
        &self.last
    }
    fn has(&self, regression: Regression) -> bool {
        ContainerdRelease::has(self, regression)
    }
}

/// The highest spec version a libcni release implements.
pub fn max_spec_for_libcni(libcni: &Version) -> SpecVersion {
    crate::libcni::libcni_release(libcni).max_spec
}

const fn v(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

use Regression::*;

/// containerd 1.3 to 1.6.31 and 1.7.16: config versions 1 and 2; any version above 1 is read
/// as 2 (`GetVersion`, `ValidateV2` and `Decode` in `services/server/config/config.go`).
const READS_1X: ConfigReading = ConfigReading {
    max_version: 2,
    rejects_newer: false,
    migration: None,
};
/// containerd 1.6.32+ and 1.7.17+: a version above 2 stops it (`unsupported config version`,
/// commit 38607b59 "Add check for unsupported config versions").
const READS_1X_STRICT: ConfigReading = ConfigReading {
    max_version: 2,
    rejects_newer: true,
    migration: None,
};
/// containerd 2.0: `version.ConfigVersion` 3; the runtime plugin's migration replaces its
/// table with `io.containerd.grpc.v1.cri` (v2.0.0 `plugins/cri/runtime/plugin.go`).
const READS_2_0: ConfigReading = ConfigReading {
    max_version: 3,
    rejects_newer: true,
    migration: Some(Migration::Replace),
};
/// containerd 2.1 and 2.2: the migration merges, and moves `bin_dir` to `bin_dirs` (v2.1.0
/// `plugins/cri/runtime/plugin.go` `configMigration`).
const READS_2_1: ConfigReading = ConfigReading {
    max_version: 3,
    rejects_newer: true,
    migration: Some(Migration::Merge),
};
/// containerd 2.3: `version.ConfigVersion` 4 (v2.3.0 `version/version.go`).
const READS_2_3: ConfigReading = ConfigReading {
    max_version: 4,
    rejects_newer: true,
    migration: Some(Migration::Merge),
};

/// containerd release lines, from each tag's `go.mod`/`vendor/modules.txt` and go-cni's
/// `WithLoNetwork` at that version.
pub static CONTAINERD_RELEASES: [ContainerdRelease; 12] = [
    ContainerdRelease {
        first: v(1, 3, 0),
        last: v(1, 4, 999),
        go_cni: "v0.0.0 (pre-1.0)",
        libcni: v(0, 7, 1),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: false,
        config: READS_1X,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(1, 5, 0),
        last: v(1, 5, 999),
        go_cni: "v1.0.2",
        libcni: v(0, 8, 1),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: false,
        config: READS_1X,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(1, 6, 0),
        last: v(1, 6, 2),
        go_cni: "v1.1.3",
        libcni: v(1, 0, 1),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: false,
        config: READS_1X,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(1, 6, 3),
        last: v(1, 6, 3),
        go_cni: "v1.1.4",
        libcni: v(1, 0, 1),
        loopback: SpecVersion::V1_0_0,
        internal_loopback_option: false,
        config: READS_1X,
        regressions: &[LoopbackAt1_0_0],
    },
    ContainerdRelease {
        first: v(1, 6, 4),
        last: v(1, 6, 4),
        go_cni: "v1.1.5",
        libcni: v(1, 1, 0),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: false,
        config: READS_1X,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(1, 6, 5),
        last: v(1, 6, 31),
        go_cni: "v1.1.6",
        libcni: v(1, 1, 1),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: false,
        config: READS_1X,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(1, 6, 32),
        last: v(1, 6, 999),
        go_cni: "v1.1.6",
        libcni: v(1, 1, 1),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: false,
        config: READS_1X_STRICT,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(1, 7, 0),
        last: v(1, 7, 16),
        go_cni: "v1.1.9",
        libcni: v(1, 1, 2),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: false,
        config: READS_1X,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(1, 7, 17),
        last: v(1, 7, 999),
        go_cni: "v1.1.9",
        libcni: v(1, 1, 2),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: false,
        config: READS_1X_STRICT,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(2, 0, 0),
        last: v(2, 0, 999),
        go_cni: "v1.1.10",
        libcni: v(1, 2, 3),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: true,
        config: READS_2_0,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(2, 1, 0),
        last: v(2, 2, 999),
        go_cni: "v1.1.12",
        libcni: v(1, 3, 0),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: true,
        config: READS_2_1,
        regressions: &[],
    },
    ContainerdRelease {
        first: v(2, 3, 0),
        last: v(2, 3, 999),
        go_cni: "v1.1.13",
        libcni: v(1, 3, 0),
        loopback: SpecVersion::V0_3_1,
        internal_loopback_option: true,
        config: READS_2_3,
        regressions: &[],
    },
];

/// The row with the most regressions (the first of equals): the release line the rules take
/// when a program's release is unknown, so that every rule takes the conservative side.
pub fn most_regressed<R: ReleaseRow>(table: &[R]) -> &R {
    let bad = |r: &R| {
        [
            Regression::EmptyVersionTeardown,
            Regression::ResultWithoutVersion,
            Regression::LoopbackAt1_0_0,
        ]
        .into_iter()
        .filter(|g| r.has(*g))
        .count()
    };
    let mut best = &table[0];
    for r in table {
        if bad(r) > bad(best) {
            best = r;
        }
    }
    best
}

/// The containerd release line the rules take when the release is unknown: the one with the
/// most regressions (containerd 1.6.3: the empty-version teardown, the unversioned results,
/// and its loopback network at 1.0.0; nothing above spec 1.0.0).
pub fn conservative_release() -> &'static ContainerdRelease {
    most_regressed(&CONTAINERD_RELEASES)
}

/// The first release after the rows with `regression` that no longer has it, in `table`.
pub fn first_release_without<R: ReleaseRow>(
    table: &[R],
    regression: Regression,
) -> Option<&Version> {
    let last_bad = table.iter().rposition(|r| r.has(regression))?;
    table.get(last_bad + 1).map(|r| r.first())
}

/// The releases with `regression`, as `first to last`, in `table`.
pub fn releases_with<R: ReleaseRow>(table: &[R], regression: Regression) -> Option<String> {
    let first = table.iter().find(|r| r.has(regression))?;
    let last = table.iter().rev().find(|r| r.has(regression))?;
    Some(if first.first() == last.last() {
        first.first().to_string()
    } else {
        format!("{} to {}", first.first(), last.last())
    })
}

/// The releases `table` knows, as `1.3.0 to 2.3.x`.
pub fn known_releases<R: ReleaseRow>(table: &[R]) -> String {
    match (table.first(), table.last()) {
        (Some(a), Some(b)) => format!("{} to {}.{}.x", a.first(), b.last().major, b.last().minor),
        _ => "none".to_string(),
    }
}

/// The release line a containerd version belongs to, or `None` when cni-fix does not know it
/// (older than 1.3, or newer than the newest line in [`CONTAINERD_RELEASES`]).
pub fn containerd_release(version: &Version) -> Option<&'static ContainerdRelease> {
    let plain = Version::new(version.major, version.minor, version.patch);
    CONTAINERD_RELEASES
        .iter()
        .find(|r| r.first <= plain && plain <= r.last)
}

/// The program that runs the CNI plugins for the kubelet's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CniHost {
    /// containerd's CRI plugin, through go-cni.
    Containerd,
    /// cri-dockerd, for Docker Engine.
    CriDockerd,
    /// dockershim, inside the kubelet before 1.24.
    Dockershim,
}

impl CniHost {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            CniHost::Containerd => "containerd",
            CniHost::CriDockerd => "cri-dockerd",
            CniHost::Dockershim => "dockershim",
        }
    }

    /// The table of its releases.
    pub fn table(self) -> &'static [crate::shim::ShimRelease] {
        match self {
            CniHost::CriDockerd => &crate::shim::CRI_DOCKERD_RELEASES,
            CniHost::Dockershim => &crate::shim::DOCKERSHIM_RELEASES,
            CniHost::Containerd => &[],
        }
    }
}

/// The release line of the program that runs the plugins: what the CNI rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeLine {
    /// A containerd release line.
    Containerd(&'static ContainerdRelease),
    /// A cri-dockerd release line.
    CriDockerd(&'static crate::shim::ShimRelease),
    /// dockershim, by the kubelet's release.
    Dockershim(&'static crate::shim::ShimRelease),
}

impl RuntimeLine {
    /// The program.
    pub fn host(self) -> CniHost {
        match self {
            RuntimeLine::Containerd(_) => CniHost::Containerd,
            RuntimeLine::CriDockerd(_) => CniHost::CriDockerd,
            RuntimeLine::Dockershim(_) => CniHost::Dockershim,
        }
    }

    /// The line a program's version belongs to, when cni-fix knows it.
    pub fn of(host: CniHost, version: &Version) -> Option<RuntimeLine> {
        match host {
            CniHost::Containerd => containerd_release(version).map(RuntimeLine::Containerd),
            CniHost::CriDockerd => {
                crate::shim::release_in(&crate::shim::CRI_DOCKERD_RELEASES, version)
                    .map(RuntimeLine::CriDockerd)
            }
            CniHost::Dockershim => {
                crate::shim::release_in(&crate::shim::DOCKERSHIM_RELEASES, version)
                    .map(RuntimeLine::Dockershim)
            }
        }
    }

    /// The line the rules take when the program's release is unknown: its most regressed.
    pub fn conservative(host: CniHost) -> RuntimeLine {
        match host {
            CniHost::Containerd => RuntimeLine::Containerd(conservative_release()),
            CniHost::CriDockerd => {
                RuntimeLine::CriDockerd(most_regressed(&crate::shim::CRI_DOCKERD_RELEASES))
            }
            CniHost::Dockershim => {
                RuntimeLine::Dockershim(most_regressed(&crate::shim::DOCKERSHIM_RELEASES))
            }
        }
    }

    /// The containerd release line, when the program is containerd.
    pub fn containerd(self) -> Option<&'static ContainerdRelease> {
        match self {
            RuntimeLine::Containerd(r) => Some(r),
            _ => None,
        }
    }

    /// The libcni version it links.
    pub fn libcni(self) -> &'static Version {
        match self {
            RuntimeLine::Containerd(r) => &r.libcni,
            RuntimeLine::CriDockerd(r) | RuntimeLine::Dockershim(r) => &r.libcni,
        }
    }

    /// The cniVersion of its built-in loopback network.
    pub fn loopback(self) -> SpecVersion {
        match self {
            RuntimeLine::Containerd(r) => r.loopback,
            _ => crate::shim::LOOPBACK_VERSION,
        }
    }

    /// Whether the line has `regression`.
    pub fn has(self, regression: Regression) -> bool {
        match self {
            RuntimeLine::Containerd(r) => r.has(regression),
            RuntimeLine::CriDockerd(r) | RuntimeLine::Dockershim(r) => {
                ReleaseRow::has(r, regression)
            }
        }
    }

    /// The highest spec version its libcni can use.
    pub fn max_spec_version(self) -> SpecVersion {
        max_spec_for_libcni(self.libcni())
    }

    /// How its libcni reads configs.
    pub fn libcni_generation(self) -> LibcniGeneration {
        LibcniGeneration::of(self.libcni())
    }

    /// Whether it loads the conf dir dockershim's way: the first valid network, skipping the
    /// files it cannot use (go-cni instead stops at the first file it cannot read).
    pub fn loads_first_valid(self) -> bool {
        !matches!(self, RuntimeLine::Containerd(_))
    }

    /// Whether its libcni names the failing plugin in errors (`plugin type="x" failed (add):`,
    /// libcni 1.0 and later; containerd v1.5.0 and v1.6.0 `vendor/.../libcni/api.go`).
    pub fn names_failing_plugin(self) -> bool {
        self.libcni().major >= 1
    }
}

/// The sandbox (pause) image each containerd release uses when its config sets none, by the
/// first release that uses it: `SandboxImage` in `pkg/cri/config/config_unix.go` (1.x) and
/// `DefaultSandboxImage` in `internal/cri/config/config.go` (2.x), read at each tag of
/// containerd/containerd.
pub const DEFAULT_SANDBOX_IMAGES: &[((u64, u64, u64), &str)] = &[
    ((1, 4, 0), "k8s.gcr.io/pause:3.2"),
    ((1, 5, 0), "k8s.gcr.io/pause:3.5"),
    ((1, 5, 14), "registry.k8s.io/pause:3.5"),
    ((1, 6, 0), "k8s.gcr.io/pause:3.6"),
    ((1, 6, 9), "registry.k8s.io/pause:3.6"),
    ((1, 7, 0), "registry.k8s.io/pause:3.8"),
    ((2, 0, 0), "registry.k8s.io/pause:3.10"),
    ((2, 2, 0), "registry.k8s.io/pause:3.10.1"),
    ((2, 3, 0), "registry.k8s.io/pause:3.10.2"),
];

/// The sandbox image containerd `version` uses by default, when cni-fix knows it.
pub fn default_sandbox_image(version: &Version) -> Option<&'static str> {
    let v = (version.major, version.minor, version.patch);
    DEFAULT_SANDBOX_IMAGES
        .iter()
        .rev()
        .find(|(first, _)| *first <= v)
        .map(|(_, image)| *image)
}

/// An image reference with `k8s.gcr.io` read as `registry.k8s.io` (the registry moved; the
/// images are the same) and `docker.io/library/` dropped, for comparing two references.
pub fn same_image(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim();
        let s = s.strip_prefix("docker.io/library/").unwrap_or(s);
        match s.strip_prefix("k8s.gcr.io/") {
            Some(rest) => format!("registry.k8s.io/{rest}"),
            None => s.to_string(),
        }
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_real_version_form_parses() {
        for (raw, want) in [
            ("v1.6.1", v(1, 6, 1)),
            ("1.6.21", v(1, 6, 21)),
            ("1.6.20~ds1", v(1, 6, 20)),
            ("1.5.2-0ubuntu1~21.04.2", v(1, 5, 2)),
            ("v1.6.3-6-gdb40e2128", v(1, 6, 3)),
            ("2.0.0+unknown", v(2, 0, 0)),
            ("v1.2.1-rc.0", v(1, 2, 1)),
        ] {
            assert_eq!(
                ContainerdVersion::parse(raw).unwrap().release,
                want,
                "{raw}"
            );
        }
        for bad in ["", "1.6", "latest", "1.6.x", "v", "1.6.3.4"] {
            assert!(ContainerdVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_output_forms() {
        for (out, want) in [
            ("containerd github.com/containerd/containerd v1.6.1 10f428dac7cec44c864e1b830a4623af27a9fc70\n", v(1, 6, 1)),
            ("containerd containerd.io 1.6.21 3dce8eb055cbb6872793272b4f20ed16117344f8", v(1, 6, 21)),
            ("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n", v(1, 6, 20)),
            ("containerd github.com/containerd/containerd 1.5.2-0ubuntu1~21.04.2 ", v(1, 5, 2)),
            ("containerd github.com/containerd/containerd/v2 v2.0.0 207ad711eabd375a01713109a8a197d197ff6542", v(2, 0, 0)),
        ] {
            assert_eq!(ContainerdVersion::from_version_output(out).unwrap().release, want);
        }
        assert!(ContainerdVersion::from_version_output("bash: containerd: not found").is_err());
    }

    #[test]
    fn cri_dockerd_version_output() {
        for (out, want) in [
            ("cri-dockerd 0.3.1 (7e528b98)\n", v(0, 3, 1)),
            ("cri-dockerd 0.4.0-rc.1 (HEAD)", v(0, 4, 0)),
        ] {
            assert_eq!(
                RuntimeVersion::from_cri_dockerd_output(out)
                    .unwrap()
                    .release,
                want
            );
        }
        assert!(
            RuntimeVersion::from_cri_dockerd_output("containerd containerd.io 1.6.21 x").is_err()
        );
        assert!(RuntimeVersion::from_cri_dockerd_output("").is_err());
    }

    #[test]
    fn lines_answer_for_their_program() {
        let shim = RuntimeLine::of(CniHost::CriDockerd, &v(0, 3, 0)).unwrap();
        assert!(shim.loads_first_valid() && !shim.names_failing_plugin());
        assert_eq!(shim.loopback(), SpecVersion::V0_2_0);
        assert_eq!(shim.max_spec_version(), SpecVersion::V0_4_0);
        assert!(shim.containerd().is_none());
        let kubelet = RuntimeLine::of(CniHost::Dockershim, &v(1, 23, 17)).unwrap();
        assert_eq!(kubelet.libcni(), &v(0, 8, 1));
        assert!(kubelet.has(Regression::EmptyVersionTeardown));
        assert!(RuntimeLine::of(CniHost::Dockershim, &v(1, 24, 0)).is_none());
        let containerd = RuntimeLine::of(CniHost::Containerd, &v(1, 6, 20)).unwrap();
        assert!(!containerd.loads_first_valid() && containerd.names_failing_plugin());
        assert_eq!(
            RuntimeLine::conservative(CniHost::Containerd)
                .containerd()
                .unwrap()
                .first,
            v(1, 6, 3)
        );
    }

    #[test]
    fn an_unknown_runtime_is_taken_as_the_most_regressed_line() {
        let r = conservative_release();
        assert_eq!((r.first.clone(), r.last.clone()), (v(1, 6, 3), v(1, 6, 3)));
        assert_eq!(r.max_spec_version(), SpecVersion::V1_0_0);
        assert_eq!(r.libcni_generation(), LibcniGeneration::Classic);
    }

    #[test]
    fn table_is_ordered_and_gapless() {
        for pair in CONTAINERD_RELEASES.windows(2) {
            assert!(pair[0].last < pair[1].first);
        }
        let lines = |s: &str| containerd_release(&ContainerdVersion::parse(s).unwrap().release);
        assert_eq!(lines("1.6.3").unwrap().loopback, SpecVersion::V1_0_0);
        assert!(lines("1.6.3")
            .unwrap()
            .has(Regression::EmptyVersionTeardown));
        assert!(!lines("1.6.4")
            .unwrap()
            .has(Regression::EmptyVersionTeardown));
        assert!(lines("1.6.4")
            .unwrap()
            .has(Regression::ResultWithoutVersion));
        assert_eq!(
            lines("1.5.18").unwrap().max_spec_version(),
            SpecVersion::V0_4_0
        );
        assert_eq!(
            lines("1.7.20").unwrap().max_spec_version(),
            SpecVersion::V1_0_0
        );
        assert_eq!(
            lines("2.0.1").unwrap().max_spec_version(),
            SpecVersion::V1_1_0
        );
        assert_eq!(
            lines("2.1.0").unwrap().libcni_generation(),
            LibcniGeneration::V1_3
        );
        assert!(lines("1.2.13").is_none());
        assert!(lines("2.4.0").is_none());
    }
}

//! Release facts that rule texts quote, derived from the tables so that a new containerd or
//! plugins release changes every text that depends on it: the release that fixed a regression,
//! the releases a regression affects, the plugins release to upgrade to, and the first
//! containerd that reads a spec version or a `cniVersions` list.

use crate::conf::LibcniGeneration;
use crate::plugins_release::first_release_supporting_all;
use crate::runtime::{
    first_release_without, releases_with, CniHost, ContainerdRelease, Regression, RuntimeLine,
    CONTAINERD_RELEASES,
};
use crate::spec::SpecVersion;

/// The table the rules quote from.
fn table() -> &'static [ContainerdRelease] {
    &CONTAINERD_RELEASES
}

/// The first containerd release without `r`, such as `1.6.4`.
pub(super) fn fixed_in(r: Regression) -> String {
    fixed_in_table(table(), r)
}

pub(super) fn fixed_in_table(t: &[ContainerdRelease], r: Regression) -> String {
    first_release_without(t, r)
        .map(ToString::to_string)
        .unwrap_or_else(|| "a release that fixes it".to_string())
}

/// The upgrade that fixes `r` on the program of `line`, such as `containerd 1.6.4` or
/// `cri-dockerd 0.3.1`; `None` when no release of it does (dockershim left the kubelet in
/// 1.24 with the bug).
pub(super) fn upgrade_for(line: RuntimeLine, r: Regression) -> Option<String> {
    let host = line.host();
    Some(format!("{} {}", host.name(), fixed_in_for(host, r)?))
}

/// The first release of the program of `host` without `r`, such as `0.3.1`.
pub(super) fn fixed_in_for(host: CniHost, r: Regression) -> Option<String> {
    match host {
        CniHost::Containerd => first_release_without(table(), r),
        other => first_release_without(other.table(), r),
    }
    .map(ToString::to_string)
}

/// The containerd releases with `r`, such as `1.6.0 to 1.6.4`.
pub(super) fn affected(r: Regression) -> String {
    releases_with(table(), r).unwrap_or_default()
}

/// The first containerd line whose libcni reads results of `spec`, such as `2.0`.
pub(super) fn reads_spec(spec: SpecVersion) -> String {
    reads_spec_in(table(), spec)
}

pub(super) fn reads_spec_in(t: &[ContainerdRelease], spec: SpecVersion) -> String {
    first_line_reading(t, spec).unwrap_or_else(|| "a newer release".to_string())
}

/// The first containerd line of `t` whose libcni reads results of `spec`, as `2.0`.
fn first_line_reading(t: &[ContainerdRelease], spec: SpecVersion) -> Option<String> {
    t.iter()
        .find(|r| r.max_spec_version() >= spec)
        .map(|r| format!("{}.{}", r.first.major, r.first.minor))
}

/// The first release of the program of `line` whose libcni reads results of `spec`, such as
/// `containerd 2.0` or `cri-dockerd 0.3.1`; `None` when none does.
pub(super) fn reads_spec_for(line: RuntimeLine, spec: SpecVersion) -> Option<String> {
    match line.host() {
        CniHost::Containerd => {
            first_line_reading(table(), spec).map(|line| format!("containerd {line}"))
        }
        host => host
            .table()
            .iter()
            .find(|r| crate::runtime::max_spec_for_libcni(&r.libcni) >= spec)
            .map(|r| format!("{} {}", host.name(), r.first)),
    }
}

/// The option that tells cni-fix the version of the program of `host`.
pub(super) fn version_flag(host: CniHost) -> &'static str {
    match host {
        CniHost::Containerd => "--containerd-version",
        CniHost::CriDockerd => "--cri-dockerd-version",
        CniHost::Dockershim => "--kubelet-version",
    }
}

/// The first containerd line whose libcni negotiates `cniVersions`, such as `2.0`.
pub(super) fn negotiates() -> String {
    table()
        .iter()
        .find(|r| r.libcni_generation() >= LibcniGeneration::V1_2)
        .map(|r| format!("{}.{}", r.first.major, r.first.minor))
        .unwrap_or_else(|| "a newer release".to_string())
}

/// The containernetworking/plugins release to upgrade to for `spec`, such as `v1.0.1`.
pub(super) fn plugins_for(spec: SpecVersion) -> String {
    first_release_supporting_all(spec)
        .map(|v| format!("v{v}"))
        .unwrap_or_else(|| "a release that supports it".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use semver::Version;

    #[test]
    fn facts_follow_the_tables() {
        assert_eq!(fixed_in(Regression::EmptyVersionTeardown), "1.6.4");
        assert_eq!(fixed_in(Regression::ResultWithoutVersion), "1.6.5");
        assert_eq!(fixed_in(Regression::LoopbackAt1_0_0), "1.6.4");
        assert_eq!(affected(Regression::ResultWithoutVersion), "1.6.0 to 1.6.4");
        assert_eq!(affected(Regression::LoopbackAt1_0_0), "1.6.3");
        assert_eq!(reads_spec(SpecVersion::V1_1_0), "2.0");
        assert_eq!(reads_spec(SpecVersion::V1_0_0), "1.6");
        assert_eq!(negotiates(), "2.0");
        assert_eq!(plugins_for(SpecVersion::V1_0_0), "v1.0.1");
        assert_eq!(plugins_for(SpecVersion::V1_1_0), "v1.6.0");
        let shim = RuntimeLine::conservative(CniHost::CriDockerd);
        assert_eq!(
            upgrade_for(shim, Regression::EmptyVersionTeardown).unwrap(),
            "cri-dockerd 0.3.1"
        );
        let kubelet = RuntimeLine::conservative(CniHost::Dockershim);
        assert_eq!(upgrade_for(kubelet, Regression::EmptyVersionTeardown), None);
    }

    #[test]
    fn a_new_containerd_row_changes_every_derived_text() {
        // containerd 2.4 as one more row: the range of known releases grows, and a
        // regression it brought back would be fixed only after it.
        let mut t: Vec<ContainerdRelease> = CONTAINERD_RELEASES.to_vec();
        let mut row = t.last().unwrap().clone();
        row.first = Version::new(2, 4, 0);
        row.last = Version::new(2, 4, 999);
        t.push(row.clone());
        assert_eq!(
            crate::runtime::known_releases(&CONTAINERD_RELEASES),
            "1.3.0 to 2.3.x"
        );
        assert_eq!(crate::runtime::known_releases(&t), "1.3.0 to 2.4.x");
        row.regressions = &[Regression::LoopbackAt1_0_0];
        let last = t.len() - 1;
        t[last] = row;
        assert_eq!(
            fixed_in_table(&t, Regression::LoopbackAt1_0_0),
            "a release that fixes it"
        );
        assert_eq!(
            releases_with(&t, Regression::LoopbackAt1_0_0).unwrap(),
            "1.6.3 to 2.4.999"
        );
        assert_eq!(
            reads_spec_in(&t[..2], SpecVersion::V1_0_0),
            "a newer release"
        );
    }
}

//! Planning and applying rewrites through the library.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cni_fix_core::rewrite::{plan, Outcome, RewriteOptions};
use cni_fix_core::write::{apply, Written};
use cni_fix_core::{CheckOptions, ContainerdVersion, FindingId, PluginsRelease, SpecVersion};

fn node() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc/cni/net.d")).unwrap();
    fs::create_dir_all(dir.path().join("opt/cni/bin")).unwrap();
    for p in ["bridge", "host-local", "loopback", "portmap"] {
        let f = dir.path().join("opt/cni/bin").join(p);
        fs::write(&f, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::write(
        dir.path().join("etc/cni/net.d/10-net.conflist"),
        "{\n  \"name\": \"net\",\n  \"plugins\": [{\"type\": \"bridge\", \"ipam\": {\"type\": \"host-local\"}}]\n}\n",
    )
    .unwrap();
    dir
}

fn options(root: &Path) -> RewriteOptions {
    RewriteOptions::new(
        CheckOptions::for_root(root)
            .containerd_version(ContainerdVersion::parse("1.6.2").unwrap())
            .assume_plugins_release(PluginsRelease::parse("0.9.1").unwrap()),
    )
}

#[test]
fn plan_then_apply() {
    let dir = node();
    let p = plan(&options(dir.path())).unwrap();
    assert_eq!(p.files.len(), 1);
    match &p.files[0].outcome {
        Outcome::Rewrite {
            from, to, fixes, ..
        } => {
            assert_eq!((from.as_deref(), *to), (None, SpecVersion::V0_4_0));
            assert_eq!(fixes, &[FindingId::MissingVersion]);
        }
        other => panic!("{other:?}"),
    }
    let report = apply(&p, Path::new("/var/tmp/backup")).unwrap();
    assert!(matches!(report.files[0].1, Written::Rewritten { .. }));
    let text = fs::read_to_string(dir.path().join("etc/cni/net.d/10-net.conflist")).unwrap();
    assert!(
        text.starts_with("{\n  \"cniVersion\": \"0.4.0\",\n  \"name\": \"net\","),
        "{text}"
    );
}

#[test]
fn a_file_replaced_after_planning_is_left_alone() {
    let dir = node();
    let conf = dir.path().join("etc/cni/net.d/10-net.conflist");
    let p = plan(&options(dir.path())).unwrap();
    // Another tool (an installer, an operator) replaces the file after cni-fix read it.
    let theirs =
        "{\"cniVersion\":\"0.3.1\",\"name\":\"net\",\"plugins\":[{\"type\":\"bridge\"}]}\n";
    fs::write(dir.path().join("etc/cni/net.d/.new"), theirs).unwrap();
    fs::rename(dir.path().join("etc/cni/net.d/.new"), &conf).unwrap();
    let report = apply(&p, Path::new("/var/tmp/backup")).unwrap();
    assert_eq!(report.files[0].1, Written::ChangedMeanwhile);
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        theirs,
        "their file is untouched"
    );
}

#[test]
fn findings_carry_the_fix_rewrite_makes() {
    let dir = node();
    let report = cni_fix_core::check(&options(dir.path()).check).unwrap();
    let finding = report
        .findings
        .iter()
        .find(|f| f.id == FindingId::MissingVersion)
        .unwrap();
    let fix = finding.fix.as_ref().expect("a fix");
    let p = plan(&options(dir.path())).unwrap();
    let Outcome::Rewrite { edits, to, .. } = &p.files[0].outcome else {
        panic!()
    };
    assert_eq!((&fix.edits, fix.target), (edits, Some(*to)));
}

#[test]
fn the_plan_carries_the_findings_and_what_remains() {
    let dir = node();
    let p = plan(&options(dir.path())).unwrap();
    let report = cni_fix_core::check(&options(dir.path()).check).unwrap();
    // One evaluation: the plan's findings are the check's.
    let ids = |fs: &mut dyn Iterator<Item = &cni_fix_core::Finding>| -> Vec<FindingId> {
        let mut v: Vec<FindingId> = fs.map(|f| f.id).collect();
        v.sort();
        v
    };
    assert_eq!(
        ids(&mut p.findings.iter()),
        ids(&mut report.findings.iter())
    );
    assert!(p.findings.iter().any(|f| f.id == FindingId::MissingVersion));
    assert!(
        p.remaining().all(|f| f.id != FindingId::MissingVersion),
        "a rewritten file's version findings do not remain"
    );
}

//! Hostile and broken inputs: every one yields a clear finding naming the file, never a
//! panic or a hang.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use cni_fix_core::snapshot::FileStatus;
use cni_fix_core::{
    check, CheckOptions, ContainerdVersion, FindingId, ProbeMode, Report, Severity,
};

fn node() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc/cni/net.d")).unwrap();
    fs::create_dir_all(dir.path().join("opt/cni/bin")).unwrap();
    for p in ["bridge", "host-local", "loopback", "portmap"] {
        let f = dir.path().join("opt/cni/bin").join(p);
        fs::write(&f, "#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.1\",\"0.4.0\",\"1.0.0\"]}'\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn conf(dir: &Path, name: impl AsRef<OsStr>, bytes: &[u8]) {
    fs::write(dir.join("etc/cni/net.d").join(name.as_ref()), bytes).unwrap();
}

fn run(dir: &Path) -> Report {
    let options = CheckOptions::for_root(dir)
        .containerd_version(ContainerdVersion::parse("1.7.20").unwrap())
        .probe(ProbeMode::Exec)
        .probe_timeout(Duration::from_secs(2));
    check(&options).expect("the check runs")
}

fn invalid(report: &Report, file: &str) -> String {
    let path = format!("/etc/cni/net.d/{file}");
    let f = report
        .findings
        .iter()
        .find(|f| f.id == FindingId::InvalidConfig && f.file.as_deref() == Some(&path))
        .unwrap_or_else(|| panic!("no invalid-config for {path}: {:#?}", report.findings));
    assert_eq!(f.severity, Severity::Error);
    f.message.clone()
}

const GOOD: &[u8] = br#"{"cniVersion":"1.0.0","name":"good","plugins":[{"type":"bridge","ipam":{"type":"host-local"}}]}"#;

#[test]
fn each_broken_file_is_named_with_libcnis_reason() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "01-empty.conflist",
            Vec::new(),
            "unexpected end of JSON input",
        ),
        (
            "02-bom.conflist",
            [b"\xef\xbb\xbf".as_slice(), GOOD].concat(),
            "invalid character 'ï' looking for beginning of value",
        ),
        (
            "03-binary.conflist",
            vec![0u8, 159, 146, 150, 7, 0, 255],
            "invalid character '\\x00' looking for beginning of value",
        ),
        (
            "04-truncated.conflist",
            GOOD[..40].to_vec(),
            "unexpected end of JSON input",
        ),
        (
            "05-garbage.conflist",
            [GOOD, b" trailing".as_slice()].concat(),
            "after top-level value",
        ),
        (
            "06-deep.conflist",
            format!(
                "{{\"name\":\"n\",\"x\":{}{}}}",
                "[".repeat(20_000),
                "]".repeat(20_000)
            )
            .into_bytes(),
            "exceeded max depth",
        ),
        (
            "07-yaml.conf",
            b"cniVersion: 1.0.0\nname: x\n".to_vec(),
            "invalid character 'c' looking for beginning of value",
        ),
        (
            "08-array.json",
            b"[]".to_vec(),
            "cannot unmarshal array into Go value of type types.NetConf",
        ),
        (
            "09-dup.conflist",
            br#"{"name":"a","plugins":[{"type":"bridge"}],"plugins":[]}"#.to_vec(),
            "no plugins in list",
        ),
    ];
    for (name, bytes, want) in &cases {
        let dir = node();
        conf(dir.path(), name, bytes);
        let start = Instant::now();
        let report = run(dir.path());
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            start.elapsed()
        );
        let message = invalid(&report, name);
        assert!(message.contains(want), "{name}: {message}");
    }
}

#[test]
fn invalid_utf8_in_strings_is_accepted_like_go() {
    let dir = node();
    conf(dir.path(), "10-latin1.conflist", b"{\"cniVersion\":\"1.0.0\",\"name\":\"caf\xe9\",\"plugins\":[{\"type\":\"bridge\",\"ipam\":{\"type\":\"host-local\"}}]}");
    let report = run(dir.path());
    assert_eq!(report.files[0].name.as_deref(), Some("caf\u{FFFD}"));
    // The name is not one plugins accept.
    assert!(report
        .findings
        .iter()
        .any(|f| f.id == FindingId::InvalidNetworkName));
}

#[test]
fn non_utf8_file_names() {
    let dir = node();
    conf(dir.path(), OsStr::from_bytes(b"10-\xff.conflist"), GOOD);
    conf(dir.path(), OsStr::from_bytes(b"11-\xfe.conflist"), GOOD);
    let report = run(dir.path());
    assert_eq!(report.files.len(), 2);
    // Distinct names stay distinct, and the exact bytes round-trip.
    assert_eq!(report.files[0].path, "/etc/cni/net.d/10-\\xff.conflist");
    assert_eq!(report.files[1].path, "/etc/cni/net.d/11-\\xfe.conflist");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(report.files[0].path_bytes.as_deref().unwrap())
        .unwrap();
    assert_eq!(bytes, b"/etc/cni/net.d/10-\xff.conflist");
    assert_eq!(report.summary.errors, 0, "{:#?}", report.findings);
}

#[test]
fn oversized_file_is_refused_not_read() {
    // A large file is valid to go-cni; not reading it is cni-fix's own limit, reported as
    // such, with no runtime text made up for it.
    let dir = node();
    let mut big = GOOD.to_vec();
    big.extend(std::iter::repeat_n(b' ', 5 * 1024 * 1024));
    conf(dir.path(), "10-huge.conflist", &big);
    let report = run(dir.path());
    assert_eq!(report.incomplete.len(), 1, "{:#?}", report.incomplete);
    let unread = &report.incomplete[0];
    assert_eq!(unread.path, "/etc/cni/net.d/10-huge.conflist");
    assert!(
        unread
            .reason
            .contains("more than the 4194304 bytes cni-fix reads"),
        "{}",
        unread.reason
    );
    assert_eq!(report.files[0].status, FileStatus::Unread);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.id != FindingId::InvalidConfig
                && f.id != FindingId::NoConfig
                && f.runtime_error
                    .as_deref()
                    .is_none_or(|e| !e.contains("10-huge"))),
        "{:#?}",
        report.findings
    );
    assert_eq!(report.node.load_error, None);

    // The same for containerd's config: a cni-fix limit, not an invalid config.
    let dir = node();
    conf(dir.path(), "10-good.conflist", GOOD);
    let mut toml = b"version = 2\n".to_vec();
    toml.extend(std::iter::repeat_n(b'#', 5 * 1024 * 1024));
    fs::create_dir_all(dir.path().join("etc/containerd")).unwrap();
    fs::write(dir.path().join("etc/containerd/config.toml"), toml).unwrap();
    let report = run(dir.path());
    assert_eq!(report.incomplete.len(), 1, "{:#?}", report.incomplete);
    assert_eq!(report.incomplete[0].what, "containerd config");
    assert!(report
        .findings
        .iter()
        .all(|f| f.id != FindingId::InvalidContainerdConfig));
}

#[test]
fn fifo_does_not_hang() {
    let dir = node();
    let path = dir.path().join("etc/cni/net.d/10-pipe.conflist");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let report = run(dir.path());
    assert!(start.elapsed() < Duration::from_secs(10));
    let message = invalid(&report, "10-pipe.conflist");
    assert!(message.contains("named pipe"), "{message}");
}

#[test]
fn directories_and_links() {
    let dir = node();
    let d = dir.path().join("etc/cni/net.d");
    fs::create_dir(d.join("05-dir.conflist")).unwrap();
    fs::create_dir(dir.path().join("elsewhere")).unwrap();
    symlink("/elsewhere", d.join("06-link-to-dir.conflist")).unwrap();
    symlink("/nowhere", d.join("07-dangling.conflist")).unwrap();
    conf(dir.path(), "10-good.conflist", GOOD);
    let report = run(dir.path());
    // A directory is skipped; a link to one is listed by libcni and fails to read.
    let dir_entry = report
        .files
        .iter()
        .find(|f| f.path.ends_with("05-dir.conflist"))
        .unwrap();
    assert_eq!(serde_json::to_value(dir_entry.status).unwrap(), "ignored");
    let message = invalid(&report, "06-link-to-dir.conflist");
    assert!(message.contains("is a directory"), "{message}");
    assert!(report
        .node
        .load_error
        .as_deref()
        .unwrap()
        .contains("06-link-to-dir.conflist"));
}

#[test]
fn a_missing_root_is_an_error_not_a_report() {
    let err = check(&CheckOptions::for_root("/definitely/not/here")).unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = check(&CheckOptions::for_root(file.path())).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn binary_containerd_config() {
    let dir = node();
    fs::create_dir_all(dir.path().join("etc/containerd")).unwrap();
    fs::write(
        dir.path().join("etc/containerd/config.toml"),
        b"version = 2\n\xff\xfe\x00",
    )
    .unwrap();
    conf(dir.path(), "10-good.conflist", GOOD);
    let report = run(dir.path());
    let f = report
        .findings
        .iter()
        .find(|f| f.id == FindingId::InvalidContainerdConfig)
        .unwrap();
    assert!(
        f.message.contains("/etc/containerd/config.toml") && f.message.contains("not UTF-8"),
        "{}",
        f.message
    );
}

#[test]
fn pathological_sizes_stay_linear() {
    // Hang guards, not timings: quadratic work on these inputs would take hours.
    let dir = node();
    let mut dup = String::from("{\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"}]");
    for i in 0..150_000 {
        dup.push_str(&format!(",\"k{}\":1", i % 75_000));
    }
    dup.push('}');
    conf(dir.path(), "10-keys.conflist", dup.as_bytes());
    conf(
        dir.path(),
        "20-braces.conflist",
        "{{".repeat(1_500_000).as_bytes(),
    );
    let start = Instant::now();
    let report = run(dir.path());
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(report.files[0].name.as_deref(), Some("n"));
}

#[test]
fn errors_keep_their_io_source() {
    use std::error::Error;
    let e = check(&CheckOptions::for_root("/no/such/root")).unwrap_err();
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    let dir = node();
    let e =
        check(&CheckOptions::for_root(dir.path()).containerd_config("/etc/containerd/nope.toml"))
            .unwrap_err();
    assert_eq!(e.to_string(), "containerd config /etc/containerd/nope.toml");
    assert!(e.source().is_some());
}

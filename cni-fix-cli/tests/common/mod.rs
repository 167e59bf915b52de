//! Helpers shared by the CLI tests.
#![allow(dead_code)]

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `testdata/scenarios`.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/scenarios")
}

/// The output of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the `cni-fix` binary with `args`.
pub fn cni_fix(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_cni-fix"))
        .args(args)
        .current_dir(scenarios_dir())
        .env_remove("NO_COLOR")
        .output()
        .expect("run cni-fix");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `cni-fix check ARGS --format json`: the run and its parsed report.
pub fn check_json(args: &[&str]) -> (Run, serde_json::Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend(["--format", "json"]);
    let run = cni_fix(&all);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("check {args:?}: {e}\n{}{}", run.stdout, run.stderr));
    (run, report)
}

/// `cni-fix check --root ROOT --format FORMAT ARGS`, with ROOT replaced by `<root>` in the
/// output.
pub fn run_check(root: &Path, args: &[&str], format: &str) -> Run {
    let root_s = root.to_str().unwrap();
    let mut all = vec!["check", "--root", root_s, "--format", format];
    all.extend_from_slice(args);
    let mut run = cni_fix(&all);
    run.stdout = run.stdout.replace(root_s, "<root>");
    run.stderr = run.stderr.replace(root_s, "<root>");
    run
}

/// Copy a node tree with deterministic modes: 0755 for directories and files git marks
/// executable, 0644 for other files; symlinks are copied as links.
pub fn copy_node(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_symlink() {
            symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else if ft.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
            let exec = entry.metadata().unwrap().permissions().mode() & 0o100 != 0;
            let mode = if exec { 0o755 } else { 0o644 };
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
            // One modification time for every file: reports that compare times stay the
            // same whatever order the copy took.
            std::fs::File::options()
                .write(true)
                .open(&dest)
                .unwrap()
                .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
                .unwrap();
        }
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A scenario's node tree copied into a new temporary root.
pub fn scenario(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    copy_node(&scenarios_dir().join(name).join("node"), tmp.path());
    let root = tmp.path().to_path_buf();
    (tmp, root)
}

/// Apply a scenario's `modes` file.
pub fn apply_modes(root: &Path, modes: &str) {
    for line in modes
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (path, mode) = line.split_once(' ').expect("path mode");
        let mode = u32::from_str_radix(mode.trim(), 8).expect("octal mode");
        let p = root.join(path.trim_start_matches('/'));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Debian's plugins (containernetworking-plugins), which the verify tests run.
pub const DEBIAN_PLUGINS: &str = "/usr/lib/cni";

/// A node tree for `cni-fix verify`: the conf dir with `confs`, and a plugin directory with
/// Debian's plugins (hard links, or copies across file systems) plus the `scripts` given.
/// Fails, never skips, when not root or without the plugins.
pub fn plugin_node(
    confs: &[(&str, &str)],
    scripts: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf) {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    assert!(
        String::from_utf8_lossy(&uid.stdout).trim() == "0",
        "the verify tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); run them through scripts/test.sh as root"
    );
    assert!(
        Path::new(DEBIAN_PLUGINS).join("bridge").is_file(),
        "{DEBIAN_PLUGINS} has no plugins: install Debian's containernetworking-plugins (scripts/test.sh does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let conf_dir = root.join("etc/cni/net.d");
    let bin = root.join("opt/cni/bin");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    for (name, text) in confs {
        std::fs::write(conf_dir.join(name), text).unwrap();
    }
    for entry in std::fs::read_dir(DEBIAN_PLUGINS).unwrap() {
        let entry = entry.unwrap();
        let to = bin.join(entry.file_name());
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    for (name, body) in scripts {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (tmp, root)
}

/// The lines of `check --format ndjson` gathered into the JSON report they hold, after
/// checking their order: one start, the files, one end.
pub fn gather_ndjson(text: &str) -> Result<serde_json::Value, String> {
    let mut start: Option<serde_json::Value> = None;
    let mut end: Option<serde_json::Value> = None;
    let mut files = Vec::new();
    let mut findings = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let e: serde_json::Value =
            serde_json::from_str(line).map_err(|err| format!("line {}: {err}", n + 1))?;
        if end.is_some() {
            return Err(format!("line {}: after the end", n + 1));
        }
        match (e["event"].as_str(), start.is_some()) {
            (Some("start"), false) => {
                if e["schema"] != "cni-fix.check-stream/v1" {
                    return Err(format!("schema {}", e["schema"]));
                }
                start = Some(e);
            }
            (Some("file"), true) => {
                for f in e["findings"].as_array().ok_or("file without findings")? {
                    if f["file"] != e["file"]["path"] {
                        return Err(format!("line {}: a finding about another file", n + 1));
                    }
                    findings.push(f.clone());
                }
                files.push(e["file"].clone());
            }
            (Some("end"), true) => {
                findings.extend(
                    e["findings"]
                        .as_array()
                        .ok_or("end without findings")?
                        .clone(),
                );
                end = Some(e);
            }
            (other, _) => return Err(format!("line {}: event {other:?} out of place", n + 1)),
        }
    }
    let (Some(start), Some(end)) = (start, end) else {
        return Err("no start or no end".into());
    };
    Ok(serde_json::json!({
        "schema": "cni-fix.check/v1",
        "node": start["node"],
        "files": files,
        "plugins": start["plugins"],
        "findings": findings,
        "summary": end["summary"],
        "incomplete": end["incomplete"],
    }))
}

/// The line `check --format summary` writes for a JSON report and exit status: the verdict,
/// the counts, each finding id once (most severe first, in report order within a severity)
/// and the paths not read.
pub fn summary_of(report: &serde_json::Value, code: i32) -> String {
    let rank = |s: &str| match s {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    };
    let mut ids: Vec<(i32, String)> = Vec::new();
    for f in report["findings"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap().to_string();
        if !ids.iter().any(|(_, i)| *i == id) {
            ids.push((rank(f["severity"].as_str().unwrap()), id));
        }
    }
    ids.sort_by_key(|(r, _)| *r);
    let verdict = match code {
        0 => "OK",
        1 => "FAIL",
        _ => "UNKNOWN",
    };
    let mut line = format!(
        "{verdict}: {} error(s), {} warning(s)",
        report["summary"]["errors"], report["summary"]["warnings"]
    );
    if !ids.is_empty() {
        let ids: Vec<String> = ids.into_iter().map(|(_, i)| i).collect();
        line.push_str(&format!(": {}", ids.join(", ")));
    }
    let unread = report["incomplete"].as_array().unwrap().len();
    if unread > 0 {
        line.push_str(&format!("; {unread} path(s) unread"));
    }
    line + "\n"
}

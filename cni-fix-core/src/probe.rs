//! Asking plugin binaries which spec versions they support.
//!
//! `CNI_COMMAND=VERSION` is side-effect free: the plugin prints
//! `{"cniVersion":…,"supportedVersions":[…]}` and exits. Probes run all at once, each in its
//! own process group with a clean environment, empty stdin, bounded output and a deadline;
//! a plugin that hangs or floods its output is killed with its children.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::json::{self, Kind};

/// The most a probe may print on stdout.
pub const MAX_STDOUT: u64 = 64 * 1024;
/// The most of stderr a probe keeps for its error message.
const MAX_STDERR: u64 = 4 * 1024;

/// Why a probe gave no versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The binary could not be started.
    #[error("could not run it: {0}")]
    Spawn(String),
    /// It did not exit in time.
    #[error("did not answer VERSION within {0:?}; killed")]
    Timeout(Duration),
    /// It printed more than [`MAX_STDOUT`] bytes.
    #[error("printed more than {MAX_STDOUT} bytes; killed")]
    TooMuchOutput,
    /// It failed, with libcni's reading of its error.
    #[error("{0}")]
    Failed(String),
    /// Its answer is not a version answer.
    #[error("{0}")]
    Garbage(String),
}

/// Run `CNI_COMMAND=VERSION` for every binary at once; results in the order given.
pub fn probe_all(binaries: &[PathBuf], timeout: Duration) -> Vec<Result<Vec<String>, ProbeError>> {
    thread::scope(|s| {
        let handles: Vec<_> = binaries
            .iter()
            .map(|b| s.spawn(move || probe_one(b, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ProbeError::Spawn("probe thread failed".into())))
            })
            .collect()
    })
}

fn read_capped(mut r: impl Read + Send + 'static, cap: u64) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut r).take(cap + 1).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

fn kill_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    #[allow(unsafe_code)]
    // SAFETY: kill(2) with a negative pid signals the process group the child leads; it
    // has no memory-safety preconditions.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// What a bounded run produced.
#[derive(Debug)]
pub struct Output {
    /// The exit status.
    pub status: std::process::ExitStatus,
    /// Standard output (at most [`MAX_STDOUT`] bytes).
    pub stdout: Vec<u8>,
    /// The start of standard error.
    pub stderr: Vec<u8>,
}

/// Run `cmd` with empty stdin in its own process group, and kill the group when it outlives
/// `timeout` or prints more than [`MAX_STDOUT`] bytes.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<Output, ProbeError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| ProbeError::Spawn(crate::node::io_message(&e)))?;
    let pid = child.id();
    let stdout = read_capped(child.stdout.take().expect("piped stdout"), MAX_STDOUT);
    let stderr = read_capped(child.stderr.take().expect("piped stderr"), MAX_STDERR);
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let _ = done_tx.send(());
        status
    });
    let deadline = Instant::now() + timeout;
    fn give_up<T>(
        pid: u32,
        waiter: thread::JoinHandle<std::io::Result<std::process::ExitStatus>>,
        e: ProbeError,
    ) -> Result<T, ProbeError> {
        kill_group(pid);
        let _ = waiter.join();
        Err(e)
    }
    let out = match stdout.recv_timeout(timeout) {
        Ok(out) => out,
        Err(_) => return give_up(pid, waiter, ProbeError::Timeout(timeout)),
    };
    if out.len() as u64 > MAX_STDOUT {
        return give_up(pid, waiter, ProbeError::TooMuchOutput);
    }
    if done_rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .is_err()
    {
        return give_up(pid, waiter, ProbeError::Timeout(timeout));
    }
    let status = waiter
        .join()
        .map_err(|_| ProbeError::Spawn("wait failed".into()))?
        .map_err(|e| ProbeError::Spawn(crate::node::io_message(&e)))?;
    // Children that escaped the group may still hold stderr; do not wait long for it.
    let stderr = stderr
        .recv_timeout(Duration::from_millis(200))
        .unwrap_or_default();
    Ok(Output {
        status,
        stdout: out,
        stderr,
    })
}

/// Run one binary's `VERSION` command and read its answer as libcni does.
pub fn probe_one(binary: &Path, timeout: Duration) -> Result<Vec<String>, ProbeError> {
    let mut cmd = Command::new(binary);
    cmd.env_clear().env("CNI_COMMAND", "VERSION");
    let out = run_bounded(cmd, timeout)?;
    if !out.status.success() {
        let message = plugin_error(&out.stdout, &out.stderr, out.status.code());
        if message == "unknown CNI_COMMAND: VERSION" {
            // libcni's GetVersionInfo: plugins older than the VERSION command support 0.1.0.
            return Ok(vec!["0.1.0".to_string()]);
        }
        return Err(ProbeError::Failed(message));
    }
    decode_version_info(&out.stdout)
}

/// libcni's `pluginErr`: the plugin's JSON error on stdout, else its stderr.
fn plugin_error(stdout: &[u8], stderr: &[u8], code: Option<i32>) -> String {
    if let Ok(v) = json::parse(stdout) {
        if let Some(msg) = v.get("msg").and_then(|m| m.as_str()) {
            let details = v.get("details").and_then(|d| d.as_str()).unwrap_or("");
            return if details.is_empty() {
                msg.to_string()
            } else {
                format!("{msg}; {details}")
            };
        }
    }
    let stderr = String::from_utf8_lossy(stderr);
    let stderr = stderr.trim();
    match (stderr.is_empty(), code) {
        (false, _) => format!("netplugin failed: {stderr:?}"),
        (true, Some(c)) => format!("netplugin failed with no error message: exit status {c}"),
        (true, None) => "netplugin failed with no error message: killed by a signal".to_string(),
    }
}

/// libcni's `PluginDecoder.Decode` of a `VERSION` answer.
pub fn decode_version_info(stdout: &[u8]) -> Result<Vec<String>, ProbeError> {
    let garbage = |m: String| ProbeError::Garbage(format!("decoding version info: {m}"));
    let doc = json::parse(stdout).map_err(|e| garbage(e.message))?;
    let Kind::Object(_) = &doc.kind else {
        return Err(garbage(format!(
            "json: cannot unmarshal {} into Go value of type version.pluginInfo",
            doc.kind.go_json_word()
        )));
    };
    let cni_version = match doc.get("cniVersion").map(|v| &v.kind) {
        Some(Kind::String(s)) => s.clone(),
        None | Some(Kind::Null) => String::new(),
        Some(other) => {
            return Err(garbage(format!(
            "json: cannot unmarshal {} into Go struct field pluginInfo.cniVersion of type string",
            other.go_json_word()
        )))
        }
    };
    let supported: Vec<String> = match doc.get("supportedVersions").map(|v| &v.kind) {
        None | Some(Kind::Null) => Vec::new(),
        Some(Kind::Array(items)) => items
            .iter()
            .filter_map(|i| match &i.kind {
                Kind::String(s) => Some(Ok(s.clone())),
                Kind::Null => None,
                other => Some(Err(garbage(format!(
                    "json: cannot unmarshal {} into Go struct field pluginInfo.supportedVersions of type string",
                    other.go_json_word()
                )))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(garbage(format!(
                "json: cannot unmarshal {} into Go struct field pluginInfo.supportedVersions of type []string",
                other.go_json_word()
            )))
        }
    };
    if cni_version.is_empty() {
        return Err(garbage("missing field cniVersion".into()));
    }
    if supported.is_empty() {
        if cni_version == "0.2.0" {
            return Ok(vec!["0.1.0".into(), "0.2.0".into()]);
        }
        return Err(garbage("missing field supportedVersions".into()));
    }
    Ok(supported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn decodes_like_libcni() {
        assert_eq!(
            decode_version_info(br#"{"cniVersion":"0.4.0","supportedVersions":["0.3.1","0.4.0"]}"#)
                .unwrap(),
            ["0.3.1", "0.4.0"]
        );
        assert_eq!(
            decode_version_info(br#"{"cniVersion":"0.2.0"}"#).unwrap(),
            ["0.1.0", "0.2.0"]
        );
        assert!(decode_version_info(br#"{"cniVersion":"0.3.1"}"#).is_err());
        assert!(decode_version_info(b"CNI bridge plugin v1.1.1").is_err());
        assert!(decode_version_info(b"").is_err());
    }

    #[test]
    fn probes_real_processes() {
        let dir = tempfile::tempdir().unwrap();
        let good = script(
            dir.path(),
            "good",
            r#"[ "$CNI_COMMAND" = VERSION ] && [ -z "$HOME" ] && echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'"#,
        );
        let hang = script(dir.path(), "hang", "sleep 30 & sleep 30");
        let fail = script(
            dir.path(),
            "fail",
            r#"echo '{"code":4,"msg":"boom","details":"why"}'; exit 1"#,
        );
        let flood = script(
            dir.path(),
            "flood",
            "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done",
        );
        let old = script(
            dir.path(),
            "old",
            "echo 'unknown CNI_COMMAND: VERSION' >&2; exit 1",
        );
        let ancient = script(
            dir.path(),
            "ancient",
            r#"echo '{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}'; exit 1"#,
        );
        let start = std::time::Instant::now();
        let results = probe_all(
            &[
                good,
                hang,
                fail,
                flood,
                old,
                dir.path().join("missing"),
                ancient,
            ],
            Duration::from_millis(700),
        );
        // All at once: one timeout's worth of waiting, not several.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(results[0].as_ref().unwrap(), &["0.4.0", "1.0.0"]);
        assert!(matches!(results[1], Err(ProbeError::Timeout(_))));
        assert_eq!(results[2], Err(ProbeError::Failed("boom; why".into())));
        assert_eq!(results[3], Err(ProbeError::TooMuchOutput));
        assert_eq!(
            results[4],
            Err(ProbeError::Failed(
                "netplugin failed: \"unknown CNI_COMMAND: VERSION\"".into()
            ))
        );
        assert!(matches!(results[5], Err(ProbeError::Spawn(_))));
        assert_eq!(results[6].as_ref().unwrap(), &["0.1.0"]);
    }
}

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
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::json::{self, Kind};

/// The most a probe may print on stdout.
pub const MAX_STDOUT: u64 = 64 * 1024;
/// The most of stderr a probe keeps for its error message.
const MAX_STDERR: u64 = 4 * 1024;

/// Why a probe gave no versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The binary could not be started.
    #[error("could not run it: {0}")]
    Spawn(String),
    /// It did not finish in time.
    #[error("did not finish within {0:?}; killed")]
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

/// What the threads watching a child report.
enum Event {
    /// The child exited.
    Exited(std::io::Result<std::process::ExitStatus>),
    /// Standard output (`true`) or standard error (`false`) reached its end, or the cap.
    OutputDone(bool),
}

/// Read `r` into `buf` until its end or `cap + 1` bytes, then say so on `tx`.
fn read_capped(
    mut r: impl Read + Send + 'static,
    cap: u64,
    buf: Arc<Mutex<Vec<u8>>>,
    tx: mpsc::Sender<Event>,
    is_stdout: bool,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            let n = match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
            let room = (cap + 1).saturating_sub(b.len() as u64) as usize;
            b.extend_from_slice(&chunk[..n.min(room)]);
            if b.len() as u64 > cap {
                break;
            }
        }
        let _ = tx.send(Event::OutputDone(is_stdout));
    })
}

fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // The child leads its own process group (process_group(0)), so this reaches the plugin
    // and everything it started.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

/// How often a binary still open for writing ("text file busy") is tried again, and how
/// long the first wait is (it doubles each time): about 300 ms in all.
const BUSY_RETRIES: u32 = 5;
const BUSY_FIRST_WAIT: Duration = Duration::from_millis(10);

/// Spawn `cmd`, trying again for a moment while its binary is open for writing somewhere
/// (`ETXTBSY`): a plugin that an installer is copying into place right now, or a file that
/// another thread of this process wrote and a child forked meanwhile still holds open. Any
/// other error, or a binary still busy after the retries, is reported as it is.
fn spawn_when_not_busy(cmd: &mut Command) -> Result<std::process::Child, ProbeError> {
    let mut wait = BUSY_FIRST_WAIT;
    let mut retries = BUSY_RETRIES;
    loop {
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && retries > 0 => {
                retries -= 1;
                thread::sleep(wait);
                wait *= 2;
            }
            Err(e) => return Err(ProbeError::Spawn(crate::node::io_message(&e))),
        }
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

/// How long output may still arrive after the child exited, before the children it left
/// holding the pipe are killed.
const AFTER_EXIT_GRACE: Duration = Duration::from_millis(100);

/// Run `cmd` with empty stdin in its own process group, and kill the group when it outlives
/// `timeout` or prints more than [`MAX_STDOUT`] bytes. A child that exits but leaves a process
/// of its own holding the pipe does not count as a hang: what it printed is kept, and the
/// leftover processes are killed.
pub fn run_bounded(cmd: Command, timeout: Duration) -> Result<Output, ProbeError> {
    run_bounded_with_input(cmd, None, timeout)
}

/// [`run_bounded`], with `input` written to the child's standard input (then closed).
pub fn run_bounded_with_input(
    mut cmd: Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Output, ProbeError> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let mut child = spawn_when_not_busy(&mut cmd)?;
    let pid = child.id();
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        // A child that never reads its input must not block this thread: write from another.
        thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&bytes);
        });
    }
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    let out_buf = Arc::new(Mutex::new(Vec::new()));
    let err_buf = Arc::new(Mutex::new(Vec::new()));
    let _out = read_capped(
        child.stdout.take().expect("piped stdout"),
        MAX_STDOUT,
        Arc::clone(&out_buf),
        tx.clone(),
        true,
    );
    let _err = read_capped(
        child.stderr.take().expect("piped stderr"),
        MAX_STDERR,
        Arc::clone(&err_buf),
        tx.clone(),
        false,
    );
    thread::spawn(move || {
        let _ = tx.send(Event::Exited(child.wait()));
    });
    let mut status = None;
    let (mut output_done, mut errors_done) = (false, false);
    let mut grace_until: Option<Instant> = None;
    while status.is_none() || !output_done || !errors_done {
        let until = grace_until.unwrap_or(deadline).min(deadline);
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Event::OutputDone(false)) => errors_done = true,
            Ok(Event::OutputDone(true)) => {
                output_done = true;
                if out_buf.lock().map(|b| b.len() as u64).unwrap_or(0) > MAX_STDOUT {
                    kill_group(pid);
                    return Err(ProbeError::TooMuchOutput);
                }
            }
            Ok(Event::Exited(result)) => {
                let s = result.map_err(|e| ProbeError::Spawn(crate::node::io_message(&e)))?;
                status = Some(s);
                grace_until = Some(Instant::now() + AFTER_EXIT_GRACE);
            }
            Err(_) if status.is_some() => {
                // It exited, but something it started still holds stdout: keep what was
                // printed, and end the leftovers.
                kill_group(pid);
                break;
            }
            Err(_) => {
                kill_group(pid);
                return Err(ProbeError::Timeout(timeout));
            }
        }
    }
    kill_group(pid);
    let take =
        |b: &Arc<Mutex<Vec<u8>>>| std::mem::take(&mut *b.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Output {
        status: status.expect("the loop ends with a status"),
        stdout: take(&out_buf),
        stderr: take(&err_buf),
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

    /// A binary open for writing cannot run ("text file busy"): the spawn waits for the
    /// writer to close it, and reports the error when it never does.
    #[test]
    fn a_binary_being_written_is_run_once_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(dir.path(), "plugin", "echo ran");
        let writer = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        let closer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            drop(writer);
        });
        let out = run_bounded(Command::new(&p), Duration::from_secs(10)).unwrap();
        closer.join().unwrap();
        assert_eq!(out.stdout, b"ran\n");

        let _held = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        match run_bounded(Command::new(&p), Duration::from_secs(10)) {
            Err(ProbeError::Spawn(m)) => assert_eq!(m, "text file busy"),
            other => panic!("{other:?}"),
        }
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

    #[test]
    fn an_answer_is_kept_when_a_leftover_child_holds_the_pipe() {
        let dir = tempfile::tempdir().unwrap();
        // The plugin answers and exits, but a process it started keeps stdout open.
        let leaky = script(
            dir.path(),
            "leaky",
            r#"sleep 30 & echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}'"#,
        );
        let start = std::time::Instant::now();
        let result = probe_one(&leaky, Duration::from_secs(3));
        assert_eq!(result.unwrap(), ["1.0.0"]);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_timeout_names_no_command() {
        // The same error serves `containerd --version`: it must not speak of VERSION.
        let e = ProbeError::Timeout(Duration::from_secs(5)).to_string();
        assert_eq!(e, "did not finish within 5s; killed");
    }
}

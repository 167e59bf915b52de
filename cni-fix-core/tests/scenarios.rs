//! Every scenario case of `testdata/scenarios`, checked at the library level twice: on disk
//! (`NodeFs`, the node tree copied with its modes) and in memory (`MemNode` loaded from the
//! same tree), with the plugins' VERSION answers recorded from the disk run. The two reports
//! must be the same: a snapshot built from any `NodeSource` reads the node as the real one.
//! A third time, the disk node is collected into a tar.gz (`cni-fix collect`) and checked back
//! from the archive, with the options recorded in it: the report must be the same again.
//! It is checked again streamed (`stream::check_each_from`) a file at a time, two at a time
//! and in one window: the events must hold the same files, plugins and findings, in order.
//! Each case is a test of its own.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cni_fix_core::node::NodeFs;
use cni_fix_core::probe::ProbeError;
use cni_fix_core::snapshot::Snapshot;
use cni_fix_core::source::{MemNode, NodeSource, Prober, SystemProber};
use cni_fix_core::{collect, stream};
use cni_fix_core::{CheckOptions, ContainerdVersion, PluginsRelease, ProbeMode, Report};
use libtest_mimic::{Arguments, Failed, Trial};

#[path = "shared/stream_events.rs"]
mod stream_events;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/scenarios")
}

/// The `check` arguments the scenario cases use, as library options.
fn options(args: &[&str]) -> Result<CheckOptions, String> {
    let mut o = CheckOptions::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().copied().ok_or(format!("{flag} needs a value"));
        match *flag {
            "--containerd-version" => {
                o.containerd_version =
                    Some(ContainerdVersion::parse(value()?).map_err(|e| e.to_string())?)
            }
            "--cri-dockerd-version" => {
                o.cri_dockerd_version = Some(
                    cni_fix_core::runtime::RuntimeVersion::parse(value()?)
                        .map_err(|e| e.to_string())?,
                )
            }
            "--assume-plugins-release" => {
                o.assume_plugins_release =
                    Some(PluginsRelease::parse(value()?).map_err(|e| e.to_string())?)
            }
            "--containerd-config" => o.containerd_config = Some(value()?.into()),
            "--conf-dir" => o.conf_dir = Some(value()?.into()),
            "--bin-dir" => o.bin_dirs.push(value()?.into()),
            "--max-conf-num" => {
                o.max_conf_num = Some(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--probe-timeout" => {
                o.probe_timeout =
                    Duration::from_secs_f64(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--probe" => {
                o.probe = Some(match value()? {
                    "exec" => ProbeMode::Exec,
                    "static" => ProbeMode::Static,
                    _ => ProbeMode::None,
                })
            }
            "--kubelet-version" => {
                o.kubelet_version = Some(
                    cni_fix_core::kubelet::KubeletVersion::parse(value()?)
                        .map_err(|e| e.to_string())?,
                )
            }
            "--node" => {
                let name = value()?;
                let text = std::fs::read_to_string(scenarios().join(name))
                    .map_err(|e| format!("{name}: {e}"))?;
                o = o.node_object(name, text);
            }
            other => return Err(format!("the scenario test does not know {other}")),
        }
    }
    Ok(o)
}

/// Copy a scenario's node tree as the CLI tests do, with its `modes`.
fn copy(from: &Path, to: &Path, modes: Option<&str>) {
    for entry in walkdir::WalkDir::new(from).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
            let exec = entry.metadata().unwrap().permissions().mode() & 0o100 != 0;
            let mode = if exec { 0o755 } else { 0o644 };
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    for line in modes
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (path, mode) = line.split_once(' ').unwrap();
        let mode = u32::from_str_radix(mode.trim(), 8).unwrap();
        std::fs::set_permissions(
            to.join(path.trim_start_matches('/')),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
    }
}

/// A prober that records the real answers, and one that replays them.
#[derive(Default)]
struct Recorder(Mutex<BTreeMap<PathBuf, Result<Vec<String>, ProbeError>>>);

impl Prober for Recorder {
    fn exec_versions(
        &self,
        node: &dyn NodeSource,
        binaries: &[PathBuf],
        timeout: Duration,
    ) -> Vec<Result<Vec<String>, ProbeError>> {
        let answers = SystemProber.exec_versions(node, binaries, timeout);
        let mut log = self.0.lock().unwrap();
        for (b, a) in binaries.iter().zip(&answers) {
            log.insert(b.clone(), a.clone());
        }
        answers
    }
    fn containerd_version(&self, _: Duration) -> Result<ContainerdVersion, String> {
        Err("not asked in scenarios".into())
    }
}

struct Replay(BTreeMap<PathBuf, Result<Vec<String>, ProbeError>>);

impl Prober for Replay {
    fn exec_versions(
        &self,
        _: &dyn NodeSource,
        binaries: &[PathBuf],
        _: Duration,
    ) -> Vec<Result<Vec<String>, ProbeError>> {
        binaries
            .iter()
            .map(|b| {
                self.0.get(b).cloned().unwrap_or_else(|| {
                    Err(ProbeError::Spawn(format!(
                        "{} was not probed on disk",
                        b.display()
                    )))
                })
            })
            .collect()
    }
    fn containerd_version(&self, _: Duration) -> Result<ContainerdVersion, String> {
        Err("not asked in scenarios".into())
    }
}

fn report(snap: &Snapshot) -> serde_json::Value {
    report_json(&Report::new(snap, cni_fix_core::rules::evaluate(snap)))
}

fn report_json(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v["node"]["root"] = serde_json::Value::Null;
    v
}

fn run_case(dir: &Path, args: &[String]) -> Result<(), Failed> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let options = options(&args)?;
    let modes = std::fs::read_to_string(dir.join("modes")).ok();
    let tmp = tempfile::tempdir().unwrap();
    copy(&dir.join("node"), tmp.path(), modes.as_deref());
    let recorder = Recorder::default();
    let on_disk = Snapshot::gather_from(&options, Arc::new(NodeFs::new(tmp.path())), &recorder)
        .map_err(|e| e.to_string())?;
    // The in-memory node is the same tree, modes included.
    let mem = MemNode::load(tmp.path()).map_err(|e| e.to_string())?;
    let replay = Replay(recorder.0.into_inner().unwrap());
    let in_memory =
        Snapshot::gather_from(&options, Arc::new(mem), &replay).map_err(|e| e.to_string())?;
    let (a, b) = (report(&on_disk), report(&in_memory));
    differ("in memory", &a, &b)?;
    // Streamed, a file at a time and in one window: the same files, plugins and findings.
    let mem = Arc::new(MemNode::load(tmp.path()).map_err(|e| e.to_string())?);
    for window in [1, 2, stream::DEFAULT_WINDOW] {
        let streamed = stream_events::gather(&options, mem.clone(), &replay, window);
        differ(&format!("streamed {window} at a time"), &a, &streamed)?;
    }
    // Collected into an archive and checked back from it.
    let collection = collect::collect_from(
        &collect::CollectOptions::new(options.clone(), std::time::SystemTime::UNIX_EPOCH),
        Arc::new(NodeFs::new(tmp.path())),
        &SystemProber,
    )
    .map_err(|e| e.to_string())?;
    differ("while collected", &a, &report_json(&collection.report))?;
    let mut bytes = Vec::new();
    collection.write_tar_gz(&mut bytes).unwrap();
    let node = collect::CollectedNode::read_tar_gz(&bytes[..], Path::new("node.tar.gz"))
        .map_err(|e| e.to_string())?;
    let again = node
        .check(
            &node
                .options_over(&CheckOptions::default())
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    differ("from the collection", &a, &report_json(&again))
}

fn differ(what: &str, a: &serde_json::Value, b: &serde_json::Value) -> Result<(), Failed> {
    if a != b {
        return Err(format!(
            "{what} and on disk differ:\n--- disk\n{}\n--- {what}\n{}",
            serde_json::to_string_pretty(a).unwrap(),
            serde_json::to_string_pretty(b).unwrap()
        )
        .into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(scenarios())
        .expect("testdata/scenarios")
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let cases = std::fs::read_to_string(dir.join("cases")).expect("cases");
        for line in cases
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (case, a) = line.split_once(':').expect("case: args");
            let a: Vec<String> = a.split_whitespace().map(str::to_string).collect();
            let d = dir.clone();
            trials.push(Trial::test(format!("{name}/{}", case.trim()), move || {
                run_case(&d, &a)
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

//! The node beyond CNI that a runtime migration changes: the kubelet's runtime settings (its
//! unit, drop-ins, environment files, command line and `KubeletConfiguration`), its version,
//! the Node object, Docker Engine's `daemon.json`, the runtimes installed, and whatever else
//! on the node calls Docker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::kubelet::{self, Flag, KubeletConfig, KubeletVersion, NodeObject, RuntimeKind};
use crate::node::{display_path, ReadError, MAX_CONFIG_BYTES};
use crate::source::{NodeSource, Prober};
use crate::systemd::{self, Assignment, Origin, Service, UnitFiles, Word};

use super::{own_read_limit, Unread};

/// A file the runtime or systemd reads that is malformed: systemd skips the line, or the
/// program refuses the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFile {
    /// The file and line (0 when the whole file is at fault).
    pub origin: Origin,
    /// What the file is, for messages (`kubelet environment file`, `daemon.json`, …).
    pub what: &'static str,
    /// What is wrong.
    pub message: String,
    /// Whether the program that reads it refuses to start (else the bad part is skipped).
    pub fatal: bool,
}

/// Where a kubelet setting comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum SettingSource {
    /// A command-line flag, set at this file and line.
    Flag {
        /// `path:line`.
        at: String,
    },
    /// The `KubeletConfiguration` file.
    ConfigFile {
        /// Its node path.
        path: String,
    },
    /// The kubelet's built-in default for its version.
    Default,
}

/// A kubelet setting and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sourced {
    /// The value.
    pub value: String,
    /// Where it comes from.
    pub source: SettingSource,
}

/// Where the kubelet's version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KubeletVersionSource {
    /// `--kubelet-version`.
    Flag,
    /// `kubelet --version` on the live node.
    Exec,
    /// The Node object's `status.nodeInfo.kubeletVersion`.
    NodeObject,
    /// Not known.
    Unknown,
}

/// Where the kubelet's command line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandSource {
    /// The systemd unit and its drop-ins: what the next start runs.
    Unit,
    /// The running process (`/proc/<pid>/cmdline`), when no unit was found.
    Process,
    /// Neither: no kubelet was found.
    None,
}

/// The kubelet as the node's files configure it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KubeletInfo {
    /// `kubelet.service` and its drop-ins.
    pub unit: UnitFiles,
    /// Where the command line came from.
    pub command_source: CommandSource,
    /// The command line the unit runs, variables expanded (the binary first).
    pub command: Vec<Word>,
    /// The flags on it, in order.
    pub flags: Vec<Flag>,
    /// The running kubelet's arguments, on the live node.
    pub running: Option<Vec<Word>>,
    /// `--config`, when set.
    pub config_path: Option<PathBuf>,
    /// What the `KubeletConfiguration` sets, when read.
    pub config: Option<KubeletConfig>,
    /// The version, when known.
    pub version: Option<KubeletVersion>,
    /// Where it came from.
    pub version_source: KubeletVersionSource,
    /// Why it is unknown.
    pub version_problem: Option<String>,
    /// The runtime endpoint in effect.
    pub endpoint: Option<Sourced>,
    /// Whether the kubelet runs dockershim (no remote runtime where dockershim is the default,
    /// `--container-runtime=docker`, or dockershim's socket).
    pub dockershim: bool,
    /// The runtime it talks to.
    pub runtime: RuntimeKind,
    /// The cgroup driver in effect; `None` when the config file that would set it could not
    /// be read.
    pub cgroup_driver: Option<Sourced>,
}

impl KubeletInfo {
    /// Whether anything of a kubelet was found.
    pub fn found(&self) -> bool {
        self.command_source != CommandSource::None || self.config.is_some()
    }

    /// The last occurrence of a flag.
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        kubelet::last(&self.flags, name)
    }

    /// The running kubelet's endpoint on the live node, when the unit configures another one
    /// (the kubelet has not been restarted since).
    pub fn running_endpoint(&self) -> Option<String> {
        let args = self.running.as_ref()?;
        let flags = kubelet::parse_flags(args.get(1..).unwrap_or(&[]));
        let running = kubelet::last(&flags, "container-runtime-endpoint")?
            .value
            .clone()?;
        (self.command_source == CommandSource::Unit
            && self.endpoint.as_ref().map(|e| e.value.as_str()) != Some(running.as_str()))
        .then_some(running)
    }
}

/// What Docker Engine's `daemon.json` sets that a migration must carry over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DaemonJson {
    /// `registry-mirrors`.
    pub registry_mirrors: Vec<String>,
    /// `insecure-registries`.
    pub insecure_registries: Vec<String>,
    /// `native.cgroupdriver` from `exec-opts`.
    pub cgroup_driver: Option<String>,
    /// `data-root`.
    pub data_root: Option<String>,
    /// Whether `log-opts` is set.
    pub log_opts: bool,
}

/// A service, as installed on the node.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    /// Its unit files.
    pub unit: UnitFiles,
    /// Its binary, when found in the usual directories.
    pub binary: Option<PathBuf>,
}

impl Installed {
    /// Whether a unit or binary was found.
    pub fn present(&self) -> bool {
        self.unit.unit.is_some() || self.binary.is_some()
    }
}

/// cri-dockerd as installed: its CNI flags and the socket it serves.
#[derive(Debug, Clone, Default)]
pub struct CriDockerd {
    /// Its service.
    pub service: Installed,
    /// The program its `ExecStart=` runs, as written.
    pub program: Option<String>,
    /// The flags of its `ExecStart=`.
    pub flags: Vec<Flag>,
    /// The socket it serves: its socket unit's `ListenStream=`, else its
    /// `--container-runtime-endpoint`, else `/run/cri-dockerd.sock`.
    pub socket: String,
}

impl CriDockerd {
    /// The value of a flag its unit sets (the last occurrence).
    pub fn flag_value(&self, name: &str) -> Option<String> {
        kubelet::last(&self.flags, name).and_then(|f| f.value.clone())
    }

    /// The binary it runs: its unit's program when that is an absolute path, else the binary
    /// found in the usual directories.
    pub fn binary(&self) -> Option<PathBuf> {
        self.program
            .as_deref()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| self.service.binary.clone())
    }
}

/// Docker Engine and cri-dockerd on the node.
#[derive(Debug, Clone, Default)]
pub struct DockerInfo {
    /// `docker.service` / `dockerd`.
    pub engine: Installed,
    /// `/etc/docker/daemon.json`, when present and valid.
    pub daemon_json: Option<DaemonJson>,
    /// cri-dockerd, when installed.
    pub cri_dockerd: Option<CriDockerd>,
    /// Whether the live node runs cgroup v2 (`None` for a copied tree).
    pub cgroup_v2: Option<bool>,
}

impl DockerInfo {
    /// Docker Engine's cgroup driver: `exec-opts`, else Docker's default (`systemd` on a
    /// cgroup v2 host, `cgroupfs` on v1), `None` when that cannot be told.
    pub fn cgroup_driver(&self) -> Option<String> {
        if let Some(d) = self
            .daemon_json
            .as_ref()
            .and_then(|d| d.cgroup_driver.clone())
        {
            return Some(d);
        }
        self.cgroup_v2
            .map(|v2| if v2 { "systemd" } else { "cgroupfs" }.to_string())
    }
}

/// Something on the node that calls Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerUse {
    /// Where.
    pub origin: Origin,
    /// What it is (`unit`, `cron`, `rc.local`).
    pub what: &'static str,
    /// What it does, for messages (`ExecStart runs docker`, `After=docker.service`).
    pub how: String,
}

/// The node beyond CNI.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MigrationState {
    /// The kubelet.
    pub kubelet: KubeletInfo,
    /// The Node object given, with its label for messages.
    pub node_object: Option<(String, NodeObject)>,
    /// Docker Engine and cri-dockerd.
    pub docker: DockerInfo,
    /// containerd, as installed.
    pub containerd: Installed,
    /// CRI-O, as installed.
    pub crio: Installed,
    /// What calls Docker.
    pub docker_uses: Vec<DockerUse>,
    /// Malformed files.
    pub bad_files: Vec<BadFile>,
}

impl MigrationState {
    /// A flag of the Docker Engine shim `host` runs with: cri-dockerd's unit, or for dockershim
    /// the kubelet's (the last occurrence). `None` for containerd, or when not set.
    pub fn shim_flag(&self, host: crate::runtime::CniHost, name: &str) -> Option<String> {
        use crate::runtime::CniHost;
        match host {
            CniHost::CriDockerd => self.docker.cri_dockerd.as_ref()?.flag_value(name),
            CniHost::Dockershim => self.kubelet.flag(name)?.value.clone(),
            CniHost::Containerd => None,
        }
    }
}

const BIN_DIRS: &[&str] = &[
    "/usr/bin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/local/sbin",
    "/bin",
];

fn find_binary(node: &dyn NodeSource, name: &str) -> Option<PathBuf> {
    BIN_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| {
        node.metadata(p)
            .is_ok_and(|m| m.kind == crate::node::EntryKind::File)
    })
}

fn installed(node: &dyn NodeSource, unit: &str, binary: &str) -> Installed {
    Installed {
        unit: systemd::locate_unit(node, unit),
        binary: find_binary(node, binary),
    }
}

/// Reads node files, sending cni-fix's own limits to `incomplete` and malformed ones to
/// `bad`.
struct Reader<'a> {
    node: &'a dyn NodeSource,
    incomplete: &'a mut Vec<Unread>,
    bad: Vec<BadFile>,
}

impl Reader<'_> {
    /// A text file; `None` when missing (and `missing_ok`), unreadable or beyond cni-fix.
    fn text(&mut self, path: &Path, what: &'static str, missing: Option<&str>) -> Option<String> {
        match self.node.read_file(path, MAX_CONFIG_BYTES) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => {
                let missing_file = matches!(&e, ReadError::Io { kind, .. } if *kind == std::io::ErrorKind::NotFound);
                if let Some(reason) = own_read_limit(&e) {
                    self.incomplete.push(Unread {
                        path: path.to_path_buf(),
                        what,
                        reason,
                    });
                } else if !missing_file {
                    self.bad(path, 0, what, e.to_string(), true);
                } else if let Some(why) = missing {
                    self.bad(path, 0, what, why.to_string(), true);
                }
                None
            }
        }
    }

    fn bad(&mut self, path: &Path, line: usize, what: &'static str, message: String, fatal: bool) {
        self.bad.push(BadFile {
            origin: Origin {
                path: path.to_path_buf(),
                line,
            },
            what,
            message,
            fatal,
        });
    }

    /// A service merged over its unit and drop-ins.
    fn service(&mut self, files: &UnitFiles, what: &'static str) -> Service {
        let mut s = Service::default();
        for f in files.all() {
            if let Some(text) = self.text(f, what, None) {
                s.apply(f, &text);
            }
        }
        for p in std::mem::take(&mut s.problems) {
            self.bad(&p.origin.path, p.origin.line, what, p.message, false);
        }
        s
    }

    /// The command line a service starts, variables expanded from `Environment=` and
    /// `EnvironmentFile=` (files override `Environment=`, later files earlier ones).
    fn command(&mut self, s: &Service, what: &'static str) -> Option<Vec<Word>> {
        if s.exec_start.len() > 1 {
            let (_, o) = &s.exec_start[1];
            self.bad(
                &o.path,
                o.line,
                what,
                "more than one ExecStart= is in effect; systemd refuses to start a service that is not Type=oneshot with several (clear the earlier ones with an empty ExecStart=)".to_string(),
                true,
            );
        }
        let (line, origin) = s.exec_start.last()?;
        let words = match systemd::split_words(line) {
            Ok(w) if !w.is_empty() => w,
            Ok(_) => return None,
            Err(e) => {
                self.bad(
                    &origin.path,
                    origin.line,
                    what,
                    format!("ExecStart= cannot be read: {e}; systemd refuses to start the service"),
                    true,
                );
                return None;
            }
        };
        let (binary, expand) = systemd::exec_prefixes(&words[0]);
        let mut words = words.clone();
        words[0] = binary.to_string();
        let mut env: BTreeMap<String, Assignment> = BTreeMap::new();
        for a in &s.environment {
            env.insert(a.name.clone(), a.clone());
        }
        for (path, optional, at) in &s.environment_files {
            let missing = matches!(self.node.metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
            if !optional && missing {
                self.bad(
                    &at.path,
                    at.line,
                    what,
                    format!(
                        "{}: it does not exist, and the unit names it without '-', so systemd refuses to start the service",
                        display_path(path)
                    ),
                    true,
                );
                continue;
            }
            let Some(text) = self.text(path, "environment file", None) else {
                continue;
            };
            let (assignments, problems) = systemd::parse_env_file(path, &text);
            for p in problems {
                self.bad(
                    &p.origin.path,
                    p.origin.line,
                    "environment file",
                    p.message,
                    false,
                );
            }
            for a in assignments {
                env.insert(a.name.clone(), a);
            }
        }
        Some(if expand {
            systemd::expand(&words, origin, &env)
        } else {
            words
                .into_iter()
                .map(|text| Word {
                    text,
                    origin: origin.clone(),
                })
                .collect()
        })
    }
}

/// Whether a `/proc/PID/cmdline` is the kubelet's: its program is named `kubelet`.
pub(crate) fn is_kubelet_command_line(bytes: &[u8]) -> bool {
    bytes
        .split(|b| *b == 0)
        .find(|a| !a.is_empty())
        .is_some_and(|a0| a0.rsplit(|b| *b == b'/').next() == Some(b"kubelet".as_slice()))
}

/// The running kubelet's arguments, from `/proc` on the live node.
fn running_kubelet(node: &dyn NodeSource) -> Option<Vec<Word>> {
    if !node.is_live() {
        return None;
    }
    let entries = node.read_dir(Path::new("/proc")).ok()?;
    let mut pids: Vec<u32> = entries
        .iter()
        .filter_map(|e| e.name.to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let path = PathBuf::from(format!("/proc/{pid}/cmdline"));
        let Ok(bytes) = node.read_file(&path, 1 << 20) else {
            continue;
        };
        if is_kubelet_command_line(&bytes) {
            let origin = Origin { path, line: 0 };
            return Some(
                bytes
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| Word {
                        text: String::from_utf8_lossy(a).into_owned(),
                        origin: origin.clone(),
                    })
                    .collect(),
            );
        }
    }
    None
}

/// What the check needs to know for the kubelet.
pub(super) struct KubeletInputs<'a> {
    pub version: Option<&'a KubeletVersion>,
    pub node_object: Option<&'a NodeObject>,
    pub timeout: Duration,
}

fn gather_kubelet(
    r: &mut Reader<'_>,
    prober: &dyn Prober,
    inputs: &KubeletInputs<'_>,
) -> KubeletInfo {
    let node = r.node;
    let unit = systemd::locate_unit(node, "kubelet.service");
    let service = r.service(&unit, "kubelet unit");
    let running = running_kubelet(node);
    let (command_source, command) = match r.command(&service, "kubelet unit") {
        Some(c) => (CommandSource::Unit, c),
        None => match &running {
            Some(args) => (CommandSource::Process, args.clone()),
            None => (CommandSource::None, Vec::new()),
        },
    };
    let flags = kubelet::parse_flags(command.get(1..).unwrap_or(&[]));
    let config_path = kubelet::last(&flags, "config")
        .and_then(|f| f.value.clone())
        .map(PathBuf::from);
    let config = config_path.as_ref().and_then(|p| {
        let text = r.text(
            p,
            "kubelet config",
            Some(
                "it does not exist; the kubelet fails to start without the file its --config names",
            ),
        )?;
        match kubelet::parse_kubelet_config(&text) {
            Ok(c) => Some(c),
            Err(e) => {
                r.bad(
                    p,
                    0,
                    "kubelet config",
                    format!("{e}; the kubelet fails to start"),
                    true,
                );
                None
            }
        }
    });

    let (version, version_source, version_problem) = if let Some(v) = inputs.version {
        (Some(v.clone()), KubeletVersionSource::Flag, None)
    } else if node.is_live() && command_source != CommandSource::None {
        let binary = PathBuf::from(&command[0].text);
        match prober.kubelet_version(node, &binary, inputs.timeout) {
            Ok(v) => (Some(v), KubeletVersionSource::Exec, None),
            Err(e) => (None, KubeletVersionSource::Unknown, Some(e)),
        }
    } else if let Some(v) = inputs
        .node_object
        .and_then(|n| n.kubelet_version.as_deref())
        .and_then(|v| KubeletVersion::parse(v).ok())
    {
        (Some(v), KubeletVersionSource::NodeObject, None)
    } else {
        (
            None,
            KubeletVersionSource::Unknown,
            Some(if node.is_live() {
                "no kubelet found to ask; pass --kubelet-version".to_string()
            } else {
                "nothing is executed under a root other than /; pass --kubelet-version (or --node)"
                    .to_string()
            }),
        )
    };

    let flag_value = |name: &str| -> Option<Sourced> {
        let f = kubelet::last(&flags, name)?;
        Some(Sourced {
            value: f.value.clone().unwrap_or_default(),
            source: SettingSource::Flag {
                at: f.origin.to_string(),
            },
        })
    };
    let from_config = |value: Option<&String>| -> Option<Sourced> {
        Some(Sourced {
            value: value?.clone(),
            source: SettingSource::ConfigFile {
                path: display_path(config_path.as_deref()?),
            },
        })
    };
    let container_runtime =
        kubelet::last(&flags, "container-runtime").and_then(|f| f.value.clone());
    // The config file's containerRuntimeEndpoint is read from 1.27 (older kubelets ignore it).
    let config_endpoint = config
        .as_ref()
        .filter(|_| version.as_ref().is_none_or(|v| v.minor() >= (1, 27)))
        .and_then(|c| from_config(c.container_runtime_endpoint.as_ref()));
    let set_endpoint = flag_value("container-runtime-endpoint")
        .filter(|s| !s.value.is_empty())
        .or(config_endpoint);
    // A config file named but not read may set what the flags leave out.
    let config_unread = config_path.is_some() && config.is_none();
    let docker_evidence = flags
        .iter()
        .any(|f| kubelet::removal_of(&f.name).is_some_and(|r| r.removed_in == (1, 24)))
        || inputs.node_object.is_some_and(|n| {
            n.runtime_scheme() == Some("docker")
                || n.cri_socket.as_deref().map(kubelet::classify_socket)
                    == Some(RuntimeKind::Dockershim)
        });
    let found = command_source != CommandSource::None;
    let dockershim = container_runtime.as_deref() == Some("docker")
        || set_endpoint.as_ref().is_some_and(|e| {
            kubelet::socket_path(&e.value)
                .as_deref()
                .map(kubelet::classify_socket)
                == Some(RuntimeKind::Dockershim)
        })
        || (found
            && set_endpoint.is_none()
            && container_runtime.as_deref() != Some("remote")
            && match &version {
                Some(v) if v.has_dockershim() => true,
                _ => docker_evidence,
            });
    let endpoint = set_endpoint.or_else(|| {
        let v = version.as_ref()?;
        if config_unread && v.minor() >= (1, 27) {
            return None;
        }
        found.then(|| Sourced {
            value: kubelet::default_endpoint(v).to_string(),
            source: SettingSource::Default,
        })
    });
    let runtime = if dockershim {
        RuntimeKind::Dockershim
    } else {
        endpoint
            .as_ref()
            .and_then(|e| kubelet::socket_path(&e.value))
            .map(|p| kubelet::classify_socket(&p))
            .unwrap_or(RuntimeKind::Unknown)
    };
    let cgroup_driver = flag_value("cgroup-driver").or_else(|| {
        if config_unread {
            return None;
        }
        Some(
            config
                .as_ref()
                .and_then(|c| from_config(c.cgroup_driver.as_ref()))
                .unwrap_or(Sourced {
                    value: "cgroupfs".to_string(),
                    source: SettingSource::Default,
                }),
        )
    });
    KubeletInfo {
        unit,
        command_source,
        command,
        flags,
        running,
        config_path,
        config,
        version,
        version_source,
        version_problem,
        endpoint,
        dockershim,
        runtime,
        cgroup_driver,
    }
}

/// Read `daemon.json` for what a migration carries over; an error says why Docker would
/// refuse the file.
pub fn parse_daemon_json(text: &str) -> Result<DaemonJson, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let obj = v
        .as_object()
        .ok_or_else(|| "not a JSON object".to_string())?;
    let list = |key: &str| -> Result<Vec<String>, String> {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => Ok(Vec::new()),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{key} must be a list of strings"))
                })
                .collect(),
            Some(_) => Err(format!("{key} must be a list of strings")),
        }
    };
    let exec_opts = list("exec-opts")?;
    Ok(DaemonJson {
        registry_mirrors: list("registry-mirrors")?,
        insecure_registries: list("insecure-registries")?,
        cgroup_driver: exec_opts.iter().rev().find_map(|o| {
            let (k, v) = o.split_once('=')?;
            (k.trim() == "native.cgroupdriver").then(|| v.trim().to_string())
        }),
        data_root: obj
            .get("data-root")
            .and_then(|d| d.as_str())
            .map(str::to_string),
        log_opts: obj.get("log-opts").is_some(),
    })
}

/// The socket a socket unit listens on (`ListenStream=` with `%t` as `/run`).
fn listen_stream(r: &mut Reader<'_>, unit: &str) -> Option<String> {
    let files = systemd::locate_unit(r.node, unit);
    let s = r.service(&files, "cri-dockerd unit");
    s.values("Socket", "ListenStream")
        .last()
        .map(|v| kubelet::normalize_run(&v.value.replace("%t", "/run")))
}

fn gather_docker(r: &mut Reader<'_>, live: bool) -> DockerInfo {
    let engine = installed(r.node, "docker.service", "dockerd");
    let daemon_path = Path::new("/etc/docker/daemon.json");
    let daemon_json =
        r.text(daemon_path, "Docker config", None)
            .and_then(|t| match parse_daemon_json(&t) {
                Ok(d) => Some(d),
                Err(e) => {
                    r.bad(
                        daemon_path,
                        0,
                        "Docker config",
                        format!("{e}; Docker Engine refuses to start with it"),
                        true,
                    );
                    None
                }
            });
    let cri = installed(r.node, "cri-docker.service", "cri-dockerd");
    let cri_dockerd = cri.present().then(|| {
        let s = r.service(&cri.unit, "cri-dockerd unit");
        let command = r.command(&s, "cri-dockerd unit").unwrap_or_default();
        let flags = kubelet::parse_flags(command.get(1..).unwrap_or(&[]));
        let socket = listen_stream(r, "cri-docker.socket")
            .or_else(|| {
                kubelet::last(&flags, "container-runtime-endpoint")
                    .and_then(|f| f.value.as_deref())
                    .and_then(kubelet::socket_path)
            })
            .unwrap_or_else(|| "/run/cri-dockerd.sock".to_string());
        CriDockerd {
            service: cri,
            program: command.first().map(|w| w.text.clone()),
            flags,
            socket,
        }
    });
    let cgroup_v2 = live.then(|| {
        r.node
            .metadata(Path::new("/sys/fs/cgroup/cgroup.controllers"))
            .is_ok()
    });
    DockerInfo {
        engine,
        daemon_json,
        cri_dockerd,
        cgroup_v2,
    }
}

/// Whether a command line runs the docker client (`docker`, `/usr/bin/docker`, `sudo docker`).
fn runs_docker(line: &str) -> bool {
    line.split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | '`' | '$'))
        .any(|w| {
            let w = w.trim_matches(|c| c == '"' || c == '\'');
            let base = w.rsplit('/').next().unwrap_or(w);
            base == "docker" || base == "docker-compose"
        })
}

const DOCKER_UNITS: &[&str] = &["docker.service", "docker.socket"];

fn scan_docker_uses(r: &mut Reader<'_>) -> Vec<DockerUse> {
    let mut out = Vec::new();
    // Units: every *.service file in the unit directories (drop-ins too), except Docker's
    // and cri-dockerd's own.
    let mut seen = std::collections::BTreeSet::new();
    for dir in systemd::UNIT_DIRS {
        let Ok(entries) = r.node.read_dir(Path::new(dir)) else {
            continue;
        };
        let mut names: Vec<_> = entries
            .into_iter()
            .map(|e| e.name)
            .filter(|n| n.as_encoded_bytes().ends_with(b".service"))
            .collect();
        names.sort();
        for name in names {
            let n = name.to_string_lossy().into_owned();
            if n.starts_with("docker") || n.starts_with("cri-docker") || !seen.insert(n.clone()) {
                continue;
            }
            let path = Path::new(dir).join(&name);
            let Ok(bytes) = r.node.read_file(&path, MAX_CONFIG_BYTES) else {
                continue;
            };
            let (settings, _) = systemd::parse_unit(&path, &String::from_utf8_lossy(&bytes));
            for s in settings {
                let hit = match (s.section.as_str(), s.key.as_str()) {
                    ("Service", k) if k.starts_with("Exec") && runs_docker(&s.value) => {
                        Some(format!("{k}= runs docker"))
                    }
                    (
                        "Unit",
                        k @ ("Requires" | "After" | "BindsTo" | "Wants" | "Requisite" | "PartOf"),
                    ) => s
                        .value
                        .split_whitespace()
                        .find(|u| DOCKER_UNITS.contains(u))
                        .map(|u| format!("{k}={u}")),
                    _ => None,
                };
                if let Some(how) = hit {
                    out.push(DockerUse {
                        origin: s.origin,
                        what: "unit",
                        how,
                    });
                }
            }
        }
    }
    // cron and rc.local.
    let mut cron_files = vec![PathBuf::from("/etc/crontab")];
    for dir in ["/etc/cron.d", "/var/spool/cron/crontabs", "/var/spool/cron"] {
        if let Ok(entries) = r.node.read_dir(Path::new(dir)) {
            let mut names: Vec<_> = entries.into_iter().map(|e| e.name).collect();
            names.sort();
            cron_files.extend(names.into_iter().map(|n| Path::new(dir).join(n)));
        }
    }
    for (path, what) in cron_files
        .into_iter()
        .map(|p| (p, "cron"))
        .chain([(PathBuf::from("/etc/rc.local"), "rc.local")])
    {
        let Ok(bytes) = r.node.read_file(&path, MAX_CONFIG_BYTES) else {
            continue;
        };
        for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
            let t = line.trim();
            if t.starts_with('#') || !runs_docker(t) {
                continue;
            }
            out.push(DockerUse {
                origin: Origin {
                    path: path.clone(),
                    line: i + 1,
                },
                what,
                how: format!(
                    "runs docker: {}",
                    crate::quote::escape_text(&crate::systemd::truncate(t, 100))
                ),
            });
        }
    }
    out
}

/// Read everything a runtime migration depends on.
pub(super) fn gather(
    node: &dyn NodeSource,
    prober: &dyn Prober,
    inputs: KubeletInputs<'_>,
    node_object: Option<(String, NodeObject)>,
    incomplete: &mut Vec<Unread>,
) -> MigrationState {
    let mut r = Reader {
        node,
        incomplete,
        bad: Vec::new(),
    };
    let kubelet = gather_kubelet(&mut r, prober, &inputs);
    let docker = gather_docker(&mut r, node.is_live());
    let containerd = installed(node, "containerd.service", "containerd");
    let crio = installed(node, "crio.service", "crio");
    let docker_uses = scan_docker_uses(&mut r);
    MigrationState {
        kubelet,
        node_object,
        docker,
        containerd,
        crio,
        docker_uses,
        bad_files: r.bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_commands() {
        for yes in [
            "docker ps",
            "/usr/bin/docker system prune -af",
            "0 3 * * * root sudo docker image prune -f",
            "x && docker-compose up",
            "ExecStart=/bin/sh -c 'docker run x'",
        ] {
            assert!(runs_docker(yes), "{yes}");
        }
        for no in ["dockerd-rootless", "echo mydocker", "/usr/bin/containerd"] {
            assert!(!runs_docker(no), "{no}");
        }
    }

    #[test]
    fn daemon_json() {
        let d = parse_daemon_json(
            r#"{"registry-mirrors":["https://m.example"],"exec-opts":["native.cgroupdriver=systemd"],"log-opts":{"max-size":"10m"}}"#,
        )
        .unwrap();
        assert_eq!(d.registry_mirrors, ["https://m.example"]);
        assert_eq!(d.cgroup_driver.as_deref(), Some("systemd"));
        assert!(d.log_opts);
        assert!(parse_daemon_json("{").is_err());
        assert!(parse_daemon_json(r#"{"registry-mirrors":"x"}"#).is_err());
    }
}

//! The rules over one pod spec: which volumes, mounts, environment and commands reach Docker
//! Engine on the node. Each kind of finding is a variant of [`Hit`], which holds the facts and
//! owns the wording.

use std::collections::HashMap;

use super::model::{pos, Container, Pos, Spec, Volume};
use super::paths::{self, HostPathClass};
use super::shell;
use crate::finding::{FindingId, Severity};

/// What a rule found in a pod spec, before it is tied to a workload and a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hit {
    /// A hostPath volume of Docker's socket; `container` and `mount_path` when mounted.
    SocketMount {
        volume: String,
        host_path: String,
        container: Option<String>,
        mount_path: Option<String>,
        socket_type: bool,
    },
    /// A hostPath of a directory holding the socket, mounted (or reached through `subPath`).
    SocketParent {
        volume: String,
        host_path: String,
        container: String,
        mount_path: String,
        sub_path: Option<String>,
        reaches: String,
    },
    /// Docker's data root or a part of it, mounted.
    DataMount {
        volume: String,
        host_path: String,
        container: String,
        mount_path: String,
    },
    /// `DOCKER_HOST` names the node's daemon (or a daemon on Docker's ports).
    DockerHost {
        container: String,
        value: String,
        target: DockerHostTarget,
    },
    /// The container's command, args or an exec handler runs `docker`.
    DockerCli {
        container: String,
        call: String,
        place: &'static str,
    },
}

/// Where a `DOCKER_HOST` leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DockerHostTarget {
    /// Through a hostPath mount to Docker's socket on the node.
    NodeSocket { host_path: String, volume: String },
    /// To the standard socket path, which no volume provides.
    Unmounted,
    /// TCP to the node's address (a variable from `status.hostIP`, or localhost with
    /// `hostNetwork`).
    NodeTcp,
    /// TCP to another address on Docker's ports.
    Tcp { host: String, port: u16 },
}

impl Hit {
    pub(crate) fn id(&self) -> FindingId {
        match self {
            Hit::SocketMount { .. } => FindingId::DockerSocketMount,
            Hit::SocketParent { .. } => FindingId::DockerSocketParentMount,
            Hit::DataMount { .. } => FindingId::DockerDataMount,
            Hit::DockerHost { .. } => FindingId::DockerHostEnv,
            Hit::DockerCli { .. } => FindingId::DockerCliInCommand,
        }
    }

    pub(crate) fn severity(&self) -> Severity {
        match self {
            Hit::SocketMount {
                container: None,
                socket_type: false,
                ..
            } => Severity::Warning,
            _ => self.id().default_severity(),
        }
    }

    pub(crate) fn container(&self) -> Option<&str> {
        match self {
            Hit::SocketMount { container, .. } => container.as_deref(),
            Hit::SocketParent { container, .. }
            | Hit::DataMount { container, .. }
            | Hit::DockerHost { container, .. }
            | Hit::DockerCli { container, .. } => Some(container),
        }
    }

    pub(crate) fn volume(&self) -> Option<&str> {
        match self {
            Hit::SocketMount { volume, .. }
            | Hit::SocketParent { volume, .. }
            | Hit::DataMount { volume, .. } => Some(volume),
            Hit::DockerHost {
                target: DockerHostTarget::NodeSocket { volume, .. },
                ..
            } => Some(volume),
            _ => None,
        }
    }

    pub(crate) fn host_path(&self) -> Option<&str> {
        match self {
            Hit::SocketMount { host_path, .. }
            | Hit::SocketParent { host_path, .. }
            | Hit::DataMount { host_path, .. } => Some(host_path),
            Hit::DockerHost {
                target: DockerHostTarget::NodeSocket { host_path, .. },
                ..
            } => Some(host_path),
            _ => None,
        }
    }

    pub(crate) fn mount_path(&self) -> Option<&str> {
        match self {
            Hit::SocketMount { mount_path, .. } => mount_path.as_deref(),
            Hit::SocketParent { mount_path, .. } | Hit::DataMount { mount_path, .. } => {
                Some(mount_path)
            }
            _ => None,
        }
    }

    /// What is wrong, with the values involved.
    pub(crate) fn message(&self) -> String {
        let q = |s: &str| crate::quote::quote_path(s.as_bytes()).into_owned();
        match self {
            Hit::SocketMount {
                volume,
                host_path,
                container: Some(c),
                mount_path,
                ..
            } => format!(
                "container {} mounts Docker's socket {} (volume {}) at {}: it talks to Docker Engine, which is gone after the switch",
                q(c),
                q(host_path),
                q(volume),
                q(mount_path.as_deref().unwrap_or(""))
            ),
            Hit::SocketMount {
                volume,
                host_path,
                container: None,
                socket_type,
                ..
            } => {
                if *socket_type {
                    format!(
                        "volume {} is Docker's socket {} with type Socket, which no container mounts: without Docker the kubelet's type check fails and the pod does not start",
                        q(volume),
                        q(host_path)
                    )
                } else {
                    format!(
                        "volume {} is Docker's socket {}, which no container mounts: without Docker, containerd creates an empty directory at that path",
                        q(volume),
                        q(host_path)
                    )
                }
            }
            Hit::SocketParent {
                volume,
                host_path,
                container,
                mount_path,
                sub_path,
                reaches,
            } => {
                let through = match sub_path {
                    Some(s) => format!(" with subPath {}", q(s)),
                    None => String::new(),
                };
                let var_note = if paths::normalize(host_path) == "/var" && sub_path.is_none() {
                    " (where /var/run is a directory rather than the link to /run)"
                } else {
                    ""
                };
                format!(
                    "container {} mounts {} (volume {}){through} at {}, which holds Docker's socket as {}{var_note}: a check for hostPath /var/run/docker.sock misses it",
                    q(container),
                    q(host_path),
                    q(volume),
                    q(mount_path),
                    q(reaches)
                )
            }
            Hit::DataMount {
                volume,
                host_path,
                container,
                mount_path,
            } => format!(
                "container {} mounts Docker's data directory {} (volume {}) at {}: after the switch containers, images and logs are not there (logs move to /var/log/pods)",
                q(container),
                q(host_path),
                q(volume),
                q(mount_path)
            ),
            Hit::DockerHost {
                container,
                value,
                target,
            } => {
                let to = match target {
                    DockerHostTarget::NodeSocket { host_path, volume } => format!(
                        "the node's Docker socket {} (volume {})",
                        q(host_path),
                        q(volume)
                    ),
                    DockerHostTarget::Unmounted => {
                        "Docker's socket path, which no volume provides".to_string()
                    }
                    DockerHostTarget::NodeTcp => "the node's Docker daemon over TCP".to_string(),
                    DockerHostTarget::Tcp { host, port } => format!(
                        "a Docker daemon at {}:{port} (the node's, if that is a node address)",
                        q(host)
                    ),
                };
                format!(
                    "container {} sets DOCKER_HOST={}, which points at {to}",
                    q(container),
                    q(value)
                )
            }
            Hit::DockerCli {
                container,
                call,
                place,
            } => format!(
                "container {}'s {place} runs {}: the docker client needs Docker Engine",
                q(container),
                q(call)
            ),
        }
    }

    /// What to do.
    pub(crate) fn remedy(&self) -> &'static str {
        match self {
            Hit::SocketMount { .. } => "Move the workload to the CRI: mount the new runtime's socket (containerd: /run/containerd/containerd.sock) and use its API or crictl, or a release of the agent that supports containerd; then remove the docker.sock volume.",
            Hit::SocketParent { .. } => "Check what the container reads under the mounted directory: point it at the new runtime's socket instead of docker.sock, and narrow the mount to what it needs.",
            Hit::DataMount { .. } => "Read container logs from /var/log/pods (or /var/log/containers) in the CRI log format, and container data through the new runtime (containerd keeps it under /var/lib/containerd); then drop the /var/lib/docker mount.",
            Hit::DockerHost { .. } => "Remove DOCKER_HOST and talk to the new runtime through the CRI (its socket, crictl), or give the pod its own Docker daemon (a docker:dind sidecar) if it builds images.",
            Hit::DockerCli { .. } => "Replace the docker commands: crictl (ps, logs, inspect, exec) against the CRI socket, the Kubernetes API, or kubectl; or run a Docker daemon in the pod if it needs one.",
        }
    }
}

/// A hit and where it points in the input.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub hit: Hit,
    pub pos: Pos,
}

/// The containers of a pod spec: regular, init and ephemeral.
pub(crate) fn all_containers(spec: &Spec) -> impl Iterator<Item = &Container> {
    spec.containers
        .0
        .iter()
        .chain(&spec.init_containers.0)
        .chain(&spec.ephemeral_containers.0)
}

fn container_name(c: &Container) -> String {
    c.name
        .as_ref()
        .map(|n| n.value.as_str().to_string())
        .unwrap_or_default()
}

/// Whether a container runs its own Docker daemon (Docker-in-Docker).
fn runs_dockerd(c: &Container) -> bool {
    let image = c.image.as_ref().map(|i| i.value.as_str()).unwrap_or("");
    let repo_tag = image.rsplit('/').next().unwrap_or(image);
    let dind_image = repo_tag.starts_with("docker:") && repo_tag.contains("dind");
    let runs = c.command.0.iter().chain(&c.args.0).take(1).any(|w| {
        let b = w.value.as_str().rsplit('/').next().unwrap_or("");
        b == "dockerd" || b == "dockerd-entrypoint.sh"
    });
    dind_image || runs
}

/// Where a path inside a container leads: the volume of the mount with the longest path that
/// contains it, and the rest of the path under that mount.
fn resolve<'a>(
    c: &Container,
    volumes: &HashMap<&str, &'a Volume>,
    path: &str,
) -> Option<(&'a Volume, String)> {
    let path = paths::normalize(path);
    let mut best: Option<(&'a Volume, usize, String)> = None;
    for m in &c.volume_mounts.0 {
        let Some(mp) = m.mount_path.as_ref() else {
            continue;
        };
        let mp = paths::normalize(mp.value.as_str());
        if !paths::contains(&mp, &path) {
            continue;
        }
        let Some(v) = volumes.get(m.name.as_str()) else {
            continue;
        };
        if best.as_ref().is_some_and(|(_, len, _)| *len >= mp.len()) {
            continue;
        }
        let rest = path[mp.len().min(path.len())..].trim_start_matches('/');
        let sub = m.sub_path.as_str();
        let rest = if sub.is_empty() {
            rest.to_string()
        } else {
            format!("{sub}/{rest}")
        };
        best = Some((v, mp.len(), rest));
    }
    best.map(|(v, _, rest)| (v, rest))
}

/// Every hit in a pod spec.
pub(crate) fn evaluate(spec: &Spec) -> Vec<Located> {
    let mut out = Vec::new();
    let volumes: HashMap<&str, &Volume> = spec
        .volumes
        .0
        .iter()
        .map(|v| (v.name.as_str(), v))
        .collect();
    let host_network = spec.host_network == Some(true);
    let has_dind = all_containers(spec).any(runs_dockerd);

    // Volumes and their mounts.
    for v in &spec.volumes.0 {
        let Some(hp) = &v.host_path else { continue };
        let Some(path) = &hp.path else { continue };
        let host_path = path.value.as_str().to_string();
        let class = paths::classify(&host_path);
        let volume = v.name.as_str().to_string();
        let mut mounted = false;
        for c in all_containers(spec) {
            for m in c
                .volume_mounts
                .0
                .iter()
                .filter(|m| m.name.as_str() == volume)
            {
                mounted = true;
                let container = container_name(c);
                let mount_path = m
                    .mount_path
                    .as_ref()
                    .map(|p| p.value.as_str().to_string())
                    .unwrap_or_default();
                let at = m.mount_path.as_ref().and_then(pos).or(pos(path));
                if class == HostPathClass::Socket {
                    out.push(Located {
                        hit: Hit::SocketMount {
                            volume: volume.clone(),
                            host_path: host_path.clone(),
                            container: Some(container),
                            mount_path: Some(mount_path),
                            socket_type: hp.kind.as_str() == "Socket",
                        },
                        pos: pos(path),
                    });
                    continue;
                }
                let (sub, effective) = if !m.sub_path.as_str().is_empty() {
                    let s = m.sub_path.as_str().to_string();
                    let eff = paths::join(&host_path, &s);
                    (Some(s), Some(eff))
                } else if !m.sub_path_expr.as_str().is_empty() {
                    // Expanded from the environment at run time: only the volume's own path is
                    // certain.
                    (Some(m.sub_path_expr.as_str().to_string()), None)
                } else {
                    (None, Some(paths::normalize(&host_path)))
                };
                let eff_class = effective.as_deref().map(paths::classify).unwrap_or(class);
                match eff_class {
                    HostPathClass::Socket | HostPathClass::SocketParent => {
                        let reaches = socket_inside(&mount_path, effective.as_deref());
                        out.push(Located {
                            hit: Hit::SocketParent {
                                volume: volume.clone(),
                                host_path: host_path.clone(),
                                container,
                                mount_path,
                                sub_path: sub,
                                reaches,
                            },
                            pos: at,
                        });
                    }
                    HostPathClass::Data => out.push(Located {
                        hit: Hit::DataMount {
                            volume: volume.clone(),
                            host_path: effective.unwrap_or(host_path.clone()),
                            container,
                            mount_path,
                        },
                        pos: at,
                    }),
                    HostPathClass::Other => {}
                }
            }
        }
        if !mounted && class == HostPathClass::Socket {
            out.push(Located {
                hit: Hit::SocketMount {
                    volume,
                    host_path,
                    container: None,
                    mount_path: None,
                    socket_type: hp.kind.as_str() == "Socket",
                },
                pos: pos(path),
            });
        }
    }

    for c in all_containers(spec) {
        let container = container_name(c);
        let mut node_docker = out.iter().any(|l| {
            l.hit.container() == Some(container.as_str())
                && matches!(l.hit, Hit::SocketMount { .. } | Hit::SocketParent { .. })
        });
        // DOCKER_HOST.
        let host_ip_vars: Vec<&str> = c
            .env
            .0
            .iter()
            .filter(|e| {
                e.value_from
                    .as_ref()
                    .and_then(|f| f.field_ref.as_ref())
                    .is_some_and(|f| {
                        matches!(f.field_path.as_str(), "status.hostIP" | "status.hostIPs")
                    })
            })
            .map(|e| e.name.as_str())
            .collect();
        let mut sidecar_host = false;
        for e in c.env.0.iter().filter(|e| e.name.as_str() == "DOCKER_HOST") {
            let Some(value) = &e.value else { continue };
            let raw = value.value.as_str();
            let target = docker_host_target(c, &volumes, raw, host_network, &host_ip_vars);
            match target {
                Some(target) => {
                    node_docker = true;
                    out.push(Located {
                        hit: Hit::DockerHost {
                            container: container.clone(),
                            value: raw.to_string(),
                            target,
                        },
                        pos: pos(value),
                    })
                }
                None => sidecar_host = true,
            }
        }
        // docker in the command, args and exec handlers.
        if (has_dind || sidecar_host) && !node_docker {
            continue;
        }
        let argv: Vec<&str> = c
            .command
            .0
            .iter()
            .chain(&c.args.0)
            .map(|w| w.value.as_str())
            .collect();
        let first_pos = c.command.0.first().or(c.args.0.first()).and_then(pos);
        let mut handlers: Vec<(&'static str, &super::model::Handler)> = Vec::new();
        for (place, h) in [
            ("liveness probe", &c.liveness_probe),
            ("readiness probe", &c.readiness_probe),
            ("startup probe", &c.startup_probe),
        ] {
            if let Some(h) = h {
                handlers.push((place, h));
            }
        }
        if let Some(l) = &c.lifecycle {
            for (place, h) in [
                ("postStart hook", &l.post_start),
                ("preStop hook", &l.pre_stop),
            ] {
                if let Some(h) = h {
                    handlers.push((place, h));
                }
            }
        }
        if let Some(call) = shell::in_argv(&argv) {
            out.push(Located {
                hit: Hit::DockerCli {
                    container: container.clone(),
                    call: call.text,
                    place: "command",
                },
                pos: first_pos,
            });
        }
        for (place, h) in handlers {
            let Some(exec) = &h.exec else { continue };
            let argv: Vec<&str> = exec.command.0.iter().map(|w| w.value.as_str()).collect();
            if let Some(call) = shell::in_argv(&argv) {
                out.push(Located {
                    hit: Hit::DockerCli {
                        container: container.clone(),
                        call: call.text,
                        place,
                    },
                    pos: exec.command.0.first().and_then(pos),
                });
            }
        }
    }
    out
}

/// Where the socket is inside the container, for a mount of a directory that holds it.
fn socket_inside(mount_path: &str, effective: Option<&str>) -> String {
    let Some(eff) = effective else {
        return format!("{}/…/docker.sock", paths::normalize(mount_path));
    };
    let canon = paths::canonical(eff);
    let rest = if canon == paths::DOCKER_SOCKET {
        ""
    } else if paths::normalize(eff) == "/var" {
        "run/docker.sock"
    } else if canon == "/" {
        "var/run/docker.sock"
    } else {
        // `/run` (or `/var/run`): the socket is right inside.
        paths::DOCKER_SOCKET
            .strip_prefix(&format!("{canon}/"))
            .unwrap_or("docker.sock")
    };
    paths::join(mount_path, rest)
}

/// Where `DOCKER_HOST=raw` leads, if to the node's (or any host's) Docker daemon; `None` for a
/// daemon of the pod's own (a sidecar, an emptyDir socket) or something that is not Docker's.
fn docker_host_target(
    c: &Container,
    volumes: &HashMap<&str, &Volume>,
    raw: &str,
    host_network: bool,
    host_ip_vars: &[&str],
) -> Option<DockerHostTarget> {
    let raw = raw.trim();
    let unix_path = raw
        .strip_prefix("unix://")
        .or_else(|| raw.starts_with('/').then_some(raw));
    if let Some(p) = unix_path {
        return match resolve(c, volumes, p) {
            Some((v, rest)) => {
                let hp = v.host_path.as_ref()?.path.as_ref()?;
                let host_path = paths::join(hp.value.as_str(), &rest);
                (paths::classify(&host_path) == HostPathClass::Socket).then(|| {
                    DockerHostTarget::NodeSocket {
                        host_path,
                        volume: v.name.as_str().to_string(),
                    }
                })
            }
            None => {
                (paths::canonical(p) == paths::DOCKER_SOCKET).then_some(DockerHostTarget::Unmounted)
            }
        };
    }
    let addr = raw.strip_prefix("tcp://")?;
    let addr = addr.split('/').next().unwrap_or(addr);
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse::<u16>().ok()?),
        _ => (addr, 2375),
    };
    if port != 2375 && port != 2376 {
        return None;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = matches!(host, "localhost" | "::1" | "0.0.0.0") || host.starts_with("127.");
    if local {
        return host_network.then_some(DockerHostTarget::NodeTcp);
    }
    let var = host.strip_prefix("$(").and_then(|h| h.strip_suffix(')'));
    if var.is_some_and(|v| host_ip_vars.contains(&v)) {
        return Some(DockerHostTarget::NodeTcp);
    }
    Some(DockerHostTarget::Tcp {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::model::{Doc, Object};

    fn spec(yaml: &str) -> Spec {
        let d: Doc = serde_saphyr::from_str(yaml).unwrap();
        let Doc::Object(o) = d else { panic!() };
        let o: Object = *o;
        o.spec.unwrap()
    }

    fn ids(yaml: &str) -> Vec<(FindingId, Option<String>)> {
        evaluate(&spec(yaml))
            .into_iter()
            .map(|l| (l.hit.id(), l.hit.container().map(str::to_string)))
            .collect()
    }

    #[test]
    fn a_dind_sidecar_is_not_the_node() {
        let y = "kind: Pod\nspec:\n  containers:\n  - name: build\n    image: docker:27-cli\n    command: [sh, -c, 'docker build -t x .']\n    env:\n    - {name: DOCKER_HOST, value: 'tcp://localhost:2375'}\n  - name: dind\n    image: docker:27-dind\n    volumeMounts: [{name: run, mountPath: /var/run}]\n  volumes:\n  - {name: run, emptyDir: {}}\n";
        assert_eq!(ids(y), vec![]);
    }

    #[test]
    fn docker_host_through_a_parent_mount() {
        let y = "kind: Pod\nspec:\n  containers:\n  - name: agent\n    env:\n    - {name: DOCKER_HOST, value: 'unix:///host/var/run/docker.sock'}\n    volumeMounts: [{name: r, mountPath: /host/var/run}]\n  volumes:\n  - {name: r, hostPath: {path: /var/run}}\n";
        let hits = evaluate(&spec(y));
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].hit.id(), FindingId::DockerSocketParentMount);
        assert_eq!(
            hits[1].hit,
            Hit::DockerHost {
                container: "agent".into(),
                value: "unix:///host/var/run/docker.sock".into(),
                target: DockerHostTarget::NodeSocket {
                    host_path: "/var/run/docker.sock".into(),
                    volume: "r".into()
                }
            }
        );
    }

    #[test]
    fn sub_paths_reach_the_socket_and_the_data() {
        let y = "kind: Pod\nspec:\n  containers:\n  - name: a\n    volumeMounts:\n    - {name: run, mountPath: /sock, subPath: docker.sock}\n    - {name: lib, mountPath: /logs, subPath: docker/containers}\n    - {name: lib, mountPath: /k, subPath: kubelet}\n  volumes:\n  - {name: run, hostPath: {path: /run}}\n  - {name: lib, hostPath: {path: /var/lib}}\n";
        let hits = evaluate(&spec(y));
        assert_eq!(hits.len(), 2, "{hits:?}");
        let Hit::SocketParent {
            reaches, sub_path, ..
        } = &hits[0].hit
        else {
            panic!()
        };
        assert_eq!(
            (reaches.as_str(), sub_path.as_deref()),
            ("/sock", Some("docker.sock"))
        );
        let Hit::DataMount { host_path, .. } = &hits[1].hit else {
            panic!()
        };
        assert_eq!(host_path, "/var/lib/docker/containers");
    }

    #[test]
    fn tcp_docker_hosts() {
        let y = "kind: Pod\nspec:\n  containers:\n  - name: a\n    env:\n    - name: NODE_IP\n      valueFrom: {fieldRef: {fieldPath: status.hostIP}}\n    - {name: DOCKER_HOST, value: 'tcp://$(NODE_IP):2376'}\n  - name: b\n    env: [{name: DOCKER_HOST, value: 'tcp://10.0.0.5'}]\n  - name: c\n    env: [{name: DOCKER_HOST, value: 'tcp://127.0.0.1:2375'}]\n  - name: d\n    env: [{name: DOCKER_HOST, value: 'tcp://db:5432'}]\n";
        let hits = evaluate(&spec(y));
        let targets: Vec<_> = hits
            .iter()
            .map(|l| match &l.hit {
                Hit::DockerHost {
                    container, target, ..
                } => (container.clone(), target.clone()),
                h => panic!("{h:?}"),
            })
            .collect();
        assert_eq!(
            targets,
            vec![
                ("a".to_string(), DockerHostTarget::NodeTcp),
                (
                    "b".to_string(),
                    DockerHostTarget::Tcp {
                        host: "10.0.0.5".into(),
                        port: 2375
                    }
                ),
            ]
        );
    }

    #[test]
    fn probes_and_hooks_count() {
        let y = "kind: Pod\nspec:\n  containers:\n  - name: a\n    livenessProbe: {exec: {command: [sh, -c, 'docker ps | grep x']}}\n    lifecycle: {preStop: {exec: {command: [docker, kill, x]}}}\n";
        let hits = evaluate(&spec(y));
        let places: Vec<_> = hits
            .iter()
            .map(|l| match &l.hit {
                Hit::DockerCli { place, .. } => *place,
                h => panic!("{h:?}"),
            })
            .collect();
        assert_eq!(places, vec!["liveness probe", "preStop hook"]);
    }
}

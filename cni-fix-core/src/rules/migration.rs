//! Rules about the node beyond CNI that a runtime migration changes: the kubelet's endpoint
//! and flags, kubeadm's annotation, containerd's CRI settings, Docker's settings and what
//! else calls Docker.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Ctx, Draft};
use crate::containerd_config::{CriSettings, DEFAULT_GRPC_ADDRESS};
use crate::finding::{FindingId, Location, Severity};
use crate::kubelet::{self, RuntimeKind, CONTAINERD_ENDPOINT, CRI_DOCKERD_ENDPOINT};
use crate::node::display_path;
use crate::snapshot::{
    BadFile, ContainerdConfigState, DockerUse, KubeletInfo, SettingSource, Snapshot, Sourced,
};
use crate::systemd::Origin;

fn at(origin: &Origin) -> (Option<String>, Option<Location>) {
    (
        Some(display_path(&origin.path)),
        (origin.line > 0).then_some(Location {
            line: origin.line,
            column: 1,
        }),
    )
}

fn where_set(s: &Sourced) -> String {
    match &s.source {
        SettingSource::Flag { at } => format!("set at {at}"),
        SettingSource::ConfigFile { path } => format!("set in {path}"),
        SettingSource::Default => "the kubelet's default".to_string(),
    }
}

/// The CRI settings of a node without a containerd config: containerd's defaults.
static NO_CONFIG: CriSettings = CriSettings {
    disabled_plugins: Vec::new(),
    grpc_address: None,
    systemd_cgroup: None,
    sandbox_image: None,
    registry_config_path: None,
    registry_mirrors: Vec::new(),
    registry_configs: Vec::new(),
};

/// containerd's CRI settings, when its config was read (defaults when it has none).
fn cri(snap: &Snapshot) -> Option<&CriSettings> {
    match &snap.containerd_config {
        ContainerdConfigState::Parsed(c) => Some(&c.cri),
        ContainerdConfigState::Missing => Some(&NO_CONFIG),
        _ => None,
    }
}

/// `dockershim-endpoint`.
struct DockershimEndpoint<'a> {
    k: &'a KubeletInfo,
    evidence: String,
}

impl From<DockershimEndpoint<'_>> for Draft {
    fn from(f: DockershimEndpoint<'_>) -> Draft {
        let (severity, now) = match &f.k.version {
            Some(v) if !v.has_dockershim() => (
                Severity::Error,
                format!(
                    "kubelet {v} has no dockershim (it was removed in 1.24), so it cannot run pods through Docker Engine this way"
                ),
            ),
            Some(v) => (
                Severity::Warning,
                format!(
                    "this works on kubelet {v}, but dockershim was removed in 1.24: upgrading the kubelet without moving it to a CRI runtime stops every pod on the node"
                ),
            ),
            None => (
                Severity::Warning,
                "the kubelet version is unknown (pass --kubelet-version); from 1.24 the kubelet has no dockershim".to_string(),
            ),
        };
        let file = f.k.flags.iter().find(|fl| {
            matches!(
                fl.name.as_str(),
                "container-runtime" | "container-runtime-endpoint" | "network-plugin"
            )
        });
        let (file, location) = file.map(|fl| at(&fl.origin)).unwrap_or((None, None));
        let mut d = Draft::manual(
            FindingId::DockershimEndpoint,
            severity,
            file,
            format!("The kubelet uses dockershim: {}; {now}.", f.evidence),
            format!(
                "Point the kubelet at a CRI runtime: --container-runtime-endpoint={CONTAINERD_ENDPOINT} (containerd) or {CRI_DOCKERD_ENDPOINT} (Docker Engine through cri-dockerd), in /var/lib/kubelet/kubeadm-flags.env on kubeadm nodes; remove --container-runtime and the dockershim flags; set the Node's {} annotation to the same endpoint; then restart the kubelet.",
                kubelet::CRI_SOCKET_ANNOTATION
            ),
        );
        d.location = location;
        d
    }
}

fn dockershim(ctx: &mut Ctx<'_>) {
    let k = &ctx.snap.migration.kubelet;
    if !k.dockershim {
        return;
    }
    let evidence = if let Some(f) = k
        .flag("container-runtime")
        .filter(|f| f.value.as_deref() == Some("docker"))
    {
        format!("--container-runtime=docker is set at {}", f.origin)
    } else if let Some(e) = k.endpoint.as_ref().filter(|e| {
        e.source != SettingSource::Default
            && kubelet::socket_path(&e.value)
                .as_deref()
                .map(kubelet::classify_socket)
                == Some(RuntimeKind::Dockershim)
    }) {
        format!(
            "its endpoint {} ({}) is dockershim's socket",
            e.value,
            where_set(e)
        )
    } else {
        let why = match &k.version {
            Some(v) if v.has_dockershim() => {
                format!("neither --container-runtime=remote nor --container-runtime-endpoint is set, so kubelet {v} runs its built-in dockershim")
            }
            _ => "no runtime endpoint is set, and the node is set up for Docker (dockershim's flags, or the Node reports docker://)".to_string(),
        };
        why
    };
    ctx.push(DockershimEndpoint { k, evidence });
}

fn removed_flags(ctx: &mut Ctx<'_>) {
    let k = &ctx.snap.migration.kubelet;
    let mut seen = BTreeSet::new();
    for f in &k.flags {
        let Some(removal) = kubelet::removal_of(&f.name) else {
            continue;
        };
        if !seen.insert((f.name.clone(), f.origin.clone())) {
            continue;
        }
        let (major, minor) = removal.removed_in;
        let severity = match &k.version {
            Some(v) if v.minor() >= removal.removed_in => Severity::Error,
            Some(_) => continue,
            None => Severity::Warning,
        };
        let what = match &k.version {
            Some(v) => format!("kubelet {v} does not start with it: --{} was removed in {major}.{minor}", f.name),
            None => format!(
                "--{} was removed in kubelet {major}.{minor}, which does not start with it; the kubelet version is unknown (pass --kubelet-version)",
                f.name
            ),
        };
        let remedy = match f.name.as_str() {
            "network-plugin" | "cni-conf-dir" | "cni-bin-dir" | "cni-cache-dir" | "network-plugin-mtu" => format!(
                "Remove --{0} from {1}: the CNI settings belong to the runtime now (containerd's conf_dir and bin_dir, or cri-dockerd's own --{0} flags).",
                f.name,
                display_path(&f.origin.path),
            ),
            "container-runtime" => format!(
                "Remove --container-runtime from {}; --container-runtime-endpoint alone chooses the runtime.",
                display_path(&f.origin.path)
            ),
            "pod-infra-container-image" => format!(
                "Remove --pod-infra-container-image from {}; the runtime's sandbox image setting (containerd's sandbox_image) is the one used.",
                display_path(&f.origin.path)
            ),
            _ => format!("Remove --{} from {}.", f.name, display_path(&f.origin.path)),
        };
        let (file, location) = at(&f.origin);
        let mut d = Draft::manual(
            FindingId::KubeletRemovedFlag,
            severity,
            file,
            format!("--{} is set at {}: {what}.", f.name, f.origin),
            remedy,
        );
        d.runtime_error = Some(format!(
            "failed to parse kubelet flag: unknown flag: --{}",
            f.name
        ));
        d.location = location;
        ctx.push(d);
    }
}

/// The sockets the node's installed runtimes serve, with their names.
fn served(snap: &Snapshot) -> Vec<(String, &'static str)> {
    let m = &snap.migration;
    let mut out = Vec::new();
    let containerd_configured = !matches!(snap.containerd_config, ContainerdConfigState::Missing);
    if m.containerd.present() || containerd_configured {
        let addr = cri(snap)
            .and_then(|c| c.grpc_address.as_deref())
            .unwrap_or(DEFAULT_GRPC_ADDRESS);
        out.push((kubelet::normalize_run(addr), "containerd"));
    }
    if let Some(c) = &m.docker.cri_dockerd {
        out.push((c.socket.clone(), "cri-dockerd"));
    }
    if m.crio.present() {
        out.push(("/run/crio/crio.sock".to_string(), "CRI-O"));
    }
    out
}

fn socket(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let k = &snap.migration.kubelet;
    if k.dockershim {
        return;
    }
    let Some(e) = &k.endpoint else { return };
    let Some(path) = kubelet::socket_path(&e.value) else {
        return;
    };
    let served = served(snap);
    let problem = if snap.node.is_live() {
        match snap.node.metadata(Path::new(&path)) {
            Ok(_) => None,
            Err(_) => Some(format!("{path} does not exist")),
        }
    } else {
        None
    };
    let problem = problem.or_else(|| {
        if served.iter().any(|(s, _)| *s == path) {
            return None;
        }
        Some(if served.is_empty() {
            format!("no runtime that serves it is installed (cni-fix found no containerd, cri-dockerd or CRI-O) at {path}")
        } else {
            let list: Vec<String> = served.iter().map(|(s, n)| format!("{n} serves {s}")).collect();
            format!("no installed runtime serves {path}: {}", list.join(", "))
        })
    });
    let Some(problem) = problem else { return };
    let file = match &e.source {
        SettingSource::Flag { .. } => k.flag("container-runtime-endpoint").map(|f| at(&f.origin)),
        _ => None,
    };
    let (file, location) = file.unwrap_or((None, None));
    let mut d = Draft::manual(
        FindingId::RuntimeSocketMissing,
        Severity::Error,
        file,
        format!(
            "The kubelet's runtime endpoint is {} ({}), but {problem}; the kubelet cannot reach a runtime and the node stays NotReady.",
            e.value,
            where_set(e)
        ),
        match served.first() {
            Some((s, n)) => format!(
                "Point --container-runtime-endpoint at unix://{s} ({n}), or start the runtime that should serve {path}."
            ),
            None => "Install and start the runtime (containerd, or Docker Engine with cri-dockerd), then point --container-runtime-endpoint at its socket.".to_string(),
        },
    );
    d.runtime_error = Some(format!(
        "validate service connection: validate CRI v1 runtime API for endpoint \"{}\": rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial unix {}: connect: no such file or directory\"",
        e.value,
        e.value.strip_prefix("unix://").unwrap_or(&e.value)
    ));
    d.location = location;
    ctx.push(d);
}

fn scheme(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let k = &snap.migration.kubelet;
    let no_scheme = |v: &str| v.starts_with('/');
    if let Some(e) = k.endpoint.as_ref().filter(|e| no_scheme(&e.value)) {
        let file = k.flag("container-runtime-endpoint").map(|f| at(&f.origin));
        let (file, location) = file.unwrap_or((None, None));
        let mut d = Draft::manual(
            FindingId::EndpointWithoutScheme,
            Severity::Warning,
            file,
            format!(
                "The kubelet's runtime endpoint {} ({}) has no unix:// scheme; endpoints without one are deprecated, and kubeadm and the kubelet only warn about them for now.",
                e.value,
                where_set(e)
            ),
            format!("Write it as unix://{}.", e.value),
        );
        d.location = location;
        ctx.push(d);
    }
    if let Some((name, n)) = &snap.migration.node_object {
        let dockershim = |a: &str| {
            kubelet::socket_path(a)
                .as_deref()
                .map(kubelet::classify_socket)
                == Some(RuntimeKind::Dockershim)
        };
        if let Some(a) = n
            .cri_socket
            .as_deref()
            .filter(|a| no_scheme(a) && !dockershim(a))
        {
            ctx.push(Draft::manual(
                FindingId::EndpointWithoutScheme,
                Severity::Warning,
                Some(name.clone()),
                format!(
                    "The Node's {} annotation is {a}, without unix://; kubeadm upgrade and join read it and warn that endpoints without a URL scheme are deprecated.",
                    kubelet::CRI_SOCKET_ANNOTATION
                ),
                format!(
                    "kubectl annotate node {} --overwrite {}=unix://{a}",
                    n.name.as_deref().unwrap_or("NODE"),
                    kubelet::CRI_SOCKET_ANNOTATION
                ),
            ));
        }
    }
}

fn annotation(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let k = &snap.migration.kubelet;
    let Some((name, n)) = &snap.migration.node_object else {
        return;
    };
    let Some(a) = n.cri_socket.as_deref() else {
        return;
    };
    let Some(e) = &k.endpoint else { return };
    if k.dockershim {
        // The annotation names dockershim while the kubelet still uses it: the migration
        // changes both, and dockershim-endpoint says so.
        return;
    }
    let (Some(ap), Some(ep)) = (kubelet::socket_path(a), kubelet::socket_path(&e.value)) else {
        return;
    };
    if ap == ep {
        return;
    }
    let target = if e.value.starts_with("unix://") {
        e.value.clone()
    } else {
        format!("unix://{}", e.value)
    };
    ctx.push(Draft::manual(
        FindingId::CriSocketAnnotationMismatch,
        Severity::Warning,
        Some(name.clone()),
        format!(
            "The Node's {} annotation is {a}, but the kubelet's endpoint is {} ({}); kubeadm upgrade and join use the annotation, so they would talk to {}.",
            kubelet::CRI_SOCKET_ANNOTATION,
            e.value,
            where_set(e),
            match kubelet::classify_socket(&ap) {
                RuntimeKind::Unknown => "the old socket".to_string(),
                other => other.name().to_string(),
            }
        ),
        format!(
            "kubectl annotate node {} --overwrite {}={target}",
            n.name.as_deref().unwrap_or("NODE"),
            kubelet::CRI_SOCKET_ANNOTATION
        ),
    ));
}

fn cri_disabled(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    if snap.migration.kubelet.runtime != RuntimeKind::Containerd {
        return;
    }
    let Some(c) = cri(snap) else { return };
    let Some(entry) = c.cri_disabled() else {
        return;
    };
    let mut d = Draft::manual(
        FindingId::CriPluginDisabled,
        Severity::Error,
        Some(display_path(&snap.containerd_config_path)),
        format!(
            "containerd's config has disabled_plugins = [\"{entry}\"] (as Docker's containerd.io package installs it), so containerd serves no CRI and the kubelet, which is pointed at containerd, cannot run pods."
        ),
        "Remove \"cri\" from disabled_plugins (or regenerate the file with `containerd config default`, then set SystemdCgroup and the sandbox image), and restart containerd before the kubelet.".to_string(),
    );
    d.runtime_error = Some(
        "rpc error: code = Unimplemented desc = unknown service runtime.v1.RuntimeService"
            .to_string(),
    );
    ctx.push(d);
}

fn cgroup(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let k = &snap.migration.kubelet;
    let (runtime_driver, what, file) = match k.runtime {
        RuntimeKind::Containerd => {
            let Some(c) = cri(snap) else { return };
            let driver = if c.systemd_cgroup == Some(true) {
                "systemd"
            } else {
                "cgroupfs"
            };
            let how = match c.systemd_cgroup {
                Some(v) => format!("its runc runtime sets SystemdCgroup = {v}"),
                None => "its runc runtime does not set SystemdCgroup, which defaults to false"
                    .to_string(),
            };
            (
                driver.to_string(),
                format!("containerd uses {driver} ({how})"),
                display_path(&snap.containerd_config_path),
            )
        }
        RuntimeKind::CriDockerd | RuntimeKind::Dockershim => {
            let Some(driver) = snap.migration.docker.cgroup_driver() else {
                return;
            };
            let how = if snap
                .migration
                .docker
                .daemon_json
                .as_ref()
                .and_then(|d| d.cgroup_driver.as_ref())
                .is_some()
            {
                "native.cgroupdriver in /etc/docker/daemon.json"
            } else {
                "Docker's default on this host's cgroup version"
            };
            (
                driver.clone(),
                format!("Docker Engine uses {driver} ({how})"),
                "/etc/docker/daemon.json".to_string(),
            )
        }
        _ => return,
    };
    let Some(kd) = k.cgroup_driver.as_ref().filter(|_| k.found()) else {
        return;
    };
    if kd.value == runtime_driver {
        return;
    }
    let mut d = Draft::manual(
        FindingId::CgroupDriverMismatch,
        Severity::Error,
        Some(file),
        format!(
            "The kubelet's cgroup driver is {} ({}), but {what}; pods fail to start or are killed as the two manage cgroups differently.",
            kd.value,
            where_set(kd)
        ),
        if runtime_driver == "cgroupfs" && k.runtime == RuntimeKind::Containerd {
            "Set SystemdCgroup = true under the runc runtime's options in containerd's config (systemd is the driver kubeadm sets), and restart containerd.".to_string()
        } else {
            format!("Use one driver on both sides: set the kubelet's cgroupDriver to {runtime_driver}, or change the runtime's.")
        },
    );
    if k.runtime.uses_docker() {
        d.runtime_error = Some(format!(
            "misconfiguration: kubelet cgroup driver: \"{}\" is different from docker cgroup driver: \"{runtime_driver}\"",
            kd.value
        ));
    }
    ctx.push(d);
}

/// What the sandbox image is compared with: the kubelet's `--pod-infra-container-image`, or
/// on a kubeadm node without it, the pause image kubeadm of the kubelet's release recommends.
enum ExpectedPause<'a> {
    Flag(&'a crate::kubelet::Flag, &'a str),
    Kubeadm {
        minor: (u64, u64),
        image: &'static str,
    },
}

fn sandbox(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let k = &snap.migration.kubelet;
    if k.runtime != RuntimeKind::Containerd {
        return;
    }
    let kubeadm = k
        .flags
        .iter()
        .any(|f| f.origin.path.ends_with("kubeadm-flags.env"));
    let expected =
        match k.flag("pod-infra-container-image") {
            Some(flag) => match flag.value.as_deref() {
                Some(want) => ExpectedPause::Flag(flag, want),
                None => return,
            },
            None if kubeadm => match k.version.as_ref().and_then(|v| {
                crate::kubelet::kubeadm_pause_image(v).map(|image| (v.minor(), image))
            }) {
                Some((minor, image)) => ExpectedPause::Kubeadm { minor, image },
                None => return,
            },
            None => return,
        };
    let Some(c) = cri(snap) else { return };
    let containerd_version = snap
        .runtime
        .version
        .as_ref()
        .filter(|_| snap.runtime.host == crate::runtime::CniHost::Containerd);
    let (have, how) = match &c.sandbox_image {
        Some(s) => (s.clone(), "set in its config".to_string()),
        None => match containerd_version
            .and_then(|v| crate::runtime::default_sandbox_image(&v.release).map(|d| (v, d)))
        {
            Some((v, d)) => (d.to_string(), format!("the default of containerd {v}")),
            None => return,
        },
    };
    let (want, file, location, told) = match &expected {
        ExpectedPause::Flag(flag, want) => {
            let (file, location) = at(&flag.origin);
            (
                *want,
                file,
                location,
                format!(
                    "the kubelet is set to {want} at {}; containerd uses its own, so the image kubeadm pre-pulled is not the one pods need (and the kubelet's image garbage collection may remove containerd's)",
                    flag.origin
                ),
            )
        }
        ExpectedPause::Kubeadm { minor, image } => (
            *image,
            None,
            None,
            format!(
                "kubeadm {}.{} pulls and expects {image}: its preflight warns that the sandbox image of the container runtime is inconsistent with that used by kubeadm, and the image it pre-pulled is not the one pods use",
                minor.0, minor.1
            ),
        ),
    };
    if crate::runtime::same_image(&have, want) {
        return;
    }
    let mut d = Draft::manual(
        FindingId::SandboxImageMismatch,
        Severity::Warning,
        file,
        format!("containerd's sandbox image is {have} ({how}), but {told}."),
        format!("Set the sandbox image in containerd's config to {want} (sandbox_image in config version 2, pinned_images.sandbox in version 3), and restart containerd."),
    );
    d.location = location;
    ctx.push(d);
}

fn registry(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    if snap.migration.kubelet.runtime != RuntimeKind::Containerd {
        return;
    }
    let Some(daemon) = &snap.migration.docker.daemon_json else {
        return;
    };
    if daemon.registry_mirrors.is_empty() && daemon.insecure_registries.is_empty() {
        return;
    }
    let Some(c) = cri(snap) else { return };
    let dirs: Vec<String> = c
        .registry_config_path
        .as_deref()
        .map(|p| {
            p.split(':')
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let has_hosts = |host: &str| {
        dirs.iter().any(|d| {
            snap.node
                .metadata(&Path::new(d).join(host).join("hosts.toml"))
                .is_ok()
        })
    };
    let mut missing = Vec::new();
    if !daemon.registry_mirrors.is_empty()
        && !has_hosts("docker.io")
        && !c
            .registry_mirrors
            .iter()
            .any(|(h, e)| h == "docker.io" && !e.is_empty())
    {
        missing.push(format!(
            "registry-mirrors {}",
            daemon.registry_mirrors.join(", ")
        ));
    }
    let insecure: Vec<&String> = daemon
        .insecure_registries
        .iter()
        .filter(|h| !has_hosts(h) && !c.registry_configs.iter().any(|x| x == *h))
        .collect();
    if !insecure.is_empty() {
        missing.push(format!(
            "insecure-registries {}",
            insecure
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if missing.is_empty() {
        return;
    }
    let config_path_note = if dirs.is_empty() {
        format!(
            " containerd's config sets no registry config_path, so it reads no hosts.toml at all; set config_path = \"/etc/containerd/certs.d\" under the CRI plugin's registry table in {}.",
            display_path(&snap.containerd_config_path)
        )
    } else {
        String::new()
    };
    ctx.push(Draft::manual(
        FindingId::DockerRegistryConfigNotMigrated,
        Severity::Warning,
        Some("/etc/docker/daemon.json".to_string()),
        format!(
            "Docker's daemon.json sets {}, which containerd's registry configuration does not carry; image pulls through containerd go straight to the registries (or fail for plain-HTTP ones).",
            missing.join("; ")
        ),
        format!("Run `cni-fix generate registry-hosts` to write containerd's hosts.toml files from daemon.json.{config_path_note}"),
    ));
}

fn docker_uses(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let k = &snap.migration.kubelet;
    let leaving = match k.runtime {
        RuntimeKind::Containerd | RuntimeKind::CriO => true,
        RuntimeKind::Dockershim => k.version.as_ref().is_some_and(|v| !v.has_dockershim()),
        _ => false,
    };
    if !leaving {
        return;
    }
    let uses = &snap.migration.docker_uses;
    let mut start = 0;
    while start < uses.len() {
        let end = start
            + uses[start..]
                .iter()
                .take_while(|u| u.origin.path == uses[start].origin.path)
                .count();
        ctx.push(DockerUsed {
            uses: &uses[start..end],
            runtime: k.runtime,
        });
        start = end;
    }
}

/// `docker-used-on-node`: one file's uses of Docker.
struct DockerUsed<'a> {
    uses: &'a [DockerUse],
    runtime: RuntimeKind,
}

impl From<DockerUsed<'_>> for Draft {
    fn from(f: DockerUsed<'_>) -> Draft {
        let first = &f.uses[0];
        let (file, location) = at(&first.origin);
        let now = match f.runtime {
            RuntimeKind::Dockershim => "the kubelet is moving off Docker Engine".to_string(),
            other => format!("the kubelet uses {}", other.name()),
        };
        let what = match first.what {
            "unit" => "This systemd unit",
            "cron" => "This cron file",
            _ => "/etc/rc.local",
        };
        let hows: Vec<String> = f
            .uses
            .iter()
            .map(|u| format!("line {}: {}", u.origin.line, u.how))
            .collect();
        let mut d = Draft::manual(
            FindingId::DockerUsedOnNode,
            Severity::Warning,
            file,
            format!(
                "{what} depends on Docker ({}), but {now}: it breaks when Docker Engine is removed, and sees none of the kubelet's containers while Docker stays.",
                hows.join("; ")
            ),
            "Change it to use crictl (or nerdctl / ctr -n k8s.io) against the kubelet's runtime, or remove it along with Docker Engine.".to_string(),
        );
        d.location = location;
        d
    }
}

fn bad_files(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    for b in &snap.migration.bad_files {
        ctx.push(BadFileFinding {
            b,
            docker_runtime: snap.migration.kubelet.runtime.uses_docker(),
        });
    }
}

struct BadFileFinding<'a> {
    b: &'a BadFile,
    docker_runtime: bool,
}

impl From<BadFileFinding<'_>> for Draft {
    fn from(f: BadFileFinding<'_>) -> Draft {
        let b = f.b;
        let severity = if b.fatal && (b.what != "Docker config" || f.docker_runtime) {
            Severity::Error
        } else {
            Severity::Warning
        };
        let (file, location) = at(&b.origin);
        let shown = if b.origin.line > 0 {
            b.origin.to_string()
        } else {
            display_path(&b.origin.path)
        };
        let mut d = Draft::manual(
            FindingId::InvalidNodeFile,
            severity,
            file,
            format!("The {} {shown} is malformed: {}.", b.what, b.message),
            match b.what {
                "Node object" => {
                    "Give the output of `kubectl get node NAME -o yaml` (or -o json) to --node."
                        .to_string()
                }
                _ => format!(
                    "Fix {} so that every line is read as intended.",
                    display_path(&b.origin.path)
                ),
            },
        );
        d.location = location;
        d
    }
}

pub(super) fn migration(ctx: &mut Ctx<'_>) {
    bad_files(ctx);
    dockershim(ctx);
    removed_flags(ctx);
    socket(ctx);
    scheme(ctx);
    annotation(ctx);
    cri_disabled(ctx);
    cgroup(ctx);
    sandbox(ctx);
    registry(ctx);
    docker_uses(ctx);
}

//! The kubelet: its versions, the flags each release removed, its default runtime endpoint,
//! and which runtime an endpoint names.
//!
//! Sources, cited per row: kubernetes/kubernetes `CHANGELOG/CHANGELOG-1.24.md` (#106907,
//! dockershim flags), `CHANGELOG-1.27.md` (#114017 `--container-runtime`, #116015
//! `--master-service-namespace`), `CHANGELOG-1.35.md` (`--pod-infra-container-image`);
//! `cmd/kubelet/app/options/options_linux.go` before v1.24 (dockershim's socket as the default
//! endpoint); the kubelet reference (kubernetes/website, v1.24 and later:
//! `--container-runtime-endpoint` defaults to `unix:///run/containerd/containerd.sock`).

use std::fmt;

use semver::Version;
use serde::Serialize;

use crate::systemd::Word;

/// A kubelet version, such as `v1.23.17` (from `kubelet --version`: `Kubernetes v1.23.17`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct KubeletVersion {
    /// The release; a version given as `1.24` reads as 1.24.0.
    #[serde(serialize_with = "ser_display")]
    pub release: Version,
}

fn ser_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl fmt::Display for KubeletVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.release)
    }
}

/// Why a kubelet version could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {raw:?} as a kubelet version: expected MAJOR.MINOR or MAJOR.MINOR.PATCH, for example 1.24 or v1.23.17")]
pub struct KubeletVersionError {
    /// The text given.
    pub raw: String,
}

impl KubeletVersion {
    /// Read `1.24`, `1.24.3`, `v1.23.17` or `v1.28.2-eks-a5df82a` (the suffix is dropped), as
    /// containerd versions are read but with the patch optional.
    pub fn parse(raw: &str) -> Result<KubeletVersion, KubeletVersionError> {
        let fail = || KubeletVersionError {
            raw: raw.to_string(),
        };
        match crate::runtime::release_parts(raw)
            .ok_or_else(fail)?
            .as_slice()
        {
            [major, minor] => Ok(KubeletVersion {
                release: Version::new(*major, *minor, 0),
            }),
            [major, minor, patch] => Ok(KubeletVersion {
                release: Version::new(*major, *minor, *patch),
            }),
            _ => Err(fail()),
        }
    }

    /// Read the output of `kubelet --version`: `Kubernetes v1.23.17`.
    pub fn from_version_output(out: &str) -> Result<KubeletVersion, KubeletVersionError> {
        let word = out
            .split_whitespace()
            .find(|w| w.starts_with('v') || w.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or(out);
        KubeletVersion::parse(word)
    }

    /// The minor release, as `1.24`.
    pub fn minor(&self) -> (u64, u64) {
        (self.release.major, self.release.minor)
    }

    /// Whether this kubelet has dockershim (1.23 and earlier).
    pub fn has_dockershim(&self) -> bool {
        self.minor() < (1, 24)
    }
}

/// Flags a kubelet release removed: a kubelet of that release or later fails to start with
/// `failed to parse kubelet flag: unknown flag: --<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlagRemoval {
    /// The minor release that removed them.
    pub removed_in: (u64, u64),
    /// The flags, without `--`.
    pub flags: &'static [&'static str],
    /// Where this is recorded.
    pub source: &'static str,
}

/// The pause image kubeadm of a Kubernetes minor release pulls and recommends as the CRI
/// sandbox image (`constants.PauseVersion`; its preflight warns "detected that the sandbox
/// image … of the container runtime is inconsistent with that used by kubeadm"), for the
/// releases cni-fix has a record of: minor release, image, where it is recorded. Releases not
/// listed are not compared.
pub const KUBEADM_PAUSE_IMAGES: &[((u64, u64), &str, &str)] = &[
    (
        (1, 23),
        "k8s.gcr.io/pause:3.6",
        "kubernetes issue #106903 (`kubeadm config images list` of v1.23.0)",
    ),
    (
        (1, 24),
        "k8s.gcr.io/pause:3.7",
        "kubeadm issue #2693 (v1.24 asks for pause 3.7)",
    ),
    (
        (1, 28),
        "registry.k8s.io/pause:3.9",
        "rootless-containers/usernetes issue #314 (kubeadm v1.28.4 preflight)",
    ),
    (
        (1, 32),
        "registry.k8s.io/pause:3.10",
        "kubeadm issue #3146 (kubeadm v1.32.0 preflight)",
    ),
];

/// The pause image kubeadm of this kubelet's minor release recommends, when recorded.
pub fn kubeadm_pause_image(version: &KubeletVersion) -> Option<&'static str> {
    KUBEADM_PAUSE_IMAGES
        .iter()
        .find(|(minor, _, _)| *minor == version.minor())
        .map(|(_, image, _)| *image)
}

/// The kubelet flags removed since dockershim's removal, by release.
pub const REMOVED_FLAGS: &[FlagRemoval] = &[
    FlagRemoval {
        removed_in: (1, 24),
        flags: &[
            "experimental-dockershim-root-directory",
            "docker-endpoint",
            "image-pull-progress-deadline",
            "network-plugin",
            "cni-conf-dir",
            "cni-bin-dir",
            "cni-cache-dir",
            "network-plugin-mtu",
        ],
        source: "kubernetes/kubernetes CHANGELOG/CHANGELOG-1.24.md, #106907",
    },
    FlagRemoval {
        removed_in: (1, 27),
        flags: &["container-runtime", "master-service-namespace"],
        source: "kubernetes/kubernetes CHANGELOG/CHANGELOG-1.27.md, #114017 and #116015",
    },
    FlagRemoval {
        removed_in: (1, 35),
        flags: &["pod-infra-container-image"],
        source: "kubernetes/kubernetes CHANGELOG/CHANGELOG-1.35.md, Urgent Upgrade Notes",
    },
];

/// The release that removed `flag`, if any.
pub fn removal_of(flag: &str) -> Option<&'static FlagRemoval> {
    REMOVED_FLAGS.iter().find(|r| r.flags.contains(&flag))
}

/// The kubelet's runtime endpoint when none is set: dockershim's socket before 1.24
/// (`options_linux.go`), containerd's from 1.24 (the kubelet reference).
pub fn default_endpoint(version: &KubeletVersion) -> &'static str {
    if version.has_dockershim() {
        DOCKERSHIM_ENDPOINT
    } else {
        CONTAINERD_ENDPOINT
    }
}

/// dockershim's endpoint, the kubelet's default before 1.24.
pub const DOCKERSHIM_ENDPOINT: &str = "unix:///var/run/dockershim.sock";
/// containerd's endpoint, the kubelet's default from 1.24.
pub const CONTAINERD_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";
/// cri-dockerd's endpoint as its packaged socket unit listens.
pub const CRI_DOCKERD_ENDPOINT: &str = "unix:///var/run/cri-dockerd.sock";
/// Where cri-dockerd's packages install its binary (its `packaging/systemd/cri-docker.service`).
pub const CRI_DOCKERD_BINARY: &str = "/usr/bin/cri-dockerd";

/// The container runtime a node's kubelet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RuntimeKind {
    /// Docker Engine through the kubelet's built-in dockershim (kubelet 1.23 and earlier).
    Dockershim,
    /// Docker Engine through Mirantis' cri-dockerd.
    CriDockerd,
    /// containerd's CRI plugin.
    Containerd,
    /// CRI-O.
    CriO,
    /// Not known.
    Unknown,
}

impl RuntimeKind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Dockershim => "dockershim",
            RuntimeKind::CriDockerd => "cri-dockerd",
            RuntimeKind::Containerd => "containerd",
            RuntimeKind::CriO => "cri-o",
            RuntimeKind::Unknown => "unknown",
        }
    }

    /// Whether Docker Engine runs the containers.
    pub fn uses_docker(self) -> bool {
        matches!(self, RuntimeKind::Dockershim | RuntimeKind::CriDockerd)
    }
}

/// The socket path of an endpoint (`unix:///run/x.sock` or a bare `/run/x.sock`), with
/// `/var/run` read as `/run` (a symlink on every current distribution).
pub fn socket_path(endpoint: &str) -> Option<String> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if !path.starts_with('/') {
        return None;
    }
    Some(normalize_run(path))
}

/// `/var/run/...` as `/run/...`.
pub fn normalize_run(path: &str) -> String {
    match path.strip_prefix("/var/run/") {
        Some(rest) => format!("/run/{rest}"),
        None => path.to_string(),
    }
}

/// Which runtime a socket path names, by the names the runtimes' packages give their sockets.
pub fn classify_socket(path: &str) -> RuntimeKind {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "dockershim.sock" => RuntimeKind::Dockershim,
        "cri-dockerd.sock" => RuntimeKind::CriDockerd,
        "containerd.sock" => RuntimeKind::Containerd,
        "crio.sock" => RuntimeKind::CriO,
        _ => RuntimeKind::Unknown,
    }
}

/// One flag on a kubelet command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Its name, without dashes.
    pub name: String,
    /// Its value (`None` for a boolean given alone).
    pub value: Option<String>,
    /// Where it is set.
    pub origin: crate::systemd::Origin,
}

/// The kubelet's boolean flags that a runtime migration touches, which never take the next
/// word as their value.
const BOOLEAN_FLAGS: &[&str] = &[
    "fail-swap-on",
    "rotate-certificates",
    "rotate-server-certificates",
    "register-node",
    "register-schedulable",
    "anonymous-auth",
    "enable-server",
    "enable-debugging-handlers",
    "exit-on-lock-contention",
    "keep-terminated-pod-volumes",
    "experimental-dockershim",
    "alsologtostderr",
    "logtostderr",
    "help",
    "h",
    "version",
];

/// Read a command line's flags as pflag does for the kubelet: `--name=value`, `--name value`
/// (the next word, unless the flag is boolean or the word is a flag itself), `-x` shorthands;
/// `--` ends the flags. Later settings of a flag win, so every occurrence is kept in order.
pub fn parse_flags(args: &[Word]) -> Vec<Flag> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        i += 1;
        if w.text == "--" {
            break;
        }
        let Some(body) = w
            .text
            .strip_prefix("--")
            .or_else(|| w.text.strip_prefix('-'))
            .filter(|b| !b.is_empty())
        else {
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None if BOOLEAN_FLAGS.contains(&body) => (body.to_string(), None),
            None => match args.get(i) {
                Some(next) if !next.text.starts_with('-') => {
                    i += 1;
                    (body.to_string(), Some(next.text.clone()))
                }
                _ => (body.to_string(), None),
            },
        };
        out.push(Flag {
            name,
            value,
            origin: w.origin.clone(),
        });
    }
    out
}

/// The last value of flag `name`, as pflag keeps it.
pub fn last<'a>(flags: &'a [Flag], name: &str) -> Option<&'a Flag> {
    flags.iter().rev().find(|f| f.name == name)
}

/// A YAML or JSON document (JSON is YAML), read with serde-saphyr's limits on aliases, depth
/// and size, so that a hostile file gets an error rather than a hang.
pub fn read_yaml(text: &str) -> Result<serde_json::Value, String> {
    serde_saphyr::from_str::<serde_json::Value>(text).map_err(|e| {
        let m = e.to_string();
        let first = m.lines().next().unwrap_or("").trim();
        first.chars().take(300).collect()
    })
}

/// The kubelet settings a runtime migration depends on, from a `KubeletConfiguration` file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KubeletConfig {
    /// `containerRuntimeEndpoint` (kubelet 1.27 and later read it).
    pub container_runtime_endpoint: Option<String>,
    /// `cgroupDriver` (`cgroupfs`, the kubelet's default, or `systemd`).
    pub cgroup_driver: Option<String>,
}

/// Read a `KubeletConfiguration` as the kubelet does: the document must be a mapping of kind
/// `KubeletConfiguration` (`kubelet.config.k8s.io/v1beta1`), and the fields read must be
/// strings.
pub fn parse_kubelet_config(text: &str) -> Result<KubeletConfig, String> {
    let doc = read_yaml(text)?;
    let map = doc
        .as_object()
        .ok_or_else(|| "not a mapping: a KubeletConfiguration is a YAML mapping".to_string())?;
    match map.get("kind").and_then(|k| k.as_str()) {
        Some("KubeletConfiguration") => {}
        Some(other) => return Err(format!("kind is {other:?}, not KubeletConfiguration")),
        None => return Err("no kind: the kubelet needs kind: KubeletConfiguration".to_string()),
    }
    let string = |key: &str| -> Result<Option<String>, String> {
        match map.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("{key} must be a string, not {other}")),
        }
    };
    Ok(KubeletConfig {
        container_runtime_endpoint: string("containerRuntimeEndpoint")?,
        cgroup_driver: string("cgroupDriver")?,
    })
}

/// kubeadm's annotation on the Node: the CRI socket `kubeadm upgrade` and `join` use.
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

/// What a Node object (`kubectl get node NAME -o yaml|json`) says about the runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeObject {
    /// `metadata.name`.
    pub name: Option<String>,
    /// The kubeadm `cri-socket` annotation.
    pub cri_socket: Option<String>,
    /// `status.nodeInfo.containerRuntimeVersion`, such as `docker://20.10.7`.
    pub container_runtime_version: Option<String>,
    /// `status.nodeInfo.kubeletVersion`, such as `v1.23.17`.
    pub kubelet_version: Option<String>,
}

impl NodeObject {
    /// Read a Node (or a List holding exactly one) in YAML or JSON.
    pub fn parse(text: &str) -> Result<NodeObject, String> {
        let doc = read_yaml(text)?;
        let doc = match doc.get("kind").and_then(|k| k.as_str()) {
            Some("Node") => &doc,
            Some("List" | "NodeList") => match doc.get("items").and_then(|i| i.as_array()) {
                Some(items) if items.len() == 1 => &items[0],
                Some(items) => {
                    return Err(format!(
                        "a list of {} objects; give one Node (kubectl get node NAME -o yaml)",
                        items.len()
                    ))
                }
                None => return Err("a List without items".to_string()),
            },
            Some(other) => {
                return Err(format!(
                    "kind is {other:?}, not Node; give the output of kubectl get node NAME -o yaml"
                ))
            }
            None => {
                return Err(
                    "no kind: not a Kubernetes object; give the output of kubectl get node NAME -o yaml"
                        .to_string(),
                )
            }
        };
        if doc.get("kind").and_then(|k| k.as_str()) != Some("Node") {
            return Err("the list's item is not a Node".to_string());
        }
        let s = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
        let info = doc.pointer("/status/nodeInfo");
        Ok(NodeObject {
            name: s(doc.pointer("/metadata/name")),
            cri_socket: s(doc
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(CRI_SOCKET_ANNOTATION))),
            container_runtime_version: s(info.and_then(|i| i.get("containerRuntimeVersion"))),
            kubelet_version: s(info.and_then(|i| i.get("kubeletVersion"))),
        })
    }

    /// The runtime `containerRuntimeVersion` names (`docker://…` is Docker Engine, through
    /// dockershim or cri-dockerd).
    pub fn runtime_scheme(&self) -> Option<&str> {
        self.container_runtime_version
            .as_deref()
            .and_then(|v| v.split_once("://"))
            .map(|(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_pause_images_by_minor_release() {
        let at = |v: &str| kubeadm_pause_image(&KubeletVersion::parse(v).unwrap());
        assert_eq!(at("1.28.4"), Some("registry.k8s.io/pause:3.9"));
        assert_eq!(at("v1.32.0"), Some("registry.k8s.io/pause:3.10"));
        assert_eq!(at("1.26.5"), None);
        for pair in KUBEADM_PAUSE_IMAGES.windows(2) {
            assert!(pair[0].0 < pair[1].0);
        }
    }
    use crate::systemd::Origin;

    fn words(s: &str) -> Vec<Word> {
        s.split_whitespace()
            .map(|t| Word {
                text: t.to_string(),
                origin: Origin {
                    path: "/x".into(),
                    line: 1,
                },
            })
            .collect()
    }

    #[test]
    fn versions() {
        assert_eq!(KubeletVersion::parse("1.24").unwrap().to_string(), "1.24.0");
        assert_eq!(
            KubeletVersion::from_version_output("Kubernetes v1.23.17\n")
                .unwrap()
                .to_string(),
            "1.23.17"
        );
        assert_eq!(
            KubeletVersion::parse("v1.28.2-eks-a5df82a")
                .unwrap()
                .minor(),
            (1, 28)
        );
        for bad in ["", "1", "x.y", "1.2.3.4", "1.-2"] {
            assert!(KubeletVersion::parse(bad).is_err(), "{bad}");
        }
        assert!(KubeletVersion::parse("1.23.9").unwrap().has_dockershim());
        assert!(!KubeletVersion::parse("1.24").unwrap().has_dockershim());
    }

    #[test]
    fn flags_as_pflag_reads_them() {
        let f = parse_flags(&words(
            "--network-plugin=cni --container-runtime remote --fail-swap-on --v 2 -v=3 stray -- --after",
        ));
        let got: Vec<_> = f
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("network-plugin", Some("cni")),
                ("container-runtime", Some("remote")),
                ("fail-swap-on", None),
                ("v", Some("2")),
                ("v", Some("3")),
            ]
        );
        assert_eq!(last(&f, "v").unwrap().value.as_deref(), Some("3"));
    }

    #[test]
    fn removed_flags_table() {
        assert_eq!(removal_of("network-plugin").unwrap().removed_in, (1, 24));
        assert_eq!(removal_of("container-runtime").unwrap().removed_in, (1, 27));
        assert!(removal_of("container-runtime-endpoint").is_none());
        let mut seen = std::collections::BTreeSet::new();
        for r in REMOVED_FLAGS {
            for f in r.flags {
                assert!(seen.insert(*f), "{f} twice");
            }
        }
    }

    #[test]
    fn kubelet_config_and_node_objects() {
        let c = parse_kubelet_config(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n",
        )
        .unwrap();
        assert_eq!(c.cgroup_driver.as_deref(), Some("systemd"));
        assert!(parse_kubelet_config("kind: Pod\n")
            .unwrap_err()
            .contains("Pod"));
        assert!(parse_kubelet_config("- a\n").is_err());
        assert!(parse_kubelet_config("kind: KubeletConfiguration\ncgroupDriver: [1]\n").is_err());
        let n = NodeObject::parse(r#"{"kind":"Node","metadata":{"name":"n1","annotations":{"kubeadm.alpha.kubernetes.io/cri-socket":"/var/run/dockershim.sock"}},"status":{"nodeInfo":{"containerRuntimeVersion":"docker://20.10.7","kubeletVersion":"v1.23.17"}}}"#).unwrap();
        assert_eq!(n.cri_socket.as_deref(), Some("/var/run/dockershim.sock"));
        assert_eq!(n.runtime_scheme(), Some("docker"));
        assert!(NodeObject::parse("kind: Pod\n")
            .unwrap_err()
            .contains("not Node"));
        assert!(NodeObject::parse("just text").is_err());
        // An alias bomb is refused, not expanded.
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            bomb.push_str(&format!("b{i}: &b{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        bomb.push_str("kind: Node\n");
        assert!(NodeObject::parse(&bomb).is_err());
    }

    #[test]
    fn sockets() {
        assert_eq!(
            socket_path("unix:///var/run/cri-dockerd.sock").as_deref(),
            Some("/run/cri-dockerd.sock")
        );
        assert_eq!(socket_path("tcp://1.2.3.4:1"), None);
        assert_eq!(
            classify_socket("/run/containerd/containerd.sock"),
            RuntimeKind::Containerd
        );
        assert_eq!(classify_socket("/run/crio/crio.sock"), RuntimeKind::CriO);
    }
}

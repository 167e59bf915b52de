//! The catalogue of telemetry, security and logging agents known to depend on Docker Engine (or
//! known not to), one entry per vendor: how to recognise its workloads, how bad staying on Docker
//! is for it, and what to do.
//!
//! The vendors, their name patterns and their notes come from the Kubernetes page "Migrating
//! telemetry and security agents from dockershim" (kubernetes/website,
//! `content/en/docs/tasks/administer-cluster/migrating-from-dockershim/migrating-telemetry-and-security-agents.md`
//! at 0e14bf1cc7d8fff106460133f4227f7c1a16b854); the log shippers' notes from their own
//! repositories (cited per entry).

use crate::finding::Severity;

/// One vendor's agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agent {
    /// A stable id, for example `datadog`.
    pub id: &'static str,
    /// The product, for example `Datadog Agent`.
    pub product: &'static str,
    /// Substrings of a workload's, pod's or container's name that mark the agent.
    pub names: &'static [&'static str],
    /// Substrings of an image's repository (the part before the tag or digest) that mark it.
    pub images: &'static [&'static str],
    /// The severity when the workload also mounts or calls Docker, or always when the agent
    /// works only with Docker Engine.
    pub severity: Severity,
    /// Whether the agent works with Docker Engine only, whatever it mounts.
    pub docker_only: bool,
    /// What to do, in one or two sentences.
    pub remedy: &'static str,
    /// Where the vendor documents the migration.
    pub link: &'static str,
    /// Where this entry's facts come from.
    pub source: &'static str,
}

const K8S_PAGE: &str = "kubernetes/website migrating-telemetry-and-security-agents.md (0e14bf1c)";

/// Every known agent, in the order they are tried.
pub const AGENTS: &[Agent] = &[
    Agent {
        id: "aqua",
        product: "Aqua Enforcer",
        names: &["aqua-enforcer", "aqua-agent"],
        images: &["aquasec/enforcer", "aquasec/agent"],
        severity: Severity::Info,
        docker_only: false,
        remedy: "No change is needed: Aqua's enforcer works on the runtime switch as it is.",
        link: "https://www.aquasec.com",
        source: K8S_PAGE,
    },
    Agent {
        id: "datadog",
        product: "Datadog Agent",
        names: &["datadog-agent", "datadog", "dd-agent"],
        images: &["datadog/agent", "datadoghq/agent", "datadog/docker-dd-agent", "datadog/dogstatsd"],
        severity: Severity::Warning,
        docker_only: false,
        remedy: "Follow Datadog's guide for the Docker deprecation: run an Agent release that reads containerd through the CRI, mount the new runtime's socket instead of Docker's, and drop DOCKER_HOST.",
        link: "https://docs.datadoghq.com/agent/guide/docker-deprecation/",
        source: K8S_PAGE,
    },
    Agent {
        id: "dynatrace",
        product: "Dynatrace OneAgent",
        names: &["dynatrace-oneagent"],
        images: &["dynatrace/oneagent"],
        severity: Severity::Warning,
        docker_only: false,
        remedy: "Move from Docker-only to generic container metrics as Dynatrace describes, on a OneAgent release with containerd (or CRI-O) support.",
        link: "https://community.dynatrace.com/t5/Best-practices/Migrating-from-Docker-only-to-generic-container-metrics-in/m-p/167030#M49",
        source: K8S_PAGE,
    },
    Agent {
        id: "falco",
        product: "Falco",
        names: &["falco"],
        images: &["falcosecurity/falco"],
        severity: Severity::Warning,
        docker_only: false,
        remedy: "Falco supports any CRI runtime; make sure the new runtime's socket (for containerd /run/containerd/containerd.sock) is mounted and configured, and the Docker socket is no longer relied on.",
        link: "https://falco.org/docs/getting-started/deployment/#docker-deprecation-in-kubernetes",
        source: K8S_PAGE,
    },
    Agent {
        id: "prisma-cloud-compute",
        product: "Prisma Cloud Compute Defender (Twistlock)",
        names: &["twistlock-defender-ds", "twistlock-defender"],
        images: &["twistlock/defender", "twistlock/private"],
        severity: Severity::Warning,
        docker_only: false,
        remedy: "Redeploy the Defenders from a YAML file generated with the --cri flag (\"Install Prisma Cloud on a CRI (non-Docker) cluster\").",
        link: "https://docs.paloaltonetworks.com/prisma/prisma-cloud/prisma-cloud-admin-compute/install/install_kubernetes.html",
        source: K8S_PAGE,
    },
    Agent {
        id: "signalfx",
        product: "SignalFx Smart Agent (Splunk)",
        names: &["signalfx-agent"],
        images: &["signalfx/signalfx-agent", "signalfx-agent"],
        severity: Severity::Warning,
        docker_only: false,
        remedy: "Remove the docker-container-stats monitor from the agent's configuration (without Docker it reports wrong or no metrics) and enable kubelet-metrics; review alerts and dashboards, as the metrics change.",
        link: "https://github.com/signalfx/signalfx-agent/blob/main/docs/monitors/kubelet-metrics.md",
        source: K8S_PAGE,
    },
    Agent {
        id: "kubectl-flame",
        product: "kubectl-flame (Yahoo)",
        names: &["kubectl-flame"],
        images: &["verizondigital/kubectl-flame"],
        severity: Severity::Error,
        docker_only: true,
        remedy: "kubectl-flame supports Docker Engine only; profile with another tool on nodes that run containerd or CRI-O.",
        link: "https://github.com/yahoo/kubectl-flame/issues/51",
        source: K8S_PAGE,
    },
    Agent {
        id: "fluentd",
        product: "Fluentd (fluentd-kubernetes-daemonset)",
        names: &["fluentd"],
        images: &["fluent/fluentd-kubernetes-daemonset", "fluent/fluentd"],
        severity: Severity::Warning,
        docker_only: false,
        remedy: "containerd and CRI-O write container logs in the CRI format, not Docker's JSON: parse /var/log/containers/*.log with the cri parser (override tail_container_parse.conf), and stop reading /var/lib/docker/containers.",
        link: "https://github.com/fluent/fluentd-kubernetes-daemonset#use-cri-parser-for-containerdcri-o-logs",
        source: "fluent/fluentd-kubernetes-daemonset README.md, \"Use CRI parser for containerd/cri-o logs\" (849b9e1e)",
    },
    Agent {
        id: "fluent-bit",
        product: "Fluent Bit",
        names: &["fluent-bit"],
        images: &["fluent/fluent-bit"],
        severity: Severity::Warning,
        docker_only: false,
        remedy: "On a CRI runtime change the tail input's Parser from docker to cri (or multiline.parser docker, cri), and stop reading /var/lib/docker/containers.",
        link: "https://github.com/fluent/fluent-bit-kubernetes-logging",
        source: "fluent/fluent-bit-kubernetes-logging README.md (c590a9ba)",
    },
];

/// The repository part of an image reference: without the tag or digest.
fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

impl Agent {
    /// Whether a workload with these names (workload, pods, containers) and images is this agent.
    pub fn matches<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        images: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        names
            .into_iter()
            .any(|n| self.names.iter().any(|p| n.contains(p)))
            || images
                .into_iter()
                .any(|i| self.images.iter().any(|p| repository(i).contains(p)))
    }
}

/// The first catalogue entry a workload matches.
pub fn find<'a>(names: &[&'a str], images: &[&'a str]) -> Option<&'static Agent> {
    AGENTS
        .iter()
        .find(|a| a.matches(names.iter().copied(), images.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_match_on_their_repository() {
        assert_eq!(repository("datadog/agent:7.21.1"), "datadog/agent");
        assert_eq!(
            repository("registry:5000/x/falco@sha256:ab"),
            "registry:5000/x/falco"
        );
        assert_eq!(repository("registry:5000/x"), "registry:5000/x");
        assert_eq!(
            find(&[], &["gcr.io/datadoghq/agent:7"]).unwrap().id,
            "datadog"
        );
        // A tag that happens to spell a vendor is not its image.
        assert!(find(&[], &["nginx:falco"]).is_none());
        assert_eq!(find(&["kube-system/falco-x7"], &[]).unwrap().id, "falco");
        assert!(find(&["coredns"], &["registry.k8s.io/coredns/coredns:v1.11.1"]).is_none());
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<_> = AGENTS.iter().map(|a| a.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), AGENTS.len());
    }
}

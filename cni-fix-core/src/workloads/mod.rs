//! `cni-fix workloads`: find the pods and agents that depend on Docker Engine, from Kubernetes
//! objects (a live cluster's `kubectl get … -o json|yaml`, or a manifest repository).
//!
//! [`read_paths`] reads the inputs (bounded in size), [`scan`] parses them (bounded in documents,
//! nesting and alias expansion), groups pods under the controllers that own them, evaluates the
//! rules over every pod template and returns a [`WorkloadReport`] (JSON schema
//! [`WORKLOADS_SCHEMA`]).
//!
//! ```
//! use cni_fix_core::workloads::{scan, Input};
//! use cni_fix_core::FindingId;
//!
//! let yaml = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: monitoring}\nspec:\n  template:\n    spec:\n      containers:\n      - name: agent\n        image: example/agent:1\n        volumeMounts: [{name: run, mountPath: /host/var/run}]\n      volumes:\n      - {name: run, hostPath: {path: /var/run}}\n";
//! let report = scan(&[Input { name: "agent.yaml".into(), bytes: yaml.into() }]);
//! let w = &report.workloads[0];
//! assert_eq!((w.kind.as_str(), w.name.as_str()), ("DaemonSet", "agent"));
//! assert_eq!(w.findings[0].id, FindingId::DockerSocketParentMount);
//! ```

pub mod agents;
mod input;
mod model;
pub mod paths;
mod rules;
pub mod shell;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

pub use input::{
    read_bounded, read_paths, Input, InputError, DEFAULT_MAX_INPUT_BYTES, MAX_ALIAS_REPLAY,
    MAX_DEPTH, MAX_DOCUMENTS,
};
use model::{pos, Doc, Meta, Object, Pos, Spec};

use crate::finding::{FindingId, Location, Severity};

/// The schema id of the workloads report's JSON form.
pub const WORKLOADS_SCHEMA: &str = "cni-fix.workloads/v1";

/// Kinds whose objects own pods or other controllers.
const CONTROLLER_KINDS: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "ReplicationController",
    "Job",
    "CronJob",
];

/// One finding about a workload: the same id, severity, message and remedy as a node's
/// findings, with the container, volume and paths it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkloadFinding {
    /// What kind of problem.
    pub id: FindingId,
    /// How bad.
    pub severity: Severity,
    /// The container concerned, if any.
    pub container: Option<String>,
    /// The pod volume concerned, if any.
    pub volume: Option<String>,
    /// The node path concerned (a hostPath, or where DOCKER_HOST leads).
    pub host_path: Option<String>,
    /// Where the volume is mounted in the container.
    pub mount_path: Option<String>,
    /// The catalogue entry (`known-agent`), for example `datadog`.
    pub agent: Option<&'static str>,
    /// What is wrong, with the values involved.
    pub message: String,
    /// What to do.
    pub remedy: String,
    /// A vendor's migration guide (`known-agent`).
    pub link: Option<&'static str>,
    /// The input the finding was read from (`-` for standard input).
    pub file: String,
    /// Where in `file` (YAML only: JSON is read without positions).
    pub location: Option<Location>,
}

/// A workload: a controller (or a pod without one), with the pods of it that were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Workload {
    /// `Deployment`, `DaemonSet`, `CronJob`, `Pod`, … (any kind with a pod template).
    pub kind: String,
    /// The namespace, when the object names one.
    pub namespace: Option<String>,
    /// The name (a pod's `generateName` when it has no name).
    pub name: String,
    /// How many of its pods the input held.
    pub pods: usize,
    /// Whether the controller was inferred: a Deployment from its ReplicaSet's name and the
    /// pods' `pod-template-hash`, when neither object was in the input.
    pub inferred: bool,
    /// The object that manages the controller when it is not a workload itself, for example
    /// `OneAgent/oneagent` or `Node/worker-1` (a static pod).
    pub managed_by: Option<String>,
    /// The input the workload was first read from.
    pub file: String,
    /// Where in `file`.
    pub location: Option<Location>,
    /// What was found, most severe first.
    pub findings: Vec<WorkloadFinding>,
}

impl Workload {
    /// `namespace/Kind/name`, or `Kind/name` without a namespace.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// What one input held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputSummary {
    /// The path (`-` for standard input).
    pub file: String,
    /// Its YAML documents (or JSON values).
    pub documents: usize,
    /// The Kubernetes objects in them, list items counted one by one.
    pub objects: usize,
}

/// Counts over the whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Workloads read.
    pub workloads: usize,
    /// Pods read.
    pub pods: usize,
    /// Workloads with a warning or an error.
    pub affected: usize,
    /// Findings by severity.
    pub errors: usize,
    /// Findings of severity warning.
    pub warnings: usize,
    /// Findings of severity info.
    pub infos: usize,
}

/// The result of [`scan`]; its JSON form is the schema [`WORKLOADS_SCHEMA`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkloadReport {
    /// [`WORKLOADS_SCHEMA`].
    pub schema: &'static str,
    /// The inputs read.
    pub inputs: Vec<InputSummary>,
    /// Inputs (or parts) that could not be read or parsed.
    pub errors: Vec<InputError>,
    /// Every workload, by namespace, kind and name.
    pub workloads: Vec<Workload>,
    /// Counts.
    pub summary: Summary,
}

impl WorkloadReport {
    /// Whether a finding reaches `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.workloads
            .iter()
            .any(|w| w.worst().is_some_and(|s| s >= threshold))
    }

    /// Add errors found before scanning (inputs that could not be read).
    pub fn with_errors(mut self, mut errors: Vec<InputError>) -> Self {
        errors.append(&mut self.errors);
        self.errors = errors;
        self
    }
}

/// A workload object or a pod, flattened out of its input.
struct Record<'a> {
    kind: String,
    namespace: Option<String>,
    name: String,
    meta: &'a Meta,
    pod_spec: Option<&'a Spec>,
    is_pod: bool,
    input: usize,
    pos: Pos,
}

fn text(t: &model::Text) -> Option<String> {
    t.0.clone().filter(|s| !s.is_empty())
}

/// The pod spec an object holds: a Pod's own, a controller's template, a CronJob's job
/// template's, or any kind's `spec.template.spec` (Argo Rollouts, Knative, …).
fn pod_spec<'a>(kind: &str, o: &'a Object) -> Option<&'a Spec> {
    let spec = o.spec.as_ref()?;
    match kind {
        "Pod" => Some(spec),
        "CronJob" => spec
            .job_template
            .as_ref()?
            .spec
            .as_ref()?
            .template
            .as_ref()?
            .spec
            .as_deref(),
        _ => spec.template.as_ref()?.spec.as_deref(),
    }
}

fn flatten<'a>(doc: &'a Doc, input: usize, out: &mut Vec<Record<'a>>, objects: &mut usize) {
    let Doc::Object(o) = doc else { return };
    for item in &o.items.0 {
        flatten(item, input, out, objects);
    }
    let Some(kind) = o.kind.as_ref().and_then(|k| text(&k.value)) else {
        return;
    };
    *objects += 1;
    let spec = pod_spec(&kind, o);
    let is_controller = CONTROLLER_KINDS.contains(&kind.as_str());
    if spec.is_none() && !is_controller {
        return;
    }
    let name = text(&o.metadata.name)
        .or_else(|| text(&o.metadata.generate_name))
        .unwrap_or_default();
    out.push(Record {
        is_pod: kind == "Pod",
        kind,
        namespace: text(&o.metadata.namespace),
        name,
        meta: &o.metadata,
        pod_spec: spec,
        input,
        pos: o.kind.as_ref().and_then(pos),
    });
}

type Key = (Option<String>, String, String);

/// The owner a controller relation follows: the `controller: true` reference, else the first.
fn owner(meta: &Meta) -> Option<(String, String)> {
    let refs = &meta.owner_references.0;
    let r = refs
        .iter()
        .find(|r| r.controller == Some(true))
        .or(refs.first())?;
    Some((text(&r.kind)?, text(&r.name)?))
}

/// Where a record belongs: the top controller's key, whether it was inferred (a Deployment
/// named from its ReplicaSet), and what manages that controller if it is not a workload.
fn top(
    rec: &Record<'_>,
    owners: &HashMap<Key, Option<(String, String)>>,
) -> (Key, bool, Option<String>) {
    let ns = rec.namespace.clone();
    let mut key: Key = (ns.clone(), rec.kind.clone(), rec.name.clone());
    let mut next = owner(rec.meta);
    for _ in 0..8 {
        let Some((kind, name)) = next.take() else {
            return (key, false, None);
        };
        if !CONTROLLER_KINDS.contains(&kind.as_str()) {
            return (key, false, Some(format!("{kind}/{name}")));
        }
        let k: Key = (ns.clone(), kind.clone(), name.clone());
        match owners.get(&k) {
            Some(o) => {
                next = o.clone();
                key = k;
            }
            None => {
                // A ReplicaSet that is not in the input: its Deployment is its name without the
                // pods' pod-template-hash, the way the Deployment controller names it.
                let hash = rec
                    .meta
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("pod-template-hash"))
                    .and_then(|h| h.0.clone());
                if let (true, Some(h)) = (kind == "ReplicaSet", hash) {
                    if let Some(d) = name.strip_suffix(&format!("-{h}")) {
                        return ((ns, "Deployment".to_string(), d.to_string()), true, None);
                    }
                }
                return (k, false, None);
            }
        }
    }
    (key, false, None)
}

/// Parse every input, group pods under their controllers, and evaluate the rules.
pub fn scan(inputs: &[Input]) -> WorkloadReport {
    let mut errors = Vec::new();
    let mut summaries = Vec::new();
    let mut parsed: Vec<Vec<Doc>> = Vec::with_capacity(inputs.len());
    for result in input::parse_all(inputs) {
        match result {
            Ok(docs) => parsed.push(docs),
            Err(e) => {
                errors.push(e);
                parsed.push(Vec::new());
            }
        }
    }
    let mut records = Vec::new();
    for (i, docs) in parsed.iter().enumerate() {
        let mut objects = 0;
        for d in docs {
            flatten(d, i, &mut records, &mut objects);
        }
        summaries.push(InputSummary {
            file: inputs[i].name.clone(),
            documents: docs.len(),
            objects,
        });
    }

    let owners: HashMap<Key, Option<(String, String)>> = records
        .iter()
        .filter(|r| !r.is_pod)
        .map(|r| {
            (
                (r.namespace.clone(), r.kind.clone(), r.name.clone()),
                owner(r.meta),
            )
        })
        .collect();

    struct Group {
        workload: Workload,
        names: Vec<String>,
        images: Vec<String>,
    }
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    for rec in &records {
        let (key, inferred, managed_by) = top(rec, &owners);
        let file = &inputs[rec.input].name;
        let g = groups.entry(key.clone()).or_insert_with(|| Group {
            workload: Workload {
                kind: key.1.clone(),
                namespace: key.0.clone(),
                name: key.2.clone(),
                pods: 0,
                inferred,
                managed_by: None,
                file: file.clone(),
                location: None,
                findings: Vec::new(),
            },
            names: vec![key.2.clone()],
            images: Vec::new(),
        });
        let w = &mut g.workload;
        if rec.is_pod {
            w.pods += 1;
            g.names.push(rec.name.clone());
        }
        if managed_by.is_some() {
            w.managed_by = managed_by;
        }
        // The controller's own object locates the workload, else its first pod.
        let is_top = (rec.kind.as_str(), rec.name.as_str()) == (key.1.as_str(), key.2.as_str());
        if is_top || w.location.is_none() {
            if is_top {
                w.inferred = false;
            }
            w.file = file.clone();
            w.location = rec.pos.map(|(line, column)| Location { line, column });
        }
        let Some(spec) = rec.pod_spec else { continue };
        for c in rules::all_containers(spec) {
            if let Some(n) = &c.name {
                g.names.push(n.value.as_str().to_string());
            }
            if let Some(i) = &c.image {
                g.images.push(i.value.as_str().to_string());
            }
        }
        for located in rules::evaluate(spec) {
            let hit = located.hit;
            let f = WorkloadFinding {
                id: hit.id(),
                severity: hit.severity(),
                container: hit.container().map(str::to_string),
                volume: hit.volume().map(str::to_string),
                host_path: hit.host_path().map(str::to_string),
                mount_path: hit.mount_path().map(str::to_string),
                agent: None,
                message: hit.message(),
                remedy: hit.remedy().to_string(),
                link: None,
                file: file.clone(),
                location: located.pos.map(|(line, column)| Location { line, column }),
            };
            // Pods of one controller repeat its template: keep the first of each.
            if !w
                .findings
                .iter()
                .any(|g| g.id == f.id && g.message == f.message)
            {
                w.findings.push(f);
            }
        }
    }

    let mut workloads = Vec::with_capacity(groups.len());
    for (_, mut g) in groups {
        g.names.sort_unstable();
        g.names.dedup();
        g.images.sort_unstable();
        g.images.dedup();
        let names: Vec<&str> = g.names.iter().map(String::as_str).collect();
        let images: Vec<&str> = g.images.iter().map(String::as_str).collect();
        let w = &mut g.workload;
        if let Some(agent) = agents::find(&names, &images) {
            let depends = w.findings.iter().any(|f| f.severity >= Severity::Warning);
            w.findings.push(known_agent(agent, depends, w));
        }
        w.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.id.cmp(&b.id))
                .then(a.container.cmp(&b.container))
        });
        workloads.push(g.workload);
    }

    let mut summary = Summary {
        workloads: workloads.len(),
        pods: workloads.iter().map(|w| w.pods).sum(),
        ..Summary::default()
    };
    for w in &workloads {
        if w.worst().is_some_and(|s| s >= Severity::Warning) {
            summary.affected += 1;
        }
        for f in &w.findings {
            match f.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.infos += 1,
            }
        }
    }
    WorkloadReport {
        schema: WORKLOADS_SCHEMA,
        inputs: summaries,
        errors,
        workloads,
        summary,
    }
}

/// The `known-agent` finding for a workload that matches catalogue entry `agent`.
fn known_agent(agent: &'static agents::Agent, depends: bool, w: &Workload) -> WorkloadFinding {
    let (severity, message) = if agent.docker_only {
        (
            agent.severity,
            format!("{} works with Docker Engine only", agent.product),
        )
    } else if agent.severity == Severity::Info {
        (
            Severity::Info,
            format!("{} needs no change for the runtime switch", agent.product),
        )
    } else if depends {
        (
            agent.severity,
            format!(
                "{} depends on Docker Engine here (see the findings above); its vendor documents the migration",
                agent.product
            ),
        )
    } else {
        (
            Severity::Info,
            format!(
                "{} was found; this manifest does not reach Docker, but check the agent's own configuration against its vendor's migration notes",
                agent.product
            ),
        )
    };
    WorkloadFinding {
        id: FindingId::KnownAgent,
        severity,
        container: None,
        volume: None,
        host_path: None,
        mount_path: None,
        agent: Some(agent.id),
        message,
        remedy: agent.remedy.to_string(),
        link: Some(agent.link),
        file: w.file.clone(),
        location: w.location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, s: &str) -> Input {
        Input {
            name: name.into(),
            bytes: s.as_bytes().to_vec(),
        }
    }

    const POD: &str = r#"{"kind":"Pod","metadata":{"name":"NAME","namespace":"mon","labels":{"pod-template-hash":"5d7c9"},"ownerReferences":[{"kind":"ReplicaSet","name":"agent-5d7c9","controller":true}]},"spec":{"containers":[{"name":"a","volumeMounts":[{"name":"s","mountPath":"/var/run/docker.sock"}]}],"volumes":[{"name":"s","hostPath":{"path":"/var/run/docker.sock"}}]}}"#;

    #[test]
    fn pods_of_one_deployment_are_one_workload() {
        let list = format!(
            r#"{{"kind":"List","items":[{},{}]}}"#,
            POD.replace("NAME", "agent-5d7c9-abcde"),
            POD.replace("NAME", "agent-5d7c9-fghij")
        );
        let r = scan(&[input("-", &list)]);
        assert_eq!(r.workloads.len(), 1, "{:#?}", r.workloads);
        let w = &r.workloads[0];
        assert_eq!(
            (w.kind.as_str(), w.name.as_str(), w.pods, w.inferred),
            ("Deployment", "agent", 2, true)
        );
        assert_eq!(w.findings.len(), 1);
        assert_eq!(w.findings[0].id, FindingId::DockerSocketMount);
        assert_eq!(r.summary.affected, 1);
    }

    #[test]
    fn owners_in_the_input_are_followed() {
        let rs = r#"{"kind":"ReplicaSet","metadata":{"name":"agent-5d7c9","namespace":"mon","ownerReferences":[{"kind":"Deployment","name":"agent-x","controller":true}]},"spec":{"template":{"spec":{}}}}"#;
        let ds = r#"{"kind":"DaemonSet","metadata":{"name":"oa","namespace":"mon","ownerReferences":[{"kind":"OneAgent","name":"oneagent","controller":true}]},"spec":{"template":{"spec":{}}}}"#;
        let r = scan(&[input(
            "-",
            &format!("{rs}\n{}\n{ds}", POD.replace("NAME", "p1")),
        )]);
        let names: Vec<_> = r
            .workloads
            .iter()
            .map(|w| (w.display_name(), w.pods, w.inferred, w.managed_by.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "mon/DaemonSet/oa".to_string(),
                    0,
                    false,
                    Some("OneAgent/oneagent".to_string())
                ),
                ("mon/Deployment/agent-x".to_string(), 1, false, None),
            ]
        );
    }

    #[test]
    fn kinds_and_lists() {
        let y = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: prune}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: p\n            image: docker:27-cli\n            command: [docker, system, prune, -af]\n          volumes: []\n---\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n---\n# only a comment\n";
        let r = scan(&[input("m.yaml", y)]);
        assert_eq!(r.inputs[0].objects, 2);
        assert_eq!(r.workloads.len(), 1);
        let f = &r.workloads[0].findings[0];
        assert_eq!(f.id, FindingId::DockerCliInCommand);
        assert_eq!(
            f.location,
            Some(Location {
                line: 12,
                column: 23
            })
        );
    }

    #[test]
    fn a_bad_input_does_not_lose_the_others() {
        let r = scan(&[
            input("bad.yaml", "kind: [\n"),
            input("good.json", &POD.replace("NAME", "p")),
        ]);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].file, "bad.yaml");
        assert_eq!(r.workloads.len(), 1);
    }
}

//! Many nodes at once: node trees (directories, as `--root` reads them) and collections
//! (`cni-fix collect` archives), checked in parallel by a bounded number of threads, each
//! report handed over in input order as soon as it and those before it are done, and a
//! [`Tally`] per finding id across nodes.
//!
//! Memory stays flat as the number of nodes grows: at most a few reports per thread are held
//! at any time, and a tally keeps counts, not reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex, PoisonError};

use serde::Serialize;

use crate::collect::CollectedNode;
use crate::finding::{FindingId, Severity};
use crate::report::Report;
use crate::snapshot::CheckOptions;

/// How to check many nodes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanOptions {
    /// The check of each node; its `root` is replaced by each input. For a collection, what
    /// these options leave unset is taken from the options it was collected with.
    pub check: CheckOptions,
    /// How many nodes are checked at once (at least 1).
    pub jobs: usize,
}

impl ScanOptions {
    /// Check each node as `check` says, as many at once as the machine has cores.
    pub fn new(check: CheckOptions) -> ScanOptions {
        ScanOptions {
            check,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// One node's result.
#[derive(Debug)]
#[non_exhaustive]
pub struct NodeOutcome {
    /// Its place among the inputs, from 0.
    pub index: usize,
    /// The input: a node tree or a collection.
    pub input: PathBuf,
    /// `dir` or `collection`.
    pub kind: &'static str,
    /// The host name a collection recorded.
    pub hostname: Option<String>,
    /// Its report, or why it could not be checked.
    pub result: Result<Report, String>,
}

/// Check one input: a directory is a node tree, anything else a collection archive.
pub fn check_input(
    input: &Path,
    check: &CheckOptions,
) -> (&'static str, Option<String>, Result<Report, String>) {
    if std::fs::metadata(input).is_ok_and(|m| m.is_dir()) {
        let mut o = check.clone();
        o.root = input.to_path_buf();
        return ("dir", None, crate::check(&o).map_err(|e| e.to_string()));
    }
    let node = match CollectedNode::open(input) {
        Ok(n) => n,
        Err(e) => return ("collection", None, Err(e.to_string())),
    };
    let hostname = node.manifest().hostname.clone();
    let result = node
        .options_over(check)
        .map_err(|e| e.to_string())
        .and_then(|o| node.check(&o).map_err(|e| e.to_string()));
    ("collection", hostname, result)
}

/// Check every input, `options.jobs` at a time, calling `each` with each outcome in input
/// order (on the calling thread). A worker runs ahead of the oldest unfinished node by at most
/// a few nodes, so that one slow node does not make the others pile up in memory.
pub fn scan(inputs: &[PathBuf], options: &ScanOptions, mut each: impl FnMut(NodeOutcome)) {
    let jobs = options.jobs.clamp(1, inputs.len().max(1));
    let window = jobs * 4;
    let next = AtomicUsize::new(0);
    let emitted = (Mutex::new(0usize), Condvar::new());
    let (tx, rx) = mpsc::channel::<NodeOutcome>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, emitted) = (&next, &emitted);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(input) = inputs.get(i) else { break };
                {
                    let (lock, cv) = emitted;
                    let mut done = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    while i >= *done + window {
                        done = cv.wait(done).unwrap_or_else(PoisonError::into_inner);
                    }
                }
                let (kind, hostname, result) = check_input(input, &options.check);
                let outcome = NodeOutcome {
                    index: i,
                    input: input.clone(),
                    kind,
                    hostname,
                    result,
                };
                if tx.send(outcome).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, NodeOutcome> = BTreeMap::new();
        let mut want = 0;
        for outcome in rx {
            pending.insert(outcome.index, outcome);
            while let Some(o) = pending.remove(&want) {
                each(o);
                want += 1;
                let (lock, cv) = &emitted;
                *lock.lock().unwrap_or_else(PoisonError::into_inner) = want;
                cv.notify_all();
            }
        }
    });
}

/// A node's verdict, as `check`'s exit status gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No finding reached the threshold.
    Ok,
    /// A finding reached the threshold.
    Problem,
    /// The node could not be checked, or not completely.
    Unknown,
}

impl Verdict {
    /// The verdict of an outcome with `threshold` (`None`: never fail).
    pub fn of(result: &Result<Report, String>, threshold: Option<Severity>) -> Verdict {
        match result {
            Err(_) => Verdict::Unknown,
            Ok(r) if !r.incomplete.is_empty() => Verdict::Unknown,
            Ok(r) if threshold.is_some_and(|t| r.fails(t)) => Verdict::Problem,
            Ok(_) => Verdict::Ok,
        }
    }

    /// Its name: `ok`, `problem` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Problem => "problem",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One finding id across the nodes.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct IdTally {
    /// The finding id.
    pub id: FindingId,
    /// The most severe it was on any node.
    pub severity: Severity,
    /// On how many nodes it was found.
    pub nodes: usize,
    /// How many times in all.
    pub occurrences: usize,
}

/// Counts across nodes: verdicts, and per finding id the nodes it was found on.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Tally {
    /// Nodes seen.
    pub nodes: usize,
    /// Nodes whose verdict is `ok`.
    pub ok: usize,
    /// Nodes whose verdict is `problem`.
    pub problem: usize,
    /// Nodes that could not be checked, or not completely.
    pub unknown: usize,
    /// Nodes that could not be checked at all.
    pub not_checked: usize,
    /// Per finding id, most widespread first.
    #[serde(serialize_with = "ser_ids")]
    pub findings: BTreeMap<FindingId, IdTally>,
}

fn ser_ids<S: serde::Serializer>(
    ids: &BTreeMap<FindingId, IdTally>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(Tally::ranked_of(ids))
}

impl Tally {
    /// Count one node.
    pub fn add(&mut self, result: &Result<Report, String>, verdict: Verdict) {
        self.nodes += 1;
        match verdict {
            Verdict::Ok => self.ok += 1,
            Verdict::Problem => self.problem += 1,
            Verdict::Unknown => self.unknown += 1,
        }
        let Ok(report) = result else {
            self.not_checked += 1;
            return;
        };
        let mut seen: Vec<FindingId> = Vec::new();
        for f in &report.findings {
            let t = self.findings.entry(f.id).or_insert(IdTally {
                id: f.id,
                severity: f.severity,
                nodes: 0,
                occurrences: 0,
            });
            t.occurrences += 1;
            t.severity = t.severity.max(f.severity);
            if !seen.contains(&f.id) {
                seen.push(f.id);
                t.nodes += 1;
            }
        }
    }

    /// The ids, most severe first, then on the most nodes, then by name.
    pub fn ranked(&self) -> Vec<&IdTally> {
        Tally::ranked_of(&self.findings)
    }

    fn ranked_of(ids: &BTreeMap<FindingId, IdTally>) -> Vec<&IdTally> {
        let mut v: Vec<&IdTally> = ids.values().collect();
        v.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.nodes.cmp(&a.nodes))
                .then(a.id.as_str().cmp(b.id.as_str()))
        });
        v
    }
}

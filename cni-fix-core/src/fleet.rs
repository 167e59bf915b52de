//! Many nodes at once: node trees (directories, as `--root` reads them) and collections
//! (`cni-fix collect` archives), checked in parallel by a bounded number of threads, each
//! report handed over in input order as soon as it and those before it are done, and a
//! [`Tally`] per finding id across nodes.
//!
//! Memory stays flat as the number of nodes grows: at most a few reports per thread are held
//! at any time, and a tally keeps counts, not reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
///
/// The inputs are taken from the iterator only as workers are free, so a list of nodes read
/// as it is checked (from a file or a pipe) is never held whole: memory does not grow with the
/// number of nodes.
pub fn scan<I>(inputs: I, options: &ScanOptions, mut each: impl FnMut(NodeOutcome))
where
    I: IntoIterator<Item = PathBuf>,
    I::IntoIter: Send,
{
    let inputs = inputs.into_iter();
    let most = inputs.size_hint().1.unwrap_or(usize::MAX);
    let jobs = options.jobs.clamp(1, most.max(1));
    let window = jobs * 4;
    // The next input and its index; taken under the lock, so indexes follow input order.
    let source = Mutex::new((0usize, inputs));
    let progress = Progress {
        state: Mutex::new((0, false)),
        changed: Condvar::new(),
    };
    let (tx, rx) = mpsc::channel::<NodeOutcome>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (source, progress) = (&source, &progress);
            s.spawn(move || {
                // A worker that panics stops the others, which would wait for it forever.
                let _stop = StopOnDrop(progress);
                loop {
                    let (i, input) = {
                        let mut next = source.lock().unwrap_or_else(PoisonError::into_inner);
                        let Some(input) = next.1.next() else { break };
                        next.0 += 1;
                        (next.0 - 1, input)
                    };
                    if !progress.wait_for(i, window) {
                        break;
                    }
                    let (kind, hostname, result) = check_input(&input, &options.check);
                    let outcome = NodeOutcome {
                        index: i,
                        input,
                        kind,
                        hostname,
                        result,
                    };
                    if tx.send(outcome).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // When `each` panics, the workers are stopped before the scope waits for them.
        let _stop = StopOnDrop(&progress);
        let mut pending: BTreeMap<usize, NodeOutcome> = BTreeMap::new();
        let mut want = 0;
        for outcome in rx {
            pending.insert(outcome.index, outcome);
            while let Some(o) = pending.remove(&want) {
                each(o);
                want += 1;
                progress.emitted(want);
            }
        }
    });
}

/// How many outcomes have been handed out, and whether the scan is stopping.
struct Progress {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Progress {
    /// Wait until input `i` is within `window` of the oldest outcome not handed out yet;
    /// false when the scan is stopping.
    fn wait_for(&self, i: usize, window: usize) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !state.1 && i >= state.0 + window {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        !state.1
    }

    fn emitted(&self, n: usize) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0 = n;
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.changed.notify_all();
    }
}

/// Stops the scan when dropped by a panic.
struct StopOnDrop<'a>(&'a Progress);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Inputs are pulled as workers are free: never more than the window and one per worker
    /// ahead of the node being handed out, so a long list is never held whole.
    #[test]
    fn inputs_are_taken_as_they_are_checked() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&pulled);
        let inputs = (0..300).map(move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            PathBuf::from(format!("/nonexistent/cni-fix-scan-test/{i}"))
        });
        for jobs in [1, 3] {
            pulled.store(0, Ordering::SeqCst);
            let options = ScanOptions {
                check: CheckOptions::default(),
                jobs,
            };
            let mut seen = 0;
            scan(inputs.clone(), &options, |o| {
                assert_eq!(o.index, seen);
                assert!(o.result.is_err());
                let ahead = pulled.load(Ordering::SeqCst);
                assert!(
                    ahead <= o.index + 1 + jobs * 4 + jobs,
                    "{ahead} inputs taken when node {} is handed out ({jobs} jobs)",
                    o.index
                );
                seen += 1;
            });
            assert_eq!(seen, 300);
        }
    }

    /// A panic in `each` reaches the caller: the workers waiting for the window are stopped,
    /// not left waiting forever.
    #[test]
    fn a_panic_in_each_stops_the_workers() {
        let inputs = (0..100).map(|i| PathBuf::from(format!("/nonexistent/cni-fix-scan-test/{i}")));
        let options = ScanOptions {
            check: CheckOptions::default(),
            jobs: 2,
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scan(inputs, &options, |o| {
                if o.index == 3 {
                    panic!("the caller's own panic");
                }
            })
        }));
        assert!(caught.is_err());
    }
}

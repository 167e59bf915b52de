//! A check handed over a part at a time, so that its memory does not grow with the conf dir.
//!
//! [`check_each`] gives the findings [`crate::check`] gives, in the same order, as a series of
//! [`Event`]s: the node, then each conf dir file with the findings about it, then the findings
//! about the node and the counts. It reads the conf dir in the runtime's order and holds the
//! files only up to the point where the runtime's load is settled (for containerd, its first
//! `max_conf_num` networks; for a Docker Engine shim, the network it uses); every later file
//! is read, checked and handed over a window at a time, then dropped. What it keeps of a conf
//! dir of any size is its sorted listing of names, which the runtime's own libcni keeps too.
//!
//! The load is settled only once the conf dir is read whole when containerd loads every
//! network (`max_conf_num` 0) or when no network is valid; then the files are held as
//! [`crate::check`] holds them.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use crate::finding::Finding;
use crate::report::{self, FileReport, NodeReport, PluginReport, Summary, UnreadReport};
use crate::snapshot::{CheckError, CheckOptions, Snapshot};
use crate::source::{NodeSource, Prober};

/// The schema identifier of a streamed check's events in JSON, one object per line.
pub const STREAM_SCHEMA: &str = "cni-fix.check-stream/v1";

/// The fewest file events held back while a finding about the oldest may still come.
const HELD_AT_LEAST: usize = 64;

/// How many conf dir files [`check_each`] reads at a time, by default. It is also how many
/// file events wait behind one whose finding is not settled yet (a shadowed network is named
/// on its own or not depending on the shadowed networks after it), and at least 64.
pub const DEFAULT_WINDOW: usize = 512;

/// One part of a streamed check, in the order they come.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// First: the node's settings and the plugins the loaded networks and loopback need.
    Start {
        /// Always [`STREAM_SCHEMA`].
        schema: &'static str,
        /// The node's settings as cni-fix found them.
        node: Box<NodeReport>,
        /// The plugins the loaded networks and loopback need.
        plugins: Vec<PluginReport>,
    },
    /// A conf dir file, in the report's order (the loaded networks first, then the rest in the
    /// order the runtime reads them), with the findings about it, most severe first.
    File {
        /// The file.
        file: FileReport,
        /// The findings about it.
        findings: Vec<Finding>,
    },
    /// Last: the findings about the node rather than one conf dir file (among them the shadowed
    /// networks named together); the counts of every finding; what cni-fix could not read.
    /// A finding about a file that waited on more files than the events held back (see
    /// [`DEFAULT_WINDOW`]) comes here too, with its `file`.
    End {
        /// The findings not handed over with a file, most severe first within files and then
        /// within the node.
        findings: Vec<Finding>,
        /// Counts by severity of every finding of the check.
        summary: Summary,
        /// What the runtime reads but cni-fix could not: when not empty, the check is
        /// incomplete and its verdict unknown.
        incomplete: Vec<UnreadReport>,
    },
}

/// Why a streamed check stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The check could not start.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The receiver of the events failed (for example, its output closed).
    #[error("handing over the check's events: {0}")]
    Sink(std::io::Error),
}

/// Check a node as [`crate::check`] does, handing each [`Event`] to `sink` as it is ready;
/// an error from `sink` stops the check.
pub fn check_each(
    options: &CheckOptions,
    sink: impl FnMut(Event) -> std::io::Result<()>,
) -> Result<(), StreamError> {
    check_each_from(
        options,
        crate::snapshot::open_root(options)?,
        &crate::source::SystemProber,
        DEFAULT_WINDOW,
        sink,
    )
}

/// [`check_each`] over any node source, asking `prober`, reading `window` conf dir files at a
/// time (at least one): a larger window reads on more cores at once and holds more files.
pub fn check_each_from(
    options: &CheckOptions,
    node: Arc<dyn NodeSource>,
    prober: &dyn Prober,
    window: usize,
    mut sink: impl FnMut(Event) -> std::io::Result<()>,
) -> Result<(), StreamError> {
    let window = window.max(1);
    let (mut snap, mut rest) = Snapshot::gather_settled(options, node, prober, window)?;
    let (mut rules, mut found) = crate::rules::Stream::start(&snap);
    // The findings about the files read so far go with them, in the report's order; the rest
    // wait for the end.
    let order = report::file_order(&snap);
    report::in_report_order(&snap, &order, &mut found);
    let mut found = found.into_iter().peekable();
    sink(Event::Start {
        schema: STREAM_SCHEMA,
        node: Box::new(NodeReport::of(&snap)),
        plugins: PluginReport::needed(&snap),
    })
    .map_err(StreamError::Sink)?;
    let mut out = Outbox {
        sink,
        summary: Summary::default(),
        held: VecDeque::new(),
        end: Vec::new(),
        limit: window.max(HELD_AT_LEAST),
    };
    // The rules need no more of these files than their paths and times: each network is
    // moved into its event.
    for i in order {
        let file = FileReport::take(&mut snap.files[i]);
        let mut findings = Vec::new();
        while let Some(f) = found.next_if(|f| f.file.as_ref() == Some(&file.path)) {
            findings.push(f);
        }
        out.hold(file, findings);
        out.release(|p| rules.pending(p))?;
    }
    out.end.extend(found);
    let mut incomplete: Vec<UnreadReport> = snap.incomplete.iter().map(UnreadReport::of).collect();
    while rest.len() > 0 {
        let (files, unread) = snap.read_later(rest.by_ref().take(window));
        incomplete.extend(unread.iter().map(UnreadReport::of));
        for mut f in files {
            let ownership = crate::snapshot::file_ownership(snap.node.as_ref(), &f);
            let path = f.display();
            let (own, earlier): (Vec<Finding>, Vec<Finding>) = rules
                .file(&snap, &f, ownership.as_ref())
                .into_iter()
                .partition(|found| found.file.as_deref() == Some(path.as_str()));
            for e in earlier {
                out.attach(e);
            }
            out.hold(FileReport::take(&mut f), own);
            out.release(|p| rules.pending(p))?;
        }
    }
    for f in rules.finish(&snap) {
        out.attach(f);
    }
    out.release(|_| false)?;
    out.finish(incomplete)
}

/// The events on their way out: a file's event waits while a finding about it may still come
/// (a shadowed network named on its own once the files after it are read), and the ones after
/// it wait behind it, up to `limit` of them; past that, the oldest goes out, and a finding
/// about it that comes later goes to the end.
struct Outbox<S> {
    sink: S,
    summary: Summary,
    held: VecDeque<(FileReport, Vec<Finding>)>,
    end: Vec<Finding>,
    limit: usize,
}

impl<S: FnMut(Event) -> std::io::Result<()>> Outbox<S> {
    fn hold(&mut self, file: FileReport, findings: Vec<Finding>) {
        self.held.push_back((file, findings));
    }

    /// A finding about a file already read: with its event if it is still held, else at the
    /// end.
    fn attach(&mut self, f: Finding) {
        let held = self
            .held
            .iter_mut()
            .rev()
            .find(|(file, _)| f.file.as_ref() == Some(&file.path));
        match held {
            Some((_, findings)) => findings.push(f),
            None => self.end.push(f),
        }
    }

    /// Send the held events from the oldest on, up to the first one `pending` says may still
    /// get a finding (unless more than `limit` are held).
    fn release(&mut self, pending: impl Fn(&str) -> bool) -> Result<(), StreamError> {
        while let Some((file, _)) = self.held.front() {
            if self.held.len() <= self.limit && pending(&file.path) {
                break;
            }
            if let Some((file, mut findings)) = self.held.pop_front() {
                findings.sort_by_key(report::within_file);
                for f in &findings {
                    self.summary.count(f);
                }
                (self.sink)(Event::File { file, findings }).map_err(StreamError::Sink)?;
            }
        }
        Ok(())
    }

    fn finish(mut self, incomplete: Vec<UnreadReport>) -> Result<(), StreamError> {
        // As the report orders them: findings about a file, then about the node; the most
        // severe first within each.
        self.end
            .sort_by_key(|f| (f.file.is_none(), report::within_file(f)));
        for f in &self.end {
            self.summary.count(f);
        }
        (self.sink)(Event::End {
            findings: self.end,
            summary: self.summary,
            incomplete,
        })
        .map_err(StreamError::Sink)
    }
}

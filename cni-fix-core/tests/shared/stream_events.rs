//! A streamed check's events gathered into the JSON of the report they hold, checking on the
//! way that they come in order: one start, the files (each with findings about it alone, most
//! severe first), one end, nothing after it.

use std::sync::Arc;

use cni_fix_core::source::{NodeSource, Prober};
use cni_fix_core::stream::{self, Event};
use cni_fix_core::CheckOptions;

/// The events of `check_each_from` gathered into a report's JSON, its root left out.
pub fn gather(
    options: &CheckOptions,
    node: Arc<dyn NodeSource>,
    prober: &dyn Prober,
    window: usize,
) -> serde_json::Value {
    let mut start = None;
    let mut files = Vec::new();
    let mut findings = Vec::new();
    let mut end = None;
    stream::check_each_from(options, node, prober, window, |e| {
        assert!(end.is_none(), "an event after the end: {e:?}");
        match e {
            Event::Start { node, plugins, .. } => {
                assert!(start.is_none() && files.is_empty(), "a second start");
                start = Some((node, plugins));
            }
            Event::File {
                file,
                findings: found,
            } => {
                assert!(start.is_some(), "a file before the start");
                for f in &found {
                    assert_eq!(f.file.as_deref(), Some(file.path.as_str()), "{f:?}");
                }
                assert!(
                    found.windows(2).all(|w| w[0].severity >= w[1].severity),
                    "most severe first: {found:?}"
                );
                files.push(file);
                findings.extend(found);
            }
            Event::End {
                findings: found,
                summary,
                incomplete,
            } => {
                findings.extend(found);
                end = Some((summary, incomplete));
            }
            other => panic!("an event this test does not know: {other:?}"),
        }
        Ok(())
    })
    .unwrap();
    let (node, plugins) = start.expect("a start");
    let (summary, incomplete) = end.expect("an end");
    let mut v = serde_json::json!({
        "schema": cni_fix_core::SCHEMA,
        "node": node,
        "files": files,
        "plugins": plugins,
        "findings": findings,
        "summary": summary,
        "incomplete": incomplete,
    });
    v["node"]["root"] = serde_json::Value::Null;
    v
}

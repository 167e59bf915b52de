//! go-cni's load of the conf dir: which networks containerd loads, and where it stops.

use crate::node::display_path;
use crate::snapshot::FileStatus;
use crate::snapshot::Snapshot;

/// How containerd's load of the conf dir ends.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// Indexes into [`Snapshot::files`] of the networks containerd loads, in order.
    pub loaded: Vec<usize>,
    /// The file at which loading stopped with an error, if any.
    pub aborted_at: Option<usize>,
    /// go-cni's error when nothing loads.
    pub error: Option<String>,
    /// The networks checked by the network rules: the loaded ones, or when an invalid file
    /// stops the load, the ones containerd would load once invalid files are removed.
    pub active: Vec<usize>,
}

impl Snapshot {
    /// go-cni's `loadFromConfDir` over the listed files.
    pub(super) fn simulate_load(&mut self) {
        // Files cni-fix could not read are left out: the report is incomplete, and says so.
        let loadable: Vec<usize> = (0..self.files.len())
            .filter(|&i| {
                self.files[i].form().is_some() && self.files[i].status != FileStatus::Unread
            })
            .collect();
        let max = self.max_conf_num;
        let full = |n: usize| max > 0 && n as i64 >= max;
        let mut loaded = Vec::new();
        let mut aborted_at = None;
        for &i in &loadable {
            if full(loaded.len()) {
                break;
            }
            match self.files[i].parsed() {
                Some(Ok(_)) => loaded.push(i),
                _ => {
                    aborted_at = Some(i);
                    break;
                }
            }
        }
        for &i in &loadable {
            self.files[i].status = match self.files[i].parsed() {
                Some(Ok(_)) if aborted_at.is_none() && loaded.contains(&i) => FileStatus::Loaded,
                Some(Ok(_)) => FileStatus::Shadowed,
                _ => FileStatus::Invalid,
            };
        }
        let mut active = Vec::new();
        for &i in &loadable {
            if full(active.len()) {
                break;
            }
            if self.files[i].network().is_some() {
                active.push(i);
            }
        }
        let error = if let Some(i) = aborted_at {
            self.files[i]
                .parsed()
                .and_then(|p| p.err())
                .map(|p| p.load_error.clone())
        } else if let Some(e) = &self.conf_dir_error {
            Some(format!(
                "failed to read config file: {e}: failed to read config file"
            ))
        } else if loaded.is_empty()
            && !self
                .incomplete
                .iter()
                .any(|u| u.what == "conf dir" || u.what == "config file")
        {
            Some(format!(
                "no network config found in {}: cni plugin not initialized",
                display_path(&self.conf_dir)
            ))
        } else {
            None
        };
        if aborted_at.is_some() {
            loaded.clear();
        }
        self.load = LoadOutcome {
            loaded,
            aborted_at,
            error,
            active,
        };
    }
}

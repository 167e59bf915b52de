//! The runtime's load of the conf dir: go-cni's for containerd (which networks it loads, and
//! where it stops), and dockershim's for cri-dockerd and dockershim (the first valid network).

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
    /// stops the load, the ones containerd would load once invalid files are removed; under
    /// dockershim's load, the networks up to the one it uses (or all, when none is valid).
    pub active: Vec<usize>,
    /// Under dockershim's load, the valid networks it skips because a plugin is missing or
    /// does not list the network's version, with libcni's reason.
    pub rejected: Vec<(usize, String)>,
}

impl Snapshot {
    /// Files cni-fix could read that the runtime lists; the ones cni-fix could not read are
    /// left out: the report is incomplete, and says so.
    fn loadable(&self) -> Vec<usize> {
        (0..self.files.len())
            .filter(|&i| {
                self.files[i].form().is_some() && self.files[i].status != FileStatus::Unread
            })
            .collect()
    }

    /// The runtime's load over the listed files: go-cni's `loadFromConfDir`, or the first half
    /// of dockershim's (see [`Snapshot::settle_first_valid`]).
    pub(super) fn simulate_load(&mut self) {
        if self.runtime.effective().line.loads_first_valid() {
            self.start_first_valid();
            return;
        }
        let loadable = self.loadable();
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
            rejected: Vec::new(),
        };
    }
}

impl Snapshot {
    /// dockershim's `getDefaultCNINetwork`, before plugins are known: files libcni rejects are
    /// skipped; every valid network is a candidate, so that its plugins are looked up.
    fn start_first_valid(&mut self) {
        let loadable = self.loadable();
        let mut active = Vec::new();
        for &i in &loadable {
            self.files[i].status = match self.files[i].parsed() {
                Some(Ok(_)) => {
                    active.push(i);
                    FileStatus::Shadowed
                }
                _ => FileStatus::Invalid,
            };
        }
        self.load = LoadOutcome {
            active,
            ..LoadOutcome::default()
        };
    }

    /// The rest of dockershim's load, once plugins are known: the first candidate whose
    /// plugins are all found and list its version (`ValidateNetworkList`) is the network; the
    /// ones before it are skipped, the ones after it never read. A plugin whose versions
    /// cni-fix does not know is taken to pass (its own finding says so).
    pub(super) fn settle_first_valid(&mut self) {
        let candidates = std::mem::take(&mut self.load.active);
        let mut active = Vec::new();
        let mut rejected = Vec::new();
        let mut loaded = None;
        for &i in &candidates {
            active.push(i);
            match self.validate_network_list(i) {
                Ok(()) => {
                    loaded = Some(i);
                    break;
                }
                Err(reason) => {
                    self.files[i].status = FileStatus::Skipped;
                    rejected.push((i, reason));
                }
            }
        }
        if let Some(l) = loaded {
            self.files[l].status = FileStatus::Loaded;
        }
        let error = if let Some(e) = &self.conf_dir_error {
            Some(e.clone())
        } else if loaded.is_some()
            || self
                .incomplete
                .iter()
                .any(|u| u.what == "conf dir" || u.what == "config file")
        {
            None
        } else if self.loadable().is_empty() {
            Some(format!(
                "no networks found in {}",
                display_path(&self.conf_dir)
            ))
        } else {
            Some(format!(
                "no valid networks found in {}",
                display_path(&self.conf_dir)
            ))
        };
        self.load = LoadOutcome {
            loaded: loaded.into_iter().collect(),
            aborted_at: None,
            error,
            active,
            rejected,
        };
        let needed = self.needed_plugins();
        for p in &mut self.plugins {
            p.needed = needed.contains_key(&p.plugin_type);
        }
    }

    /// libcni's `ValidateNetworkList` for the network in `files[i]`: every plugin of its list
    /// found in the plugin directories and listing its version (0.1.0 when it has none); the
    /// error is libcni's, as the shim logs it.
    fn validate_network_list(&self, i: usize) -> Result<(), String> {
        let Some(net) = self.files[i].network() else {
            return Err("invalid".to_string());
        };
        let version = if net.cni_version.is_empty() {
            crate::spec::IMPLICIT_VERSION
        } else {
            net.cni_version.as_str()
        };
        let mut errs = Vec::new();
        for p in &net.plugins {
            let info = self.plugin(&p.plugin_type);
            match info {
                Some(info) if info.path.is_some() => {
                    if let Some(list) = info.supported() {
                        if !list.iter().any(|s| s == version) {
                            errs.push(format!(
                                "plugin {} does not support config version {version:?}",
                                p.plugin_type
                            ));
                        }
                    }
                }
                _ => errs.push(self.find_in_path_error(&p.plugin_type)),
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(format!("[{}]", errs.join(" ")))
        }
    }
}

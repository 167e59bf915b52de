//! cni-fix finds the CNI configuration problems that break Kubernetes nodes when their
//! container runtime changes: the dockershim removal, upgrades to containerd 1.6 and later,
//! old CNI plugin binaries left on nodes.
//!
//! It reads a node the way containerd does (containerd's config, the conf dir in go-cni's
//! order with libcni's parsing rules, the plugin binaries in the plugin directories), knows
//! what each containerd release does with CNI configs, and reports each problem as a
//! [`Finding`] with a stable [`FindingId`], the error text the runtime will print, and the
//! remedy.
//!
//! # Example
//!
//! Check a node tree copied from a broken node, telling cni-fix which containerd it runs
//! and which plugins release its binaries come from:
//!
//! ```
//! use cni_fix_core::{check, CheckOptions, ContainerdVersion, FindingId, PluginsRelease, Severity};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let root = tmp.path();
//! # std::fs::create_dir_all(root.join("etc/cni/net.d"))?;
//! # std::fs::create_dir_all(root.join("opt/cni/bin"))?;
//! # for p in ["bridge", "host-local", "loopback", "portmap"] {
//! #     std::fs::write(root.join("opt/cni/bin").join(p), "")?;
//! #     std::os::unix::fs::PermissionsExt::set_mode(
//! #         &mut std::fs::metadata(root.join("opt/cni/bin").join(p))?.permissions(), 0o755);
//! #     let f = root.join("opt/cni/bin").join(p);
//! #     std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
//! # }
//! # std::fs::write(root.join("etc/cni/net.d/10-containerd-net.conflist"),
//! #     r#"{"cniVersion":"1.0.0","name":"containerd-net","plugins":[{"type":"bridge","ipam":{"type":"host-local"}},{"type":"portmap"}]}"#)?;
//! let options = CheckOptions::for_root(root)
//!     .containerd_version(ContainerdVersion::parse("1.6.3")?)
//!     .assume_plugins_release(PluginsRelease::parse("0.9.1")?);
//! let report = check(&options)?;
//!
//! // Plugins v0.9.1 stop at spec 0.4.0, and containerd 1.6.3's loopback network is 1.0.0.
//! assert!(report.findings.iter().any(|f| f.id == FindingId::IncompatibleVersion));
//! assert!(report.findings.iter().any(|f| f.id == FindingId::LoopbackIncompatible));
//! assert!(report.fails(Severity::Error));
//! # Ok(())
//! # }
//! ```
//!
//! # The flow
//!
//! - [`Snapshot::gather`] reads a node on disk; [`Snapshot::gather_from`] reads any
//!   [`source::NodeSource`] (such as an in-memory [`source::MemNode`]) with any
//!   [`source::Prober`], for agents that hold the files already and for tests.
//! - [`rules::evaluate`] turns a snapshot into [`Finding`]s; a finding that a cniVersion change
//!   fixes carries its [`Fix`] and its [`Applicability`].
//! - [`Report::new`] (or [`check`], all three steps) builds the report, whose JSON form is the
//!   schema [`SCHEMA`].
//! - [`rewrite::plan`] groups the findings' fixes by file into a plan, without writing;
//!   [`write::apply`] carries it out (atomic writes, backups with a manifest), and
//!   [`write::plan_restore`] / [`write::apply_restore`] undo it.
//!
//! The pieces can be used on their own: [`conf`] parses config files exactly as libcni does,
//! [`json`] reads JSON as Go's `encoding/json` does, [`containerd_config`] reads containerd's
//! config as each release does, [`runtime`] knows containerd releases, [`plugins_release`]
//! knows containernetworking/plugins releases, [`static_probe`] reads a plugin's versions from
//! its binary, and [`quote`] shows untrusted names safely.
//!
//! [`workloads`] reads Kubernetes objects (kubectl output, manifests) and finds the pods and
//! agents that depend on Docker Engine.
//!
//! The library never prints. Only [`write`](mod@write) writes files, and only when asked to.

#![deny(missing_docs)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod chain;
pub mod collect;
pub mod conf;
pub mod containerd_config;
pub mod edit;
pub mod export;
pub mod finding;
mod fix;
pub mod fleet;
pub mod generate;
pub mod json;
pub mod kubelet;
mod libcni;
pub mod node;
pub mod plugins_release;
pub mod probe;
pub mod quote;
pub mod registry_hosts;
pub mod report;
pub mod rewrite;
pub mod rules;
pub mod runtime;
pub mod shim;
pub mod snapshot;
pub mod source;
pub mod spec;
pub mod static_probe;
pub mod stream;
pub mod systemd;
pub mod verify;
pub mod workloads;
pub mod write;

pub use finding::{Finding, FindingId, Location, Repair, Scope, Severity};
pub use fix::{Applicability, Fix, TargetError};
pub use plugins_release::PluginsRelease;
pub use report::{check, Report, SCHEMA};
pub use runtime::ContainerdVersion;
pub use snapshot::{CheckError, CheckOptions, ProbeMode, Snapshot};
pub use spec::SpecVersion;

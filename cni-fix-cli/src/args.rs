//! Command-line arguments, and their validation into the core's options.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cni_fix_core::{
    CheckOptions, ContainerdVersion, FindingId, PluginsRelease, ProbeMode, Severity,
};

/// Find and repair the CNI configuration problems that break Kubernetes nodes when their
/// container runtime changes.
#[derive(Debug, Parser)]
#[command(name = "cni-fix", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Diagnose a node's CNI setup against its runtime and its plugins.
    ///
    /// Exit status: 0 when no finding reaches --fail-on, 1 when one does, 2 when the check
    /// could not run (node-problem-detector's custom plugin convention).
    Check(CheckArgs),
    /// Explain a finding id: cause, affected runtime versions, symptoms, remedy, references.
    ///
    /// Without an id, list every id.
    Explain {
        /// A finding id, for example missing-version.
        id: Option<String>,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Grouped by file, for people.
    Human,
    /// One JSON object (schema cni-fix.check/v1), for programs.
    Json,
}

/// The severity that makes the exit status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warning,
    /// Never: exit 0 whatever is found.
    Never,
}

/// How plugin versions are learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Probe {
    /// Run each plugin with CNI_COMMAND=VERSION.
    Exec,
    /// Run nothing.
    None,
}

/// When to colour human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Arguments of `cni-fix check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Read the node under DIR (for example a tree copied from a broken node). Reports show
    /// node paths, without this prefix.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// containerd's config, a node path.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/containerd/config.toml"
    )]
    pub containerd_config: PathBuf,

    /// The CNI conf dir (node path); overrides the config's conf_dir.
    #[arg(long, value_name = "DIR")]
    pub conf_dir: Option<PathBuf>,

    /// A plugin directory (node path); repeat for several. Overrides the config's
    /// bin_dir/bin_dirs.
    #[arg(long = "bin-dir", value_name = "DIR")]
    pub bin_dirs: Vec<PathBuf>,

    /// How many networks containerd loads (0: all); overrides the config's max_conf_num.
    #[arg(long, value_name = "N")]
    pub max_conf_num: Option<i64>,

    /// The containerd version (for example 1.6.3, v1.6.20, 1.6.20~ds1), instead of asking
    /// `containerd --version`. Also asks: what breaks if this node runs that version?
    #[arg(long, value_name = "V")]
    pub containerd_version: Option<String>,

    /// How to learn plugin versions [default: exec on the live node (root /) unless
    /// --assume-plugins-release is given, otherwise none].
    #[arg(long, value_enum)]
    pub probe: Option<Probe>,

    /// Seconds one plugin may take to answer VERSION.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub probe_timeout: f64,

    /// Take plugin versions from this containernetworking/plugins release (for example 0.9.1)
    /// instead of running the binaries.
    #[arg(long, value_name = "V")]
    pub assume_plugins_release: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Exit 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// When to colour human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Validated options for `cni-fix check`.
#[derive(Debug)]
pub struct CheckRun {
    /// What the core checks.
    pub options: CheckOptions,
    /// How to print.
    pub format: Format,
    /// `None`: never fail.
    pub fail_on: Option<Severity>,
    /// Colour requested or refused.
    pub color: ColorChoice,
}

fn node_path(flag: &str, p: PathBuf) -> Result<PathBuf> {
    if !p.is_absolute() {
        bail!("{flag} takes an absolute node path (such as /etc/cni/net.d), not {p:?}");
    }
    Ok(p)
}

impl CheckArgs {
    /// Validate the arguments into options for the core.
    pub fn validate(self) -> Result<CheckRun> {
        let containerd_version = self
            .containerd_version
            .as_deref()
            .map(ContainerdVersion::parse)
            .transpose()
            .context("--containerd-version")?;
        let assume_plugins_release = self
            .assume_plugins_release
            .as_deref()
            .map(PluginsRelease::parse)
            .transpose()
            .context("--assume-plugins-release")?;
        if !(self.probe_timeout.is_finite()
            && self.probe_timeout > 0.0
            && self.probe_timeout <= 600.0)
        {
            bail!(
                "--probe-timeout takes seconds between 0 and 600, not {}",
                self.probe_timeout
            );
        }
        let options = CheckOptions {
            root: self.root,
            containerd_config: Some(node_path("--containerd-config", self.containerd_config)?),
            conf_dir: self
                .conf_dir
                .map(|p| node_path("--conf-dir", p))
                .transpose()?,
            bin_dirs: self
                .bin_dirs
                .into_iter()
                .map(|p| node_path("--bin-dir", p))
                .collect::<Result<_>>()?,
            max_conf_num: self.max_conf_num,
            containerd_version,
            probe: self.probe.map(|p| match p {
                Probe::Exec => ProbeMode::Exec,
                Probe::None => ProbeMode::None,
            }),
            assume_plugins_release,
            probe_timeout: Duration::from_secs_f64(self.probe_timeout),
        };
        Ok(CheckRun {
            options,
            format: self.format,
            fail_on: match self.fail_on {
                FailOn::Error => Some(Severity::Error),
                FailOn::Warning => Some(Severity::Warning),
                FailOn::Never => None,
            },
            color: self.color,
        })
    }
}

/// Parse a finding id given to `explain`.
pub fn finding_id(s: &str) -> Result<FindingId> {
    Ok(s.parse::<FindingId>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn check(args: &[&str]) -> Result<CheckRun> {
        let mut all = vec!["cni-fix", "check"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all)?.command {
            Cmd::Check(a) => a.validate(),
            Cmd::Explain { .. } => unreachable!(),
        }
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let run = check(&[]).unwrap();
        assert_eq!(run.options.root, PathBuf::from("/"));
        assert_eq!(run.options.probe, None);
        assert_eq!(run.fail_on, Some(Severity::Error));
        assert_eq!(run.format, Format::Human);
        assert_eq!(run.options.probe_timeout, Duration::from_secs(5));
    }

    #[test]
    fn versions_are_validated() {
        let run = check(&[
            "--containerd-version",
            "v1.6.3-6-gdb40e2128",
            "--assume-plugins-release",
            "v0.9.1",
        ])
        .unwrap();
        assert_eq!(
            run.options.containerd_version.unwrap().release.to_string(),
            "1.6.3"
        );
        assert!(check(&["--containerd-version", "1.6"]).is_err());
        assert!(check(&["--assume-plugins-release", "0.1.0"]).is_err());
    }

    #[test]
    fn node_paths_must_be_absolute() {
        let e = check(&["--conf-dir", "etc/cni"]).unwrap_err().to_string();
        assert!(e.contains("absolute node path"), "{e}");
        assert!(check(&["--bin-dir", "/a", "--bin-dir", "b"]).is_err());
        assert_eq!(
            check(&["--bin-dir", "/a", "--bin-dir", "/b"])
                .unwrap()
                .options
                .bin_dirs
                .len(),
            2
        );
    }

    #[test]
    fn probe_timeout_bounds() {
        for bad in ["0", "-1", "NaN", "inf", "1000"] {
            assert!(check(&["--probe-timeout", bad]).is_err(), "{bad}");
        }
        assert_eq!(
            check(&["--probe-timeout", "0.5"])
                .unwrap()
                .options
                .probe_timeout,
            Duration::from_millis(500)
        );
    }

    #[test]
    fn fail_on_and_probe() {
        assert_eq!(check(&["--fail-on", "never"]).unwrap().fail_on, None);
        assert_eq!(
            check(&["--fail-on", "warning"]).unwrap().fail_on,
            Some(Severity::Warning)
        );
        assert_eq!(
            check(&["--probe", "none"]).unwrap().options.probe,
            Some(ProbeMode::None)
        );
        assert!(check(&["--probe", "sometimes"]).is_err());
        assert!(check(&["--format", "yaml"]).is_err());
    }
}

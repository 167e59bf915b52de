//! `cni-fix rewrite` and `cni-fix generate`: run the core, say what happened to each file, and
//! choose the exit status.

use std::io::{self, Write};
use std::time::SystemTime;

use anyhow::{Context, Result};
use cni_fix_core::node::display_path;
use cni_fix_core::rewrite::{self, FilePlan, Outcome};
use cni_fix_core::write::{self, Written};

use crate::args::{GenerateArgs, RewriteRun};
use crate::{OK, PROBLEM, UNKNOWN};

fn describe_change(from: &Option<String>, to: &str, fixes: &[cni_fix_core::FindingId]) -> String {
    let from = match from {
        Some(v) => format!("{v:?}"),
        None => "none".to_string(),
    };
    let why = if fixes.is_empty() {
        "--upgrade".to_string()
    } else {
        let ids: Vec<&str> = fixes.iter().map(|f| f.as_str()).collect();
        format!("fixes {}", ids.join(", "))
    };
    format!("cniVersion {from} → \"{to}\" ({why})")
}

fn plan_line(f: &FilePlan, dry_run: bool) -> String {
    let path = display_path(&f.path);
    let via = if f.target_path != f.path {
        format!(" (at its target {})", display_path(&f.target_path))
    } else {
        String::new()
    };
    match &f.outcome {
        Outcome::Rewrite {
            from, to, fixes, ..
        } => {
            let verb = if dry_run { "would rewrite" } else { "rewrite" };
            format!(
                "{verb}  {path}{via}: {}",
                describe_change(from, to.as_str(), fixes)
            )
        }
        Outcome::Unchanged { reason } => format!("unchanged  {path}: {reason}"),
        Outcome::NotFixable { reason } => format!("not fixable  {path}: {reason}; left untouched"),
        Outcome::NeedsInput { reason } => format!("needs input  {path}: {reason}; left untouched"),
    }
}

/// A note on the errors no config change can fix, so that a clean rewrite is not read as a
/// healthy node.
fn remaining_errors(plan: &rewrite::RewritePlan) -> Option<String> {
    let mut ids: Vec<&str> = cni_fix_core::rules::evaluate(&plan.snapshot)
        .into_iter()
        .filter(|f| f.severity == cni_fix_core::Severity::Error && !f.fixable)
        .map(|f| f.id.as_str())
        .collect();
    ids.dedup();
    (!ids.is_empty()).then(|| {
        format!(
            "note: errors that a config change cannot fix remain ({}); see `cni-fix check`",
            ids.join(", ")
        )
    })
}

/// `cni-fix rewrite`.
pub fn rewrite(run: RewriteRun) -> Result<u8> {
    let plan = rewrite::plan(&run.options)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let stderr = io::stderr();
    let mut err = stderr.lock();
    if plan.files.is_empty() {
        writeln!(
            err,
            "no config to rewrite in {}",
            display_path(&plan.snapshot.conf_dir)
        )?;
    }
    if run.dry_run {
        // stdout carries only the diff, so it can be piped to patch.
        out.write_all(&plan.unified_diff())?;
        out.flush()?;
        for f in &plan.files {
            writeln!(err, "{}", plan_line(f, true))?;
        }
        if let Some(note) = remaining_errors(&plan) {
            writeln!(err, "{note}")?;
        }
        let status = if plan.has_unfixed() || (run.exit_code && plan.has_changes()) {
            PROBLEM
        } else {
            OK
        };
        return Ok(status);
    }

    let backup_dir = run
        .backup_dir
        .unwrap_or_else(|| write::default_backup_dir(SystemTime::now()));
    let report = write::apply(&plan, &backup_dir)?;
    let mut status = if plan.has_unfixed() { PROBLEM } else { OK };
    for f in &plan.files {
        let written = report
            .files
            .iter()
            .find(|(p, _)| p == &f.path)
            .map(|(_, w)| w);
        let line = match (written, &f.outcome) {
            (
                Some(Written::Rewritten { backup }),
                Outcome::Rewrite {
                    from, to, fixes, ..
                },
            ) => {
                format!(
                    "rewrote  {}: {}; original kept in {}",
                    display_path(&f.path),
                    describe_change(from, to.as_str(), fixes),
                    display_path(backup)
                )
            }
            (Some(Written::ChangedMeanwhile), _) => {
                status = status.max(PROBLEM);
                format!(
                    "left alone  {}: it changed while cni-fix was working; run cni-fix again",
                    display_path(&f.path)
                )
            }
            (Some(Written::Failed { reason }), _) => {
                status = UNKNOWN;
                format!(
                    "failed  {}: {reason}; the file is as it was",
                    display_path(&f.path)
                )
            }
            _ => plan_line(f, false),
        };
        writeln!(out, "{line}")?;
    }
    if !report.files.is_empty() {
        let root = plan.snapshot.node.root();
        let under = if plan.snapshot.node.is_live() {
            String::new()
        } else {
            format!(" (under {})", root.display())
        };
        writeln!(out, "backups: {}{under}", display_path(&report.backup_dir))?;
    }
    if let Some(note) = remaining_errors(&plan) {
        writeln!(out, "{note}")?;
    }
    out.flush()?;
    Ok(status)
}

/// `cni-fix generate`.
pub fn generate(args: GenerateArgs) -> Result<u8> {
    let options = args.validate()?;
    let text = options.render()?;
    let Some(output) = &args.output else {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        return Ok(OK);
    };
    let output =
        std::path::absolute(output).with_context(|| format!("--output {}", output.display()))?;
    let backup_dir = args
        .backup_dir
        .clone()
        .unwrap_or_else(|| write::default_backup_dir(SystemTime::now()));
    let mut out = io::stdout().lock();
    match write::replace_with_backup(&output, text.as_bytes(), &backup_dir)? {
        write::Replaced::Unchanged => {
            writeln!(out, "unchanged  {}: already this network", output.display())?
        }
        write::Replaced::Created => writeln!(out, "wrote  {}", output.display())?,
        write::Replaced::Replaced(b) => writeln!(
            out,
            "wrote  {}; original kept in {}",
            output.display(),
            b.display()
        )?,
    }
    Ok(OK)
}

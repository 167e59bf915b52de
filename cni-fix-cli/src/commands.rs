//! `cni-fix rewrite`, `cni-fix generate` and `cni-fix restore`: run the core, say what happened
//! to each file, and choose the exit status.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use cni_fix_core::node::{display_path, NodeFs};
use cni_fix_core::quote::{escape_text, quote_path};
use cni_fix_core::rewrite::{self, FilePlan, Outcome};
use cni_fix_core::write::{self, RestoreOutcome, Written};
use serde::Serialize;

use crate::args::{Format, GenerateArgs, RestoreRun, RewriteRun};
use crate::{keep_status, NEEDS_ATTENTION, OK, PROBLEM, UNKNOWN};

/// The schema of `rewrite --format json`.
pub const REWRITE_SCHEMA: &str = "cni-fix.rewrite/v1";

/// A node path for people: quoted as git quotes it when it holds anything unusual.
fn shown(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    quote_path(p.as_os_str().as_bytes()).into_owned()
}

fn describe_change(from: &Option<String>, to: &str, fixes: &[cni_fix_core::FindingId]) -> String {
    let from = match from {
        Some(v) => format!("{:?}", escape_text(v)),
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
    let path = shown(&f.path);
    let via = if f.target_path != f.path {
        format!(" (at its target {})", shown(&f.target_path))
    } else {
        String::new()
    };
    let line = match &f.outcome {
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
        Outcome::Unread { reason } => format!("not read  {path}: {reason}; left untouched"),
        other => format!("{path}: {other:?}"),
    };
    escape_text(&line).into_owned()
}

/// The errors no config change can fix, once each, so that a clean rewrite is not read as a
/// healthy node.
fn remaining_errors(plan: &rewrite::RewritePlan) -> Vec<&'static str> {
    let mut ids: Vec<&str> = plan
        .remaining()
        .filter(|f| f.severity == cni_fix_core::Severity::Error && !f.fixable)
        .map(|f| f.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn remaining_note(ids: &[&str]) -> Option<String> {
    (!ids.is_empty()).then(|| {
        format!(
            "note: errors that a config change cannot fix remain ({}); see `cni-fix check`",
            ids.join(", ")
        )
    })
}

/// One file in `rewrite --format json`.
#[derive(Debug, Serialize)]
struct FileJson {
    path: String,
    path_bytes: Option<String>,
    target_path: String,
    /// `rewritten`, `would-rewrite`, `unchanged`, `not-fixable`, `needs-input`, `unread`,
    /// `changed-meanwhile` or `failed`.
    outcome: &'static str,
    from: Option<String>,
    to: Option<&'static str>,
    fixes: Vec<&'static str>,
    reason: Option<String>,
    backup: Option<String>,
}

/// `rewrite --format json`: schema `cni-fix.rewrite/v1`.
#[derive(Debug, Serialize)]
struct RewriteJson {
    schema: &'static str,
    dry_run: bool,
    backup_dir: Option<String>,
    files: Vec<FileJson>,
    remaining_errors: Vec<&'static str>,
    status: u8,
}

fn file_json(f: &FilePlan, dry_run: bool, written: Option<&Written>) -> FileJson {
    let mut j = FileJson {
        path: display_path(&f.path),
        path_bytes: cni_fix_core::node::path_bytes(&f.path),
        target_path: display_path(&f.target_path),
        outcome: "unchanged",
        from: None,
        to: None,
        fixes: Vec::new(),
        reason: None,
        backup: None,
    };
    match &f.outcome {
        Outcome::Rewrite {
            from, to, fixes, ..
        } => {
            j.outcome = if dry_run {
                "would-rewrite"
            } else {
                "rewritten"
            };
            j.from = from.clone();
            j.to = Some(to.as_str());
            j.fixes = fixes.iter().map(|i| i.as_str()).collect();
        }
        Outcome::Unchanged { reason } => j.reason = Some(reason.clone()),
        Outcome::NotFixable { reason } => {
            j.outcome = "not-fixable";
            j.reason = Some(reason.clone());
        }
        Outcome::NeedsInput { reason } => {
            j.outcome = "needs-input";
            j.reason = Some(reason.clone());
        }
        Outcome::Unread { reason } => {
            j.outcome = "unread";
            j.reason = Some(reason.clone());
        }
        other => {
            j.outcome = "other";
            j.reason = Some(format!("{other:?}"));
        }
    }
    match written {
        Some(Written::Rewritten { backup }) => j.backup = Some(display_path(backup)),
        Some(Written::ChangedMeanwhile) => {
            j.outcome = "changed-meanwhile";
            j.reason = Some("it changed while cni-fix was working; run cni-fix again".into());
        }
        Some(Written::Failed { reason }) => {
            j.outcome = "failed";
            j.reason = Some(format!("{reason}; the file is as it was"));
        }
        Some(other) => j.reason = Some(format!("{other:?}")),
        None => {}
    }
    j
}

fn print_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)?;
    out.flush()
}

/// Say so when the plan considers no file at all.
fn nothing_to_rewrite(err: &mut impl Write, plan: &rewrite::RewritePlan) -> io::Result<()> {
    if plan.files.is_empty() {
        writeln!(
            err,
            "no config to rewrite in {}",
            shown(&plan.snapshot.conf_dir)
        )?;
    }
    Ok(())
}

/// The exit status of a rewrite plan, before anything is written.
fn plan_status(plan: &rewrite::RewritePlan, run: &RewriteRun) -> u8 {
    if plan.has_unread() {
        UNKNOWN
    } else if run.dry_run && run.exit_code {
        if plan.has_unfixed() {
            NEEDS_ATTENTION
        } else if plan.has_changes() {
            PROBLEM
        } else {
            OK
        }
    } else if plan.has_unfixed() {
        PROBLEM
    } else {
        OK
    }
}

/// `cni-fix rewrite`.
pub fn rewrite(run: RewriteRun) -> Result<u8> {
    let plan = rewrite::plan(&run.options)?;
    let remaining = remaining_errors(&plan);
    let status = plan_status(&plan, &run);
    if run.dry_run {
        dry_run(&plan, &run, &remaining, status)
    } else {
        write_plan(&plan, &run, &remaining, status)
    }
}

/// `rewrite --dry-run`: the diff (or the JSON plan) on stdout, each file's outcome on stderr.
fn dry_run(
    plan: &rewrite::RewritePlan,
    run: &RewriteRun,
    remaining: &[&'static str],
    status: u8,
) -> Result<u8> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let printed = (|| -> io::Result<()> {
        if run.format == Format::Json {
            let json = RewriteJson {
                schema: REWRITE_SCHEMA,
                dry_run: true,
                backup_dir: None,
                files: plan
                    .files
                    .iter()
                    .map(|f| file_json(f, true, None))
                    .collect(),
                remaining_errors: remaining.to_vec(),
                status,
            };
            return print_json(&mut out, &json);
        }
        // stdout carries only the diff, so it can be piped to patch.
        out.write_all(&plan.unified_diff())?;
        out.flush()?;
        nothing_to_rewrite(&mut err, plan)?;
        for f in &plan.files {
            writeln!(err, "{}", plan_line(f, true))?;
        }
        if let Some(note) = remaining_note(remaining) {
            writeln!(err, "{note}")?;
        }
        Ok(())
    })();
    keep_status(status, printed)
}

/// What happened to one file of a real rewrite, for people, and the status it calls for.
fn written_line(f: &FilePlan, written: Option<&Written>) -> (String, u8) {
    match (written, &f.outcome) {
        (
            Some(Written::Rewritten { backup }),
            Outcome::Rewrite {
                from, to, fixes, ..
            },
        ) => (
            escape_text(&format!(
                "rewrote  {}: {}; original kept in {}",
                shown(&f.path),
                describe_change(from, to.as_str(), fixes),
                shown(backup)
            ))
            .into_owned(),
            OK,
        ),
        (Some(Written::ChangedMeanwhile), _) => (
            format!(
                "left alone  {}: it changed while cni-fix was working; run cni-fix again",
                shown(&f.path)
            ),
            PROBLEM,
        ),
        (Some(Written::Failed { reason }), _) => (
            escape_text(&format!(
                "failed  {}: {reason}; the file is as it was",
                shown(&f.path)
            ))
            .into_owned(),
            UNKNOWN,
        ),
        _ => (plan_line(f, false), OK),
    }
}

/// `rewrite` for real: write, then say what happened to each file.
fn write_plan(
    plan: &rewrite::RewritePlan,
    run: &RewriteRun,
    remaining: &[&'static str],
    status: u8,
) -> Result<u8> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let backup_dir = run
        .backup_dir
        .clone()
        .unwrap_or_else(|| write::default_backup_dir(SystemTime::now()));
    let report = write::apply(plan, &backup_dir)?;
    let mut status = status;
    let mut lines = Vec::new();
    let mut files_json = Vec::new();
    for f in &plan.files {
        let written = report
            .files
            .iter()
            .find(|(p, _)| p == &f.path)
            .map(|(_, w)| w);
        files_json.push(file_json(f, false, written));
        let (line, worse) = written_line(f, written);
        status = status.max(worse);
        lines.push(line);
    }
    let printed = (|| -> io::Result<()> {
        if run.format == Format::Json {
            let json = RewriteJson {
                schema: REWRITE_SCHEMA,
                dry_run: false,
                backup_dir: (!report.files.is_empty()).then(|| display_path(&report.backup_dir)),
                files: files_json,
                remaining_errors: remaining.to_vec(),
                status,
            };
            return print_json(&mut out, &json);
        }
        nothing_to_rewrite(&mut err, plan)?;
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        let kept = report
            .files
            .iter()
            .any(|(_, w)| matches!(w, Written::Rewritten { .. }));
        if kept {
            let root = plan.snapshot.node.root();
            let under = if plan.snapshot.node.is_live() {
                String::new()
            } else {
                format!(" (under {})", shown(root))
            };
            writeln!(out, "backups: {}{under}", shown(&report.backup_dir))?;
        }
        if let Some(note) = remaining_note(remaining) {
            writeln!(out, "{note}")?;
        }
        out.flush()
    })();
    keep_status(status, printed)
}

/// `cni-fix generate`.
pub fn generate(mut args: GenerateArgs) -> Result<u8> {
    if let Some(crate::args::GenerateWhat::RegistryHosts(a)) = args.what.take() {
        return registry_hosts(a);
    }
    let options = args.validate()?;
    let text = options.render()?;
    let output = match &args.output {
        Some(p) if p.as_os_str() != "-" => p,
        _ => {
            let mut out = io::stdout().lock();
            let printed = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            return keep_status(OK, printed);
        }
    };
    let output =
        std::path::absolute(output).with_context(|| format!("--output {}", shown(output)))?;
    let backup_dir = args
        .backup_dir
        .clone()
        .unwrap_or_else(|| write::default_backup_dir(SystemTime::now()));
    let line = match write::replace_with_backup(&output, text.as_bytes(), &backup_dir)? {
        write::Replaced::Unchanged => {
            format!("unchanged  {}: already this network", shown(&output))
        }
        write::Replaced::Created => format!("wrote  {}", shown(&output)),
        write::Replaced::Replaced(b) => {
            format!("wrote  {}; original kept in {}", shown(&output), shown(&b))
        }
    };
    let mut out = io::stdout().lock();
    let printed = writeln!(out, "{line}").and_then(|()| out.flush());
    keep_status(OK, printed)
}

/// The parent of the default backup directories.
const BACKUPS: &str = "/var/backups/cni-fix";

/// `cni-fix restore`.
pub fn restore(run: RestoreRun) -> Result<u8> {
    let node = NodeFs::new(&run.root);
    let backup_dir: PathBuf = match run.backup_dir {
        Some(d) => d,
        None => write::latest_backup_dir(&node, Path::new(BACKUPS)).with_context(|| {
            format!("no backup directory with a cni-fix manifest under {BACKUPS}; name one")
        })?,
    };
    let plan = write::plan_restore(&node, &backup_dir)?;
    let mut status = OK;
    let mut lines = Vec::new();
    for f in &plan.files {
        match &f.outcome {
            RestoreOutcome::AlreadyOriginal => lines.push(format!(
                "unchanged  {}: already the original",
                shown(&f.path)
            )),
            RestoreOutcome::Refused { reason } => {
                status = PROBLEM;
                lines.push(
                    escape_text(&format!("left alone  {}: {reason}", shown(&f.path))).into_owned(),
                );
            }
            RestoreOutcome::Restore { .. } if run.dry_run => {
                lines.push(format!("would restore  {}", shown(&f.path)))
            }
            RestoreOutcome::Restore { .. } => {}
            other => {
                status = PROBLEM;
                lines.push(format!("left alone  {}: {other:?}", shown(&f.path)));
            }
        }
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if run.dry_run {
        let printed = (|| -> io::Result<()> {
            out.write_all(&plan.unified_diff())?;
            out.flush()?;
            let mut err = io::stderr().lock();
            for line in &lines {
                writeln!(err, "{line}")?;
            }
            Ok(())
        })();
        return keep_status(status, printed);
    }
    for (path, written) in write::apply_restore(&node, &plan) {
        let line = match written {
            Written::Rewritten { backup } => {
                format!("restored  {} from {}", shown(&path), shown(&backup))
            }
            Written::ChangedMeanwhile => {
                status = status.max(PROBLEM);
                format!(
                    "left alone  {}: it changed while cni-fix was working; run cni-fix again",
                    shown(&path)
                )
            }
            Written::Failed { reason } => {
                status = UNKNOWN;
                escape_text(&format!(
                    "failed  {}: {reason}; the file is as it was",
                    shown(&path)
                ))
                .into_owned()
            }
            other => {
                status = UNKNOWN;
                format!("{}: {other:?}", shown(&path))
            }
        };
        lines.push(line);
    }
    let printed = (|| -> io::Result<()> {
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        out.flush()
    })();
    keep_status(status, printed)
}

/// `cni-fix generate registry-hosts`.
fn registry_hosts(args: crate::args::RegistryHostsArgs) -> Result<u8> {
    use cni_fix_core::registry_hosts;
    args.validate()?;
    let node = cni_fix_core::node::NodeFs::new(&args.root);
    let plan = registry_hosts::plan(&node, &args.containerd_config, args.config_dir.clone())?;
    let mut out = io::stdout().lock();
    let mut status = OK;
    let mut lines = Vec::new();
    for (entry, why) in &plan.skipped {
        lines.push(format!(
            "skipped  insecure-registries entry {}: {}",
            cni_fix_core::quote::escape_text(entry),
            why
        ));
        status = PROBLEM;
    }
    if args.dry_run {
        let diff = plan.unified_diff();
        let printed = out.write_all(&diff);
        if let Err(e) = printed {
            return keep_status(status, Err(e));
        }
    } else {
        for f in &plan.files {
            let shown_path = cni_fix_core::node::display_path(&f.path);
            if f.unchanged() {
                lines.push(format!("unchanged  {shown_path}"));
                continue;
            }
            if f.existing.is_some() {
                lines.push(format!(
                    "left alone  {shown_path}: it exists and differs; merge by hand (see --dry-run)"
                ));
                status = PROBLEM;
                continue;
            }
            let host = node.resolve(&f.path).with_context(|| shown_path.clone())?;
            write::create_file(&host, f.text.as_bytes())?;
            lines.push(format!("wrote  {shown_path}"));
        }
    }
    if !plan.config_path_set {
        lines.push(format!(
            "note: containerd reads these files only when its config sets the registry config_path: add config_path = \"{}\" under [plugins.\"io.containerd.grpc.v1.cri\".registry] (config version 2) or [plugins.'io.containerd.cri.v1.images'.registry] (version 3) in {}, and restart containerd",
            cni_fix_core::node::display_path(&plan.config_dir),
            cni_fix_core::node::display_path(&args.containerd_config)
        ));
    }
    let target: &mut dyn Write = if args.dry_run {
        &mut io::stderr()
    } else {
        &mut out
    };
    let mut printed = Ok(());
    for l in lines {
        printed = printed.and_then(|()| writeln!(target, "{l}"));
    }
    keep_status(status, printed.and_then(|()| target.flush()))
}

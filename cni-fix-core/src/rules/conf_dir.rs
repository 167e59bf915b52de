//! Rules about the conf dir as a whole: what containerd cannot load, what it never reaches, and
//! what it ignores.

use super::{find_placeholder_at, Ctx, Draft};
use crate::finding::Location;
use crate::finding::{FindingId, Severity};
use crate::node::display_path;
use crate::snapshot::{FileProblem, FileStatus};

pub(super) fn conf_dir(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let loadable: Vec<usize> = (0..snap.files.len())
        .filter(|&i| snap.files[i].form().is_some() && snap.files[i].status != FileStatus::Unread)
        .collect();
    no_config(ctx, loadable.is_empty());
    let max = snap.max_conf_num;
    let mut valid_before = 0i64;
    let mut shadowed = Vec::new();
    for &i in &loadable {
        let f = &snap.files[i];
        let reached = max <= 0 || valid_before < max;
        match f.parsed() {
            Some(Err(problem)) => invalid_config(ctx, i, problem, reached),
            Some(Ok(_)) => {
                if f.status == FileStatus::Shadowed && !snap.load.active.contains(&i) {
                    shadowed.push(i);
                }
                valid_before += 1;
            }
            None => {}
        }
        if let Some(bytes) = f.bytes() {
            placeholder(ctx, i, bytes, reached);
        }
    }
    shadowed_configs(ctx, &shadowed);
    ignored_files(ctx);
}

/// Nothing the runtime can load: the conf dir is unreadable, missing or empty.
fn no_config(ctx: &mut Ctx<'_>, nothing_loadable: bool) {
    let snap = ctx.snap;
    let dir = display_path(&snap.conf_dir);
    if let Some(e) = &snap.conf_dir_error {
        ctx.push(Draft {
            id: FindingId::NoConfig,
            severity: Severity::Error,
            file: None,
            plugin: None,
            message: format!("The conf dir {dir} cannot be read: {e}"),
            runtime_error: Some(format!(
                "failed to read config file: {e}: failed to read config file"
            )),
            remedy:
                "Make the conf dir readable by root, or point --conf-dir at the right directory."
                    .into(),
            fixable: false,
            location: None,
        });
    } else if nothing_loadable && snap.incomplete.is_empty() {
        let why = if snap.conf_dir_missing {
            format!("The conf dir {dir} does not exist")
        } else {
            format!("The conf dir {dir} holds no .conf, .conflist or .json file")
        };
        ctx.push(Draft {
id: FindingId::NoConfig,
severity: Severity::Error,
file: None,
plugin: None,
message: format!("{why}: the node has no pod network and reports `cni plugin not initialized`"),
runtime_error: Some(format!(
                "no network config found in {dir}: cni plugin not initialized"
            )),
remedy: "Install the cluster's CNI, point conf_dir (or --conf-dir) at the directory it writes to, or write a standalone network with `cni-fix generate --output`.".into(),
fixable: false,
location: None,
});
    }
}

/// A file libcni rejects, and what that does to the load.
fn invalid_config(ctx: &mut Ctx<'_>, i: usize, problem: &FileProblem, reached: bool) {
    let snap = ctx.snap;
    let f = &snap.files[i];
    let path = f.display();
    let lost: Vec<String> = snap
        .load
        .active
        .iter()
        .map(|&a| snap.files[a].display())
        .collect();
    let at = problem
        .line_col
        .map(|(l, c)| format!(" (line {l}, column {c})"))
        .unwrap_or_default();
    let (severity, effect) = if snap.load.aborted_at == Some(i) {
        let effect = if lost.is_empty() {
            "containerd stops loading here and the node has no pod network".to_string()
        } else {
            format!(
                "containerd stops loading here, so it loads no network at all, not even {}",
                lost.join(", ")
            )
        };
        (Severity::Error, effect)
    } else if reached {
        (
            Severity::Error,
            "containerd stops loading at this file once the files before it are fixed".to_string(),
        )
    } else {
        (
            Severity::Warning,
            "containerd does not reach it today, but will stop at it if the files before it change"
                .to_string(),
        )
    };
    let verb = if problem.unreadable {
        "cannot read"
    } else {
        "rejects"
    };
    let why = match f.bytes().and_then(encoding_problem) {
        Some(plain) => format!("{plain} (libcni: {})", problem.libcni),
        None => problem.libcni.clone(),
    };
    ctx.push(Draft {
id: FindingId::InvalidConfig,
severity,
file: Some(path.clone()),
plugin: None,
message: format!("libcni {verb} this file{at}: {why}; {effect}"),
runtime_error: Some(problem.load_error.clone()),
remedy: "Fix the file, or move it out of the conf dir (or rename it to *.bak) if it is not meant to be loaded.".into(),
fixable: false,
location: problem.line_col.map(|(line, column)| Location { line, column }),
});
}

/// A template placeholder left in a file.
fn placeholder(ctx: &mut Ctx<'_>, i: usize, bytes: &[u8], reached: bool) {
    let snap = ctx.snap;
    let path = snap.files[i].display();
    if let Some((offset, placeholder)) = find_placeholder_at(bytes) {
        let severity = if reached || snap.load.active.contains(&i) {
            Severity::Error
        } else {
            Severity::Warning
        };
        ctx.push(Draft {
id: FindingId::UnrenderedTemplate,
severity,
file: Some(path.clone()),
plugin: None,
message: format!(
                        "The file still holds the template placeholder `{placeholder}`: its installer never rendered it"
                    ),
runtime_error: None,
remedy: "Re-run or repair the installer that renders this file (for Calico, the install-cni container); do not hand-edit values a controller will overwrite.".into(),
fixable: false,
location: Some(Location::at(bytes, offset)),
});
    }
}

/// Entries that look like configs but that the runtime never reads.
fn ignored_files(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    for f in &snap.files {
        if f.form().is_some() {
            continue;
        }
        let name = f.name.to_string_lossy();
        let lower = name.to_lowercase();
        let why = if f.entry == crate::node::EntryKind::Dir {
            "it is a directory, which containerd skips".to_string()
        } else if [".conf", ".conflist", ".json"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            "extensions are case-sensitive: only .conf, .conflist and .json are read".to_string()
        } else {
            "only files ending in .conf, .conflist or .json are read".to_string()
        };
        ctx.push(Draft {
id: FindingId::IgnoredFile,
severity: Severity::Info,
file: Some(f.display()),
plugin: None,
message: format!("{name} is ignored by the runtime: {why}; edits to it change nothing"),
runtime_error: None,
remedy: "Nothing to do if it is a backup; give it a loadable name if it should configure the node.".into(),
fixable: false,
location: None,
});
    }
}

/// A plain account of a file that is not UTF-8 JSON because of its encoding: a byte-order
/// mark, or UTF-16 text. Go's JSON decoder, and so libcni, reads neither.
pub fn encoding_problem(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Some("the file starts with a UTF-8 byte-order mark, which libcni rejects; save it as UTF-8 without a BOM");
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Some("the file is UTF-16 text (it starts with a UTF-16 byte-order mark), and libcni reads only UTF-8; save it as UTF-8");
    }
    // UTF-16 without a mark: ASCII text with a zero byte beside every character.
    let head = &bytes[..bytes.len().min(64)];
    if head.len() >= 4 {
        let zeros_even = head.iter().step_by(2).all(|&b| b == 0);
        let zeros_odd = head.iter().skip(1).step_by(2).all(|&b| b == 0);
        if zeros_even != zeros_odd {
            return Some("the file is UTF-16 text, and libcni reads only UTF-8; save it as UTF-8");
        }
    }
    None
}

/// At most this many shadowed files are named in the summary's message (JSON lists all).
const SHADOWED_NAMED: usize = 5;

/// Valid configs containerd does not load: one finding each when a single file is shadowed, or
/// when a file is newer than the network containerd loads (someone likely edited it expecting
/// it to take effect); the rest in one finding for the conf dir that lists them all.
fn shadowed_configs(ctx: &mut Ctx<'_>, shadowed: &[usize]) {
    let snap = ctx.snap;
    let max = snap.max_conf_num;
    let first = snap
        .load
        .active
        .first()
        .map(|&a| snap.files[a].display())
        .unwrap_or_default();
    let modified = |i: usize| snap.files[i].modified;
    let loaded_at = snap.load.active.first().and_then(|&a| modified(a));
    let (own, grouped): (Vec<usize>, Vec<usize>) = if shadowed.len() <= 1 {
        (shadowed.to_vec(), Vec::new())
    } else {
        shadowed
            .iter()
            .partition(|&&i| matches!((modified(i), loaded_at), (Some(m), Some(l)) if m > l))
    };
    for i in own {
        let f = &snap.files[i];
        let Some(net) = f.network() else { continue };
        ctx.push(Draft {
id: FindingId::ShadowedConfig,
severity: Severity::Warning,
file: Some(f.display()),
plugin: None,
message: format!(
                "Network {:?} is valid but containerd does not load it: max_conf_num is {max} and {first} sorts first, so edits to this file change nothing",
                net.name
            ),
runtime_error: None,
remedy: "If this is the network you want, remove or rename (*.bak) the stale file that sorts first, or rename this one to sort first; raise max_conf_num only if you want several networks.".into(),
fixable: false,
location: None,
});
    }
    match grouped.as_slice() {
        [] => {}
        [one] => {
            // A single file left over is named as one.
            shadowed_configs(ctx, &[*one]);
        }
        many => {
            let files: Vec<String> = many.iter().map(|&i| snap.files[i].display()).collect();
            let named = files
                .iter()
                .take(SHADOWED_NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let more = match files.len().saturating_sub(SHADOWED_NAMED) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            ctx.push(Draft {
id: FindingId::ShadowedConfig,
severity: Severity::Warning,
file: None,
plugin: None,
message: format!(
                    "{} valid configs in {} are not loaded: max_conf_num is {max} and {first} sorts first, so edits to them change nothing: {named}{more}",
                    files.len(),
                    display_path(&snap.conf_dir)
                ),
runtime_error: None,
remedy: "Move the configs that are not meant to be loaded out of the conf dir (or rename them to *.bak); raise max_conf_num only if you want several networks.".into(),
fixable: false,
location: None,
});
            if let Some(last) = ctx.out.last_mut() {
                last.files = files;
            }
        }
    }
}

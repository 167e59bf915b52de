//! Who can change the configs and plugins the runtime trusts.

use super::{Ctx, Draft};
use crate::finding::{FindingId, Severity};
use crate::node::display_path;
use crate::snapshot::Ownership;

/// `insecure-permissions`: a file or directory the runtime trusts that others can change.
struct InsecurePermissions<'a> {
    /// What it is: `conf dir`, `config file`, `plugin dir`, `plugin`.
    what: &'a str,
    path: String,
    /// The config file it belongs to, for grouping.
    file: Option<String>,
    /// Permission bits.
    mode: u32,
    /// The owner, when the live node's owner matters and it is not root.
    foreign_owner: Option<u32>,
}

impl From<InsecurePermissions<'_>> for Draft {
    fn from(f: InsecurePermissions<'_>) -> Draft {
        let path = &f.path;
        let writable = f.mode & 0o022 != 0;
        let mut problems = Vec::new();
        if writable {
            let who = match (f.mode & 0o020 != 0, f.mode & 0o002 != 0) {
                (true, true) => "its group and all users",
                (true, false) => "its group",
                _ => "all users",
            };
            problems.push(format!("writable by {who} (mode {:04o})", f.mode));
        }
        if let Some(uid) = f.foreign_owner {
            problems.push(format!("owned by uid {uid}, not root"));
        }
        let remedy = match (writable, f.foreign_owner.is_some()) {
            (true, true) => format!("chown root:root {path} && chmod go-w {path}"),
            (true, false) => format!("chmod go-w {path}"),
            _ => format!("chown root:root {path}"),
        };
        Draft {
            id: FindingId::InsecurePermissions,
            severity: Severity::Warning,
            file: f.file,
            plugin: None,
            message: format!(
                "The {} {path} is {}: whoever can change it can run code as root through the runtime",
                f.what,
                problems.join(" and ")
            ),
            runtime_error: None,
            remedy,
            fixable: false,
            location: None,
            files: Vec::new(),
        }
    }
}

pub(super) fn permissions(ctx: &mut Ctx<'_>) {
    for o in &ctx.snap.ownership {
        permission(ctx, o);
    }
}

/// Whether others can change one file or directory the runtime trusts.
pub(super) fn permission(ctx: &mut Ctx<'_>, o: &Ownership) {
    let live = ctx.snap.node.is_live();
    let foreign_owner = (live && o.uid != 0).then_some(o.uid);
    if o.mode & 0o022 == 0 && foreign_owner.is_none() {
        return;
    }
    ctx.push(InsecurePermissions {
        what: o.what,
        path: display_path(&o.path),
        file: o.file.clone(),
        mode: o.mode,
        foreign_owner,
    });
}

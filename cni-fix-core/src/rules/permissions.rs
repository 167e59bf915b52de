//! Who can change the configs and plugins the runtime trusts.

use super::{Ctx, Draft};
use crate::finding::{FindingId, Severity};
use crate::node::display_path;

pub(super) fn permissions(ctx: &mut Ctx<'_>) {
    let live = ctx.snap.node.is_live();
    for o in &ctx.snap.ownership {
        let path = display_path(&o.path);
        let mut problems = Vec::new();
        if o.mode & 0o022 != 0 {
            let who = match (o.mode & 0o020 != 0, o.mode & 0o002 != 0) {
                (true, true) => "its group and all users",
                (true, false) => "its group",
                _ => "all users",
            };
            problems.push(format!("writable by {who} (mode {:04o})", o.mode));
        }
        if live && o.uid != 0 {
            problems.push(format!("owned by uid {}, not root", o.uid));
        }
        if problems.is_empty() {
            continue;
        }
        let fix = match (o.mode & 0o022 != 0, live && o.uid != 0) {
            (true, true) => format!("chown root:root {path} && chmod go-w {path}"),
            (true, false) => format!("chmod go-w {path}"),
            _ => format!("chown root:root {path}"),
        };
        ctx.push(Draft {
id: FindingId::InsecurePermissions,
severity: Severity::Warning,
file: o.file.clone(),
plugin: None,
message: format!(
                "The {} {path} is {}: whoever can change it can run code as root through the runtime",
                o.what,
                problems.join(" and ")
            ),
runtime_error: None,
remedy: fix,
fixable: false,
location: None,
});
    }
}

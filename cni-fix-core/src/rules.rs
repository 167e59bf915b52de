//! The rules: from a [`Snapshot`] to [`Finding`]s. Pure functions of the snapshot.

use crate::chain::{executed, Role};
use crate::containerd_config::{ConfigProblem, DEFAULT_CONF_DIR};
use crate::finding::{Finding, FindingId, Repair, Severity};
use crate::fix::{choose_target, runtime_max, upgrade_to, Fix};
use crate::node::display_path;
use crate::plugins_release::RELEASE_PLUGINS;
use crate::runtime::Regression;
use crate::snapshot::{ContainerdConfigState, FileStatus, PluginInfo, Snapshot};
use crate::spec::{go_quote_list, parse_libcni_version, SpecVersion, IMPLICIT_VERSION};

/// Placeholder for a sandbox id in runtime error texts.
pub const SANDBOX: &str = "<sandbox-id>";

/// Plugins that return results without a `cniVersion`.
const UNVERSIONED_RESULT_PLUGINS: &[&str] = &["weave-net"];

struct Ctx<'a> {
    snap: &'a Snapshot,
    out: Vec<Finding>,
}

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: FindingId,
        severity: Severity,
        file: Option<String>,
        plugin: Option<&str>,
        message: String,
        runtime_error: Option<String>,
        remedy: String,
        fixable: bool,
    ) {
        self.out.push(Finding {
            id,
            severity,
            file,
            plugin: plugin.map(str::to_string),
            message,
            runtime_error,
            remedy,
            fixable,
            fix: None,
            files: Vec::new(),
        });
    }

    fn plugin(&self, t: &str) -> Option<&PluginInfo> {
        self.snap.plugins.iter().find(|p| p.plugin_type == t)
    }

    fn runtime_label(&self) -> String {
        match &self.snap.runtime.version {
            Some(v) => format!("containerd {v}"),
            None => "the runtime (version unknown)".to_string(),
        }
    }
}

/// `plugin type="x" name="y"` as libcni describes a plugin in errors.
fn describe(plugin_type: &str, name: &str) -> String {
    if name.is_empty() {
        format!("type={plugin_type:?}")
    } else {
        format!("type={plugin_type:?} name={name:?}")
    }
}

/// Evaluate every rule over a snapshot.
pub fn evaluate(snap: &Snapshot) -> Vec<Finding> {
    let mut ctx = Ctx {
        snap,
        out: Vec::new(),
    };
    containerd_config(&mut ctx);
    conf_template(&mut ctx);
    runtime(&mut ctx);
    conf_dir(&mut ctx);
    for &i in &snap.load.active {
        network_rules(&mut ctx, i);
    }
    plugins(&mut ctx);
    permissions(&mut ctx);
    ctx.out
}

fn containerd_config(ctx: &mut Ctx<'_>) {
    let path = display_path(&ctx.snap.containerd_config_path);
    match &ctx.snap.containerd_config {
        ContainerdConfigState::Missing
        | ContainerdConfigState::Parsed(_)
        | ContainerdConfigState::Unread => {}
        ContainerdConfigState::Unreadable(e) => ctx.push(
            FindingId::InvalidContainerdConfig,
            Severity::Warning,
            Some(path.clone()),
            None,
            format!("{path} could not be read ({e}); containerd's defaults were checked instead"),
            None,
            "Run cni-fix as root, or point --containerd-config at a readable copy.".into(),
            false,
        ),
        ContainerdConfigState::Invalid(e) => ctx.push(
            FindingId::InvalidContainerdConfig,
            Severity::Error,
            Some(path.clone()),
            None,
            format!("{path} is not a valid containerd config: {e}; containerd's defaults were checked instead"),
            Some(format!("failed to load TOML: {path}: {e}")),
            "Fix the TOML, or regenerate it with `containerd config default`.".into(),
            false,
        ),
    }
    if let ContainerdConfigState::Parsed(c) = &ctx.snap.containerd_config {
        for w in &c.warnings {
            ctx.push(
                FindingId::InvalidContainerdConfig,
                Severity::Warning,
                Some(path.clone()),
                None,
                format!("{path}: {w}"),
                None,
                format!("Move the CNI settings into [{}].", c.table),
                false,
            );
        }
        let runtime = ctx.runtime_label();
        for p in &c.problems {
            match p {
                ConfigProblem::Fatal {
                    message,
                    runtime_error,
                    version,
                } => ctx.push(
                    if *version {
                        FindingId::UnsupportedConfigVersion
                    } else {
                        FindingId::InvalidContainerdConfig
                    },
                    Severity::Error,
                    Some(path.clone()),
                    None,
                    format!("{path}: {message}; {runtime} does not start, so no pod runs on this node"),
                    Some(runtime_error.clone()),
                    if *version {
                        "Write the config in a version this containerd knows: `containerd config default` prints one, and `containerd config migrate` (2.x) converts an older one.".to_string()
                    } else {
                        "Name every plugin by its full URI (for example io.containerd.grpc.v1.cri instead of cri), or go back to version 1.".to_string()
                    },
                    false,
                ),
                ConfigProblem::VersionMismatch {
                    message,
                    changes_settings,
                } => {
                    let (severity, effect) = if *changes_settings {
                        (
                            Severity::Error,
                            format!(
                                "{runtime} takes other CNI settings than the file sets (conf_dir {}, plugin dirs {})",
                                c.cni.conf_dir.as_deref().unwrap_or(DEFAULT_CONF_DIR),
                                c.cni.effective_bin_dirs().join(", ")
                            ),
                        )
                    } else {
                        (
                            Severity::Warning,
                            "the CNI settings in effect are the same today, but edits to that table will change nothing".to_string(),
                        )
                    };
                    ctx.push(
                        FindingId::UnsupportedConfigVersion,
                        severity,
                        Some(path.clone()),
                        None,
                        format!("{path}: {message}; {effect}"),
                        None,
                        format!(
                            "Write the config in the version {runtime} reads: `containerd config default` prints one (`containerd config migrate` converts with 2.x); the CNI settings then belong in [{}].",
                            c.table
                        ),
                        false,
                    );
                }
            }
        }
    }
}

/// The name containerd renders `conf_template` into.
const TEMPLATE_TARGET: &str = "10-containerd-net.conflist";

fn conf_template(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let Some(t) = &snap.conf_template else { return };
    let shown = display_path(&t.path);
    let config = display_path(&snap.containerd_config_path);
    let target = display_path(&snap.conf_dir.join(TEMPLATE_TARGET));
    let loads = !snap.load.loaded.is_empty();
    let (severity, message, remedy) = match &t.text {
        Err(e) => (
            Severity::Warning,
            format!(
                "{config} sets conf_template = {shown}, which cannot be read ({e}): if containerd ever needs it (no network loads and the kubelet sends the pod CIDR), it fails with `failed to parse cni config template`"
            ),
            "Point conf_template at the template, or remove the setting if the cluster's CNI writes the conf dir.".to_string(),
        ),
        Ok(_) if loads => (
            Severity::Info,
            format!(
                "{config} sets conf_template = {shown}: containerd renders it into {target} only while no network loads, so today it is not used; if the networks in the conf dir go, containerd writes {target} from it once the kubelet sends the node's pod CIDR"
            ),
            "Nothing to do while a network loads; cni-fix cannot render the template without the node's pod CIDR.".to_string(),
        ),
        Ok(_) => (
            Severity::Info,
            format!(
                "{config} sets conf_template = {shown}: no network loads, so containerd will render it into {target} when the kubelet sends the node's pod CIDR (check that file once it appears: containerd writes it without truncating an older one)"
            ),
            "Make sure the node has a pod CIDR (spec.podCIDR), or install the cluster's CNI; run cni-fix check again after containerd has written the file.".to_string(),
        ),
    };
    ctx.push(
        FindingId::ConfTemplate,
        severity,
        Some(config),
        None,
        message,
        None,
        remedy,
        false,
    );
}

fn runtime(ctx: &mut Ctx<'_>) {
    let rt = &ctx.snap.runtime;
    if let Some(problem) = &rt.problem {
        let what = if rt.version.is_none() {
            "The containerd version is unknown"
        } else {
            "The containerd release is unknown"
        };
        ctx.push(
            FindingId::RuntimeUnknown,
            Severity::Warning,
            None,
            None,
            format!(
                "{what}: {problem}. Version-dependent rules took the conservative side: a missing cniVersion counts as an error, the loopback plugin is checked against containerd 1.6.3's loopback network, and spec 1.1.0 against runtimes older than 2.0."
            ),
            None,
            "Pass --containerd-version (for example --containerd-version 1.6.20).".into(),
            false,
        );
    }
}

fn conf_dir(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let dir = display_path(&snap.conf_dir);
    let loadable: Vec<usize> = (0..snap.files.len())
        .filter(|&i| snap.files[i].form.is_some() && snap.files[i].status != FileStatus::Unread)
        .collect();

    if let Some(e) = &snap.conf_dir_error {
        ctx.push(
            FindingId::NoConfig,
            Severity::Error,
            None,
            None,
            format!("The conf dir {dir} cannot be read: {e}"),
            Some(format!(
                "failed to read config file: {e}: failed to read config file"
            )),
            "Make the conf dir readable by root, or point --conf-dir at the right directory."
                .into(),
            false,
        );
    } else if loadable.is_empty() && snap.incomplete.is_empty() {
        let why = if snap.conf_dir_missing {
            format!("The conf dir {dir} does not exist")
        } else {
            format!("The conf dir {dir} holds no .conf, .conflist or .json file")
        };
        ctx.push(
            FindingId::NoConfig,
            Severity::Error,
            None,
            None,
            format!("{why}: the node has no pod network and reports `cni plugin not initialized`"),
            Some(format!(
                "no network config found in {dir}: cni plugin not initialized"
            )),
            "Install the cluster's CNI, point conf_dir (or --conf-dir) at the directory it writes to, or write a standalone network with `cni-fix generate --output`.".into(),
            false,
        );
    }

    let max = snap.max_conf_num;
    let mut valid_before = 0i64;
    let lost: Vec<String> = snap
        .load
        .active
        .iter()
        .map(|&i| snap.files[i].display())
        .collect();
    let mut shadowed = Vec::new();
    for &i in &loadable {
        let f = &snap.files[i];
        let path = f.display();
        let reached = max <= 0 || valid_before < max;
        match &f.parsed {
            Some(Err(problem)) => {
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
                        "containerd stops loading at this file once the files before it are fixed"
                            .to_string(),
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
                let why = match f.bytes.as_deref().and_then(encoding_problem) {
                    Some(plain) => format!("{plain} (libcni: {})", problem.libcni),
                    None => problem.libcni.clone(),
                };
                ctx.push(
                    FindingId::InvalidConfig,
                    severity,
                    Some(path.clone()),
                    None,
                    format!("libcni {verb} this file{at}: {why}; {effect}"),
                    Some(problem.load_error.clone()),
                    "Fix the file, or move it out of the conf dir (or rename it to *.bak) if it is not meant to be loaded.".into(),
                    false,
                );
            }
            Some(Ok(_)) => {
                if f.status == FileStatus::Shadowed && !snap.load.active.contains(&i) {
                    shadowed.push(i);
                }
                valid_before += 1;
            }
            None => {}
        }
        if let Some(bytes) = &f.bytes {
            if let Some(placeholder) = find_placeholder(bytes) {
                let severity = if reached || snap.load.active.contains(&i) {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                ctx.push(
                    FindingId::UnrenderedTemplate,
                    severity,
                    Some(path.clone()),
                    None,
                    format!(
                        "The file still holds the template placeholder `{placeholder}`: its installer never rendered it"
                    ),
                    None,
                    "Re-run or repair the installer that renders this file (for Calico, the install-cni container); do not hand-edit values a controller will overwrite.".into(),
                    false,
                );
            }
        }
    }

    shadowed_configs(ctx, &shadowed);

    for f in &snap.files {
        if f.form.is_some() {
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
        ctx.push(
            FindingId::IgnoredFile,
            Severity::Info,
            Some(f.display()),
            None,
            format!("{name} is ignored by the runtime: {why}; edits to it change nothing"),
            None,
            "Nothing to do if it is a backup; give it a loadable name if it should configure the node.".into(),
            false,
        );
    }
}

/// The version libcni 1.2 and later negotiate from a `cniVersions` list and the declared
/// `cniVersion`: the highest of them not above 1.1.0 (`NetworkConfFromBytes`). `None` when
/// none is readable.
fn negotiated_version(list: &[String], declared: &str) -> Option<String> {
    let cap = (1, 1, 0);
    list.iter()
        .map(String::as_str)
        .chain((!declared.is_empty()).then_some(declared))
        .filter_map(|v| parse_libcni_version(v).ok().map(|p| (p, v)))
        .filter(|(p, _)| *p <= cap)
        .max_by_key(|(p, _)| *p)
        .map(|(_, v)| v.to_string())
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
        ctx.push(
            FindingId::ShadowedConfig,
            Severity::Warning,
            Some(f.display()),
            None,
            format!(
                "Network {:?} is valid but containerd does not load it: max_conf_num is {max} and {first} sorts first, so edits to this file change nothing",
                net.name
            ),
            None,
            "If this is the network you want, remove or rename (*.bak) the stale file that sorts first, or rename this one to sort first; raise max_conf_num only if you want several networks.".into(),
            false,
        );
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
            ctx.push(
                FindingId::ShadowedConfig,
                Severity::Warning,
                None,
                None,
                format!(
                    "{} valid configs in {} are not loaded: max_conf_num is {max} and {first} sorts first, so edits to them change nothing: {named}{more}",
                    files.len(),
                    display_path(&snap.conf_dir)
                ),
                None,
                "Move the configs that are not meant to be loaded out of the conf dir (or rename them to *.bak); raise max_conf_num only if you want several networks.".into(),
                false,
            );
            if let Some(last) = ctx.out.last_mut() {
                last.files = files;
            }
        }
    }
}

/// How far past `{{` or `${` a placeholder's closing brace may stand.
const PLACEHOLDER_WINDOW: usize = 256;

/// The first template placeholder in a file: `__UPPER__`, `{{ … }}`, or a shell `$1`/`${X}`.
/// One pass over the bytes.
pub fn find_placeholder(bytes: &[u8]) -> Option<String> {
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    // The next "}}" and "}" at or after the current position; they only move forward.
    let mut close2 = Cursor::new(b"}}");
    let mut close1 = Cursor::new(b"}");
    for i in 0..bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"__") && (i == 0 || !is_word(bytes[i - 1])) {
            let n = rest[2..]
                .iter()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_')
                .count();
            let body = &rest[2..2 + n];
            if n > 2 && body[0].is_ascii_uppercase() && body.ends_with(b"__") {
                return Some(show(&rest[..2 + n]));
            }
        }
        if rest.starts_with(b"{{") {
            if let Some(end) = close2.next_from(bytes, i + 2) {
                if end - i <= PLACEHOLDER_WINDOW {
                    return Some(show(&bytes[i..end + 2]));
                }
            }
        }
        if rest.first() == Some(&b'$') {
            match rest.get(1) {
                Some(c) if c.is_ascii_digit() => return Some(show(&rest[..2])),
                Some(b'{') => {
                    if let Some(end) = close1.next_from(bytes, i + 2) {
                        let name = &bytes[i + 2..end];
                        if end - i <= PLACEHOLDER_WINDOW
                            && !name.is_empty()
                            && name.iter().all(|&c| is_word(c))
                        {
                            return Some(show(&bytes[i..end + 1]));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// The next occurrence of a needle at or after a position, for positions that only grow:
/// each byte is examined once over all calls.
struct Cursor {
    needle: &'static [u8],
    /// Where the last search found the needle (`None`: not searched yet).
    found: Option<Option<usize>>,
    searched_from: usize,
}

impl Cursor {
    fn new(needle: &'static [u8]) -> Cursor {
        Cursor {
            needle,
            found: None,
            searched_from: 0,
        }
    }

    fn next_from(&mut self, hay: &[u8], from: usize) -> Option<usize> {
        if let Some(found) = self.found {
            match found {
                Some(at) if at >= from => return Some(at),
                None if self.searched_from <= from => return None,
                _ => {}
            }
        }
        let start = from.max(self.searched_from);
        let at = hay
            .get(start..)
            .and_then(|h| h.windows(self.needle.len()).position(|w| w == self.needle))
            .map(|p| start + p);
        self.searched_from = start;
        self.found = Some(at);
        at
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The rules about one network's version, name and chain, for the file at `snap.files[index]`
/// (whether containerd loads it or not).
pub fn network_findings(snap: &Snapshot, index: usize) -> Vec<Finding> {
    let mut ctx = Ctx {
        snap,
        out: Vec::new(),
    };
    network_rules(&mut ctx, index);
    ctx.out
}

fn network_rules(ctx: &mut Ctx<'_>, i: usize) {
    let Some(net) = ctx.snap.files[i].network() else {
        return;
    };
    // One target for the messages and the fix.
    let chosen = choose_target(ctx.snap, net, None);
    let first_new = ctx.out.len();
    network_rules_inner(ctx, i, chosen.as_ref().ok().copied());
    if let Some(fix) = Fix::for_target(&ctx.snap.files[i], &chosen) {
        for f in &mut ctx.out[first_new..] {
            if f.id.repair() == Repair::CniVersion {
                f.fix = Some(fix.clone());
            }
        }
    }
}

fn network_rules_inner(ctx: &mut Ctx<'_>, i: usize, target: Option<SpecVersion>) {
    let snap = ctx.snap;
    let f = &snap.files[i];
    let Some(net) = f.network() else { return };
    let path = f.display();
    let release = snap.runtime.release;
    let runtime = ctx.runtime_label();
    let types = executed(net);
    let first = net.plugins.first();
    let first_desc = first
        .map(|p| describe(&p.plugin_type, &p.name))
        .unwrap_or_default();
    let target_hint = match target {
        Some(v) => format!("set \"cniVersion\": \"{v}\", the highest version every plugin in the chain and the runtime support (`cni-fix rewrite` does this)"),
        None => "set a cniVersion every plugin in the chain supports (`cni-fix rewrite --cni-version V`)".to_string(),
    };

    // Version presence and validity.
    let effective = net.cni_version.as_str();
    if effective.is_empty() {
        let teardown = match release {
            Some(r) => r.has(Regression::EmptyVersionTeardown),
            None => true,
        };
        let declared = match &net.declared_cni_version {
            Some(_) => "declares an empty cniVersion",
            None => "declares no cniVersion",
        };
        let (severity, message, runtime_error) = if teardown {
            let why = if release.is_some() {
                format!("{runtime} links libcni older than 1.1.0, which cannot tear such a network down")
            } else {
                "the runtime version is unknown, and every containerd before 1.6.4 links a libcni that cannot tear such a network down".to_string()
            };
            (
                Severity::Error,
                format!("Network {:?} {declared}: pods start, but {why}, so pods never stop cleanly", net.name),
                Some(format!(
                    "failed to destroy network for sandbox \"{SANDBOX}\": invalid version \"\": the version is empty"
                )),
            )
        } else {
            (
                Severity::Warning,
                format!(
                    "Network {:?} {declared}: {runtime} reads it as 0.1.0, so it runs at the oldest spec version (no CHECK, old result format), and containerd before 1.6.4 cannot tear it down",
                    net.name
                ),
                None,
            )
        };
        ctx.push(
            FindingId::MissingVersion,
            severity,
            Some(path.clone()),
            None,
            message,
            runtime_error,
            format!("Declare the version: {target_hint}."),
            true,
        );
    } else if SpecVersion::exact(effective).is_none() {
        let list = first
            .and_then(|p| ctx.plugin(&p.plugin_type))
            .and_then(|p| p.versions.as_deref())
            .map(go_quote_list)
            .unwrap_or_else(|| "[…]".to_string());
        ctx.push(
            FindingId::InvalidVersion,
            Severity::Error,
            Some(path.clone()),
            None,
            format!(
                "Network {:?} has cniVersion {effective:?}, which is not a CNI spec version (0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0): plugins match versions as exact strings and every one rejects it",
                net.name
            ),
            Some(format!(
                "failed to setup network for sandbox \"{SANDBOX}\": plugin {first_desc} failed (add): incompatible CNI versions; config is {effective:?}, plugin supports {list}"
            )),
            format!("Use a spec version: {target_hint}."),
            true,
        );
    }

    // Spec versions the runtime cannot use.
    if let Some(spec) = SpecVersion::exact(effective) {
        match runtime_max(ctx.snap) {
            Some(max) if spec > max => ctx.push(
                FindingId::UnsupportedSpecVersion,
                Severity::Error,
                Some(path.clone()),
                None,
                format!(
                    "Network {:?} uses spec {spec}, but {runtime} links libcni {}, which reads results only up to {max}",
                    net.name,
                    release.map(|r| r.libcni.to_string()).unwrap_or_default()
                ),
                Some(format!(
                    "failed to setup network for sandbox \"{SANDBOX}\": plugin {first_desc} failed (add): unsupported CNI result version \"{spec}\""
                )),
                format!(
                    "Lower the version: {target_hint}; or upgrade containerd ({} needs containerd {}).",
                    spec,
                    if spec == SpecVersion::V1_1_0 { "2.0 or later" } else { "1.6 or later" }
                ),
                true,
            ),
            None if spec > SpecVersion::V1_0_0 => ctx.push(
                FindingId::UnsupportedSpecVersion,
                Severity::Warning,
                Some(path.clone()),
                None,
                format!(
                    "Network {:?} uses spec {spec}, which only containerd 2.0 and later can use; the runtime version is unknown",
                    net.name
                ),
                Some(format!(
                    "failed to setup network for sandbox \"{SANDBOX}\": plugin {first_desc} failed (add): unsupported CNI result version \"{spec}\""
                )),
                format!("Check the containerd version (--containerd-version), or {target_hint}."),
                true,
            ),
            _ => {}
        }
    }
    if let Some(list) = &net.cni_versions {
        let old = match release {
            Some(r) => r.libcni_generation() < crate::conf::LibcniGeneration::V1_2,
            None => true,
        };
        let declared = net.declared_cni_version.as_deref().unwrap_or("");
        let negotiated = negotiated_version(list, declared);
        if old && negotiated.as_deref().is_some_and(|n| n != declared) {
            let negotiated = negotiated.unwrap_or_default();
            let uses = if declared.is_empty() {
                "it declares no cniVersion of its own".to_string()
            } else {
                format!("it runs at cniVersion {declared:?}")
            };
            ctx.push(
                FindingId::UnsupportedSpecVersion,
                Severity::Warning,
                Some(path.clone()),
                None,
                format!(
                    "Network {:?} has a cniVersions list, which {runtime} ignores (only libcni 1.2 and later, containerd 2.0 and later, read it): {uses} here, but containerd 2.0 and later negotiate {negotiated:?} from the list, so upgrading containerd changes the version its plugins get",
                    net.name
                ),
                None,
                format!("Make the two agree: {target_hint}, and keep no cniVersions entry above it."),
                true,
            );
        }
    }

    // Plugins that reject the version.
    if SpecVersion::exact(effective).is_some() || effective.is_empty() {
        let v = if effective.is_empty() {
            IMPLICIT_VERSION
        } else {
            effective
        };
        for e in &types {
            let (t, runner, runner_name) = (e.plugin_type, &e.runner.plugin_type, &e.runner.name);
            let Some(info) = ctx.plugin(t) else { continue };
            let Some(list) = &info.versions else { continue };
            if list.iter().any(|s| s == v) {
                continue;
            }
            let too = match SpecVersion::exact(v) {
                Some(sv)
                    if list
                        .iter()
                        .filter_map(|s| SpecVersion::exact(s))
                        .all(|s| s < sv) =>
                {
                    "too new"
                }
                _ => "not supported",
            };
            let declared = if effective.is_empty() {
                format!("no cniVersion, which plugins read as {v}")
            } else {
                format!("cniVersion {v}")
            };
            let role = match e.role {
                Role::Chain => String::new(),
                Role::Ipam => format!(" (IPAM plugin of {runner})"),
                Role::Delegate => format!(" (delegate of {runner})"),
            };
            let minimum = list.iter().filter_map(|s| SpecVersion::exact(s)).min();
            let below_minimum =
                matches!((SpecVersion::exact(v), minimum), (Some(sv), Some(m)) if sv < m);
            let wanted = SpecVersion::exact(v).unwrap_or(SpecVersion::V1_0_0);
            let remedy = match (target, below_minimum) {
                (Some(tv), true) => format!(
                    "Raise the version: set \"cniVersion\": \"{tv}\" (`cni-fix rewrite` does this); {t} supports nothing older than {}",
                    minimum.map(SpecVersion::as_str).unwrap_or_default()
                ),
                (Some(tv), false) => format!(
                    "Set \"cniVersion\": \"{tv}\" (`cni-fix rewrite` does this), or upgrade {}",
                    upgrade_to(t, wanted)
                ),
                (None, _) if RELEASE_PLUGINS.contains(&t) => format!(
                    "No cniVersion works for every plugin in this chain: upgrade the plugins that support the fewest versions, starting with {t} (containernetworking/plugins v1.0.1 or later supports 0.1.0 to 1.0.0, v1.6.0 or later adds 1.1.0)"
                ),
                (None, _) => format!(
                    "No cniVersion works for every plugin in this chain: upgrade the plugins that support the fewest versions, starting with {}",
                    upgrade_to(t, wanted)
                ),
            };
            ctx.push(
                FindingId::IncompatibleVersion,
                Severity::Error,
                Some(path.clone()),
                Some(t),
                format!(
                    "Network {:?} has {declared}, {too} for {t}{role} at {}, which supports {}: every pod start and stop fails",
                    net.name,
                    info.path.as_deref().map(display_path).unwrap_or_default(),
                    list.join(", ")
                ),
                Some(format!(
                    "failed to setup network for sandbox \"{SANDBOX}\": plugin {} failed (add): incompatible CNI versions; config is {v:?}, plugin supports {}",
                    describe(runner, runner_name),
                    go_quote_list(list)
                )),
                format!("{remedy}."),
                target.is_some(),
            );
        }
    }

    // Network name.
    if !valid_name(&net.name) {
        let detail = if net.name.is_empty() {
            "missing network name:".to_string()
        } else {
            format!("invalid characters found in network name; {}", net.name)
        };
        let what = if net.name.is_empty() {
            "has no name".to_string()
        } else {
            format!("has the name {:?}", net.name)
        };
        ctx.push(
            FindingId::InvalidNetworkName,
            Severity::Error,
            Some(path.clone()),
            None,
            format!(
                "The network {what}; plugins require a name matching ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$ and reject every pod start and stop"
            ),
            Some(format!(
                "failed to setup network for sandbox \"{SANDBOX}\": plugin {first_desc} failed (add): {detail}"
            )),
            "Give the network a name of letters, digits, '_', '.' and '-' that starts with a letter or digit.".into(),
            false,
        );
    }

    // Results without a version, chained.
    let regression = match release {
        Some(r) => r
            .has(Regression::ResultWithoutVersion)
            .then_some(Severity::Error),
        None => Some(Severity::Warning),
    };
    if let Some(severity) = regression {
        let n = net.plugins.len();
        for (k, p) in net.plugins.iter().enumerate() {
            if k + 1 < n && UNVERSIONED_RESULT_PLUGINS.contains(&p.plugin_type.as_str()) {
                let next = &net.plugins[k + 1];
                let when = if release.is_some() {
                    format!("on {runtime}")
                } else {
                    "on containerd 1.6.0 to 1.6.4 (the runtime version is unknown)".to_string()
                };
                ctx.push(
                    FindingId::ResultVersionRegression,
                    severity,
                    Some(path.clone()),
                    Some(&p.plugin_type),
                    format!(
                        "{} returns results without a cniVersion and {} follows it in the chain: {when}, libcni reads that result as 0.1.0 and the next plugin fails",
                        p.plugin_type, next.plugin_type
                    ),
                    Some(format!(
                        "failed to setup network for sandbox \"{SANDBOX}\": plugin {} failed (add): failed to parse config: could not parse prevResult: could not parse prevResult: result type supports [0.3.0 0.3.1 0.4.0] but unmarshalled CNIVersion is \"0.1.0\"",
                        describe(&next.plugin_type, &next.name)
                    )),
                    "Upgrade containerd to 1.6.5 or later; a config change cannot fix this.".into(),
                    false,
                );
            }
        }
    }
}

fn plugins(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    let needed = snap.needed_plugins();
    let dirs: Vec<String> = snap.bin_dirs.iter().map(|d| display_path(d)).collect();
    let go_dirs = format!("[{}]", dirs.join(" "));
    for info in snap
        .plugins
        .iter()
        .filter(|p| p.needed && p.unread.is_none())
    {
        let t = info.plugin_type.as_str();
        let users: Vec<Option<usize>> = match needed.get(t) {
            Some(f) if !f.is_empty() => f.iter().map(|&i| Some(i)).collect(),
            _ => vec![None],
        };
        let files: Vec<Option<String>> = users
            .iter()
            .map(|u| u.map(|i| snap.files[i].display()))
            .collect();
        let for_what = |file: &Option<String>| match file {
            Some(_) => "This network",
            None => "containerd's built-in loopback network",
        };
        match (&info.path, info.executable) {
            (None, _) => {
                for (file, user) in files.iter().zip(&users) {
                    let runner = user
                        .and_then(|i| snap.files[i].network())
                        .and_then(|n| {
                            executed(n)
                                .into_iter()
                                .find(|e| e.plugin_type == t)
                                .map(|e| describe(&e.runner.plugin_type, &e.runner.name))
                        })
                        .unwrap_or_else(|| describe(t, ""));
                    let err = info.problem.clone().unwrap_or_else(|| {
                        format!("failed to find plugin {t:?} in path {go_dirs}")
                    });
                    ctx.push(
                        FindingId::PluginNotFound,
                        Severity::Error,
                        file.clone(),
                        Some(t),
                        format!(
                            "{} needs the plugin {t}, but no file named {t} is in {}",
                            for_what(file),
                            dirs.join(", ")
                        ),
                        Some(format!(
                            "failed to setup network for sandbox \"{SANDBOX}\": plugin {runner} failed (add): {err}"
                        )),
                        format!("Install {t} into {} (or point bin_dir / --bin-dir at the directory that holds it).", dirs.first().map(String::as_str).unwrap_or("the plugin dir")),
                        false,
                    );
                }
                continue;
            }
            (Some(path), false) => {
                let shown = display_path(path);
                for file in &files {
                    ctx.push(
                        FindingId::PluginNotFound,
                        Severity::Error,
                        file.clone(),
                        Some(t),
                        format!(
                            "{} needs the plugin {t}; libcni finds {shown} first, but it is not executable",
                            for_what(file)
                        ),
                        Some(format!(
                            "failed to setup network for sandbox \"{SANDBOX}\": plugin {} failed (add): fork/exec {shown}: permission denied",
                            describe(t, "")
                        )),
                        format!("chmod 755 {shown}"),
                        false,
                    );
                }
                continue;
            }
            (Some(_), true) => {}
        }
        if info.versions.is_none() {
            let severity = if info.probe_failed {
                Severity::Warning
            } else {
                Severity::Info
            };
            let skipped = if info.for_loopback && needed.get(t).is_none_or(|f| f.is_empty()) {
                "loopback-incompatible"
            } else if info.for_loopback {
                "incompatible-version and loopback-incompatible"
            } else {
                "incompatible-version"
            };
            ctx.push(
                FindingId::PluginVersionUnknown,
                severity,
                files.first().cloned().flatten(),
                Some(t),
                format!(
                    "The spec versions of {t} ({}) are unknown: {}; {skipped} was skipped for it",
                    info.path.as_deref().map(display_path).unwrap_or_default(),
                    info.problem.as_deref().unwrap_or("no source of versions")
                ),
                None,
                unknown_versions_remedy(snap, info),
                false,
            );
        }
    }
    loopback(ctx);
}

/// What to do about a plugin whose versions are unknown, given how cni-fix already tried.
fn unknown_versions_remedy(snap: &Snapshot, info: &PluginInfo) -> String {
    use crate::snapshot::ProbeMode;
    let mut steps = Vec::new();
    match snap.probe {
        ProbeMode::Exec if info.probe_failed => steps.push(
            "check that the binary runs on this machine, or raise --probe-timeout if it is slow to answer".to_string(),
        ),
        ProbeMode::Exec => {}
        ProbeMode::Static if info.probe_failed => steps.push(
            "run with --probe exec on the node (the binary could not be read statically)".to_string(),
        ),
        ProbeMode::Static | ProbeMode::None => {
            steps.push("run with --probe exec on the node".to_string())
        }
    }
    match &snap.assumed_release {
        None if RELEASE_PLUGINS.contains(&info.plugin_type.as_str()) => steps.push(
            "name the plugins release with --assume-plugins-release".to_string(),
        ),
        None => {}
        Some(r) => steps.push(format!(
            "{} is not in containernetworking/plugins {r}, so --assume-plugins-release cannot tell its versions",
            info.plugin_type
        )),
    }
    if steps.is_empty() {
        return "Check the plugin's versions by hand (CNI_COMMAND=VERSION).".to_string();
    }
    let mut text = steps.join("; ");
    if let Some(first) = text.get(..1) {
        let upper = first.to_uppercase();
        text.replace_range(..1, &upper);
    }
    format!("{text}.")
}

fn loopback(ctx: &mut Ctx<'_>) {
    let snap = ctx.snap;
    if snap.internal_loopback {
        return;
    }
    let Some(info) = ctx.plugin("loopback") else {
        return;
    };
    let Some(list) = info.versions.clone() else {
        return;
    };
    let path = info.path.as_deref().map(display_path).unwrap_or_default();
    let runtime = ctx.runtime_label();
    let err = |v: &str| {
        format!(
            "failed to setup network for sandbox \"{SANDBOX}\": plugin type=\"loopback\" failed (add): incompatible CNI versions; config is {v:?}, plugin supports {}",
            go_quote_list(&list)
        )
    };
    let supports = |v: SpecVersion| list.iter().any(|s| s == v.as_str());
    match snap.runtime.release {
        Some(r) => {
            if !supports(r.loopback) {
                ctx.push(
                    FindingId::LoopbackIncompatible,
                    Severity::Error,
                    None,
                    Some("loopback"),
                    format!(
                        "{runtime} runs its built-in cni-loopback network at cniVersion {}, but {path} supports only {}: every pod fails",
                        r.loopback,
                        list.join(", ")
                    ),
                    Some(err(r.loopback.as_str())),
                    if r.has(Regression::LoopbackAt1_0_0) {
                        "Upgrade containerd to 1.6.4 or later, or replace the loopback binary with one from containernetworking/plugins v1.0.1 or later; a config change cannot fix this.".into()
                    } else {
                        "Replace the loopback binary with one from containernetworking/plugins v1.0.1 or later; a config change cannot fix this.".into()
                    },
                    false,
                );
            }
        }
        None => {
            if !supports(SpecVersion::V0_3_1) {
                ctx.push(
                    FindingId::LoopbackIncompatible,
                    Severity::Error,
                    None,
                    Some("loopback"),
                    format!(
                        "Every containerd release runs its built-in cni-loopback network at cniVersion 0.3.1 or 1.0.0, but {path} supports only {}",
                        list.join(", ")
                    ),
                    Some(err("0.3.1")),
                    "Replace the loopback binary with one from containernetworking/plugins v1.0.1 or later.".into(),
                    false,
                );
            } else if !supports(SpecVersion::V1_0_0) {
                ctx.push(
                    FindingId::LoopbackIncompatible,
                    Severity::Warning,
                    None,
                    Some("loopback"),
                    format!(
                        "{path} does not support 1.0.0, the cniVersion of containerd 1.6.3's built-in loopback network; the runtime version is unknown"
                    ),
                    Some(err("1.0.0")),
                    "Make sure containerd is not 1.6.3 (--containerd-version), or replace the loopback binary with one from containernetworking/plugins v1.0.1 or later.".into(),
                    false,
                );
            }
        }
    }
}

fn permissions(ctx: &mut Ctx<'_>) {
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
        ctx.push(
            FindingId::InsecurePermissions,
            Severity::Warning,
            o.file.clone(),
            None,
            format!(
                "The {} {path} is {}: whoever can change it can run code as root through the runtime",
                o.what,
                problems.join(" and ")
            ),
            None,
            fix,
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            find_placeholder(br#"{"mtu": __CNI_MTU__}"#).as_deref(),
            Some("__CNI_MTU__")
        );
        assert_eq!(
            find_placeholder(br#"{"hairpinMode": $2}"#).as_deref(),
            Some("$2")
        );
        assert_eq!(
            find_placeholder(br#"{"debug": {{.Debug | js }}}"#).as_deref(),
            Some("{{.Debug | js }}")
        );
        assert_eq!(
            find_placeholder(br#"{"x": "${NODE_NAME}"}"#).as_deref(),
            Some("${NODE_NAME}")
        );
        assert_eq!(
            find_placeholder(br#"{"name": "__init__", "price": "$ 5", "a": "{}"}"#),
            None
        );
        assert_eq!(find_placeholder(br#"{"name": "my__net"}"#), None);
    }

    #[test]
    fn names() {
        for ok in ["cbr0", "containerd-net", "k8s-pod-network", "a.b_c-d", "0"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-x", "bad name!", "_x", "ñ"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

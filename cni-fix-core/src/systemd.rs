//! systemd's unit files, drop-ins and environment files, read as systemd reads them, and the
//! command line a unit's `ExecStart=` becomes.
//!
//! The rules follow systemd's own parsers (`src/shared/conf-parser.c` for units,
//! `src/basic/env-file.c` for `EnvironmentFile=`, `extract_first_word()` in
//! `src/basic/extract-word.c` for quoting, `replace_env_argv()` in `src/basic/env-util.c` for
//! `$VAR` and `${VAR}`), as documented in systemd.unit(5), systemd.service(5) and
//! systemd.exec(5). Every value keeps its origin (file and line), so a finding can name where
//! a flag is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a value comes from: a file and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The node path of the file.
    pub path: PathBuf,
    /// The line the value starts on.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", crate::node::display_path(&self.path), self.line)
    }
}

/// A line systemd ignores or rejects, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub origin: Origin,
    /// What is wrong, as systemd would log it.
    pub message: String,
}

/// One `KEY=value` of an environment file, or of `Environment=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The variable.
    pub name: String,
    /// Its value, quotes and escapes resolved.
    pub value: String,
    /// Where it is set.
    pub origin: Origin,
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Read an environment file as systemd's `EnvironmentFile=` does: `KEY=value` lines, `#` and
/// `;` comments at the start of a line, values in double quotes (where `\` escapes `"`, `\`,
/// `` ` `` and `$`, and a backslash-newline joins lines), in single quotes (taken literally,
/// newlines included), or bare (where `\` escapes the next character, a backslash-newline
/// joins lines and trailing blanks are dropped). An invalid line is ignored, as systemd
/// ignores it, and reported.
pub fn parse_env_file(path: &Path, text: &str) -> (Vec<Assignment>, Vec<Problem>) {
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        SingleQuote,
        DoubleQuote,
        DoubleQuoteEscape,
        Comment,
        CommentEscape,
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut state = S::PreKey;
    let mut key = String::new();
    let mut value = String::new();
    // Trailing blanks of a bare value are dropped; quoted ones are kept.
    let mut keep_len = 0usize;
    let mut line = 1usize;
    let mut start_line = 1usize;
    let origin = |line| Origin {
        path: path.to_path_buf(),
        line,
    };
    let no_equals = |key: &str, line| Problem {
        origin: origin(line),
        message: format!(
            "line {:?} has no '='; systemd ignores it",
            truncate(key.trim_end(), 80)
        ),
    };
    let push = |key: &mut String,
                value: &mut String,
                keep_len: usize,
                start_line: usize,
                out: &mut Vec<Assignment>,
                problems: &mut Vec<Problem>| {
        let k = key.trim_end().to_string();
        value.truncate(keep_len.max(value.trim_end().len()).min(value.len()));
        if valid_env_name(&k) {
            out.push(Assignment {
                name: k,
                value: std::mem::take(value),
                origin: origin(start_line),
            });
        } else {
            problems.push(Problem {
                origin: origin(start_line),
                message: format!(
                    "invalid environment assignment {:?}: {:?} is not a variable name; systemd ignores the line",
                    truncate(&format!("{k}={value}"), 80),
                    truncate(&k, 40)
                ),
            });
        }
        key.clear();
        value.clear();
    };
    for c in text.chars() {
        if state == S::PreValue && (c == '\n' || !c.is_whitespace()) {
            state = S::Value;
        }
        match state {
            S::PreKey => {
                if c == '#' || c == ';' {
                    state = S::Comment;
                } else if c == '\n' {
                } else if !c.is_whitespace() {
                    start_line = line;
                    key.push(c);
                    state = S::Key;
                }
            }
            S::Key => {
                if c == '\n' {
                    problems.push(no_equals(&key, start_line));
                    key.clear();
                    state = S::PreKey;
                } else if c == '=' {
                    state = S::PreValue;
                    keep_len = 0;
                } else {
                    key.push(c);
                }
            }
            // Blanks before a value are skipped; anything else starts it.
            S::PreValue => {}
            S::Value => {
                if c == '\n' {
                    push(
                        &mut key,
                        &mut value,
                        keep_len,
                        start_line,
                        &mut out,
                        &mut problems,
                    );
                    state = S::PreKey;
                } else if c == '\\' {
                    state = S::ValueEscape;
                } else if c == '\'' {
                    state = S::SingleQuote;
                } else if c == '"' {
                    state = S::DoubleQuote;
                } else {
                    value.push(c);
                }
            }
            S::ValueEscape => {
                state = S::Value;
                if c != '\n' {
                    value.push(c);
                    keep_len = value.len();
                }
            }
            S::SingleQuote => {
                if c == '\'' {
                    keep_len = value.len();
                    state = S::Value;
                } else {
                    value.push(c);
                }
            }
            S::DoubleQuote => {
                if c == '"' {
                    keep_len = value.len();
                    state = S::Value;
                } else if c == '\\' {
                    state = S::DoubleQuoteEscape;
                } else {
                    value.push(c);
                }
            }
            S::DoubleQuoteEscape => {
                state = S::DoubleQuote;
                match c {
                    '"' | '\\' | '`' | '$' => value.push(c),
                    '\n' => {}
                    other => {
                        value.push('\\');
                        value.push(other);
                    }
                }
            }
            S::Comment => {
                if c == '\\' {
                    state = S::CommentEscape;
                } else if c == '\n' {
                    state = S::PreKey;
                }
            }
            S::CommentEscape => state = S::Comment,
        }
        if c == '\n' {
            line += 1;
        }
    }
    match state {
        S::Key => problems.push(no_equals(&key, start_line)),
        S::PreValue | S::Value | S::ValueEscape => push(
            &mut key,
            &mut value,
            keep_len,
            start_line,
            &mut out,
            &mut problems,
        ),
        S::SingleQuote | S::DoubleQuote | S::DoubleQuoteEscape => {
            // systemd takes an unterminated quote to the end of the file.
            let all = value.len();
            push(
                &mut key,
                &mut value,
                all,
                start_line,
                &mut out,
                &mut problems,
            );
            problems.push(Problem {
                origin: origin(start_line),
                message:
                    "a quote opened here is never closed; the value runs to the end of the file"
                        .to_string(),
            });
        }
        _ => {}
    }
    (out, problems)
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Why a line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SplitError(pub String);

/// Split a line into words as systemd's `extract_first_word()` does with unquoting and C
/// escapes: blanks separate words, `"…"` and `'…'` quote (and may be joined to other text in
/// the same word), and `\` escapes (`\n`, `\t`, `\\`, `\"`, `\'`, `\xNN`, octal, …).
pub fn split_words(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        loop {
            let Some(c) = chars.next() else {
                if let Some(q) = quote {
                    return Err(SplitError(format!("unbalanced quoting: {q} never closed")));
                }
                break;
            };
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    let Some(e) = chars.next() else {
                        return Err(SplitError("a trailing backslash escapes nothing".into()));
                    };
                    word.push_str(&unescape(e, &mut chars)?);
                }
                (_, c) => word.push(c),
            }
        }
        words.push(word);
    }
}

/// One C escape after a backslash.
fn unescape(
    e: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<String, SplitError> {
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        's' => Some(' '),
        '\\' | '"' | '\'' | ' ' | '$' => Some(e),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok(c.to_string());
    }
    let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize, radix: u32| {
        let mut v = 0u32;
        for _ in 0..n {
            let d = chars
                .next()
                .and_then(|c| c.to_digit(radix))
                .ok_or_else(|| SplitError(format!("bad escape \\{e}")))?;
            v = v * radix + d;
        }
        char::from_u32(v).ok_or_else(|| SplitError(format!("bad escape \\{e}")))
    };
    match e {
        'x' => Ok(digits(chars, 2, 16)?.to_string()),
        'u' => Ok(digits(chars, 4, 16)?.to_string()),
        'U' => Ok(digits(chars, 8, 16)?.to_string()),
        '0'..='7' => {
            let rest = digits(chars, 2, 8)?;
            let v = e.to_digit(8).unwrap_or(0) * 64 + rest as u32;
            char::from_u32(v)
                .map(|c| c.to_string())
                .ok_or_else(|| SplitError(format!("bad escape \\{e}")))
        }
        _ => Err(SplitError(format!("unknown escape \\{e}"))),
    }
}

/// One argument of a command line, with where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The argument.
    pub text: String,
    /// Where it comes from: the `ExecStart=` line, or the assignment of the variable it came
    /// from.
    pub origin: Origin,
}

/// Expand `$VAR` and `${VAR}` in `ExecStart=` words as systemd does at exec time: a word that
/// is exactly `$VAR` becomes the variable's value split at blanks (zero or more words; quotes
/// in the value are honoured); `${VAR}` anywhere in a word is replaced by the exact value;
/// `$$` is a `$`. An unset variable is empty.
pub fn expand(words: &[String], line: &Origin, env: &BTreeMap<String, Assignment>) -> Vec<Word> {
    let mut out = Vec::new();
    for w in words {
        if let Some(name) = w.strip_prefix('$').filter(|n| valid_env_name(n)) {
            if let Some(a) = env.get(name) {
                let parts = split_words(&a.value)
                    .unwrap_or_else(|_| a.value.split_whitespace().map(str::to_string).collect());
                out.extend(parts.into_iter().map(|text| Word {
                    text,
                    origin: a.origin.clone(),
                }));
            }
            continue;
        }
        let mut text = String::new();
        let mut origin = line.clone();
        let mut rest = w.as_str();
        while let Some(i) = rest.find('$') {
            text.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(r) = after.strip_prefix('$') {
                text.push('$');
                rest = r;
            } else if let Some(close) = after.strip_prefix('{').and_then(|r| r.find('}')) {
                let name = &after[1..1 + close];
                if let Some(a) = env.get(name) {
                    text.push_str(&a.value);
                    origin = a.origin.clone();
                }
                rest = &after[close + 2..];
            } else {
                text.push('$');
                rest = after;
            }
        }
        text.push_str(rest);
        out.push(Word { text, origin });
    }
    out
}

/// One `Key=value` of a unit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The section, without brackets.
    pub section: String,
    /// The key.
    pub key: String,
    /// The value, continuation lines joined.
    pub value: String,
    /// Where it starts.
    pub origin: Origin,
}

/// Read a unit file or drop-in as systemd's config parser does: `[Section]` headers,
/// `Key=value` lines, `#` and `;` comments, a trailing backslash continuing a line (comment
/// lines inside a continuation are skipped). Lines that are neither are reported and skipped.
pub fn parse_unit(path: &Path, text: &str) -> (Vec<Setting>, Vec<Problem>) {
    let mut settings = Vec::new();
    let mut problems = Vec::new();
    let mut section = String::new();
    let mut pending: Option<(String, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if let Some((mut acc, start)) = pending.take() {
            if line.starts_with('#') || line.starts_with(';') {
                pending = Some((acc, start));
                continue;
            }
            if let Some(more) = line.strip_suffix('\\') {
                acc.push(' ');
                acc.push_str(more);
                pending = Some((acc, start));
                continue;
            }
            acc.push(' ');
            acc.push_str(line);
            take_line(
                path,
                &acc,
                start,
                &mut section,
                &mut settings,
                &mut problems,
            );
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(more) = line.strip_suffix('\\') {
            pending = Some((more.to_string(), n));
            continue;
        }
        take_line(path, line, n, &mut section, &mut settings, &mut problems);
    }
    if let Some((acc, start)) = pending {
        take_line(
            path,
            &acc,
            start,
            &mut section,
            &mut settings,
            &mut problems,
        );
    }
    (settings, problems)
}

fn take_line(
    path: &Path,
    line: &str,
    n: usize,
    section: &mut String,
    settings: &mut Vec<Setting>,
    problems: &mut Vec<Problem>,
) {
    let origin = Origin {
        path: path.to_path_buf(),
        line: n,
    };
    let line = line.trim();
    if let Some(name) = line.strip_prefix('[') {
        match name.strip_suffix(']') {
            Some(name) => *section = name.to_string(),
            None => problems.push(Problem {
                origin,
                message: format!("invalid section header {:?}", truncate(line, 80)),
            }),
        }
        return;
    }
    match line.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => settings.push(Setting {
            section: section.clone(),
            key: k.trim().to_string(),
            value: v.trim().to_string(),
            origin,
        }),
        _ => problems.push(Problem {
            origin,
            message: format!(
                "line {:?} is not Key=value; systemd ignores it",
                truncate(line, 80)
            ),
        }),
    }
}

/// The directories systemd loads system units from, highest precedence first
/// (systemd.unit(5), "System Unit Search Path").
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// The files that make up a unit: its unit file and its drop-ins in the order systemd applies
/// them (drop-ins sorted by file name across every unit directory, a name in a directory of
/// higher precedence masking the same name in a lower one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFiles {
    /// The unit file, if any.
    pub unit: Option<PathBuf>,
    /// The drop-ins, in the order they apply.
    pub dropins: Vec<PathBuf>,
}

impl UnitFiles {
    /// Every file, unit first.
    pub fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.unit.iter().chain(self.dropins.iter())
    }
}

/// Find a unit's files on a node.
pub fn locate_unit(node: &dyn crate::source::NodeSource, name: &str) -> UnitFiles {
    let unit = UNIT_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| node.metadata(p).is_ok());
    let mut by_name: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
    for d in UNIT_DIRS.iter().rev() {
        let dir = Path::new(d).join(format!("{name}.d"));
        if let Ok(entries) = node.read_dir(&dir) {
            for e in entries {
                if e.name.as_encoded_bytes().ends_with(b".conf") {
                    by_name.insert(e.name.clone(), dir.join(&e.name));
                }
            }
        }
    }
    UnitFiles {
        unit,
        dropins: by_name.into_values().collect(),
    }
}

/// The service settings that decide how a service starts, merged over its unit and
/// drop-ins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    /// `ExecStart=` lines in effect (an empty assignment clears the earlier ones).
    pub exec_start: Vec<(String, Origin)>,
    /// `Environment=` assignments in effect, in order.
    pub environment: Vec<Assignment>,
    /// `EnvironmentFile=` paths in effect: the path, whether a missing file is allowed (`-`),
    /// and where it is named.
    pub environment_files: Vec<(PathBuf, bool, Origin)>,
    /// Every setting read, in order, for checks that look at any key.
    pub settings: Vec<Setting>,
    /// Lines systemd ignores.
    pub problems: Vec<Problem>,
}

impl Service {
    /// Apply one file's settings on top.
    pub fn apply(&mut self, path: &Path, text: &str) {
        let (settings, problems) = parse_unit(path, text);
        self.problems.extend(problems);
        for s in settings {
            if s.section == "Service" {
                match s.key.as_str() {
                    "ExecStart" if s.value.is_empty() => self.exec_start.clear(),
                    "ExecStart" => self.exec_start.push((s.value.clone(), s.origin.clone())),
                    "Environment" if s.value.is_empty() => self.environment.clear(),
                    "Environment" => match split_words(&s.value) {
                        Ok(words) => {
                            for w in words {
                                match w.split_once('=') {
                                    Some((k, v)) if valid_env_name(k) => {
                                        self.environment.push(Assignment {
                                            name: k.to_string(),
                                            value: v.to_string(),
                                            origin: s.origin.clone(),
                                        })
                                    }
                                    _ => self.problems.push(Problem {
                                        origin: s.origin.clone(),
                                        message: format!(
                                            "invalid environment assignment {:?}; systemd ignores it",
                                            truncate(&w, 80)
                                        ),
                                    }),
                                }
                            }
                        }
                        Err(e) => self.problems.push(Problem {
                            origin: s.origin.clone(),
                            message: format!(
                                "Environment= cannot be split: {e}; systemd ignores it"
                            ),
                        }),
                    },
                    "EnvironmentFile" if s.value.is_empty() => self.environment_files.clear(),
                    "EnvironmentFile" => {
                        let (optional, p) = match s.value.strip_prefix('-') {
                            Some(p) => (true, p),
                            None => (false, s.value.as_str()),
                        };
                        self.environment_files.push((
                            PathBuf::from(p.trim()),
                            optional,
                            s.origin.clone(),
                        ));
                    }
                    _ => {}
                }
            }
            self.settings.push(s);
        }
    }

    /// The values of `key` in `section`, in order (lists such as `After=` accumulate).
    pub fn values<'a>(
        &'a self,
        section: &'a str,
        key: &'a str,
    ) -> impl Iterator<Item = &'a Setting> {
        self.settings
            .iter()
            .filter(move |s| s.section == section && s.key == key)
    }
}

/// Strip `ExecStart=`'s special prefixes (`-`, `@`, `:`, `+`, `!`, `!!`) from the first word;
/// `:` turns variable expansion off.
pub fn exec_prefixes(first: &str) -> (&str, bool) {
    let mut s = first;
    let mut expand = true;
    loop {
        if let Some(r) = s.strip_prefix("!!") {
            s = r;
        } else if let Some(r) = s.strip_prefix(['-', '@', '+', '!']) {
            s = r;
        } else if let Some(r) = s.strip_prefix(':') {
            expand = false;
            s = r;
        } else {
            return (s, expand);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Vec<(String, String)> {
        parse_env_file(Path::new("/f"), text)
            .0
            .into_iter()
            .map(|a| (a.name, a.value))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn env_files_as_kubeadm_writes_them() {
        // kubeadm's `%s=%q` (1.11 and later) and its older `%s=%s`.
        assert_eq!(
            env("KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9\"\n"),
            pairs(&[("KUBELET_KUBEADM_ARGS", "--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9")])
        );
        assert_eq!(
            env("KUBELET_KUBEADM_ARGS=--network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.6\n"),
            pairs(&[("KUBELET_KUBEADM_ARGS", "--network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.6")])
        );
        assert_eq!(
            env("KUBELET_EXTRA_ARGS=\n"),
            pairs(&[("KUBELET_EXTRA_ARGS", "")])
        );
    }

    #[test]
    fn env_file_quoting_and_comments() {
        assert_eq!(
            env("# c\n; c\n  A = 'x y' \nB=\"q\\\"\\$ \\n\"\nC=a\\ b  \nD=one\\\ntwo\nE='multi\nline'\n"),
            pairs(&[
                ("A", "x y"),
                ("B", "q\"$ \\n"),
                ("C", "a b"),
                ("D", "onetwo"),
                ("E", "multi\nline"),
            ])
        );
        let (ok, problems) = parse_env_file(Path::new("/f"), "garbage line\n1X=2\nOK=1");
        assert_eq!(ok.len(), 1);
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].origin.line, 1);
        assert_eq!(problems[1].origin.line, 2);
    }

    #[test]
    fn env_file_lines_are_counted() {
        let (a, _) = parse_env_file(Path::new("/f"), "\n\nA=\"x\ny\"\nB=2\n");
        assert_eq!(a[0].origin.line, 3);
        assert_eq!(a[1].origin.line, 5);
    }

    #[test]
    fn words_split_like_systemd() {
        assert_eq!(
            split_words(r#"/usr/bin/kubelet "a b" 'c d' e\ f "x"y \x41"#).unwrap(),
            ["/usr/bin/kubelet", "a b", "c d", "e f", "xy", "A"]
        );
        assert!(split_words("\"open").is_err());
        assert!(split_words("trailing\\").is_err());
    }

    #[test]
    fn expansion() {
        let o = Origin {
            path: "/u".into(),
            line: 9,
        };
        let mut env = BTreeMap::new();
        env.insert(
            "ARGS".to_string(),
            Assignment {
                name: "ARGS".into(),
                value: "--a=1 --b='x y'".into(),
                origin: Origin {
                    path: "/e".into(),
                    line: 1,
                },
            },
        );
        let words: Vec<String> = ["/bin/k", "$ARGS", "${ARGS}", "$MISSING", "$$x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = expand(&words, &o, &env);
        let texts: Vec<_> = out.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            ["/bin/k", "--a=1", "--b=x y", "--a=1 --b='x y'", "$x"]
        );
        assert_eq!(out[1].origin.path, Path::new("/e"));
        assert_eq!(out[0].origin.line, 9);
    }

    #[test]
    fn units_merge_and_reset() {
        let mut s = Service::default();
        s.apply(
            Path::new("/lib/systemd/system/kubelet.service"),
            "[Unit]\nAfter=network.target\n[Service]\nExecStart=/usr/bin/kubelet\n",
        );
        s.apply(
            Path::new("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"),
            "[Service]\nEnvironment=\"A=1 2\" B=3\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nExecStart=\nExecStart=/usr/bin/kubelet \\\n  $A\n",
        );
        assert_eq!(s.exec_start.len(), 1);
        assert_eq!(s.exec_start[0].0, "/usr/bin/kubelet  $A");
        assert_eq!(s.exec_start[0].1.line, 5);
        assert_eq!(s.environment[0].value, "1 2");
        assert_eq!(s.environment[1].name, "B");
        assert!(s.environment_files[0].1);
        assert_eq!(s.values("Unit", "After").count(), 1);
    }

    #[test]
    fn exec_prefix_characters() {
        assert_eq!(exec_prefixes("-/bin/x"), ("/bin/x", true));
        assert_eq!(exec_prefixes("!!@:/bin/x"), ("/bin/x", false));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC*") {
            let _ = parse_env_file(Path::new("/f"), &text);
            let _ = parse_unit(Path::new("/f"), &text);
            let _ = split_words(&text);
        }

        #[test]
        fn quoted_values_round_trip(value in "[^\"\\\\`$\n]*") {
            let text = format!("K=\"{value}\"\n");
            let (a, p) = parse_env_file(Path::new("/f"), &text);
            proptest::prop_assert!(p.is_empty());
            proptest::prop_assert_eq!(&a[0].value, &value);
        }
    }
}

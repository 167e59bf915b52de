//! Reading manifests: files, directories (recursively, `.yaml`, `.yml` and `.json`) and
//! standard input, each bounded in size, and parsing them into documents with bounds on
//! documents, nesting and alias expansion, so that a hostile input is refused with a message
//! rather than exhausting memory or time.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::model::Doc;
use crate::finding::Location;

/// The default largest input (a file or standard input): 256 MiB, several times
/// `kubectl get pods -A -o json` of a 10,000-pod cluster.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// The most alias events YAML may replay in all (a "billion laughs" needs millions).
pub const MAX_ALIAS_REPLAY: usize = 100_000;

/// The deepest nesting of mappings and sequences (Kubernetes objects stay below 30, counting
/// `managedFields`).
pub const MAX_DEPTH: usize = 100;

/// The most documents in one input.
pub const MAX_DOCUMENTS: usize = 100_000;

/// Manifests read into memory, not yet parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The path as given or found (`-` for standard input).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// An input that could not be read or parsed, or a part of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}: {message}")]
pub struct InputError {
    /// The path (`-` for standard input).
    pub file: String,
    /// What is wrong.
    pub message: String,
    /// Where, when known.
    pub location: Option<Location>,
}

impl InputError {
    fn new(file: &str, message: impl Into<String>) -> InputError {
        InputError {
            file: file.to_string(),
            message: message.into(),
            location: None,
        }
    }
}

fn human_size(n: u64) -> String {
    if n % (1024 * 1024) == 0 {
        format!("{} MiB", n / (1024 * 1024))
    } else {
        format!("{n} bytes")
    }
}

/// Read at most `max` bytes of `r`; more is an error naming `name`.
pub fn read_bounded(name: &str, r: impl Read, max: u64) -> Result<Vec<u8>, InputError> {
    let mut buf = Vec::new();
    r.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| InputError::new(name, crate::node::io_message(&e)))?;
    if buf.len() as u64 > max {
        return Err(InputError::new(
            name,
            format!(
                "larger than {}, the most cni-fix reads from one input (--max-input-size); split it, for example one namespace at a time",
                human_size(max)
            ),
        ));
    }
    Ok(buf)
}

/// Whether a file found in a directory is a manifest: `.yaml`, `.yml` or `.json`.
fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

/// Read every path: `-` is standard input (`stdin`), a directory is walked (in name order,
/// without following links to directories, skipping hidden entries), a file is read whatever
/// its name. What cannot be read becomes an error, and the rest is still read.
pub fn read_paths(
    paths: &[PathBuf],
    stdin: &mut dyn Read,
    max: u64,
) -> (Vec<Input>, Vec<InputError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    let read_file = |path: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<InputError>| {
        let name = path.display().to_string();
        match std::fs::File::open(path).and_then(|f| {
            let meta = f.metadata()?;
            if !meta.is_file() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a regular file",
                ));
            }
            Ok(f)
        }) {
            Ok(f) => match read_bounded(&name, f, max) {
                Ok(bytes) => inputs.push(Input { name, bytes }),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(InputError::new(&name, crate::node::io_message(&e))),
        }
    };
    for path in paths {
        if path.as_os_str() == "-" {
            match read_bounded("-", &mut *stdin, max) {
                Ok(bytes) => inputs.push(Input {
                    name: "-".to_string(),
                    bytes,
                }),
                Err(e) => errors.push(e),
            }
            continue;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let walk = walkdir::WalkDir::new(path)
                    .follow_links(false)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| {
                        e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                    });
                for entry in walk {
                    match entry {
                        Ok(e) if e.file_type().is_file() && is_manifest(e.path()) => {
                            read_file(e.path(), &mut inputs, &mut errors)
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let name = e
                                .path()
                                .map(|p| p.display().to_string())
                                .unwrap_or_else(|| path.display().to_string());
                            let message = e
                                .io_error()
                                .map(crate::node::io_message)
                                .unwrap_or_else(|| e.to_string());
                            errors.push(InputError::new(&name, message));
                        }
                    }
                }
            }
            Ok(_) => read_file(path, &mut inputs, &mut errors),
            Err(e) => errors.push(InputError::new(
                &path.display().to_string(),
                crate::node::io_message(&e),
            )),
        }
    }
    (inputs, errors)
}

/// Whether `bytes` is JSON rather than YAML: its first character (after a byte-order mark and
/// white space) opens an object or an array.
fn is_json(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    b.iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|c| *c == b'{' || *c == b'[')
}

fn saphyr_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    // The size cap bounds events, nodes and scalar bytes; the budget bounds what input size
    // does not: alias expansion, nesting and document storms.
    budget.max_reader_input_bytes = None;
    budget.max_events = usize::MAX;
    budget.max_nodes = usize::MAX;
    budget.max_total_scalar_bytes = usize::MAX;
    budget.max_documents = MAX_DOCUMENTS;
    budget.max_depth = MAX_DEPTH;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAY;
    options.alias_limits.max_replay_stack_depth = 16;
    options.with_snippet = false;
    options
}

/// The documents of one input. JSON is read as a stream of values (one object, as `kubectl
/// -o json` prints, or several), without positions; YAML as a stream of documents, with
/// positions.
fn parse(input: &Input) -> Result<Vec<Doc>, InputError> {
    let name = &input.name;
    if is_json(&input.bytes) {
        let mut out = Vec::new();
        let stream = serde_json::Deserializer::from_slice(&input.bytes).into_iter::<Doc>();
        for doc in stream {
            match doc {
                Ok(d) => out.push(d),
                Err(e) => {
                    return Err(InputError {
                        file: name.clone(),
                        message: format!("invalid JSON: {}", strip_position(&e.to_string())),
                        location: (e.line() > 0).then_some(Location {
                            line: e.line(),
                            column: e.column(),
                        }),
                    })
                }
            }
        }
        return Ok(out);
    }
    let text = std::str::from_utf8(&input.bytes).map_err(|e| {
        InputError::new(
            name,
            format!(
                "not UTF-8 (byte {} is invalid); Kubernetes manifests are UTF-8",
                e.valid_up_to()
            ),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_saphyr::from_multiple_with_options::<Doc>(text, saphyr_options()).map_err(|e| {
        let location = e.location().and_then(|l| {
            (l.line() > 0).then_some(Location {
                line: l.line() as usize,
                column: l.column() as usize,
            })
        });
        let message = e.to_string();
        let first = message.lines().next().unwrap_or("").trim();
        let message = budget_message(first).unwrap_or_else(|| {
            format!(
                "invalid YAML: {}",
                strip_position(first).chars().take(300).collect::<String>()
            )
        });
        InputError {
            file: name.clone(),
            message,
            location,
        }
    })
}

/// The stack each parsing thread gets: reading 100 levels of nesting takes about 40 MiB in an
/// unoptimised build, and only what is used is committed.
const PARSE_STACK: usize = 64 << 20;

/// One input's documents, or why it has none.
pub(crate) type Parsed = Result<Vec<Doc>, InputError>;

/// Parse every input, on as many threads as the machine has (each with [`PARSE_STACK`]), in
/// input order.
pub(crate) fn parse_all(inputs: &[Input]) -> Vec<Parsed> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(inputs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Parsed>>> = Mutex::new((0..inputs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let spawned = std::thread::Builder::new()
                .stack_size(PARSE_STACK)
                .spawn_scoped(scope, || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let r = parse(input);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                });
            if spawned.is_err() {
                // No thread to be had: what is left is parsed by the threads that started, or
                // below.
                break;
            }
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results
        .into_iter()
        .zip(inputs)
        .map(|(r, input)| {
            r.unwrap_or_else(|| {
                Err(InputError::new(
                    &input.name,
                    "not parsed: no thread could be started",
                ))
            })
        })
        .collect()
}

/// A budget breach in words.
fn budget_message(m: &str) -> Option<String> {
    if m.contains("alias replay limit") || m.contains("Aliases") || m.contains("AliasAnchorRatio") {
        Some(format!(
            "refused: its aliases expand to more than {MAX_ALIAS_REPLAY} events (an alias bomb)"
        ))
    } else if m.contains("Depth") {
        Some(format!("refused: nested deeper than {MAX_DEPTH} levels"))
    } else if m.contains("Documents") {
        Some(format!("refused: more than {MAX_DOCUMENTS} documents"))
    } else if m.contains("budget breached") {
        Some(format!("refused: {m}"))
    } else {
        None
    }
}

/// A parser's message without its trailing " at line L column C", which the location says.
fn strip_position(m: &str) -> String {
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_string(),
        None => m.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Vec<Doc>, InputError> {
        parse_one("x.yaml", s.as_bytes().to_vec())
    }

    fn parse_one(name: &str, bytes: Vec<u8>) -> Result<Vec<Doc>, InputError> {
        parse_all(&[Input {
            name: name.into(),
            bytes,
        }])
        .remove(0)
    }

    #[test]
    fn a_billion_laughs_is_refused() {
        let mut s = String::from(
            "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            s.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                std::iter::repeat_n(prev.as_str(), 9)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        let e = parse_str(&s).unwrap_err();
        assert!(e.message.contains("alias bomb"), "{e}");
        assert!(e.location.is_some(), "{e:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        // Lists of lists recurse through the object reader; anything else is skipped without
        // recursion.
        let open = "{\"kind\":\"List\",\"items\":[".repeat(5000);
        let close = "]}".repeat(5000);
        let e = parse_str(&format!("kind: List\nitems: [{open}{close}]\n")).unwrap_err();
        assert_eq!(
            e.message,
            format!("refused: nested deeper than {MAX_DEPTH} levels")
        );
        let j = parse_one("x.json", format!("{open}{close}").into_bytes()).unwrap_err();
        assert!(j.message.contains("recursion"), "{j}");
        let skipped = format!(
            "{{\"kind\":\"Pod\",\"status\":{}1{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse_one("y.json", skipped.into_bytes()).is_ok());
    }

    #[test]
    fn too_many_documents_are_refused() {
        let e = parse_str(&"---\na: 1\n".repeat(MAX_DOCUMENTS + 1)).unwrap_err();
        assert_eq!(
            e.message,
            format!("refused: more than {MAX_DOCUMENTS} documents")
        );
    }

    #[test]
    fn size_is_bounded_while_reading() {
        let big = std::io::repeat(b' ').take(10_000);
        let e = read_bounded("-", big, 4096).unwrap_err();
        assert!(e.message.contains("larger than 4096 bytes"), "{e}");
        assert_eq!(read_bounded("-", &b"abc"[..], 3).unwrap(), b"abc");
    }

    #[test]
    fn errors_name_the_place() {
        let e = parse_str("kind: Pod\nspec:\n  containers: [\n").unwrap_err();
        assert_eq!(e.file, "x.yaml");
        assert!(e.location.is_some(), "{e:?}");
        let e = parse_one("-", b"{\"kind\": \"Pod\",\n \"spec\": }".to_vec()).unwrap_err();
        assert_eq!(
            e.location,
            Some(Location {
                line: 2,
                column: 10
            })
        );
        let e = parse_one("b", b"kind: \xff\n".to_vec()).unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{e}");
    }
}

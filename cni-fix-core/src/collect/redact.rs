//! Secrets out of collected files: in TOML files (containerd's config and `hosts.toml`, which
//! may carry registry credentials), the string values of secret keys become `REDACTED`.

use std::borrow::Cow;
use std::path::Path;

/// Keys whose string values are secrets (compared without case): containerd's registry
/// `auth` configs (`password`, `auth`, `identitytoken`), bearer tokens and header values.
const SECRET_KEYS: &[&str] = &[
    "password",
    "auth",
    "identitytoken",
    "identity_token",
    "token",
    "authorization",
    "secret",
];

/// What replaces a secret value.
pub(super) const REDACTED: &str = "REDACTED";

/// The bytes to keep of a file read at `path`, and whether anything was redacted.
pub(super) fn redact<'a>(path: &Path, bytes: &'a [u8]) -> (Cow<'a, [u8]>, bool) {
    if path.extension().is_some_and(|e| e == "toml") {
        let spans = secret_values(bytes);
        if !spans.is_empty() {
            let mut out = Vec::with_capacity(bytes.len());
            let mut at = 0;
            for (start, end) in spans {
                out.extend_from_slice(&bytes[at..start]);
                out.extend_from_slice(REDACTED.as_bytes());
                at = end;
            }
            out.extend_from_slice(&bytes[at..]);
            return (Cow::Owned(out), true);
        }
    }
    (Cow::Borrowed(bytes), false)
}

/// A string starting at `i` (at its opening quote): the span of its contents and where it
/// ends. An unterminated string runs to the end of its line (or of the text, multi-line).
fn string_at(b: &[u8], i: usize) -> (usize, usize, usize) {
    let q = b[i];
    let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    let start = if triple { i + 3 } else { i + 1 };
    let mut j = start;
    while j < b.len() {
        let c = b[j];
        if q == b'"' && c == b'\\' {
            j += 2;
            continue;
        }
        if !triple && c == b'\n' {
            return (start, j, j);
        }
        if c == q && (!triple || (b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q))) {
            let close = if triple { 3 } else { 1 };
            return (start, j, j + close);
        }
        j += 1;
    }
    (start, b.len(), b.len())
}

fn is_secret(key: &[u8]) -> bool {
    SECRET_KEYS
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k.as_bytes()))
}

/// The spans of the string values of secret keys, in order.
fn secret_values(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut key: Option<(usize, usize)> = None;
    let mut value_is_secret = false;
    // Inside an array that is a secret key's value: every string in it is secret.
    let mut secret_depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let (start, end, next) = string_at(b, i);
                if value_is_secret || secret_depth > 0 {
                    spans.push((start, end));
                    key = None;
                } else {
                    key = Some((start, end));
                }
                value_is_secret = false;
                i = next;
                continue;
            }
            b'=' => {
                value_is_secret = key.is_some_and(|(s, e)| is_secret(&b[s..e]));
                key = None;
            }
            b' ' | b'\t' | b'\r' => {}
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-')
                {
                    i += 1;
                }
                key = Some((start, i));
                value_is_secret = false;
                continue;
            }
            b'.' => value_is_secret = false,
            b'[' if value_is_secret || secret_depth > 0 => {
                secret_depth += 1;
                value_is_secret = false;
            }
            b']' if secret_depth > 0 => secret_depth -= 1,
            _ => {
                key = None;
                value_is_secret = false;
            }
        }
        i += 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        let (out, _) = redact(Path::new("/etc/containerd/config.toml"), text.as_bytes());
        String::from_utf8(out.into_owned()).unwrap()
    }

    #[test]
    fn secret_values_are_replaced_and_nothing_else() {
        let text = r#"version = 2
# password = "in a comment"
[plugins."io.containerd.grpc.v1.cri".registry.configs."reg.example".auth]
  username = "robot"
  password = "s3cr\"et"
  auth = 'dXNlcjpwYXNz'
  identitytoken = """multi
line"""
[plugins."io.containerd.grpc.v1.cri".registry.configs."b".auth]
x = { username = "u", Password = "p" }
registry.auth.token = "t"
[host."https://mirror"]
  header = { Authorization = ["Bearer abc"] }
"#;
        let out = r(text);
        for secret in ["s3cr", "dXNlcjpwYXNz", "multi", "\"p\"", "\"t\""] {
            assert!(!out.contains(secret), "{secret} left in:\n{out}");
        }
        for kept in [
            "\"robot\"",
            "\"u\"",
            "# password = \"in a comment\"",
            "configs.\"reg.example\".auth]",
            "version = 2",
        ] {
            assert!(out.contains(kept), "{kept} lost:\n{out}");
        }
        // A header given as an array of strings: every string in it.
        assert!(!out.contains("Bearer abc"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 6, "{out}");
    }

    #[test]
    fn other_files_are_kept_byte_for_byte() {
        let bytes = br#"{"password":"x"}"#;
        let (out, red) = redact(Path::new("/etc/docker/daemon.json"), bytes);
        assert!(!red);
        assert_eq!(&*out, bytes);
        let (out, red) = redact(Path::new("/etc/containerd/config.toml"), b"version = 2\n");
        assert!(!red);
        assert_eq!(&*out, b"version = 2\n");
    }
}

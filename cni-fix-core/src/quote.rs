//! Showing untrusted names and text safely: file names in a conf dir, network names and
//! plugin types come from the node, and may hold newlines, terminal escapes or bytes that
//! are not UTF-8.
//!
//! [`quote_path`] quotes a path as git does (`core.quotePath=false`): unchanged when it is
//! plain, otherwise in double quotes with C escapes, a form `git apply` and GNU `patch` read
//! back. [`escape_text`] makes any other text safe for a terminal without quoting it.

use std::borrow::Cow;

/// Whether `c` moves the cursor, rings, or starts a terminal control sequence: the C0 and C1
/// control characters and DEL.
fn is_control(c: char) -> bool {
    c.is_control()
}

/// A path as git shows it in diffs and status: unchanged when every byte is printable UTF-8
/// other than `"` and `\`; otherwise in double quotes, with `\n`, `\t`, `\"`, `\\` and the like,
/// and every other control or non-UTF-8 byte as a three-digit octal escape (`\033`).
pub fn quote_path(bytes: &[u8]) -> Cow<'_, str> {
    let plain = std::str::from_utf8(bytes)
        .ok()
        .filter(|s| !s.chars().any(|c| is_control(c) || c == '"' || c == '\\'));
    if let Some(s) = plain {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0b' => out.push_str("\\v"),
                '\x0c' => out.push_str("\\f"),
                c if is_control(c) => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\{b:03o}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// Text with its control characters made visible (`\n`, `\t`, `\r`, and `\x1b` or `\u{85}`
/// for the rest), so that it cannot start a new line or drive the terminal.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_control(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_stay_as_they_are() {
        assert_eq!(
            quote_path(b"/etc/cni/net.d/10-a.conflist"),
            "/etc/cni/net.d/10-a.conflist"
        );
        assert_eq!(
            quote_path("/etc/cni/net.d/ñ.conf".as_bytes()),
            "/etc/cni/net.d/ñ.conf"
        );
        assert_eq!(quote_path(b"/a b.conf"), "/a b.conf");
    }

    #[test]
    fn special_paths_are_quoted_as_git_quotes_them() {
        assert_eq!(quote_path(b"/x\nOK.conf"), "\"/x\\nOK.conf\"");
        assert_eq!(quote_path(b"/x\x1b[31m.conf"), "\"/x\\033[31m.conf\"");
        assert_eq!(quote_path(b"/x\xff.conf"), "\"/x\\377.conf\"");
        assert_eq!(quote_path(b"/a\"b\\c"), "\"/a\\\"b\\\\c\"");
        assert_eq!(quote_path("/\u{85}".as_bytes()), "\"/\\302\\205\"");
    }

    #[test]
    fn text_loses_its_control_characters() {
        assert_eq!(escape_text("plain ñ"), "plain ñ");
        assert_eq!(
            escape_text("a\nOK: 0 errors\x1b[0m\u{9b}"),
            "a\\nOK: 0 errors\\x1b[0m\\u{9b}"
        );
    }
}

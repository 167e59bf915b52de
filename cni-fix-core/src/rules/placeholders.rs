//! Template placeholders that an installer left unrendered in a config.

/// How far past `{{` or `${` a placeholder's closing brace may stand.
const PLACEHOLDER_WINDOW: usize = 256;

/// The first template placeholder in a file: `__UPPER__`, `{{ … }}`, or a shell `$1`/`${X}`.
/// One pass over the bytes.
pub fn find_placeholder(bytes: &[u8]) -> Option<String> {
    find_placeholder_at(bytes).map(|(_, p)| p)
}

/// [`find_placeholder`], with the placeholder's byte offset.
pub fn find_placeholder_at(bytes: &[u8]) -> Option<(usize, String)> {
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    // The next "}}" and "}" at or after the current position; they only move forward.
    let mut close2 = Cursor::new(b"}}");
    let mut close1 = Cursor::new(b"}");
    // Every placeholder starts with one of these bytes: only they are looked at, found a
    // word at a time.
    for i in memchr::memchr3_iter(b'_', b'{', b'$', bytes) {
        let rest = &bytes[i..];
        if rest.starts_with(b"__") && (i == 0 || !is_word(bytes[i - 1])) {
            let n = rest[2..]
                .iter()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_')
                .count();
            let body = &rest[2..2 + n];
            if n > 2 && body[0].is_ascii_uppercase() && body.ends_with(b"__") {
                return Some((i, show(&rest[..2 + n])));
            }
        }
        if rest.starts_with(b"{{") {
            if let Some(end) = close2.next_from(bytes, i + 2) {
                if end - i <= PLACEHOLDER_WINDOW {
                    return Some((i, show(&bytes[i..end + 2])));
                }
            }
        }
        if rest.first() == Some(&b'$') {
            match rest.get(1) {
                Some(c) if c.is_ascii_digit() => return Some((i, show(&rest[..2]))),
                Some(b'{') => {
                    if let Some(end) = close1.next_from(bytes, i + 2) {
                        let name = &bytes[i + 2..end];
                        if end - i <= PLACEHOLDER_WINDOW
                            && !name.is_empty()
                            && name.iter().all(|&c| is_word(c))
                        {
                            return Some((i, show(&bytes[i..end + 1])));
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

    /// The definition, byte by byte: what the search must find, at every offset.
    fn reference(bytes: &[u8]) -> Option<(usize, String)> {
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let find = |needle: &[u8], from: usize| {
            (from..bytes.len()).find(|&j| bytes[j..].starts_with(needle))
        };
        for i in 0..bytes.len() {
            let rest = &bytes[i..];
            if rest.starts_with(b"__") && (i == 0 || !is_word(bytes[i - 1])) {
                let n = rest[2..]
                    .iter()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_')
                    .count();
                let body = &rest[2..2 + n];
                if n > 2 && body[0].is_ascii_uppercase() && body.ends_with(b"__") {
                    return Some((i, show(&rest[..2 + n])));
                }
            }
            if rest.starts_with(b"{{") {
                if let Some(end) = find(b"}}", i + 2) {
                    if end - i <= PLACEHOLDER_WINDOW {
                        return Some((i, show(&bytes[i..end + 2])));
                    }
                }
            }
            if rest.first() == Some(&b'$') {
                match rest.get(1) {
                    Some(c) if c.is_ascii_digit() => return Some((i, show(&rest[..2]))),
                    Some(b'{') => {
                        if let Some(end) = find(b"}", i + 2) {
                            let name = &bytes[i + 2..end];
                            if end - i <= PLACEHOLDER_WINDOW
                                && !name.is_empty()
                                && name.iter().all(|&c| is_word(c))
                            {
                                return Some((i, show(&bytes[i..end + 1])));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The search looks only at the bytes a placeholder starts with, and finds what the
        /// byte-by-byte definition finds.
        #[test]
        fn search_is_the_definition(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"_{}${}AZ09 a\"_{".to_vec()),
                0..400,
            )
        ) {
            proptest::prop_assert_eq!(find_placeholder_at(&bytes), reference(&bytes));
        }
    }
}

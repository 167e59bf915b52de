//! A JSON reader that accepts and rejects exactly what Go's `encoding/json` does, and
//! remembers where every value stands in the file.
//!
//! libcni, go-cni and every plugin decode network configs with Go's `encoding/json`. To say
//! what the runtime will do with a file, cni-fix has to agree with it on the edges that a
//! general-purpose parser settles differently:
//!
//! - invalid UTF-8 inside a string is accepted, each bad byte read as U+FFFD;
//! - a `\u` escape of a lone surrogate is accepted and read as U+FFFD;
//! - nesting is limited to 10000 levels (Go's `maxNestingDepth`), not 128;
//! - numbers keep their text: decoding into `interface{}` fails later only when a number is
//!   out of `float64` range, which the caller decides;
//! - error texts are Go's (`invalid character 'x' looking for beginning of value`,
//!   `unexpected end of JSON input`, …), with the byte offset kept beside them.
//!
//! Every [`Value`] carries its byte [`Span`], so a rewrite can change the bytes of one value
//! and nothing else. Parsing and dropping are iterative: no input can exhaust the stack.

use std::fmt;
use std::ops::Range;

/// Go's `encoding/json` nesting limit (`maxNestingDepth` in `scanner.go`).
pub const MAX_DEPTH: usize = 10_000;

/// A byte range in the parsed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// The span as a range, for slicing the input.
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// A parsed JSON value with its position in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Where the value's text starts and ends (strings include their quotes).
    pub span: Span,
    /// What the value is.
    pub kind: Kind,
}

/// The kinds of JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, kept as its literal text.
    Number(Number),
    /// A string, decoded as Go decodes it.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, members in document order, duplicates kept.
    Object(Vec<Member>),
}

/// A number literal.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// The literal text, as written.
    pub text: String,
}

impl Number {
    /// Whether Go's `strconv.ParseFloat(text, 64)` succeeds, that is whether decoding this
    /// number into an `interface{}` works. Overflow fails; underflow rounds to zero and works.
    pub fn fits_f64(&self) -> bool {
        self.text
            .parse::<f64>()
            .map(f64::is_finite)
            .unwrap_or(false)
    }
}

/// One `"key": value` member of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The decoded key.
    pub key: String,
    /// Where the key's text (with quotes) stands.
    pub key_span: Span,
    /// The value.
    pub value: Value,
}

impl Kind {
    /// The Go `%T` name of the value once decoded into `interface{}`, as libcni prints it in
    /// `invalid name type %T`.
    pub fn go_type_name(&self) -> &'static str {
        match self {
            Kind::Null => "<nil>",
            Kind::Bool(_) => "bool",
            Kind::Number(_) => "float64",
            Kind::String(_) => "string",
            Kind::Array(_) => "[]interface {}",
            Kind::Object(_) => "map[string]interface {}",
        }
    }

    /// The word Go's `UnmarshalTypeError` uses for a JSON value of this kind.
    pub fn go_json_word(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "bool",
            Kind::Number(_) => "number",
            Kind::String(_) => "string",
            Kind::Array(_) => "array",
            Kind::Object(_) => "object",
        }
    }
}

impl Value {
    /// The members of an object, or `None`.
    pub fn as_object(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The string, or `None`.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The last member with exactly this key, as a Go map decode keeps it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .rev()
            .find(|m| m.key == key)
            .map(|m| &m.value)
    }

    /// The first number anywhere in this value that does not fit a `float64`.
    pub fn first_overflowing_number(&self) -> Option<&Number> {
        let mut stack = vec![self];
        while let Some(v) = stack.pop() {
            match &v.kind {
                Kind::Number(n) if !n.fits_f64() => return Some(n),
                Kind::Array(items) => stack.extend(items.iter().rev()),
                Kind::Object(members) => stack.extend(members.iter().rev().map(|m| &m.value)),
                _ => {}
            }
        }
        None
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        // Drop deep trees without recursion: move children out onto a heap stack.
        let mut stack: Vec<Value> = Vec::new();
        take_children(&mut self.kind, &mut stack);
        while let Some(mut v) = stack.pop() {
            take_children(&mut v.kind, &mut stack);
        }
    }
}

fn take_children(kind: &mut Kind, stack: &mut Vec<Value>) {
    match kind {
        Kind::Array(items) if !items.is_empty() => stack.append(items),
        Kind::Object(members) if !members.is_empty() => {
            stack.extend(std::mem::take(members).into_iter().map(|m| m.value));
        }
        _ => {}
    }
}

/// A syntax error, worded as Go's `encoding/json` words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Go's message, for example `invalid character '}' looking for beginning of value`.
    pub message: String,
    /// Byte offset of the offending byte (the input length for an unexpected end).
    pub offset: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

impl SyntaxError {
    /// 1-based line and column of the error in `input`.
    pub fn line_col(&self, input: &[u8]) -> (usize, usize) {
        line_col(input, self.offset)
    }
}

/// 1-based line and column (in bytes) of `offset` in `input`.
pub fn line_col(input: &[u8], offset: usize) -> (usize, usize) {
    let before = &input[..offset.min(input.len())];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    (line, before.len() - line_start + 1)
}

/// Go's `quoteChar`: how a byte is shown in an `invalid character` message.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        _ => {
            // strconv.Quote(string(rune(c))) without its double quotes.
            let ch = char::from(c);
            let inner = match ch {
                '\x07' => "\\a".to_string(),
                '\x08' => "\\b".to_string(),
                '\x0c' => "\\f".to_string(),
                '\n' => "\\n".to_string(),
                '\r' => "\\r".to_string(),
                '\t' => "\\t".to_string(),
                '\x0b' => "\\v".to_string(),
                '\\' => "\\\\".to_string(),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
                c if (0x80..0xa0).contains(&(c as u32)) => format!("\\u{:04x}", c as u32),
                '\u{ad}' => "\\u00ad".to_string(),
                c => c.to_string(),
            };
            format!("'{inner}'")
        }
    }
}

enum Frame {
    Array {
        start: usize,
        items: Vec<Value>,
    },
    Object {
        start: usize,
        members: Vec<Member>,
        key: Option<(String, Span)>,
    },
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

/// Parse `input` as one JSON document, exactly as Go's `json.Unmarshal` accepts it.
pub fn parse(input: &[u8]) -> Result<Value, SyntaxError> {
    Parser { input, pos: 0 }.document()
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eof(&self) -> SyntaxError {
        SyntaxError {
            message: "unexpected end of JSON input".to_string(),
            offset: self.input.len(),
        }
    }

    /// Go's scanner, at the end of input, feeds one more space through its state machine:
    /// where a space is not allowed (inside a literal, a number's sign, fraction or exponent,
    /// an escape), the error names that space, at the input's end.
    fn eof_space(&self, context: &str) -> SyntaxError {
        SyntaxError {
            message: format!("invalid character ' ' {context}"),
            offset: self.input.len(),
        }
    }

    fn invalid(&self, at: usize, context: &str) -> SyntaxError {
        match self.input.get(at) {
            None => self.eof(),
            Some(&c) => SyntaxError {
                message: format!("invalid character {} {}", quote_char(c), context),
                offset: at,
            },
        }
    }

    fn document(mut self) -> Result<Value, SyntaxError> {
        let mut stack: Vec<Frame> = Vec::new();
        // The value most recently completed, waiting to be attached to its parent.
        let mut done: Option<Value>;
        loop {
            // Expect the beginning of a value.
            self.skip_ws();
            let start = self.pos;
            let c = self.peek().ok_or_else(|| self.eof())?;
            match c {
                b'{' | b'[' => {
                    if stack.len() + 1 > MAX_DEPTH {
                        return Err(self.invalid(start, "exceeded max depth"));
                    }
                    self.pos += 1;
                    self.skip_ws();
                    if c == b'[' {
                        if self.peek() == Some(b']') {
                            self.pos += 1;
                            done = Some(Value {
                                span: Span {
                                    start,
                                    end: self.pos,
                                },
                                kind: Kind::Array(Vec::new()),
                            });
                        } else {
                            stack.push(Frame::Array {
                                start,
                                items: Vec::new(),
                            });
                            continue;
                        }
                    } else {
                        match self.peek() {
                            Some(b'}') => {
                                self.pos += 1;
                                done = Some(Value {
                                    span: Span {
                                        start,
                                        end: self.pos,
                                    },
                                    kind: Kind::Object(Vec::new()),
                                });
                            }
                            Some(b'"') => {
                                let key = self.key()?;
                                stack.push(Frame::Object {
                                    start,
                                    members: Vec::new(),
                                    key: Some(key),
                                });
                                continue;
                            }
                            _ => {
                                return Err(self.invalid(
                                    self.pos,
                                    "looking for beginning of object key string",
                                ))
                            }
                        }
                    }
                }
                b'"' => {
                    let s = self.string()?;
                    done = Some(Value {
                        span: Span {
                            start,
                            end: self.pos,
                        },
                        kind: Kind::String(s),
                    });
                }
                b'-' | b'0'..=b'9' => {
                    let text = self.number()?;
                    done = Some(Value {
                        span: Span {
                            start,
                            end: self.pos,
                        },
                        kind: Kind::Number(Number { text }),
                    });
                }
                b't' => {
                    self.literal(b"true")?;
                    done = Some(Value {
                        span: Span {
                            start,
                            end: self.pos,
                        },
                        kind: Kind::Bool(true),
                    });
                }
                b'f' => {
                    self.literal(b"false")?;
                    done = Some(Value {
                        span: Span {
                            start,
                            end: self.pos,
                        },
                        kind: Kind::Bool(false),
                    });
                }
                b'n' => {
                    self.literal(b"null")?;
                    done = Some(Value {
                        span: Span {
                            start,
                            end: self.pos,
                        },
                        kind: Kind::Null,
                    });
                }
                _ => return Err(self.invalid(start, "looking for beginning of value")),
            }

            // Attach completed values to their parents, closing containers as we go.
            loop {
                let value = done.take().expect("a completed value");
                let Some(frame) = stack.last_mut() else {
                    self.skip_ws();
                    if self.pos < self.input.len() {
                        return Err(self.invalid(self.pos, "after top-level value"));
                    }
                    return Ok(value);
                };
                self.skip_ws();
                match frame {
                    Frame::Array { start, items } => {
                        items.push(value);
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                break;
                            }
                            Some(b']') => {
                                self.pos += 1;
                                let span = Span {
                                    start: *start,
                                    end: self.pos,
                                };
                                let items = std::mem::take(items);
                                stack.pop();
                                done = Some(Value {
                                    span,
                                    kind: Kind::Array(items),
                                });
                            }
                            _ => return Err(self.invalid(self.pos, "after array element")),
                        }
                    }
                    Frame::Object {
                        start,
                        members,
                        key,
                    } => {
                        let (k, key_span) = key.take().expect("an object key before its value");
                        members.push(Member {
                            key: k,
                            key_span,
                            value,
                        });
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_ws();
                                if self.peek() != Some(b'"') {
                                    return Err(self.invalid(
                                        self.pos,
                                        "looking for beginning of object key string",
                                    ));
                                }
                                let next = self.key()?;
                                if let Some(Frame::Object { key, .. }) = stack.last_mut() {
                                    *key = Some(next);
                                }
                                break;
                            }
                            Some(b'}') => {
                                self.pos += 1;
                                let span = Span {
                                    start: *start,
                                    end: self.pos,
                                };
                                let members = std::mem::take(members);
                                stack.pop();
                                done = Some(Value {
                                    span,
                                    kind: Kind::Object(members),
                                });
                            }
                            _ => return Err(self.invalid(self.pos, "after object key:value pair")),
                        }
                    }
                }
            }
        }
    }

    /// An object key and the colon after it.
    fn key(&mut self) -> Result<(String, Span), SyntaxError> {
        let start = self.pos;
        let k = self.string()?;
        let span = Span {
            start,
            end: self.pos,
        };
        self.skip_ws();
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                Ok((k, span))
            }
            _ => Err(self.invalid(self.pos, "after object key")),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), SyntaxError> {
        let name = std::str::from_utf8(word).expect("ASCII literal");
        for (i, &expected) in word.iter().enumerate().skip(1) {
            let at = self.pos + i;
            let got = self.input.get(at);
            if got == Some(&expected) {
                continue;
            }
            // The message only for the error: a literal is read at every true, false and null.
            let context = format!("in literal {name} (expecting {})", quote_char(expected));
            return Err(match got {
                None => self.eof_space(&context),
                Some(_) => self.invalid(at, &context),
            });
        }
        self.pos += word.len();
        Ok(())
    }

    fn number(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            None => return Err(self.eof_space("in numeric literal")),
            Some(_) => return Err(self.invalid(self.pos, "in numeric literal")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            match self.peek() {
                Some(b'0'..=b'9') => {}
                None => return Err(self.eof_space("after decimal point in numeric literal")),
                Some(_) => {
                    return Err(self.invalid(self.pos, "after decimal point in numeric literal"))
                }
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            match self.peek() {
                Some(b'0'..=b'9') => {}
                None => return Err(self.eof_space("in exponent of numeric literal")),
                Some(_) => return Err(self.invalid(self.pos, "in exponent of numeric literal")),
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }
        // The grammar only admits ASCII here.
        Ok(String::from_utf8_lossy(&self.input[start..self.pos]).into_owned())
    }

    fn hex4(&self, at: usize) -> Result<u16, SyntaxError> {
        let mut v: u16 = 0;
        for i in 0..4 {
            let c = *self
                .input
                .get(at + i)
                .ok_or_else(|| self.eof_space("in \\u hexadecimal character escape"))?;
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(self.invalid(at + i, "in \\u hexadecimal character escape")),
            };
            v = v * 16 + u16::from(d);
        }
        Ok(v)
    }

    /// A string literal starting at the opening quote; decoded as Go's `unquote` does.
    fn string(&mut self) -> Result<String, SyntaxError> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.pos += 1;
        let mut out = String::new();
        let mut chunk_start = self.pos;
        loop {
            let c = *self.input.get(self.pos).ok_or_else(|| self.eof())?;
            match c {
                b'"' => {
                    push_go_utf8(&mut out, &self.input[chunk_start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    push_go_utf8(&mut out, &self.input[chunk_start..self.pos]);
                    let esc = *self
                        .input
                        .get(self.pos + 1)
                        .ok_or_else(|| self.eof_space("in string escape code"))?;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4(self.pos + 2)?;
                            self.pos += 6;
                            if (0xD800..0xE000).contains(&hi) {
                                // Go pairs a surrogate with a directly following \u escape when
                                // they form a valid pair; otherwise the first is U+FFFD and the
                                // next escape is read on its own.
                                if self.input.get(self.pos) == Some(&b'\\')
                                    && self.input.get(self.pos + 1) == Some(&b'u')
                                {
                                    let lo = self.hex4(self.pos + 2)?;
                                    if (0xD800..0xDC00).contains(&hi)
                                        && (0xDC00..0xE000).contains(&lo)
                                    {
                                        let cp = 0x10000
                                            + ((u32::from(hi) - 0xD800) << 10)
                                            + (u32::from(lo) - 0xDC00);
                                        out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                                        self.pos += 6;
                                        chunk_start = self.pos;
                                        continue;
                                    }
                                }
                                out.push('\u{FFFD}');
                            } else {
                                out.push(char::from_u32(u32::from(hi)).unwrap_or('\u{FFFD}'));
                            }
                            chunk_start = self.pos;
                            continue;
                        }
                        _ => return Err(self.invalid(self.pos + 1, "in string escape code")),
                    }
                    self.pos += 2;
                    chunk_start = self.pos;
                }
                0..=0x1f => return Err(self.invalid(self.pos, "in string literal")),
                _ => self.pos += 1,
            }
        }
    }
}

/// Append bytes as Go decodes them: valid UTF-8 as is, each byte of an invalid sequence as
/// one U+FFFD (Go's `utf8.DecodeRune` consumes one byte per error).
fn push_go_utf8(out: &mut String, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&bytes[..good]).expect("validated prefix"));
                let bad = e.error_len().unwrap_or(bytes.len() - good);
                out.extend(std::iter::repeat_n('\u{FFFD}', bad));
                bytes = &bytes[good + bad..];
            }
        }
    }
}

/// Whether `key` matches the ASCII field name `field` the way Go's `encoding/json` matches
/// object keys to struct fields: exactly, or case-insensitively, with `ſ` (U+017F) matching
/// `s` and the Kelvin sign (U+212A) matching `k`.
pub fn go_field_matches(field: &str, key: &str) -> bool {
    // Field names are ASCII, and the two non-ASCII letters that fold to one (ſ, K) are longer
    // in UTF-8: a key of the field's length matches only as ASCII, a shorter one or a longer
    // ASCII one never does.
    debug_assert!(field.is_ascii());
    if key.len() == field.len() {
        return key.eq_ignore_ascii_case(field);
    }
    if key.len() < field.len() || key.is_ascii() {
        return false;
    }
    let mut keys = key.chars();
    for f in field.chars() {
        let Some(k) = keys.next() else { return false };
        let ok = if k.is_ascii() {
            k.eq_ignore_ascii_case(&f)
        } else {
            (f.eq_ignore_ascii_case(&'s') && k == '\u{17F}')
                || (f.eq_ignore_ascii_case(&'k') && k == '\u{212A}')
        };
        if !ok {
            return false;
        }
    }
    keys.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &[u8]) -> String {
        parse(s).unwrap_err().message
    }

    #[test]
    fn go_error_texts() {
        assert_eq!(err(b""), "unexpected end of JSON input");
        assert_eq!(err(b"   "), "unexpected end of JSON input");
        assert_eq!(
            err(b"{\"a\":1,}"),
            "invalid character '}' looking for beginning of object key string"
        );
        assert_eq!(err(b"{\"a\" 1}"), "invalid character '1' after object key");
        assert_eq!(
            err(b"{\"a\":1 \"b\"}"),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(err(b"[1 2]"), "invalid character '2' after array element");
        assert_eq!(err(b"{} x"), "invalid character 'x' after top-level value");
        assert_eq!(
            err(b"\xef\xbb\xbf{}"),
            "invalid character '\u{ef}' looking for beginning of value"
        );
        // At the end of input Go feeds a space: inside a token, that space is the error.
        assert_eq!(
            err(b"tru"),
            "invalid character ' ' in literal true (expecting 'e')"
        );
        assert_eq!(
            err(b"[1."),
            "invalid character ' ' after decimal point in numeric literal"
        );
        assert_eq!(err(b"-"), "invalid character ' ' in numeric literal");
        assert_eq!(
            err(b"1e+"),
            "invalid character ' ' in exponent of numeric literal"
        );
        assert_eq!(err(b"\"\\"), "invalid character ' ' in string escape code");
        assert_eq!(
            err(b"\"\\u12"),
            "invalid character ' ' in \\u hexadecimal character escape"
        );
        assert_eq!(err(b"\"abc"), "unexpected end of JSON input");
        assert_eq!(err(b"{\"a\""), "unexpected end of JSON input");
        assert_eq!(
            err(b"trux"),
            "invalid character 'x' in literal true (expecting 'e')"
        );
        assert_eq!(
            err(b"\"a\x01\""),
            "invalid character '\\x01' in string literal"
        );
        assert_eq!(
            err(b"\"\\q\""),
            "invalid character 'q' in string escape code"
        );
        assert_eq!(err(b"01"), "invalid character '1' after top-level value");
        assert_eq!(err(b"-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            err(b"1.e5"),
            "invalid character 'e' after decimal point in numeric literal"
        );
        assert_eq!(
            err(b"{'a':1}"),
            "invalid character '\\'' looking for beginning of object key string"
        );
    }

    #[test]
    fn spans_cover_values() {
        let text = br#"{ "cniVersion" : "1.0.0", "plugins": [ {"type":"bridge"} ] }"#;
        let v = parse(text).unwrap();
        let ver = &v.as_object().unwrap()[0];
        assert_eq!(&text[ver.key_span.range()], br#""cniVersion""#);
        assert_eq!(&text[ver.value.span.range()], br#""1.0.0""#);
        assert_eq!(
            v.span,
            Span {
                start: 0,
                end: text.len()
            }
        );
    }

    #[test]
    fn go_string_decoding() {
        // Each byte of an invalid sequence becomes one U+FFFD.
        let v = parse(b"\"a\xe2\x82b\xffc\"").unwrap();
        assert_eq!(v.as_str(), Some("a\u{FFFD}\u{FFFD}b\u{FFFD}c"));
        // Lone surrogates become U+FFFD; a valid pair combines.
        let v = parse(br#""\ud800x\ud83d\ude00\udc00\u0041""#).unwrap();
        assert_eq!(v.as_str(), Some("\u{FFFD}x\u{1F600}\u{FFFD}A"));
        // A high surrogate followed by a non-low escape: both are read.
        let v = parse(br#""\ud800\u0041""#).unwrap();
        assert_eq!(v.as_str(), Some("\u{FFFD}A"));
    }

    #[test]
    fn depth_limit_is_gos() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            err(deep.as_bytes()),
            "invalid character '[' exceeded max depth"
        );
    }

    #[test]
    fn numbers_keep_text_and_range() {
        let v = parse(b"[1e400, 1e-400, -0.5E+3]").unwrap();
        let Kind::Array(items) = &v.kind else {
            panic!()
        };
        let fits: Vec<bool> = items
            .iter()
            .map(|i| match &i.kind {
                Kind::Number(n) => n.fits_f64(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(fits, [false, true, true]);
        assert_eq!(v.first_overflowing_number().unwrap().text, "1e400");
    }

    #[test]
    fn duplicate_keys_last_wins_for_get() {
        let v = parse(br#"{"name":"a","name":"b"}"#).unwrap();
        assert_eq!(v.get("name").and_then(Value::as_str), Some("b"));
    }

    #[test]
    fn lines_and_columns() {
        let text = b"{\n  \"a\": 1,\n\n  \"b\"}";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 1), (1, 2));
        assert_eq!(line_col(text, 2), (2, 1));
        assert_eq!(line_col(text, 4), (2, 3));
        assert_eq!(line_col(text, 13), (4, 1));
        assert_eq!(line_col(text, 15), (4, 3));
        // Past the end: the end.
        assert_eq!(line_col(text, 99), line_col(text, text.len()));
    }

    #[test]
    fn field_folding() {
        assert!(go_field_matches("type", "TYPE"));
        assert!(go_field_matches("cniVersion", "cniverſion"));
        assert!(!go_field_matches("type", "types"));
        assert!(!go_field_matches("type", "typ"));
        assert!(!go_field_matches("name", "n\u{e4}me"));
        assert!(go_field_matches("kind", "\u{212A}IND"));
    }

    /// Go's folding, letter by letter: what the length checks must agree with.
    fn folds_letterwise(field: &str, key: &str) -> bool {
        let mut keys = key.chars();
        for f in field.chars() {
            let Some(k) = keys.next() else { return false };
            let ok = if k.is_ascii() {
                k.eq_ignore_ascii_case(&f)
            } else {
                (f.eq_ignore_ascii_case(&'s') && k == '\u{17F}')
                    || (f.eq_ignore_ascii_case(&'k') && k == '\u{212A}')
            };
            if !ok {
                return false;
            }
        }
        keys.next().is_none()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn field_folding_is_letterwise(
            field in proptest::sample::select(vec!["type", "kind", "skip", "cniVersion", "name", "sk"]),
            key in proptest::collection::vec(
                proptest::sample::select(vec!['s', 'S', 'k', 'K', 'i', 'p', 'n', 'd', 'ſ', 'K', 'ä', 't', 'y', 'e']),
                0..6,
            ),
        ) {
            let key: String = key.into_iter().collect();
            proptest::prop_assert_eq!(go_field_matches(field, &key), folds_letterwise(field, &key));
        }
    }
}

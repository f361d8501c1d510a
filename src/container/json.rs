//! A JSON reader for config.json: strict RFC 8259 syntax, strings borrowed
//! from the input, and object keys matched the way the runtimes match them.
//!
//! Why not serde: the runtimes (runc, crun's Go callers, containerd, CRI-O)
//! decode config.json with Go's `encoding/json`, which matches a key to a
//! field case-insensitively (`"CAPABILITIES"` and `"capabilitieſ"` both set
//! `capabilities`) and lets a later duplicate win. A reader that matched keys
//! exactly would judge one set of capabilities while runc applied another.
//! Here a key that only Go would take for a field, or a field given twice, is
//! an error: the container is blocked rather than judged on a reading the
//! runtime does not share. The reader also skips what no check reads (the
//! seccomp syscall lists are most of a typical config) without building it.
//! Kept because serde_json with derived, borrowed structs and the same key
//! check costs the hook 46% more instructions on a typical start and 50% more
//! with a thousand mounts (`docs/performance.md`).
//!
//! The input must be valid UTF-8 as a whole ([`Reader::new`] checks it once):
//! Go would replace invalid bytes with U+FFFD, a different path than written.

#[cfg(target_arch = "x86_64")]
use crate::json_bytes::stops16;
use crate::json_bytes::{special, specials};
use std::borrow::Cow;

/// Containers nested deeper than this are refused: serde_json's limit, so
/// the fuzz target can hold the two to accepting the same documents.
pub const MAX_DEPTH: usize = 127;

/// What went wrong, and the byte offset where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not JSON at all.
    Syntax,
    /// JSON, but not what the runtime spec says belongs there.
    Spec,
}

impl Error {
    /// `line L column C` of the error in `bytes` (1-based; columns count bytes).
    pub fn line_column(&self, bytes: &[u8]) -> (usize, usize) {
        let before = &bytes[..self.offset.min(bytes.len())];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.len()
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
        (line, column + 1)
    }
}

/// Boxed: the reader's hot paths return `Result<()>` and `Result<bool>`,
/// which then fit in registers (an unboxed error made every return go
/// through memory; errors are rare and end the reading).
pub type Result<T> = std::result::Result<T, Box<Error>>;

/// A cursor over one JSON document.
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, which must be UTF-8.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Reader {
                text,
                pos: 0,
                depth: 0,
            }),
            Err(e) => Err(Box::new(Error {
                kind: ErrorKind::Syntax,
                message: "invalid UTF-8".into(),
                offset: e.valid_up_to(),
            })),
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    #[cold]
    fn syntax<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(Box::new(Error {
            kind: ErrorKind::Syntax,
            message: message.into(),
            offset: self.pos,
        }))
    }

    /// The offset of the next value (after whitespace), for errors about it.
    pub fn offset(&mut self) -> usize {
        self.peek();
        self.pos
    }

    /// A spec error about what starts at `offset`.
    #[cold]
    pub fn spec_error<T>(&self, offset: usize, message: String) -> Result<T> {
        Err(Box::new(Error {
            kind: ErrorKind::Spec,
            message,
            offset,
        }))
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            let found = self.found();
            self.syntax(format!("expected `{}`, found {found}", byte as char))
        }
    }

    /// What the next value is, for messages (`a string ("root")`).
    #[cold]
    fn found(&mut self) -> String {
        match self.peek() {
            None => "the end of the file".into(),
            Some(b'"') => {
                let start = self.pos;
                let shown = self
                    .clone_at(start)
                    .string_value()
                    .map(|s| s.chars().take(40).collect::<String>());
                match shown {
                    Ok(s) => format!("a string ({s:?})"),
                    Err(_) => "a string".into(),
                }
            }
            Some(b'{') => "an object".into(),
            Some(b'[') => "an array".into(),
            Some(b't' | b'f') => "a boolean".into(),
            Some(b'n') => "null".into(),
            Some(b'-' | b'0'..=b'9') => {
                let mut probe = self.clone_at(self.pos);
                match probe.number() {
                    Ok(n) => format!("the number {n}"),
                    Err(_) => "a number".into(),
                }
            }
            Some(b) => format!("`{}`", b.escape_ascii()),
        }
    }

    fn clone_at(&self, pos: usize) -> Reader<'a> {
        Reader {
            text: self.text,
            pos,
            depth: self.depth,
        }
    }

    /// A spec error for the value about to be read: `what: expected E, found F`.
    #[cold]
    fn wrong_type<T>(&mut self, what: &str, expected: &str) -> Result<T> {
        let found = self.found();
        self.spec_error(
            self.pos,
            format!("{what}: expected {expected}, found {found}"),
        )
    }

    /// Consume `null` if it is next.
    #[inline]
    pub fn null(&mut self) -> Result<bool> {
        if self.peek() == Some(b'n') {
            self.literal("null")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn literal(&mut self, word: &str) -> Result<()> {
        if self.bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            self.syntax(format!("expected `{word}`"))
        }
    }

    pub fn boolean(&mut self, what: &str) -> Result<bool> {
        match self.peek() {
            Some(b't') => self.literal("true").map(|()| true),
            Some(b'f') => self.literal("false").map(|()| false),
            _ => self.wrong_type(what, "true or false"),
        }
    }

    /// The text of a number (validated), consumed.
    fn number(&mut self) -> Result<&'a str> {
        let bytes = self.bytes();
        let start = self.pos;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        if bytes.get(i) == Some(&b'0') {
            i += 1;
        } else if !digits(&mut i) {
            self.pos = i;
            return self.syntax("expected a digit");
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                self.pos = i;
                return self.syntax("expected a digit after `.`");
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                self.pos = i;
                return self.syntax("expected a digit in the exponent");
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    /// An integer in `min..=max`; like Go, no fraction or exponent.
    pub fn integer(&mut self, what: &str, min: i64, max: u64) -> Result<i64> {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return self.wrong_type(what, &range(min, max));
        }
        let start = self.pos;
        let text = self.number()?;
        let value = if text.starts_with('-') {
            text.parse::<i64>().ok().filter(|v| *v >= min)
        } else {
            text.parse::<u64>()
                .ok()
                .filter(|v| *v <= max)
                .and_then(|v| i64::try_from(v).ok())
        };
        match value {
            Some(v) => Ok(v),
            None => self.spec_error(
                start,
                format!("{what}: expected {}, found {text}", range(min, max)),
            ),
        }
    }

    /// An integer in `0..=u64::MAX` (rlimits: `RLIM_INFINITY` is the top).
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return self.wrong_type(what, "an integer from 0 to 18446744073709551615");
        }
        let start = self.pos;
        let text = self.number()?;
        match text.parse::<u64>() {
            Ok(v) => Ok(v),
            Err(_) => self.spec_error(
                start,
                format!("{what}: expected an integer from 0 to 18446744073709551615, found {text}"),
            ),
        }
    }

    pub fn u32(&mut self, what: &str) -> Result<u32> {
        let v = self.integer(what, 0, u32::MAX.into())?;
        Ok(u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// A string value, borrowed unless it has escapes.
    #[inline(always)]
    pub fn str(&mut self, what: &str) -> Result<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return self.wrong_type(what, "a string");
        }
        self.string_value()
    }

    /// The string at `self.pos`, whose `"` the caller has seen.
    #[inline(always)]
    fn string_value(&mut self) -> Result<Cow<'a, str>> {
        debug_assert_eq!(self.bytes().get(self.pos), Some(&b'"'));
        self.pos += 1;
        let start = self.pos;
        self.pos = plain_run(self.bytes(), start);
        match self.bytes().get(self.pos) {
            Some(b'"') => {
                self.pos += 1;
                Ok(Cow::Borrowed(&self.text[start..self.pos - 1]))
            }
            Some(b'\\') => self.escaped(start).map(Cow::Owned),
            Some(_) => self.syntax("control character in a string (escape it)"),
            None => self.syntax("unterminated string"),
        }
    }

    /// The rest of a string from its first backslash at `self.pos`.
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, start: usize) -> Result<String> {
        let bytes = self.bytes();
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            let run = self.pos;
            self.pos = plain_run(bytes, run);
            out.push_str(&self.text[run..self.pos]);
            match bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.escape()?;
                    out.push(c);
                }
                Some(_) => return self.syntax("control character in a string (escape it)"),
                None => return self.syntax("unterminated string"),
            }
        }
    }

    /// One escape after its backslash.
    fn escape(&mut self) -> Result<char> {
        let Some(&b) = self.bytes().get(self.pos) else {
            return self.syntax("unterminated string");
        };
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => {
                self.pos -= 1;
                return self.syntax(format!("invalid escape `\\{}`", b.escape_ascii()));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes().get(self.pos..self.pos + 4);
        let value = digits
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        match value {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => self.syntax("expected 4 hex digits after `\\u`"),
        }
    }

    /// A `\u` escape (four hex digits), a surrogate pair taken together. A lone surrogate is an
    /// error (Go would turn it into U+FFFD, another string than written).
    fn unicode_escape(&mut self) -> Result<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.bytes()[self.pos..].starts_with(b"\\u") {
                    return self.syntax("lone surrogate in a `\\u` escape");
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return self.syntax("lone surrogate in a `\\u` escape");
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.syntax("lone surrogate in a `\\u` escape"),
            c => c,
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.syntax("invalid `\\u` escape"),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.syntax(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    /// An object with known fields: `each(reader, index in fields)` reads
    /// the value of each field present (at most once); other keys are
    /// skipped. A key Go would take for one of `fields` without being it
    /// exactly, or a field given twice, is an error (see the module docs).
    pub fn object(
        &mut self,
        what: &str,
        fields: &[&str],
        mut each: impl FnMut(&mut Self, usize) -> Result<()>,
    ) -> Result<()> {
        debug_assert!(fields.len() <= 64);
        let mut seen = 0u64;
        self.entries(what, |r, key, at| {
            match fields.iter().position(|f| *f == key) {
                Some(i) if seen & (1 << i) != 0 => r.spec_error(
                    at,
                    format!(
                        "{what}: {key:?} is given twice; the runtime would use the last, \
                         refusing a config that readers could disagree on"
                    ),
                ),
                Some(i) => {
                    seen |= 1 << i;
                    each(r, i)
                }
                None => match fields.iter().find(|f| go_folds_to(&key, f)) {
                    Some(field) => r.spec_error(
                        at,
                        format!(
                            "{what}: key {key:?} is not the spec's {field:?}, but the runtime \
                             would read it as that (Go matches JSON keys case-insensitively); \
                             refusing a config that readers could disagree on"
                        ),
                    ),
                    None => r.skip(),
                },
            }
        })
    }

    /// An object as a map: `each(reader, key, key offset)` for every entry,
    /// in order (a later duplicate key is the runtime's value, as in Go).
    pub fn entries(
        &mut self,
        what: &str,
        mut each: impl FnMut(&mut Self, Cow<'a, str>, usize) -> Result<()>,
    ) -> Result<()> {
        if self.peek() != Some(b'{') {
            return self.wrong_type(what, "an object");
        }
        self.pos += 1;
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                let found = self.found();
                return self.syntax(format!("expected a key (a string), found {found}"));
            }
            let at = self.pos;
            let key = self.string_value()?;
            self.expect(b':')?;
            each(self, key, at)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => {
                    let found = self.found();
                    return self.syntax(format!("expected `,` or `}}`, found {found}"));
                }
            }
        }
    }

    /// An array: `each(reader)` reads every element.
    pub fn array(
        &mut self,
        what: &str,
        mut each: impl FnMut(&mut Self) -> Result<()>,
    ) -> Result<()> {
        if self.peek() != Some(b'[') {
            return self.wrong_type(what, "an array");
        }
        self.pos += 1;
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            each(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => {
                    let found = self.found();
                    return self.syntax(format!("expected `,` or `]`, found {found}"));
                }
            }
        }
    }

    /// Skip one value, checking its syntax, building nothing. Iterative: a
    /// stack of open containers (one bit each: object or array) instead of
    /// recursion.
    pub fn skip(&mut self) -> Result<()> {
        let base = self.depth;
        // bit d - base - 1: the container opened at depth d is an object.
        let mut objects: u128 = 0;
        loop {
            // A value.
            match self.peek() {
                Some(b'"') => self.skip_string()?,
                Some(open @ (b'{' | b'[')) => {
                    self.pos += 1;
                    self.enter()?;
                    let bit = 1u128 << (self.depth - base - 1);
                    let close = if open == b'{' {
                        objects |= bit;
                        b'}'
                    } else {
                        objects &= !bit;
                        b']'
                    };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        self.depth -= 1;
                    } else {
                        if open == b'{' {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                Some(b'n') => self.literal("null")?,
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                _ => {
                    let found = self.found();
                    return self.syntax(format!("expected a value, found {found}"));
                }
            }
            // Close what ends here; stop after a comma.
            loop {
                if self.depth == base {
                    return Ok(());
                }
                let in_object = objects & (1u128 << (self.depth - base - 1)) != 0;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if in_object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    Some(b'}') if in_object => {
                        self.pos += 1;
                        self.depth -= 1;
                    }
                    Some(b']') if !in_object => {
                        self.pos += 1;
                        self.depth -= 1;
                    }
                    _ => {
                        let close = if in_object { '}' } else { ']' };
                        let found = self.found();
                        return self.syntax(format!("expected `,` or `{close}`, found {found}"));
                    }
                }
            }
        }
    }

    /// `"key":` inside an object being skipped.
    fn skip_key(&mut self) -> Result<()> {
        if self.peek() != Some(b'"') {
            let found = self.found();
            return self.syntax(format!("expected a key (a string), found {found}"));
        }
        self.skip_string()?;
        self.expect(b':')
    }

    /// A string, checked but not decoded.
    fn skip_string(&mut self) -> Result<()> {
        self.pos += 1;
        let bytes = self.bytes();
        loop {
            self.pos = plain_run(bytes, self.pos);
            match bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape()?;
                }
                Some(_) => return self.syntax("control character in a string (escape it)"),
                None => return self.syntax("unterminated string"),
            }
        }
    }

    /// After the document: only whitespace may follow.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.syntax("trailing characters after the document"),
        }
    }

    /// Whether the next value is an object (for the top-level check).
    pub fn at_object(&mut self) -> bool {
        self.peek() == Some(b'{')
    }
}

/// The index of the first byte from `i` on that ends a run of plain string
/// bytes: `"`, `\\` or a control character (`bytes.len()` if none). Eight
/// bytes at a time: strings are most of config.json's bytes.
fn plain_run(bytes: &[u8], mut i: usize) -> usize {
    let Some(rest) = bytes.get(i..) else {
        return bytes.len();
    };
    #[cfg(target_arch = "x86_64")]
    let rest = {
        let mut rest = rest;
        while let Some((chunk, tail)) = rest.split_first_chunk::<16>() {
            let mask = stops16(chunk);
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
            rest = tail;
        }
        rest
    };
    for chunk in rest.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let stop = specials(u64::from_le_bytes(word));
        if stop != 0 {
            return i + (stop.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while bytes.get(i).is_some_and(|&b| !special(b)) {
        i += 1;
    }
    i
}

fn range(min: i64, max: u64) -> String {
    format!("an integer from {min} to {max}")
}

/// Whether Go's `encoding/json` would decode `key` into a field named
/// `field` (ASCII): Go folds each character with `ToUpper(ToLower(c))`,
/// which takes ASCII case, and maps four non-ASCII letters to ASCII ones.
pub fn go_folds_to(key: &str, field: &str) -> bool {
    let mut theirs = field.bytes();
    for c in key.chars() {
        let folded = match c {
            '\u{17f}' => b'S',             // LATIN SMALL LETTER LONG S
            '\u{212a}' => b'K',            // KELVIN SIGN
            '\u{130}' | '\u{131}' => b'I', // LATIN CAPITAL I WITH DOT, SMALL DOTLESS I
            c if c.is_ascii() => (c as u8).to_ascii_uppercase(),
            _ => return false,
        };
        if theirs.next().map(|b| b.to_ascii_uppercase()) != Some(folded) {
            return false;
        }
    }
    theirs.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(text: &str) -> Result<()> {
        let mut r = Reader::new(text.as_bytes())?;
        r.skip()?;
        r.end()
    }

    #[test]
    fn skip_accepts_what_serde_json_accepts() {
        for ok in [
            "{}",
            "[]",
            " {\"a\" : [1, -2.5e+3, true, false, null, \"x\\\"\\\\\\u00e9\\ud83d\\ude00\"], \"b\": {}} ",
            "\"\"",
            "0",
            "-0.0E-0",
            "[[[[]]],{\"a\":{\"b\":[{}]}}]",
        ] {
            assert!(skip_all(ok).is_ok(), "{ok}");
            assert!(
                serde_json::from_str::<serde_json::Value>(ok).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn skip_rejects_what_serde_json_rejects() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[tru]",
            "[\"a\nb\"]",
            "[\"\\x\"]",
            "[\"\\ud800\"]",
            "[\"\\udc00x\"]",
            "[\"\\u12g4\"]",
            "{\"a\":1]",
            "[1}",
            "[] []",
            "[\"unterminated",
            "nul",
            "+1",
        ] {
            assert!(skip_all(bad).is_err(), "{bad:?} was accepted");
            assert!(
                serde_json::from_str::<serde_json::Value>(bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        // The same bound as serde_json's, so neither accepts what the other refuses.
        let value = |t: &str| serde_json::from_str::<serde_json::Value>(t).is_ok();
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(skip_all(&deep).is_ok() && value(&deep));
        let deeper = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(!value(&deeper));
        let e = skip_all(&deeper).unwrap_err();
        assert_eq!(e.message, "nested deeper than 127 levels");
        let e = skip_all(&"{\"a\":".repeat(100_000)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Syntax);
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let mut r = Reader::new(br#"["plain", "a\/b\n\u00e9\ud83d\ude00"]"#).unwrap();
        let mut got = Vec::new();
        r.array("x", |r| {
            got.push(r.str("x")?);
            Ok(())
        })
        .unwrap();
        assert!(matches!(got[0], Cow::Borrowed("plain")));
        assert_eq!(got[1], "a/b\né😀");
    }

    #[test]
    fn invalid_utf8_is_refused_where_it_is() {
        let e = Reader::new(b"{\"a\": \"\xff\"}").err().unwrap();
        assert_eq!((e.kind, e.offset), (ErrorKind::Syntax, 7));
        assert_eq!(e.message, "invalid UTF-8");
    }

    #[test]
    fn integers_are_range_checked_like_go() {
        let read = |t: &str| {
            let mut r = Reader::new(t.as_bytes()).unwrap();
            r.u32("uid")
        };
        assert_eq!(read("4294967295"), Ok(u32::MAX));
        for bad in ["4294967296", "-1", "1.0", "1e3", "\"0\"", "true"] {
            let e = read(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Spec, "{bad}");
            assert!(
                e.message
                    .starts_with("uid: expected an integer from 0 to 4294967295, found "),
                "{e:?}"
            );
        }
        assert!(
            read("\"root\"")
                .unwrap_err()
                .message
                .ends_with("found a string (\"root\")")
        );
    }

    #[test]
    fn keys_go_would_fold_onto_a_field_are_refused() {
        let read = |t: &str| {
            let mut r = Reader::new(t.as_bytes()).unwrap();
            let mut got = None;
            r.object("process", &["capabilities", "user"], |r, i| {
                got = Some(i);
                r.skip()
            })
            .map(|()| got)
        };
        assert_eq!(read(r#"{"user": 1, "other": [2]}"#), Ok(Some(1)));
        for variant in ["CAPABILITIES", "Capabilities", "capabilitieſ", "\u{212a}"] {
            let t = format!(r#"{{"capabilities": [], "{variant}": ["CAP_SYS_ADMIN"]}}"#);
            let result = read(&t);
            if variant == "\u{212a}" {
                assert_eq!(result, Ok(Some(0)), "the Kelvin sign alone is no field");
                continue;
            }
            let e = result.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Spec);
            assert!(e.message.contains("would read it as that"), "{e:?}");
            assert_eq!(e.offset, 21, "{variant}");
        }
        let e = read(r#"{"user": 1, "user": 2}"#).unwrap_err();
        assert!(e.message.contains("\"user\" is given twice"), "{e:?}");
        assert!(go_folds_to("USER", "user"));
        assert!(go_folds_to("uſer", "user"));
        assert!(go_folds_to("kİnd", "kind"));
        assert!(go_folds_to("\u{212a}ınd", "kind"));
        assert!(!go_folds_to("users", "user"));
        assert!(!go_folds_to("usé", "use"));
    }

    #[test]
    fn plain_runs_stop_at_the_first_special_byte() {
        let text = "abcdefghijklmnopé\"\\\u{1}\u{7f}";
        for (i, want) in [(0, 18), (18, 18), (19, 19), (20, 20), (21, 22)] {
            assert_eq!(plain_run(text.as_bytes(), i), want, "from {i}");
        }
        for len in 0..20 {
            let s = "x".repeat(len);
            assert_eq!(plain_run(s.as_bytes(), 0), len);
            let q = s.clone() + "\"" + "\\";
            assert_eq!(plain_run(q.as_bytes(), 0), len);
            let c = s + "\n\"";
            assert_eq!(plain_run(c.as_bytes(), 0), len);
        }
    }

    #[test]
    fn plain_runs_agree_with_a_byte_by_byte_scan() {
        let naive = |b: &[u8], i: usize| {
            (i..b.len())
                .find(|&k| b[k] == b'"' || b[k] == b'\\' || b[k] < 0x20)
                .unwrap_or(b.len())
        };
        let filler = "aé\u{7f}~ÿ€".repeat(12);
        for special in ["\"", "\\", "\u{0}", "\u{1f}", "\t"] {
            for at in 0..filler.len() {
                if !filler.is_char_boundary(at) {
                    continue;
                }
                let text = format!("{}{special}{}", &filler[..at], &filler[at..]);
                for from in [0, 1, 3, 15, 16, 17] {
                    let b = text.as_bytes();
                    assert_eq!(plain_run(b, from.min(b.len())), naive(b, from.min(b.len())));
                }
            }
        }
        assert_eq!(plain_run(filler.as_bytes(), 0), filler.len());
    }

    #[test]
    fn errors_know_their_line_and_column() {
        let text = b"{\n  \"a\": tru\n}";
        let mut r = Reader::new(text).unwrap();
        let e = r.skip().unwrap_err();
        assert_eq!(e.line_column(text), (2, 8));
    }
}

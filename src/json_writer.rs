//! Compact JSON, byte for byte what `serde_json::to_vec` writes, for the
//! decision record the hook logs on every container start.
//!
//! The record of a container with a thousand mounts is ~88 KB of mostly
//! short strings, and serde_json scans each a byte at a time for what to
//! escape, field names too. Here strings are scanned eight bytes at a time,
//! and a struct's field names, constants once inlined, are checked and
//! written with their quotes and colon as one piece. Floats are rare and
//! left to serde_json. Kept because serde_json's writer costs the hook 18%
//! more instructions with a thousand mounts and 4% more on a typical start
//! (`docs/performance.md`), where the 1000-mount ratio has no room left.

use std::fmt::Display;

use serde::ser::{self, Impossible, Serialize};

use crate::json_bytes::{special, specials};

/// Why a value could not be written; the messages are serde_json's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key must be a string")]
    KeyMustBeAString,
    #[error("float key must be finite (got NaN or +/-inf)")]
    FloatKeyMustBeFinite,
    #[error("{0}")]
    Custom(String),
}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

/// Append `value` to `out` as compact JSON, as `serde_json::to_vec` would
/// write it. On error `out` holds what was written before it.
pub fn to_vec_into<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    // Owned while written: one indirection less on every byte pushed.
    let mut writer = Writer {
        out: std::mem::take(out),
    };
    let written = value.serialize(&mut writer);
    *out = writer.out;
    written
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// A number as a value: as it is.
    #[inline(always)]
    fn integer(&mut self, write: impl FnOnce(&mut Writer)) -> Result<(), Error> {
        write(self);
        Ok(())
    }

    /// `value` quoted, escaped as serde_json escapes: `"`, `\` and the bytes
    /// below 0x20; everything else (DEL, non-ASCII) as it is. Inlined, so a
    /// struct's field names, constants there, are scanned at compile time.
    #[inline(always)]
    fn str(&mut self, value: &str) {
        let mut rest = value.as_bytes();
        self.out.reserve(rest.len() + 2);
        self.out.push(b'"');
        if let Some(at) = next_escape(rest) {
            rest = self.escape_runs(rest, at);
        }
        self.out.extend_from_slice(rest);
        self.out.push(b'"');
    }

    /// Write `bytes` escaped, from a byte needing an escape at `at` on, up
    /// to the clean run that ends it, which is returned.
    #[inline(never)]
    fn escape_runs<'b>(&mut self, mut bytes: &'b [u8], mut at: usize) -> &'b [u8] {
        loop {
            let Some((run, [byte, rest @ ..])) = bytes.split_at_checked(at) else {
                return bytes;
            };
            let byte = *byte;
            self.out.extend_from_slice(run);
            self.escape(byte);
            bytes = rest;
            match next_escape(bytes) {
                Some(next) => at = next,
                None => return bytes,
            }
        }
    }

    /// `,"key":` (the comma if `comma`) as one write when `key` is short and
    /// clean: inlined with a struct's field name, a constant, the scan and
    /// the copies fold to a few stores.
    #[inline(always)]
    fn key(&mut self, key: &str, comma: bool) {
        const ROOM: usize = 32;
        let bytes = key.as_bytes();
        if bytes.len() > ROOM - 4 || next_escape(bytes).is_some() {
            if comma {
                self.out.push(b',');
            }
            self.str(key);
            self.out.push(b':');
            return;
        }
        let mut piece = [b','; ROOM];
        piece[1] = b'"';
        piece[2..bytes.len() + 2].copy_from_slice(bytes);
        piece[bytes.len() + 2..bytes.len() + 4].copy_from_slice(b"\":");
        let piece = &piece[..bytes.len() + 4];
        if comma {
            self.out.extend_from_slice(piece);
        } else {
            self.out.extend_from_slice(&piece[1..]);
        }
    }

    fn escape(&mut self, byte: u8) {
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0C => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let (hi, lo) = (HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]);
                self.out
                    .extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
                return;
            }
        };
        self.out.extend_from_slice(&[b'\\', short]);
    }

    fn bool(&mut self, v: bool) {
        if v {
            self.out.extend_from_slice(b"true");
        } else {
            self.out.extend_from_slice(b"false");
        }
    }

    fn u64(&mut self, mut n: u64) {
        // u64::MAX has 20 digits; written from the last.
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&digits[at..]);
    }

    fn i64(&mut self, n: i64) {
        if n < 0 {
            self.out.push(b'-');
        }
        self.u64(n.unsigned_abs());
    }

    fn u128(&mut self, n: u128) {
        match u64::try_from(n) {
            Ok(n) => self.u64(n),
            // Beyond u64 (rare): std's digits, the same as serde_json's.
            Err(_) => self.out.extend_from_slice(n.to_string().as_bytes()),
        }
    }

    fn i128(&mut self, n: i128) {
        if n < 0 {
            self.out.push(b'-');
        }
        self.u128(n.unsigned_abs());
    }

    /// serde_json's own float formatting (and its `null` for NaN and the
    /// infinities): floats are rare, and their shortest form is subtle.
    fn float<F: Serialize>(&mut self, value: F) -> Result<(), Error> {
        serde_json::to_writer(&mut self.out, &value).map_err(|e| Error::Custom(e.to_string()))
    }

    /// `{"variant":`, the opening of an externally tagged enum variant.
    fn begin_variant(&mut self, variant: &str) {
        self.out.push(b'{');
        self.str(variant);
        self.out.push(b':');
    }

    fn begin(&mut self, open: u8, close: u8, len: Option<usize>) -> State {
        self.out.push(open);
        // An empty collection is closed at once, like serde_json does.
        if len == Some(0) {
            self.out.push(close);
            State::Empty
        } else {
            State::First
        }
    }
}

/// Where the first byte of `bytes` that needs an escape is, if any.
#[inline(always)]
fn next_escape(bytes: &[u8]) -> Option<usize> {
    let (words, _) = bytes.as_chunks::<8>();
    for (n, word) in words.iter().enumerate() {
        let hits = specials(u64::from_le_bytes(*word));
        if hits != 0 {
            return Some(n * 8 + first_hit(hits));
        }
    }
    // The rest, fewer than eight bytes, as one word of overlapping pieces,
    // whose bytes before the rest were found clean: a hit is in the rest.
    if let Some(last) = bytes.last_chunk::<8>() {
        let hits = specials(u64::from_le_bytes(*last));
        return (hits != 0).then(|| bytes.len() - 8 + first_hit(hits));
    }
    // A short string: its first four bytes and its last four.
    if let (Some(head), Some(tail)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        let word =
            u64::from(u32::from_le_bytes(*head)) | u64::from(u32::from_le_bytes(*tail)) << 32;
        let hits = specials(word);
        return (hits != 0).then(|| match first_hit(hits) {
            at @ 0..4 => at,
            at => bytes.len() + at - 8,
        });
    }
    bytes.iter().position(|&b| special(b))
}

fn first_hit(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// serde_json's states of an array or object being written.
#[derive(PartialEq, Eq)]
enum State {
    /// Closed already, as the serializer was told it would stay empty.
    Empty,
    First,
    Rest,
}

struct Compound<'w> {
    w: &'w mut Writer,
    state: State,
}

impl<'w> Compound<'w> {
    /// Whether a `,` goes before the next element or key (serde_json writes
    /// one even after a collection announced as empty).
    fn comma(&mut self) -> bool {
        let comma = self.state != State::First;
        self.state = State::Rest;
        comma
    }

    fn next(&mut self) {
        if self.comma() {
            self.w.out.push(b',');
        }
    }

    /// Close the collection (unless closed at once); the writer, for the
    /// `}` that closes an enum variant around it.
    fn close(self, close: u8) -> &'w mut Writer {
        if self.state != State::Empty {
            self.w.out.push(close);
        }
        self.w
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.next();
        value.serialize(&mut *self.w)
    }

    /// Inlined where a struct is serialized, with its field names.
    #[inline(always)]
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        let comma = self.comma();
        self.w.key(key, comma);
        value.serialize(&mut *self.w)
    }
}

/// The integer methods of a serializer with an `integer` method that runs
/// the writing (of the widest integer of the sign) its way: as it is for a
/// value, quoted for a map key.
macro_rules! integer_methods {
    () => {
        integer_methods! {
            serialize_i8: i8 => i64;
            serialize_i16: i16 => i64;
            serialize_i32: i32 => i64;
            serialize_i64: i64 => i64;
            serialize_i128: i128 => i128;
            serialize_u8: u8 => u64;
            serialize_u16: u16 => u64;
            serialize_u32: u32 => u64;
            serialize_u64: u64 => u64;
            serialize_u128: u128 => u128;
        }
    };
    ($($method:ident: $ty:ty => $wide:ident;)*) => {$(
        fn $method(self, v: $ty) -> Result<(), Error> {
            self.integer(|w| w.$wide(v.into()))
        }
    )*};
}

impl<'w> ser::Serializer for &'w mut Writer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w>;
    type SerializeTuple = Compound<'w>;
    type SerializeTupleStruct = Compound<'w>;
    type SerializeTupleVariant = Compound<'w>;
    type SerializeMap = Compound<'w>;
    type SerializeStruct = Compound<'w>;
    type SerializeStructVariant = Compound<'w>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.bool(v);
        Ok(())
    }

    integer_methods!();

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v)
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v)
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.str(v);
        Ok(())
    }

    /// An array of numbers, as serde_json writes bytes.
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for byte in v {
            seq.serialize_element(byte)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    /// Inlined where the enum is serialized, with its variant names.
    #[inline(always)]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.str(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.begin_variant(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'w>, Error> {
        let state = self.begin(b'[', b']', len);
        Ok(Compound { w: self, state })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'w>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'w>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'w>, Error> {
        self.begin_variant(variant);
        self.serialize_seq(Some(len))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'w>, Error> {
        let state = self.begin(b'{', b'}', len);
        Ok(Compound { w: self, state })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Compound<'w>, Error> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'w>, Error> {
        self.begin_variant(variant);
        self.serialize_map(Some(len))
    }
}

/// The array-like compounds: each element after a comma, `]` to close
/// (then `}` for a tuple variant's `{"variant":[…]}`).
macro_rules! arrays {
    ($($trait:ident::$method:ident $(then $outer:literal)?;)*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }

            fn end(self) -> Result<(), Error> {
                let _writer = self.close(b']');
                $(_writer.out.push($outer);)?
                Ok(())
            }
        }
    )*};
}

arrays! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field then b'}';
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.next();
        key.serialize(MapKey(&mut *self.w))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.w.out.push(b':');
        value.serialize(&mut *self.w)
    }

    fn end(self) -> Result<(), Error> {
        self.close(b'}');
        Ok(())
    }
}

/// The struct-like compounds: `,"key":value` pieces, `}` to close (then
/// another for a struct variant's `{"variant":{…}}`).
macro_rules! objects {
    ($($trait:ident $(then $outer:literal)?;)*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            #[inline(always)]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }

            fn end(self) -> Result<(), Error> {
                let _writer = self.close(b'}');
                $(_writer.out.push($outer);)?
                Ok(())
            }
        }
    )*};
}

objects! {
    SerializeStruct;
    SerializeStructVariant then b'}';
}

/// A map key: serde_json takes strings, and quotes numbers, bools and chars
/// (finite floats too); anything else is an error.
struct MapKey<'w>(&'w mut Writer);

impl MapKey<'_> {
    /// A number as a key: quoted.
    fn integer(self, write: impl FnOnce(&mut Writer)) -> Result<(), Error> {
        self.quoted(write)
    }

    fn quoted(self, write: impl FnOnce(&mut Writer)) -> Result<(), Error> {
        self.0.out.push(b'"');
        write(self.0);
        self.0.out.push(b'"');
        Ok(())
    }

    fn float<F: Serialize>(self, value: F, finite: bool) -> Result<(), Error> {
        if !finite {
            return Err(Error::FloatKeyMustBeFinite);
        }
        self.0.out.push(b'"');
        self.0.float(value)?;
        self.0.out.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.serialize_str(v)
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.0.serialize_char(v)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.0.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(|w| w.bool(v))
    }

    integer_methods!();

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v, v.is_finite())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v, v.is_finite())
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(Error::KeyMustBeAString)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error::KeyMustBeAString)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    /// Our bytes and serde_json's for `value`: the same bytes, or errors with
    /// the same message.
    fn same<T: Serialize + ?Sized>(value: &T) {
        // Appended after what the buffer holds.
        let mut ours = b"held".to_vec();
        let ours = to_vec_into(&mut ours, value).map(|()| {
            assert_eq!(ours[..4], *b"held");
            ours.split_off(4)
        });
        match (ours, serde_json::to_vec(value)) {
            (Ok(ours), Ok(theirs)) => assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            ),
            (Err(ours), Err(theirs)) => assert_eq!(ours.to_string(), theirs.to_string()),
            (ours, theirs) => panic!("ours {ours:?}, serde_json's {theirs:?}"),
        }
    }

    #[test]
    fn every_ascii_byte_is_escaped_as_serde_json_does() {
        for byte in 0..=0x7Fu8 {
            let c = char::from(byte);
            same(&c.to_string());
            same(&c);
            same(&format!("ab{c}cd"));
        }
    }

    #[test]
    fn multibyte_utf8_is_written_as_it_is() {
        for s in [
            "é",
            "€",
            "😀",
            "\u{80}",
            "\u{7FF}",
            "\u{2028}\u{2029}",
            "\u{FEFF}",
            "\u{10FFFF}",
            "naïve \"quoted\"\tcafé\n😀\\",
            "\u{1}é\u{1f}€\u{7f}",
        ] {
            same(s);
        }
    }

    #[test]
    fn escapes_at_word_boundaries() {
        for at in 0..40 {
            for escaped in ['"', '\\', '\n', '\0', '\u{1f}', '\u{8}'] {
                let mut s: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"
                    .chars()
                    .collect();
                s[at] = escaped;
                same(&s.iter().collect::<String>());
                // Two in a row, and one at the end of the string.
                s[at + 1] = escaped;
                same(&s.iter().collect::<String>());
                same(&s[..=at].iter().collect::<String>());
            }
        }
        same(&"\"".repeat(17));
        same(&"é\"".repeat(9));
    }

    #[test]
    fn empty_and_short_strings() {
        for s in [
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            " ",
            "\u{7f}",
        ] {
            same(s);
        }
    }

    #[test]
    fn keys_are_escaped_too() {
        let map: BTreeMap<String, u8> = ["", "a\"b", "c\\d", "\n", "\u{1}\u{7f}é", "plain key"]
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k.to_string(), i as u8))
            .collect();
        same(&map);
        same(&BTreeMap::<String, u8>::new());
    }

    #[test]
    fn integers_at_their_extremes() {
        same(&[0, i64::MIN, i64::MAX, -1, 1, 9, 10, 99, 100]);
        same(&[0, u64::MAX, 1, 10_000_000_000_000_000_000]);
        same(&[i128::MIN, i128::MAX, 0, -1, i128::from(i64::MIN) - 1]);
        same(&[u128::MAX, 0, u128::from(u64::MAX) + 1]);
        same(&(
            i8::MIN,
            i8::MAX,
            u8::MAX,
            i16::MIN,
            u16::MAX,
            i32::MIN,
            u32::MAX,
        ));
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Newtype(String);

    #[derive(Serialize)]
    struct Pair(i32, bool);

    #[derive(Serialize)]
    struct Empty {}

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        name: &'static str,
        read_only: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        maybe: Option<u8>,
        #[serde(rename = "we\"ird")]
        weird: (),
        a_field_name_too_long_for_one_piece: bool,
    }

    #[derive(Serialize)]
    struct Outer {
        inner: Inner,
        list: Vec<Inner>,
        unit: Unit,
        newtype: Newtype,
        pair: Pair,
        empty: Empty,
        nothing: Vec<u8>,
    }

    /// Field names around the size of the piece a clean one is written in.
    #[derive(Serialize)]
    struct KeyLengths {
        #[serde(rename = "abcdefghijklmnopqrstuvwxyz0")]
        n27: u8,
        #[serde(rename = "abcdefghijklmnopqrstuvwxyz01")]
        n28: u8,
        #[serde(rename = "abcdefghijklmnopqrstuvwxyz012")]
        n29: u8,
        #[serde(rename = "abcdefghijklmnopqrstuvwxyz012345")]
        n32: u8,
        #[serde(rename = "abcdefghijklmnopqrstuvwxyz0123456")]
        n33: u8,
        #[serde(rename = "")]
        empty: u8,
    }

    #[test]
    fn field_names_of_any_length() {
        same(&KeyLengths {
            n27: 27,
            n28: 28,
            n29: 29,
            n32: 32,
            n33: 33,
            empty: 0,
        });
    }

    #[derive(Serialize)]
    enum Shapes {
        Unit,
        #[serde(rename = "re\"named")]
        Renamed,
        Newtype(u8),
        Tuple(i32, String),
        NoFields(),
        Struct {
            a: u8,
            b: &'static str,
        },
        NoStruct {},
    }

    #[test]
    fn enums_of_every_shape() {
        same(&[
            Shapes::Unit,
            Shapes::Renamed,
            Shapes::Newtype(7),
            Shapes::Tuple(-1, "x\ny".into()),
            Shapes::NoFields(),
            Shapes::Struct { a: 1, b: "b" },
            Shapes::NoStruct {},
        ]);
        same(&Shapes::Newtype(0));
    }

    #[test]
    fn options_units_and_nested_structs() {
        same(&Some(1));
        same(&None::<u8>);
        same(&Some(Some("x")));
        same(&());
        same(&Unit);
        same(&Newtype("n\t".into()));
        let inner = || Inner {
            name: "a\"b",
            read_only: true,
            skipped: None,
            maybe: Some(3),
            weird: (),
            a_field_name_too_long_for_one_piece: true,
        };
        same(&Outer {
            inner: inner(),
            list: vec![inner(), inner()],
            unit: Unit,
            newtype: Newtype(String::new()),
            pair: Pair(i32::MIN, false),
            empty: Empty {},
            nothing: Vec::new(),
        });
    }

    #[test]
    fn floats_are_serde_jsons() {
        same(&[1.5, -0.0, 0.0, 1e300, -1e-300, 5e-324, f64::MAX, 0.1, 100.0]);
        same(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        same(&[0.1f32, f32::MAX, f32::MIN_POSITIVE, 1.0, f32::NAN]);
    }

    /// `serialize_bytes`, which serde_json writes as an array of numbers.
    struct Bytes(&'static [u8]);

    impl Serialize for Bytes {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    #[test]
    fn bytes_are_arrays_of_numbers() {
        same(&Bytes(b""));
        same(&Bytes(b"\x00a\xff"));
    }

    #[test]
    fn keys_that_are_not_strings() {
        same(&BTreeMap::from([(-3i64, 'a'), (i64::MAX, 'b')]));
        same(&BTreeMap::from([(u128::MAX, ()), (0, ())]));
        same(&BTreeMap::from([(i128::MIN, ())]));
        same(&BTreeMap::from([(u8::MAX, ())]));
        same(&BTreeMap::from([(true, 1), (false, 2)]));
        same(&BTreeMap::from([('"', 1), ('é', 2)]));
        same(&BTreeMap::from([(Some("k"), 1)]));
        same(&Map1(Newtype("k\n".into()), 1));
        same(&Map1(Shapes::Unit, 1));
        same(&Map1(1.5, 1));
        same(&Map1(-0.0, 1));
        same(&Map1(0.1f32, 1));
        // Where serde_json refuses a key, so do we, with its message.
        same(&Map1(f64::NAN, 1));
        same(&Map1(f32::INFINITY, 1));
        same(&BTreeMap::from([(None::<&str>, 1)]));
        same(&BTreeMap::from([((), 1)]));
        same(&BTreeMap::from([(vec![1], 1)]));
        same(&BTreeMap::from([((1, 2), 1)]));
        same(&Map1(Shapes::Newtype(1), 1));
        same(&Map1(Shapes::Tuple(1, String::new()), 1));
        same(&Map1(Shapes::Struct { a: 1, b: "" }, 1));
        same(&Map1(Bytes(b"k"), 1));
        same(&Map1(Unit, 1));
        same(&Map1(Pair(1, true), 1));
        same(&Map1(Empty {}, 1));
        same(&Map1(BTreeMap::from([(1, 1)]), 1));
    }

    /// A one-entry map of any key type.
    struct Map1<K, V>(K, V);

    impl<K: Serialize, V: Serialize> Serialize for Map1<K, V> {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeMap;
            // No length: serde_json then leaves the object open until `end`.
            let mut map = s.serialize_map(None)?;
            map.serialize_entry(&self.0, &self.1)?;
            map.end()
        }
    }

    /// A `Serialize` that says a collection is empty and then fills it, and
    /// one that fails: serde_json's output (or error) either way.
    struct Odd(bool);

    impl Serialize for Odd {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use ser::{Error as _, SerializeSeq};
            if self.0 {
                return Err(S::Error::custom("refused \"here\""));
            }
            let mut seq = s.serialize_seq(Some(0))?;
            seq.serialize_element(&1)?;
            seq.end()
        }
    }

    #[test]
    fn what_a_serialize_impl_does_is_kept() {
        same(&Odd(false));
        same(&(1, Odd(true)));
        same(&format_args!("collected {}\n", "\"str\""));
    }

    /// Strings heavy in what needs an escape.
    fn escapy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                (0u8..0x20).prop_map(char::from),
                Just('\u{7f}'),
                any::<char>(),
                Just('a'),
            ],
            0..40,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        // No regression files, as in tests/properties.rs.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn any_string(s in ".*") {
            same(&s);
        }

        #[test]
        fn any_bytes_made_a_string(bytes in any::<Vec<u8>>()) {
            same(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn strings_of_escapes(s in escapy()) {
            same(&s);
        }

        #[test]
        fn nested_values(
            value in proptest::collection::btree_map(
                any::<String>(),
                proptest::collection::vec(any::<Option<(i64, String, bool)>>(), 0..8),
                0..8,
            )
        ) {
            same(&value);
        }

        #[test]
        fn nested_values_with_escapes(
            value in proptest::collection::btree_map(
                escapy(),
                proptest::collection::vec(
                    proptest::option::of((any::<i64>(), escapy(), any::<bool>())),
                    0..4,
                ),
                0..6,
            )
        ) {
            same(&value);
        }
    }
}

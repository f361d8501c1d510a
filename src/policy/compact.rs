//! A compact binary serde format for the policy cache ([`super::cache`]).
//!
//! Why: with a hundred policies, decoding the cache entry as JSON was two
//! thirds of the hook's run (serde_json matches every field name of every
//! policy). The cache is the hook's own file — written and read only by root,
//! by the very same build (its key names the executable) — so it needs no
//! self-describing format. This one decodes in well under half the
//! instructions (no names to match, no text to scan).
//!
//! The encoding, with no names and no type tags:
//! - bool: one byte, 0 or 1; u8: the byte; u16–u64: LEB128 varint (shortest
//!   form only); i8–i64: zigzag, then varint; f32/f64: little-endian bits;
//!   char: varint of its code point.
//! - str and bytes: varint length, then the bytes (str checked as UTF-8).
//! - Option: a byte 0 (None) or 1 (Some) then the value; unit and unit
//!   structs: nothing; newtype structs: the inner value.
//! - seq and map: varint count, then the elements (entries key then value).
//! - tuples and structs: the fields in order; enums: varint variant index,
//!   then the variant's content as above.
//!
//! A skipped field (`skip_serializing_if`) is an error when serializing: it
//! would shift every later field. Decoding a corrupt entry never panics and
//! never allocates more than its length: each count and length is checked
//! against the bytes left (so a sequence of zero-sized elements longer than
//! the rest of the input is refused). Errors name the byte offset.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Visitor};
use serde::ser::{self, Serialize};

/// What was wrong, and at (or just after) which byte of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    offset: Option<usize>,
}

impl Error {
    fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            offset: None,
        }
    }

    /// An error of a visitor knows no position: the decoder's is added.
    fn at(mut self, offset: usize) -> Error {
        self.offset.get_or_insert(offset);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "{} at byte {offset}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::new(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::new(msg.to_string())
    }
}

pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut ser = Serializer { out: Vec::new() };
    value.serialize(&mut ser)?;
    Ok(ser.out)
}

/// The value the bytes hold, all of them.
pub fn from_slice<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    let mut de = Deserializer::new(bytes);
    let value = de.decode()?;
    de.end()?;
    Ok(value)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Serializer {
    out: Vec<u8>,
}

impl Serializer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn len(&mut self, len: usize) {
        self.varint(len as u64);
    }

    fn counted(&mut self, len: Option<usize>, what: &str) -> Result<Counted<'_>, Error> {
        let len = len.ok_or_else(|| Error::new(format!("a {what} of unknown length")))?;
        self.len(len);
        Ok(Counted {
            ser: self,
            left: len,
        })
    }
}

/// A seq or map being written: its elements must be as many as its count.
struct Counted<'a> {
    ser: &'a mut Serializer,
    left: usize,
}

impl Counted<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.left = self
            .left
            .checked_sub(1)
            .ok_or_else(|| Error::new("more elements than the length given"))?;
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result<(), Error> {
        match self.left {
            0 => Ok(()),
            n => Err(Error::new(format!(
                "{n} elements fewer than the length given"
            ))),
        }
    }
}

/// Narrower integers are written as the 64-bit ones (the varint is as short).
macro_rules! widen {
    ($($method:ident: $ty:ty => $wide:ident;)*) => {$(
        fn $method(self, v: $ty) -> Result<(), Error> {
            self.$wide(v.into())
        }
    )*};
}

impl<'a> ser::Serializer for &'a mut Serializer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Counted<'a>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Counted<'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push(u8::from(v));
        Ok(())
    }

    widen! {
        serialize_i8: i8 => serialize_i64;
        serialize_i16: i16 => serialize_i64;
        serialize_i32: i32 => serialize_i64;
        serialize_u16: u16 => serialize_u64;
        serialize_u32: u32 => serialize_u64;
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.varint(zigzag(v));
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.out.push(v);
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.varint(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.out.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.out.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_u64(u32::from(v).into())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.serialize_bytes(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.len(v.len());
        self.out.extend_from_slice(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.out.push(0);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.out.push(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_u32(index)
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
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.varint(index.into());
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'a>, Error> {
        self.counted(len, "sequence")
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.varint(index.into());
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'a>, Error> {
        self.counted(len, "map")
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.varint(index.into());
        Ok(self)
    }
}

impl ser::SerializeSeq for Counted<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        Counted::end(self)
    }
}

impl ser::SerializeMap for Counted<'_> {
    type Ok = ();
    type Error = Error;

    /// Keys are counted, values follow them.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.element(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)
    }

    fn end(self) -> Result<(), Error> {
        Counted::end(self)
    }
}

/// Tuples, tuple structs and tuple variants: the elements in order.
macro_rules! elements_in_order {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for &mut Serializer {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                value.serialize(&mut **self)
            }

            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}

elements_in_order!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// Structs and struct variants: the fields in order, without their names,
/// so one left out would be read as the next.
macro_rules! fields_in_order {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Serializer {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                value.serialize(&mut **self)
            }

            fn skip_field(&mut self, key: &'static str) -> Result<(), Error> {
                Err(Error::new(format!(
                    "field {key:?} skipped: the compact format cannot leave fields out"
                )))
            }

            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}

fields_in_order!(SerializeStruct, SerializeStructVariant);

/// Decodes values one after another from a byte slice: [`Deserializer::decode`]
/// a prefix, look at it, decode on, then [`Deserializer::end`].
pub struct Deserializer<'de> {
    input: &'de [u8],
    /// What is left of `input`, always a suffix of it.
    rest: &'de [u8],
}

impl<'de> Deserializer<'de> {
    pub fn new(input: &'de [u8]) -> Deserializer<'de> {
        Deserializer { input, rest: input }
    }

    /// The next value.
    pub fn decode<T: Deserialize<'de>>(&mut self) -> Result<T, Error> {
        T::deserialize(&mut *self).map_err(|e| e.at(self.offset()))
    }

    /// An error unless every byte was decoded.
    pub fn end(&self) -> Result<(), Error> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(self.error(format!("{n} trailing bytes"))),
        }
    }

    fn offset(&self) -> usize {
        self.input.len() - self.rest.len()
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::new(message).at(self.offset())
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'de [u8], Error> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or_else(|| {
            self.error(format!(
                "truncated {what}: {n} bytes needed, {} left",
                self.rest.len()
            ))
        })?;
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self, what: &str) -> Result<u8, Error> {
        let (&b, tail) = self
            .rest
            .split_first()
            .ok_or_else(|| self.error(format!("truncated {what}")))?;
        self.rest = tail;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Error> {
        let bytes = self.take(N, what)?;
        // take returned exactly N bytes.
        bytes
            .try_into()
            .map_err(|_| self.error(format!("truncated {what}")))
    }

    /// LEB128, in its shortest form only: one value, one encoding.
    #[inline]
    fn varint(&mut self, what: &str) -> Result<u64, Error> {
        // Most are lengths, counts and variant indexes: one byte.
        match self.rest.split_first() {
            Some((&b, tail)) if b < 0x80 => {
                self.rest = tail;
                Ok(u64::from(b))
            }
            _ => self.long_varint(what),
        }
    }

    /// Called when the first byte is not the last: at most ten bytes, the
    /// tenth holding bit 63 only.
    fn long_varint(&mut self, what: &str) -> Result<u64, Error> {
        let error = |message: &str| Error::new(format!("{message} ({what})")).at(self.offset());
        let mut value = 0;
        for (i, &b) in self.rest.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return match (i, b) {
                    (9, 2..) => Err(error("varint overflows 64 bits")),
                    (_, 0) => Err(error("overlong varint")),
                    _ => {
                        self.rest = self.rest.get(i + 1..).unwrap_or_default();
                        Ok(value)
                    }
                };
            }
        }
        match self.rest.len() {
            10.. => Err(error("varint overflows 64 bits")),
            _ => Err(error("truncated varint")),
        }
    }

    fn unsigned<T: TryFrom<u64>>(&mut self, what: &str) -> Result<T, Error> {
        let start = self.offset();
        let v = self.varint(what)?;
        T::try_from(v).map_err(|_| Error::new(format!("{v} is out of range for {what}")).at(start))
    }

    fn signed<T: TryFrom<i64>>(&mut self, what: &str) -> Result<T, Error> {
        let start = self.offset();
        let v = unzigzag(self.varint(what)?);
        T::try_from(v).map_err(|_| Error::new(format!("{v} is out of range for {what}")).at(start))
    }

    /// A count or length: never more than the bytes left, so nothing is
    /// allocated for what a corrupt entry only claims.
    fn len(&mut self, what: &str) -> Result<usize, Error> {
        let start = self.offset();
        let n = self.varint(what)?;
        match usize::try_from(n) {
            Ok(n) if n <= self.rest.len() => Ok(n),
            _ => Err(Error::new(format!(
                "{what} of {n} is more than the {} bytes left",
                self.rest.len()
            ))
            .at(start)),
        }
    }

    fn bytes(&mut self) -> Result<&'de [u8], Error> {
        let n = self.len("byte length")?;
        self.take(n, "bytes")
    }

    fn str(&mut self) -> Result<&'de str, Error> {
        let n = self.len("string length")?;
        let start = self.offset();
        let bytes = self.take(n, "string")?;
        std::str::from_utf8(bytes)
            .map_err(|e| Error::new("invalid UTF-8 in a string").at(start + e.valid_up_to()))
    }

    fn elements<'a>(&'a mut self, left: usize) -> Elements<'a, 'de> {
        Elements { de: self, left }
    }
}

macro_rules! integers {
    ($($method:ident: $ty:ty, $read:ident, $visit:ident;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let v = self.$read::<$ty>(stringify!($ty))?;
            visitor.$visit(v)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(self.error("the compact format is not self-describing: the type must say what to read (deserialize_any)"))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(self.error("the compact format is not self-describing: nothing can be skipped (deserialize_ignored_any)"))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.offset();
        match self.byte("bool")? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            b => Err(Error::new(format!("invalid bool byte {b}")).at(start)),
        }
    }

    integers! {
        deserialize_i8: i8, signed, visit_i8;
        deserialize_i16: i16, signed, visit_i16;
        deserialize_i32: i32, signed, visit_i32;
        deserialize_i64: i64, signed, visit_i64;
        deserialize_u16: u16, unsigned, visit_u16;
        deserialize_u32: u32, unsigned, visit_u32;
        deserialize_u64: u64, unsigned, visit_u64;
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u8(self.byte("u8")?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f32(f32::from_bits(u32::from_le_bytes(self.array("f32")?)))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(f64::from_bits(u64::from_le_bytes(self.array("f64")?)))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.offset();
        let v: u32 = self.unsigned("char")?;
        let c = char::from_u32(v)
            .ok_or_else(|| Error::new(format!("{v:#x} is not a char")).at(start))?;
        visitor.visit_char(c)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_bytes(self.bytes()?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = self.offset();
        match self.byte("option tag")? {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            b => Err(Error::new(format!("invalid option tag {b}")).at(start)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.len("sequence count")?;
        visitor.visit_seq(self.elements(n))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(self.elements(len))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.len("map count")?;
        visitor.visit_map(self.elements(n))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(fields.len(), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self)
    }

    /// Only enum variants are identifiers here: their index.
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u32(self.unsigned("variant index")?)
    }
}

/// The elements of a seq, tuple or struct, or the entries of a map.
struct Elements<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: usize,
}

impl Elements<'_, '_> {
    fn hint(&self) -> Option<usize> {
        Some(self.left.min(self.de.rest.len()))
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        de::SeqAccess::next_element_seed(self, seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        self.hint()
    }
}

impl<'de> de::EnumAccess<'de> for &mut Deserializer<'de> {
    type Error = Error;
    type Variant = Self;

    /// The variant index, through [`de::Deserializer::deserialize_identifier`].
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let variant = seed.deserialize(&mut *self)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(self, fields.len(), visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Unit;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Newtype(u32);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pair(i16, String);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Kind {
        Plain,
        Newtype(String),
        Tuple(u8, bool),
        Struct { a: Option<u64>, b: Vec<i32> },
    }

    /// Every kind of value the format knows.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        yes: bool,
        no: bool,
        byte: u8,
        small: u16,
        medium: u32,
        large: u64,
        negative: i8,
        signed: i64,
        float: f32,
        double: f64,
        letter: char,
        text: String,
        none: Option<String>,
        some: Option<Unit>,
        unit: (),
        newtype: Newtype,
        tuple: (u16, i32),
        pair: Pair,
        map: BTreeMap<String, u32>,
        kinds: Vec<Kind>,
    }

    fn sample() -> Sample {
        Sample {
            yes: true,
            no: false,
            byte: 0xff,
            small: 300,
            medium: u32::MAX,
            large: u64::MAX,
            negative: i8::MIN,
            signed: -1_234_567_890_123,
            float: 1.5,
            double: -0.1,
            letter: 'é',
            text: "policy ünïcode".into(),
            none: None,
            some: Some(Unit),
            unit: (),
            newtype: Newtype(7),
            tuple: (65535, -2),
            pair: Pair(-300, String::new()),
            map: [("a".to_string(), 1), ("bc".to_string(), 128)].into(),
            kinds: vec![
                Kind::Plain,
                Kind::Newtype("x".into()),
                Kind::Tuple(3, true),
                Kind::Struct {
                    a: Some(1 << 40),
                    b: vec![-1, 0, i32::MAX],
                },
            ],
        }
    }

    #[test]
    fn every_kind_of_value_reads_back() {
        let bytes = to_vec(&sample()).unwrap();
        assert_eq!(from_slice::<Sample>(&bytes).unwrap(), sample());
    }

    #[test]
    fn encodings_are_as_documented() {
        assert_eq!(to_vec(&true).unwrap(), [1]);
        assert_eq!(to_vec(&0xffu8).unwrap(), [0xff]);
        assert_eq!(to_vec(&300u32).unwrap(), [0xac, 0x02]);
        assert_eq!(to_vec(&u64::MAX).unwrap().len(), 10);
        assert_eq!(to_vec(&-1i32).unwrap(), [1]);
        assert_eq!(to_vec(&1i64).unwrap(), [2]);
        assert_eq!(to_vec(&1.0f32).unwrap(), 1.0f32.to_le_bytes());
        assert_eq!(to_vec("ab").unwrap(), [2, b'a', b'b']);
        assert_eq!(to_vec(&Some(5u8)).unwrap(), [1, 5]);
        assert_eq!(to_vec(&None::<u8>).unwrap(), [0]);
        assert_eq!(to_vec(&vec![1u8, 2]).unwrap(), [2, 1, 2]);
        assert_eq!(to_vec(&(Unit, Newtype(3))).unwrap(), [3]);
        assert_eq!(to_vec(&Kind::Tuple(4, false)).unwrap(), [2, 4, 0]);
        assert_eq!(
            to_vec(&Kind::Struct { a: None, b: vec![] }).unwrap(),
            [3, 0, 0]
        );
    }

    #[test]
    fn strings_are_borrowed_from_the_input() {
        let bytes = [2, b'h', b'i'];
        let s: &str = from_slice(&bytes).unwrap();
        assert_eq!(s, "hi");
        assert!(std::ptr::eq(s.as_ptr(), &bytes[1]));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = to_vec(&sample()).unwrap();
        for n in 0..bytes.len() {
            assert!(from_slice::<Sample>(&bytes[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = to_vec(&sample()).unwrap();
        bytes.push(0);
        let e = from_slice::<Sample>(&bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("1 trailing bytes at byte {}", bytes.len() - 1)
        );
        // Decoded in parts, the same bytes read on.
        let mut de = Deserializer::new(&bytes);
        assert_eq!(de.decode::<Sample>().unwrap(), sample());
        assert_eq!(de.decode::<u8>().unwrap(), 0);
        de.end().unwrap();
    }

    #[test]
    fn lengths_beyond_the_input_are_errors() {
        let mut huge = to_vec(&(u64::MAX >> 1)).unwrap();
        huge.extend_from_slice(b"abc");
        let e = from_slice::<Vec<u8>>(&huge).unwrap_err();
        assert!(e.to_string().contains("sequence count of"), "{e}");
        assert!(e.to_string().ends_with("at byte 0"), "{e}");
        assert!(from_slice::<String>(&huge).is_err());
        assert!(from_slice::<Vec<String>>(&huge).is_err());
        assert!(from_slice::<BTreeMap<String, u8>>(&huge).is_err());
        // One more element than there are bytes left.
        assert!(from_slice::<Vec<u8>>(&[4, 1, 2, 3]).is_err());
        assert!(from_slice::<String>(&[4, b'a', b'b', b'c']).is_err());
    }

    /// The size hint a visitor gets: what it would preallocate.
    struct Hint;

    impl<'de> Visitor<'de> for Hint {
        type Value = Option<usize>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Option<usize>, A::Error> {
            Ok(seq.size_hint())
        }
    }

    #[test]
    fn size_hints_are_bounded_by_the_input() {
        let mut de = Deserializer::new(&[1, 2, 3]);
        let hint = de::Deserializer::deserialize_tuple(&mut de, usize::MAX, Hint).unwrap();
        assert_eq!(hint, Some(3));
        let mut de = Deserializer::new(&[2, 1, 2, 3]);
        let hint = de::Deserializer::deserialize_seq(&mut de, Hint).unwrap();
        assert_eq!(hint, Some(2));
    }

    #[test]
    fn invalid_bytes_are_errors() {
        let e = from_slice::<(u8, bool)>(&[7, 2]).unwrap_err();
        assert_eq!(e.to_string(), "invalid bool byte 2 at byte 1");
        assert!(from_slice::<Option<u8>>(&[2, 0]).is_err());
        let e = from_slice::<String>(&[3, b'a', 0xff, b'b']).unwrap_err();
        assert_eq!(e.to_string(), "invalid UTF-8 in a string at byte 2");
        assert!(from_slice::<char>(&to_vec(&0xd800u32).unwrap()).is_err());
        assert!(from_slice::<u16>(&to_vec(&65536u32).unwrap()).is_err());
        assert!(from_slice::<i8>(&to_vec(&128i64).unwrap()).is_err());
        let e = from_slice::<Kind>(&[4]).unwrap_err();
        assert!(e.to_string().contains("integer `4`"), "{e}");
    }

    #[test]
    fn varints_have_one_encoding() {
        for overlong in [&[0x80, 0x00][..], &[0x81, 0x80, 0x00], &[0xff, 0x00]] {
            let e = from_slice::<u64>(overlong).unwrap_err();
            assert!(e.to_string().starts_with("overlong varint"), "{e}");
        }
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(from_slice::<u64>(&max).unwrap(), u64::MAX);
        for last in [0x02, 0x81] {
            max[9] = last;
            let e = from_slice::<u64>(&max).unwrap_err();
            assert!(e.to_string().starts_with("varint overflows"), "{e}");
        }
        assert!(from_slice::<u64>(&[0xff; 11]).is_err());
    }

    #[test]
    fn the_type_must_say_what_to_read() {
        let e = from_slice::<serde_json::Value>(&[0]).unwrap_err();
        assert!(e.to_string().contains("not self-describing"), "{e}");
        let e = from_slice::<de::IgnoredAny>(&[0]).unwrap_err();
        assert!(e.to_string().contains("not self-describing"), "{e}");
    }

    #[test]
    fn a_skipped_field_is_an_error() {
        #[derive(Serialize)]
        struct Skips {
            #[serde(skip_serializing_if = "Option::is_none")]
            maybe: Option<u8>,
            after: u8,
        }
        #[derive(Serialize)]
        enum SkipsInVariant {
            Variant {
                #[serde(skip_serializing_if = "Option::is_none")]
                maybe: Option<u8>,
            },
        }
        assert_eq!(
            to_vec(&Skips {
                maybe: Some(1),
                after: 2
            })
            .unwrap(),
            [1, 1, 2]
        );
        let e = to_vec(&Skips {
            maybe: None,
            after: 2,
        })
        .unwrap_err();
        assert!(e.to_string().contains("\"maybe\" skipped"), "{e}");
        assert!(to_vec(&SkipsInVariant::Variant { maybe: None }).is_err());
    }

    #[test]
    fn a_sequence_of_unknown_length_is_an_error() {
        struct Filtered;
        impl Serialize for Filtered {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq((0..3u8).filter(|n| n % 2 == 0))
            }
        }
        assert!(to_vec(&Filtered).is_err());
    }
}

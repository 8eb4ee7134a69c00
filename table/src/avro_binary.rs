//! The Avro binary encoding, read in place: a datum's parts are borrowed
//! from the payload, and a value no column takes is passed over without
//! being built.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{Name, ResolvedSchema};

/// Values nested deeper than this (counting records, unions, arrays and
/// maps on the way) are refused, so that a hostile payload of a recursive
/// schema cannot exhaust the stack.
pub const MAX_DEPTH: usize = 1000;

/// The named types of a schema, to follow its references.
pub struct Names(HashMap<Name, Schema>);

impl Names {
    pub fn of(schema: &Schema) -> Result<Self, String> {
        let resolved = ResolvedSchema::try_from(schema).map_err(|e| e.to_string())?;
        Ok(Self(resolved.get_names().iter().map(|(name, named)| (name.clone(), (*named).clone())).collect()))
    }

    /// The schema a reference names; any other schema as it is.
    pub fn resolve<'s>(&'s self, schema: &'s Schema) -> &'s Schema {
        match schema {
            Schema::Ref { name } => self.0.get(name).unwrap_or(schema),
            other => other,
        }
    }
}

/// A datum being read: what is left of the payload.
pub struct Input<'a> {
    pub rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(payload: &'a [u8]) -> Self {
        Self { rest: payload }
    }

    pub fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < len {
            return Err(format!("it ends {} bytes short of a value", len - self.rest.len()));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    pub fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// A zigzag varint (int, long, lengths, union indexes).
    pub fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err("a variable-length integer runs past 10 bytes".into())
    }

    pub fn int(&mut self) -> Result<i32, String> {
        let value = self.long()?;
        i32::try_from(value).map_err(|_| format!("{value} is out of range for an Avro int"))
    }

    /// A length-prefixed byte string (bytes, string).
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| format!("a negative length ({len})"))?;
        self.take(len)
    }

    pub fn string(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|e| format!("a string that is not UTF-8: {e}"))
    }

    /// The variant of a union a value is written as.
    pub fn variant<'s>(&mut self, variants: &'s [Schema]) -> Result<(usize, &'s Schema), String> {
        let index = self.long()?;
        usize::try_from(index)
            .ok()
            .and_then(|i| Some((i, variants.get(i)?)))
            .ok_or_else(|| format!("union variant {index} of a union of {}", variants.len()))
    }

    /// Reads an array or map's blocks, calling `item` for each item.
    pub fn blocks(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), String>) -> Result<(), String> {
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                // A negative count is followed by the block's size in bytes.
                self.long()?;
            }
            for _ in 0..count.unsigned_abs() {
                item(self)?;
            }
        }
    }

    /// Passes over one value of `schema`.
    pub fn skip(&mut self, schema: &Schema, names: &Names, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested deeper than {MAX_DEPTH} levels"));
        }
        let depth = depth + 1;
        match schema {
            Schema::Null => {}
            Schema::Boolean => {
                self.byte()?;
            }
            Schema::Int
            | Schema::Long
            | Schema::Enum(_)
            | Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => {
                self.long()?;
            }
            Schema::Float => {
                self.take(4)?;
            }
            Schema::Double => {
                self.take(8)?;
            }
            Schema::Bytes | Schema::String | Schema::Uuid | Schema::BigDecimal => {
                self.bytes()?;
            }
            Schema::Fixed(fixed) => {
                self.take(fixed.size)?;
            }
            Schema::Duration => {
                self.take(12)?;
            }
            Schema::Decimal(decimal) => self.skip(&decimal.inner, names, depth)?,
            Schema::Array(array) => self.blocks(|input| input.skip(&array.items, names, depth))?,
            Schema::Map(map) => self.blocks(|input| {
                input.bytes()?;
                input.skip(&map.types, names, depth)
            })?,
            Schema::Union(union) => {
                let (_, variant) = self.variant(union.variants())?;
                self.skip(variant, names, depth)?;
            }
            Schema::Record(record) => {
                for field in &record.fields {
                    self.skip(&field.schema, names, depth)?;
                }
            }
            Schema::Ref { name } => {
                let named = names.0.get(name).ok_or_else(|| format!("the schema does not define {name}"))?;
                self.skip(named, names, depth)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_zigzag() {
        for (bytes, want) in [(&[0x00][..], 0), (&[0x01], -1), (&[0x02], 1), (&[0x7f], -64), (&[0x80, 0x01], 64)] {
            assert_eq!(Input::new(bytes).long(), Ok(want));
        }
        let max = apache_avro::to_avro_datum(&Schema::Long, i64::MAX).unwrap();
        assert_eq!(Input::new(&max).long(), Ok(i64::MAX));
        assert_eq!(Input::new(&[0xff; 11]).long(), Err("a variable-length integer runs past 10 bytes".into()));
        assert_eq!(Input::new(&[0x80]).long(), Err("it ends 1 bytes short of a value".into()));
    }

    #[test]
    fn skipping_passes_over_exactly_one_value() {
        let schema = Schema::parse_str(
            r#"{"type": "record", "name": "Node", "fields": [
                {"name": "tags", "type": {"type": "array", "items": "string"}},
                {"name": "attrs", "type": {"type": "map", "values": "double"}},
                {"name": "next", "type": ["null", "Node"]}]}"#,
        )
        .unwrap();
        let names = Names::of(&schema).unwrap();
        let json = serde_json::json!({"tags": ["a", "bc"], "attrs": {"x": 1.5},
            "next": {"tags": [], "attrs": {}, "next": null}});
        let value = apache_avro::types::Value::from(json).resolve(&schema).unwrap();
        let mut datum = apache_avro::to_avro_datum(&schema, value).unwrap();
        datum.extend_from_slice(b"after");
        let mut input = Input::new(&datum);
        input.skip(&schema, &names, 0).unwrap();
        assert_eq!(input.rest, b"after");

        let mut deep = [0x00, 0x00, 0x02].repeat(MAX_DEPTH);
        deep.extend_from_slice(&[0x00, 0x00, 0x00]);
        let error = Input::new(&deep).skip(&schema, &names, 0).unwrap_err();
        assert_eq!(error, format!("values nested deeper than {MAX_DEPTH} levels"));
    }
}

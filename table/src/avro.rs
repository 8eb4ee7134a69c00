//! Avro payloads: the table columns a writer schema gives, and the cells of
//! a datum decoded with its writer schema.
//!
//! Columns: every leaf field of the top-level record is one column. A field
//! of a nested record is reached by its dotted path (`customer.id`) and
//! named with underscores (`customer_id`); a name floe fills itself
//! (`key`, `offset`...) is prefixed with `value_`. Arrays, maps, unions of
//! several types and recursive records are one string column holding the
//! value as JSON text. `["null", X]` is an optional X.
//!
//! Cells: a datum is read with the schema it was written with (its id in
//! the record), and each column takes the field at its path in that schema,
//! so a field the table lacks is passed over and a field the writer schema
//! lacks is null. The binary encoding is read in place, by a plan made once
//! per writer schema: apache-avro's `Value` tree would allocate every
//! record's fields with their names, and copy every string. Only a column
//! holding an array, a map or a union of several types has its part decoded
//! by apache-avro, for its JSON text. Values convert exactly: longs as
//! longs, decimals rescaled without rounding, timestamps in microseconds.

use std::borrow::Cow;
use std::sync::Arc;

use apache_avro::schema::{Name, RecordSchema};
use apache_avro::types::Value;
use apache_avro::{Decimal, Schema, Uuid};
use floe_config::{Column, ColumnType, MAX_DECIMAL_PRECISION};

use crate::avro_binary::{Input, Names};
use crate::columns::{ColumnClash, MappedColumn, check_unique, flattened_column};
use crate::dead_letters::PayloadError;
use crate::json::{Cell, rescale_decimal};

/// A writer schema that cannot give columns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvroColumnsError {
    #[error("the value schema is {0}, not a record: floe makes columns of a record's fields")]
    NotRecord(String),
    #[error(transparent)]
    Clash(#[from] ColumnClash),
    #[error("unresolvable schema: {0}")]
    Unresolvable(String),
}

/// What a field of `schema` becomes, with a nullable union unwrapped.
/// `open` holds the records being flattened, outermost first.
fn shape<'s>(names: &'s Names, schema: &'s Schema, open: &[&'s Name]) -> Shape<'s> {
    match names.resolve(schema) {
        Schema::Null => Shape::Nothing,
        Schema::Union(union) => {
            let mut present = union.variants().iter().filter(|v| !matches!(v, Schema::Null));
            match (present.next(), present.next()) {
                (None, _) => Shape::Nothing,
                (Some(only), None) => shape(names, only, open),
                (Some(_), Some(_)) => Shape::Json,
            }
        }
        // A record inside itself would flatten forever.
        Schema::Record(record) if open.contains(&&record.name) => Shape::Json,
        Schema::Record(record) => Shape::Record(record),
        Schema::Array(_) | Schema::Map(_) | Schema::Ref { .. } => Shape::Json,
        leaf => Shape::Leaf(leaf),
    }
}

enum Shape<'s> {
    /// Always null: no column.
    Nothing,
    Record(&'s RecordSchema),
    Leaf(&'s Schema),
    /// Kept as JSON text.
    Json,
}

/// The column type of a leaf schema.
fn leaf_type(schema: &Schema) -> ColumnType {
    match schema {
        Schema::Boolean => ColumnType::Boolean,
        Schema::Int => ColumnType::Int,
        Schema::Long => ColumnType::Long,
        Schema::Float => ColumnType::Float,
        Schema::Double => ColumnType::Double,
        Schema::Bytes | Schema::Fixed(_) | Schema::Duration => ColumnType::Binary,
        Schema::Decimal(decimal) => match (u8::try_from(decimal.precision), u8::try_from(decimal.scale)) {
            (Ok(precision), Ok(scale)) if precision <= MAX_DECIMAL_PRECISION && scale <= precision => {
                ColumnType::Decimal { precision, scale }
            }
            // Beyond Iceberg's decimals: the unscaled two's-complement bytes.
            _ => ColumnType::Binary,
        },
        Schema::Date => ColumnType::Date,
        // Time of day: milliseconds (int) or microseconds (long) as written.
        Schema::TimeMillis => ColumnType::Int,
        Schema::TimeMicros => ColumnType::Long,
        Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos => ColumnType::TimestampTz,
        Schema::LocalTimestampMillis | Schema::LocalTimestampMicros | Schema::LocalTimestampNanos => {
            ColumnType::Timestamp
        }
        // string, enum, uuid, big-decimal (as its text)
        _ => ColumnType::String,
    }
}

/// The table columns of a value schema, in field order.
pub fn columns(schema: &Schema) -> Result<Vec<Column>, AvroColumnsError> {
    let names = Names::of(schema).map_err(AvroColumnsError::Unresolvable)?;
    let Schema::Record(record) = names.resolve(schema) else {
        return Err(AvroColumnsError::NotRecord(describe_schema(schema)));
    };
    let mut columns = Vec::new();
    collect(&names, record, &mut Vec::new(), &mut vec![&record.name], &mut columns);
    check_unique(&columns)?;
    Ok(columns)
}

fn collect<'s>(
    names: &'s Names,
    record: &'s RecordSchema,
    path: &mut Vec<&'s str>,
    open: &mut Vec<&'s Name>,
    columns: &mut Vec<Column>,
) {
    for field in &record.fields {
        path.push(&field.name);
        let column_type = match shape(names, &field.schema, open) {
            Shape::Nothing => None,
            Shape::Record(inner) => {
                open.push(&inner.name);
                collect(names, inner, path, open, columns);
                open.pop();
                None
            }
            Shape::Leaf(leaf) => Some(leaf_type(leaf)),
            Shape::Json => Some(ColumnType::String),
        };
        if let Some(column_type) = column_type {
            columns.push(flattened_column(path, column_type));
        }
        path.pop();
    }
}

fn describe_schema(schema: &Schema) -> String {
    let text = schema.canonical_form();
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// What reading a datum does with one field of a record.
enum Step {
    /// No column takes the field: it is passed over.
    Skip(Schema),
    /// Columns `indexes` take the field.
    Column { indexes: Vec<usize>, read: ColumnRead },
    /// Columns take fields of this record (or of a null-or-record union).
    Record(RecordSteps),
}

enum ColumnRead {
    /// A leaf, or a union of null and a leaf (`nullable` tells which
    /// variants are the leaf).
    Leaf { leaf: Schema, nullable: Option<Vec<bool>> },
    /// Anything else, decoded by apache-avro for its JSON text.
    Whole(Schema),
}

struct RecordSteps {
    /// The whole field (for `whole`): a `ColumnRead::Whole`.
    as_whole: ColumnRead,
    /// For a union of null and the record: which variants are the record.
    nullable: Option<Vec<bool>>,
    /// One per field of the record, in writer order.
    fields: Vec<Step>,
    /// Columns that take the whole record (as JSON text), besides those
    /// that take its fields: a field that was not a record in an earlier
    /// writer schema.
    whole: Vec<usize>,
}

/// A writer schema, ready to read datums into the cells of a table's
/// columns.
pub struct WriterSchema {
    schema: Schema,
    /// Its named types, or why they do not resolve.
    names: Result<Names, String>,
    /// How to read a datum: the top-level record's steps, or one `Skip` of
    /// a schema that is not a record.
    steps: Vec<Step>,
    columns: usize,
}

impl WriterSchema {
    pub fn new(schema: Arc<Schema>, mapped: &[MappedColumn]) -> Self {
        let schema = Schema::clone(&schema);
        let names = Names::of(&schema);
        let steps = match &names {
            Ok(names) => match names.resolve(&schema) {
                Schema::Record(record) => {
                    let wanted: Vec<(usize, &[String])> =
                        mapped.iter().enumerate().map(|(i, column)| (i, column.path.as_slice())).collect();
                    record_steps(names, record, &wanted, &mut vec![&record.name])
                }
                other => vec![Step::Skip(other.clone())],
            },
            Err(_) => Vec::new(),
        };
        Self { names, steps, columns: mapped.len(), schema }
    }

    /// Reads one datum and converts each mapped column's field to its
    /// column's type (`target(i)` for mapped column `i`), in order.
    pub fn cells<'a>(
        &self,
        payload: &'a [u8],
        target: impl Fn(usize) -> ColumnType,
        cells: &mut Vec<Cell<'a>>,
    ) -> Result<(), PayloadError> {
        let undecodable =
            |e: String| PayloadError::Undecodable(format!("the payload does not decode with its writer schema: {e}"));
        let names = self.names.as_ref().map_err(|e| undecodable(e.clone()))?;
        let first = cells.len();
        cells.resize(first + self.columns, Cell::Null);
        let mut datum = Datum { writer: self, names, target: &target, cells: &mut cells[first..] };
        let mut input = Input::new(payload);
        datum.fields(&self.steps, &mut input).map_err(|failure| match failure {
            Failure::Undecodable(e) => undecodable(e),
            Failure::Column { index, reason } => PayloadError::Column { index, reason },
        })?;
        if !input.rest.is_empty() {
            return Err(PayloadError::Undecodable(format!(
                "{} bytes of the payload are left after the datum its writer schema describes",
                input.rest.len()
            )));
        }
        Ok(())
    }
}

/// The steps reading a record's fields, for the columns `wanted` (mapped
/// column index, path below this record).
fn record_steps<'s>(
    names: &'s Names,
    record: &'s RecordSchema,
    wanted: &[(usize, &[String])],
    open: &mut Vec<&'s Name>,
) -> Vec<Step> {
    record.fields.iter().map(|field| field_step(names, &field.name, &field.schema, wanted, open)).collect()
}

fn field_step<'s>(
    names: &'s Names,
    name: &str,
    schema: &'s Schema,
    wanted: &[(usize, &[String])],
    open: &mut Vec<&'s Name>,
) -> Step {
    let mut whole = Vec::new();
    let mut inside: Vec<(usize, &[String])> = Vec::new();
    for (index, path) in wanted {
        match path.split_first() {
            Some((first, [])) if first == name => whole.push(*index),
            Some((first, rest)) if first == name => inside.push((*index, rest)),
            _ => {}
        }
    }
    let nullable = || match names.resolve(schema) {
        Schema::Union(union) => {
            Some(union.variants().iter().map(|v| !matches!(names.resolve(v), Schema::Null)).collect())
        }
        _ => None,
    };
    match shape(names, schema, open) {
        // Columns of fields inside a record; a path into anything else is null.
        Shape::Record(record) if !inside.is_empty() => {
            open.push(&record.name);
            let fields = record_steps(names, record, &inside, open);
            open.pop();
            let as_whole = ColumnRead::Whole(schema.clone());
            Step::Record(RecordSteps { as_whole, nullable: nullable(), fields, whole })
        }
        _ if whole.is_empty() => Step::Skip(schema.clone()),
        Shape::Nothing => Step::Skip(schema.clone()),
        // apache-avro reads the big-decimal encoding.
        Shape::Leaf(Schema::BigDecimal) => Step::Column { indexes: whole, read: ColumnRead::Whole(schema.clone()) },
        Shape::Leaf(leaf) => {
            Step::Column { indexes: whole, read: ColumnRead::Leaf { leaf: leaf.clone(), nullable: nullable() } }
        }
        Shape::Record(_) | Shape::Json => Step::Column { indexes: whole, read: ColumnRead::Whole(schema.clone()) },
    }
}

/// Why reading a datum stopped.
enum Failure {
    Undecodable(String),
    Column { index: usize, reason: String },
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Undecodable(reason)
    }
}

/// One datum being read into its cells.
struct Datum<'d, 'a, T> {
    writer: &'d WriterSchema,
    names: &'d Names,
    target: &'d T,
    cells: &'d mut [Cell<'a>],
}

impl<'a, T: Fn(usize) -> ColumnType> Datum<'_, 'a, T> {
    fn fields(&mut self, steps: &[Step], input: &mut Input<'a>) -> Result<(), Failure> {
        for step in steps {
            match step {
                Step::Skip(schema) => input.skip(schema, self.names, 0)?,
                Step::Column { indexes, read } => self.columns(indexes, read, input)?,
                Step::Record(record) => {
                    let start = input.rest;
                    if present(record.nullable.as_deref(), input)? {
                        self.fields(&record.fields, input)?;
                    }
                    if !record.whole.is_empty() {
                        let mut part = Input::new(&start[..start.len() - input.rest.len()]);
                        self.columns(&record.whole, &record.as_whole, &mut part)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads one value into the cells of mapped columns `indexes` (never
    /// empty; several when columns share a path), each converted to its
    /// own column's type.
    fn columns(&mut self, indexes: &[usize], read: &ColumnRead, input: &mut Input<'a>) -> Result<(), Failure> {
        let start = input.rest;
        for index in indexes {
            let mut value = Input::new(start);
            self.column(read, &mut value, *index)?;
            input.rest = value.rest;
        }
        Ok(())
    }

    /// Reads the value of mapped column `index` into its cell (in place:
    /// see [`crate::json::JsonColumns::fill`] for why).
    fn column(&mut self, read: &ColumnRead, input: &mut Input<'a>, index: usize) -> Result<(), Failure> {
        let target = (self.target)(index);
        let cell = &mut self.cells[index];
        match read {
            ColumnRead::Leaf { leaf, nullable } => {
                if !present(nullable.as_deref(), input)? {
                    *cell = Cell::Null;
                    return Ok(());
                }
                read_leaf(leaf, input, index, target, cell)
            }
            ColumnRead::Whole(schema) => {
                let start = input.rest;
                input.skip(schema, self.names, 0)?;
                let mut part = &start[..start.len() - input.rest.len()];
                let value = apache_avro::from_avro_datum_schemata(schema, vec![&self.writer.schema], &mut part, None)
                    .map_err(|e| e.to_string())?;
                fill(unwrap_union(value), None, target, cell).map_err(|reason| Failure::Column { index, reason })
            }
        }
    }
}

/// Whether a value is there: for a union of null and one type (`nullable`
/// tells which variants are that type), reads which variant it is.
fn present(nullable: Option<&[bool]>, input: &mut Input) -> Result<bool, String> {
    let Some(variants) = nullable else { return Ok(true) };
    let index = input.long()?;
    let variant = usize::try_from(index).ok().and_then(|i| variants.get(i));
    variant.copied().ok_or_else(|| format!("union variant {index} of a union of {}", variants.len()))
}

/// Reads a leaf value into `cell`, the cell of mapped column `index` of
/// type `target`. Strings for string columns are borrowed, decimals for
/// decimal columns read without a big integer; other values go through
/// the one conversion, `fill`.
fn read_leaf<'a>(
    leaf: &Schema,
    input: &mut Input<'a>,
    index: usize,
    target: ColumnType,
    cell: &mut Cell<'a>,
) -> Result<(), Failure> {
    let mismatch = |reason| Failure::Column { index, reason };
    let mut scale = None;
    let value = match leaf {
        Schema::String => {
            let text = input.string()?;
            if target == ColumnType::String {
                *cell = Cell::String(Cow::Borrowed(text));
                return Ok(());
            }
            Value::String(text.to_string())
        }
        Schema::Decimal(decimal) => {
            let bytes = match &*decimal.inner {
                Schema::Fixed(fixed) => input.take(fixed.size)?,
                _ => input.bytes()?,
            };
            let from = u32::try_from(decimal.scale).ok();
            if let (ColumnType::Decimal { precision, scale: to }, Some(from)) = (target, from) {
                *cell = decimal_cell(bytes, from, precision, to).map_err(mismatch)?;
                return Ok(());
            }
            scale = from;
            Value::Decimal(Decimal::from(bytes))
        }
        Schema::Boolean => match input.byte()? {
            0 => Value::Boolean(false),
            1 => Value::Boolean(true),
            other => return Err(format!("{other} is not a boolean byte").into()),
        },
        Schema::Int => Value::Int(input.int()?),
        Schema::Long => Value::Long(input.long()?),
        Schema::Float => Value::Float(f32::from_le_bytes(fixed_bytes(input)?)),
        Schema::Double => Value::Double(f64::from_le_bytes(fixed_bytes(input)?)),
        Schema::Bytes => Value::Bytes(input.bytes()?.to_vec()),
        Schema::Fixed(fixed) => Value::Fixed(fixed.size, input.take(fixed.size)?.to_vec()),
        Schema::Enum(schema) => {
            let index = input.long()?;
            let symbol = usize::try_from(index).ok().and_then(|i| schema.symbols.get(i));
            let symbol = symbol.ok_or_else(|| format!("enum symbol {index} of {}", schema.symbols.len()))?;
            Value::Enum(index as u32, symbol.clone())
        }
        Schema::Uuid => {
            let bytes = input.bytes()?;
            let uuid = match bytes.len() {
                16 => Uuid::from_slice(bytes).map_err(|e| e.to_string())?,
                _ => std::str::from_utf8(bytes).ok().and_then(|text| Uuid::parse_str(text).ok()).ok_or_else(|| {
                    format!("a uuid of {} bytes that is neither 16 bytes nor a uuid's text", bytes.len())
                })?,
            };
            Value::Uuid(uuid)
        }
        Schema::Date => Value::Date(input.int()?),
        Schema::TimeMillis => Value::TimeMillis(input.int()?),
        Schema::TimeMicros => Value::TimeMicros(input.long()?),
        Schema::TimestampMillis => Value::TimestampMillis(input.long()?),
        Schema::TimestampMicros => Value::TimestampMicros(input.long()?),
        Schema::TimestampNanos => Value::TimestampNanos(input.long()?),
        Schema::LocalTimestampMillis => Value::LocalTimestampMillis(input.long()?),
        Schema::LocalTimestampMicros => Value::LocalTimestampMicros(input.long()?),
        Schema::LocalTimestampNanos => Value::LocalTimestampNanos(input.long()?),
        Schema::Duration => Value::Duration(apache_avro::Duration::from(fixed_bytes::<12>(input)?)),
        // The plan sends everything else whole to apache-avro.
        other => return Err(format!("{other:?} is not a leaf").into()),
    };
    fill(value, scale, target, cell).map_err(mismatch)
}

fn fixed_bytes<const N: usize>(input: &mut Input) -> Result<[u8; N], String> {
    Ok(input.take(N)?.try_into().expect("N bytes"))
}

fn unwrap_union(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => unwrap_union(*inner),
        other => other,
    }
}

/// Converts a field's value to its column's type, into `cell`; the error is
/// the reason without the column's name. Inlined, so a leaf's value goes
/// to its cell without being stored and read back whole (a stall).
#[inline(always)]
fn fill(value: Value, scale: Option<u32>, target: ColumnType, cell: &mut Cell<'_>) -> Result<(), String> {
    let mismatch = |value: &Value| format!("{} does not convert to {target}", describe(value));
    let timestamp = |micros: Option<i64>, value: &Value| {
        micros.map(Cell::Long).ok_or_else(|| format!("{} is out of range for {target}", describe(value)))
    };
    *cell = match (target, value) {
        (_, Value::Null) => Cell::Null,
        (ColumnType::Boolean, Value::Boolean(v)) => Cell::Boolean(v),
        (ColumnType::Int, Value::Int(v) | Value::TimeMillis(v)) | (ColumnType::Date, Value::Date(v)) => Cell::Int(v),
        (ColumnType::Int, Value::Long(v)) => {
            Cell::Int(i32::try_from(v).map_err(|_| format!("{v} (a long) is out of range for int"))?)
        }
        (ColumnType::Long, Value::Int(v) | Value::TimeMillis(v)) => Cell::Long(v.into()),
        (ColumnType::Long, Value::Long(v) | Value::TimeMicros(v)) => Cell::Long(v),
        (ColumnType::Float, Value::Float(v)) => Cell::Float(v),
        (ColumnType::Double, Value::Double(v)) => Cell::Double(v),
        (ColumnType::Double, Value::Float(v)) => Cell::Double(v.into()),
        (ColumnType::Double, Value::Int(v)) => Cell::Double(v.into()),
        (ColumnType::String, Value::String(v) | Value::Enum(_, v)) => Cell::String(Cow::Owned(v)),
        (ColumnType::String, Value::Uuid(v)) => Cell::String(Cow::Owned(v.to_string())),
        (ColumnType::String, Value::BigDecimal(v)) => Cell::String(Cow::Owned(v.to_string())),
        (ColumnType::String, other) => Cell::String(Cow::Owned(json_text(other)?)),
        (ColumnType::Binary, Value::Bytes(v) | Value::Fixed(_, v)) => Cell::Binary(v),
        (ColumnType::Binary, Value::Decimal(v)) => Cell::Binary(Vec::<u8>::try_from(&v).map_err(|e| e.to_string())?),
        (ColumnType::Binary, Value::Duration(v)) => Cell::Binary(<[u8; 12]>::from(v).to_vec()),
        (ColumnType::Timestamp | ColumnType::TimestampTz, value) => match value {
            Value::TimestampMillis(v) | Value::LocalTimestampMillis(v) => timestamp(v.checked_mul(1000), &value)?,
            Value::TimestampMicros(v) | Value::LocalTimestampMicros(v) => Cell::Long(v),
            // Iceberg timestamps are microseconds: nanoseconds are floored.
            Value::TimestampNanos(v) | Value::LocalTimestampNanos(v) => Cell::Long(v.div_euclid(1000)),
            other => return Err(mismatch(&other)),
        },
        (ColumnType::Decimal { precision, scale: to }, Value::Decimal(v)) => {
            let bytes = Vec::<u8>::try_from(&v).map_err(|e| e.to_string())?;
            let from = scale.ok_or_else(|| "a decimal whose scale the writer schema does not give".to_string())?;
            decimal_cell(&bytes, from, precision, to)?
        }
        (_, other) => return Err(mismatch(&other)),
    };
    Ok(())
}

/// A decimal written as big-endian two's-complement `bytes` at scale
/// `from`, as a cell of decimal(`precision`, `to`).
fn decimal_cell(bytes: &[u8], from: u32, precision: u8, to: u8) -> Result<Cell<'static>, String> {
    let unscaled = unscaled(bytes)
        .ok_or_else(|| format!("a decimal of {} bytes is out of range for decimal({precision},{to})", bytes.len()))?;
    rescale_decimal(unscaled, from, precision, to)
}

/// A big-endian two's-complement integer, when it fits 128 bits.
fn unscaled(bytes: &[u8]) -> Option<i128> {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let fill = if negative { 0xff } else { 0 };
    let (head, tail) = bytes.split_at(bytes.len().saturating_sub(16));
    let mut buffer = [fill; 16];
    buffer[16 - tail.len()..].copy_from_slice(tail);
    let value = i128::from_be_bytes(buffer);
    let fits = head.iter().all(|b| *b == fill) && (head.is_empty() || (value < 0) == negative);
    fits.then_some(value)
}

/// A nested value as JSON text.
fn json_text(value: Value) -> Result<String, String> {
    serde_json::Value::try_from(value).map(|json| json.to_string()).map_err(|e| e.to_string())
}

/// "a long 5", "a record"...: a value, for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Boolean(v) => format!("{v} (a boolean)"),
        Value::Int(v) => format!("{v} (an int)"),
        Value::Long(v) => format!("{v} (a long)"),
        Value::Float(v) => format!("{v} (a float)"),
        Value::Double(v) => format!("{v} (a double)"),
        Value::String(_) => "a string".to_string(),
        Value::Enum(_, symbol) => format!("enum symbol {symbol}"),
        Value::Bytes(_) | Value::Fixed(..) => "bytes".to_string(),
        Value::Record(_) => "a record".to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::Map(_) => "a map".to_string(),
        Value::Date(v) => format!("date {v}"),
        Value::Decimal(_) | Value::BigDecimal(_) => "a decimal".to_string(),
        Value::TimestampMillis(v) | Value::LocalTimestampMillis(v) => format!("{v} (timestamp milliseconds)"),
        Value::TimestampMicros(v) | Value::LocalTimestampMicros(v) => format!("{v} (timestamp microseconds)"),
        Value::TimestampNanos(v) | Value::LocalTimestampNanos(v) => format!("{v} (timestamp nanoseconds)"),
        Value::TimeMillis(v) => format!("{v} (time milliseconds)"),
        Value::TimeMicros(v) => format!("{v} (time microseconds)"),
        Value::Uuid(v) => format!("uuid {v}"),
        Value::Duration(_) => "a duration".to_string(),
        Value::Null | Value::Union(..) => "null".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use apache_avro::types::Record as AvroRecord;
    use apache_avro::{Decimal, Uuid};

    use super::*;

    const ORDER: &str = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [
        {"name": "id", "type": "long"},
        {"name": "qty", "type": "int"},
        {"name": "paid", "type": "boolean"},
        {"name": "ratio", "type": "float"},
        {"name": "score", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": null},
        {"name": "blob", "type": "bytes"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "created_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "created_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "local_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "id", "type": "string"},
            {"name": "address", "type": ["null", {"type": "record", "name": "Address", "fields": [
                {"name": "city", "type": "string"}]}], "default": null}]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "either", "type": ["null", "long", "string"]},
        {"name": "offset", "type": "long"},
        {"name": "nothing", "type": "null"}
    ]}"#;

    fn order_schema() -> Schema {
        Schema::parse_str(ORDER).unwrap()
    }

    fn described(columns: &[Column]) -> Vec<String> {
        columns.iter().map(|c| format!("{} {} {}", c.name, c.column_type, c.path.as_deref().unwrap_or("-"))).collect()
    }

    #[test]
    fn every_leaf_field_is_a_column() {
        let columns = columns(&order_schema()).unwrap();
        assert_eq!(
            described(&columns),
            [
                "id long id",
                "qty int qty",
                "paid boolean paid",
                "ratio float ratio",
                "score double score",
                "note string note",
                "blob binary blob",
                "status string status",
                "hash binary hash",
                "day date day",
                "created_ms timestamptz created_ms",
                "created_us timestamptz created_us",
                "local_ms timestamp local_ms",
                "local_us timestamp local_us",
                "amount decimal(10,2) amount",
                "ref string ref",
                "customer_id string customer.id",
                "customer_address_city string customer.address.city",
                "tags string tags",
                "attrs string attrs",
                "either string either",
                "value_offset long offset",
            ]
        );
        assert!(columns.iter().all(|c| !c.required));
    }

    #[test]
    fn odd_schemas_give_columns_or_say_why_not() {
        let recursive = r#"{"type": "record", "name": "Node", "fields": [
            {"name": "label", "type": "string"},
            {"name": "next", "type": ["null", "Node"]},
            {"name": "big", "type": {"type": "bytes", "logicalType": "decimal", "precision": 40, "scale": 0}}]}"#;
        let node = columns(&Schema::parse_str(recursive).unwrap()).unwrap();
        assert_eq!(described(&node), ["label string label", "next string next", "big binary big"]);

        let clash = r#"{"type": "record", "name": "R", "fields": [
            {"name": "a_b", "type": "int"},
            {"name": "a", "type": {"type": "record", "name": "A", "fields": [{"name": "b", "type": "int"}]}}]}"#;
        assert_eq!(
            columns(&Schema::parse_str(clash).unwrap()).unwrap_err().to_string(),
            "fields `a_b` and `a.b` both become column `a_b`: rename one of them in the schema"
        );
        assert_eq!(
            columns(&Schema::Long).unwrap_err().to_string(),
            "the value schema is \"long\", not a record: floe makes columns of a record's fields"
        );
    }

    fn order_datum(schema: &Schema) -> Vec<u8> {
        let mut record = AvroRecord::new(schema).unwrap();
        record.put("id", Value::Long(9_007_199_254_740_993));
        record.put("qty", Value::Int(-3));
        record.put("paid", Value::Boolean(true));
        record.put("ratio", Value::Float(0.5));
        record.put("score", Value::Double(2.25));
        record.put("note", Value::Union(1, Box::new(Value::String("fragile".into()))));
        record.put("blob", Value::Bytes(vec![0, 255]));
        record.put("status", Value::Enum(1, "PAID".into()));
        record.put("hash", Value::Fixed(2, vec![7, 8]));
        record.put("day", Value::Date(20454));
        record.put("created_ms", Value::TimestampMillis(1_767_261_600_123));
        record.put("created_us", Value::TimestampMicros(1_767_261_600_123_456));
        record.put("local_ms", Value::LocalTimestampMillis(1_000));
        record.put("local_us", Value::LocalTimestampMicros(-1));
        record.put("amount", Value::Decimal(Decimal::from((-1050i64).to_be_bytes())));
        record.put("ref", Value::Uuid(Uuid::parse_str("6f1c2a9e-0d6b-4a59-9d0e-3b5f8e2a7c41").unwrap()));
        let address = Value::Record(vec![("city".into(), Value::String("Lyon".into()))]);
        record.put(
            "customer",
            Value::Record(vec![
                ("id".into(), Value::String("c-7".into())),
                ("address".into(), Value::Union(1, Box::new(address))),
            ]),
        );
        record.put("tags", Value::Array(vec![Value::String("a".into()), Value::String("b".into())]));
        record.put("attrs", Value::Map([("n".to_string(), Value::Long(1))].into()));
        record.put("either", Value::Union(1, Box::new(Value::Long(5))));
        record.put("offset", Value::Long(77));
        record.put("nothing", Value::Null);
        apache_avro::to_avro_datum(schema, record).unwrap()
    }

    fn decode(schema: Schema, columns: &[Column], payload: &[u8]) -> Result<Vec<Cell<'static>>, PayloadError> {
        let mapped: Vec<MappedColumn> = columns.iter().map(MappedColumn::from).collect();
        let writer = WriterSchema::new(Arc::new(schema), &mapped);
        let mut cells = Vec::new();
        writer.cells(payload, |i| columns[i].column_type, &mut cells)?;
        Ok(cells.into_iter().map(Cell::into_owned).collect())
    }

    fn text(value: &str) -> Cell<'static> {
        Cell::String(Cow::Owned(value.to_string()))
    }

    #[test]
    fn a_datum_fills_every_column_exactly() {
        let schema = order_schema();
        let columns = columns(&schema).unwrap();
        let cells = decode(schema.clone(), &columns, &order_datum(&schema)).unwrap();
        assert_eq!(
            cells,
            [
                Cell::Long(9_007_199_254_740_993),
                Cell::Int(-3),
                Cell::Boolean(true),
                Cell::Float(0.5),
                Cell::Double(2.25),
                text("fragile"),
                Cell::Binary(vec![0, 255]),
                text("PAID"),
                Cell::Binary(vec![7, 8]),
                Cell::Int(20454),
                Cell::Long(1_767_261_600_123_000),
                Cell::Long(1_767_261_600_123_456),
                Cell::Long(1_000_000),
                Cell::Long(-1),
                Cell::Decimal(-1050),
                text("6f1c2a9e-0d6b-4a59-9d0e-3b5f8e2a7c41"),
                text("c-7"),
                text("Lyon"),
                text(r#"["a","b"]"#),
                text(r#"{"n":1}"#),
                text("5"),
                Cell::Long(77),
            ]
        );
    }

    #[test]
    fn columns_follow_the_table_not_the_writer() {
        let schema = order_schema();
        let datum = order_datum(&schema);
        let wanted: Vec<Column> = serde_json::from_str(
            r#"[{"name": "amount", "type": "decimal(12,4)", "path": "amount"},
                {"name": "qty", "type": "long", "path": "qty"},
                {"name": "score", "type": "double", "path": "score"},
                {"name": "gone", "type": "string", "path": "gone"},
                {"name": "city", "type": "string", "path": "customer.address.city"}]"#,
        )
        .unwrap();
        let cells = decode(schema.clone(), &wanted, &datum).unwrap();
        assert_eq!(cells, [Cell::Decimal(-105_000), Cell::Long(-3), Cell::Double(2.25), Cell::Null, text("Lyon")]);

        let narrow: Vec<Column> =
            serde_json::from_str(r#"[{"name": "id", "type": "int", "path": "id"}, {"name": "amount", "type": "decimal(3,0)", "path": "amount"}]"#)
                .unwrap();
        let error = decode(schema.clone(), &narrow, &datum).unwrap_err();
        assert_eq!(
            error,
            PayloadError::Column { index: 0, reason: "9007199254740993 (a long) is out of range for int".into() }
        );
        let error = decode(schema.clone(), &narrow[1..], &datum).unwrap_err();
        assert_eq!(error, PayloadError::Column { index: 0, reason: "-10.50 has more than 0 decimal places".into() });
    }

    #[test]
    fn null_unions_fields_passed_over_and_fields_taken_by_several_columns() {
        let schema = order_schema();
        let mut datum = order_datum(&schema);
        // The same datum with `customer.address` null: its union index 0
        // replaces index 1 and the record (1 length byte, 4 bytes of "Lyon").
        let lyon = datum.windows(6).position(|w| w == [0x02, 0x08, b'L', b'y', b'o', b'n']).unwrap();
        datum.splice(lyon..lyon + 6, [0x00]);
        let wanted: Vec<Column> = serde_json::from_str(
            r#"[{"name": "city", "type": "string", "path": "customer.address.city"},
                {"name": "customer", "type": "string", "path": "customer"},
                {"name": "customer_id", "type": "string", "path": "customer.id"},
                {"name": "offset", "type": "long", "path": "offset"},
                {"name": "offset_text", "type": "string", "path": "offset"}]"#,
        )
        .unwrap();
        let mapped: Vec<MappedColumn> = wanted.iter().map(MappedColumn::from).collect();
        let writer = WriterSchema::new(Arc::new(schema), &mapped);
        let mut cells = Vec::new();
        writer.cells(&datum, |i| wanted[i].column_type, &mut cells).unwrap();
        let customer = text(r#"{"address":null,"id":"c-7"}"#);
        assert_eq!(cells, [Cell::Null, customer, text("c-7"), Cell::Long(77), text("77")]);
        assert!(matches!(cells[2], Cell::String(Cow::Borrowed(_))), "strings are borrowed from the payload");
    }

    #[test]
    fn a_payload_that_is_not_a_datum_is_undecodable() {
        let schema = order_schema();
        let columns = columns(&schema).unwrap();
        let datum = order_datum(&schema);
        let PayloadError::Undecodable(reason) = decode(schema.clone(), &columns, &datum[..3]).unwrap_err() else {
            panic!("expected undecodable")
        };
        assert!(reason.starts_with("the payload does not decode with its writer schema: "), "{reason}");
        let mut longer = datum.clone();
        longer.push(0);
        assert_eq!(
            decode(schema, &columns, &longer).unwrap_err(),
            PayloadError::Undecodable(
                "1 bytes of the payload are left after the datum its writer schema describes".into()
            )
        );
    }

    /// The cells apache-avro's own decoding gives: the whole datum decoded
    /// into a `Value`, each column's field looked up by name. `None` when
    /// it does not decode, or a column does not convert.
    fn reference_cells(schema: &Schema, columns: &[Column], payload: &[u8]) -> Option<Vec<Cell<'static>>> {
        let mut rest = payload;
        let datum = apache_avro::from_avro_datum(schema, &mut rest, None).ok()?;
        if !rest.is_empty() {
            return None;
        }
        let field = |path: &str| {
            let mut value = unwrap_union(datum.clone());
            for key in path.split('.') {
                let Value::Record(fields) = value else { return Value::Null };
                let found = fields.into_iter().find(|(name, _)| name == key);
                value = found.map_or(Value::Null, |(_, v)| unwrap_union(v));
            }
            value
        };
        // The schema's one decimal, `amount`, has scale 2.
        let cells = columns.iter().map(|c| {
            let mut cell = Cell::Null;
            fill(field(c.path.as_deref().unwrap_or(&c.name)), Some(2), c.column_type, &mut cell).map(|()| cell)
        });
        cells.collect::<Result<Vec<_>, _>>().ok()
    }

    #[test]
    fn damaged_datums_never_panic_and_agree_with_apache_avro_when_both_read_them() {
        use rand::{Rng, SeedableRng};
        let schema = order_schema();
        let columns = columns(&schema).unwrap();
        let datum = order_datum(&schema);
        assert_eq!(decode(schema.clone(), &columns, &datum).ok(), reference_cells(&schema, &columns, &datum));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut agreed = 0;
        for _ in 0..3000 {
            let mut damaged = datum.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..damaged.len());
                match rng.random_range(0..3) {
                    0 => damaged[at] = rng.random(),
                    1 => damaged.truncate(at),
                    _ => damaged.insert(at, rng.random()),
                }
                if damaged.is_empty() {
                    damaged.push(0);
                }
            }
            let ours = decode(schema.clone(), &columns, &damaged);
            if let (Ok(ours), Some(theirs)) = (ours, reference_cells(&schema, &columns, &damaged)) {
                assert_eq!(ours, theirs, "payload {damaged:?}");
                agreed += 1;
            }
        }
        assert!(agreed > 100, "only {agreed} damaged datums were read by both");
    }

    #[test]
    fn unscaled_decimals_are_exact_or_refused() {
        assert_eq!(unscaled(&[]), Some(0));
        assert_eq!(unscaled(&[0xff, 0x7f]), Some(-129));
        let mut wide = vec![0xff; 4];
        wide.extend_from_slice(&(-5i128).to_be_bytes());
        assert_eq!(unscaled(&wide), Some(-5));
        let mut too_wide = vec![0x01];
        too_wide.extend_from_slice(&[0; 16]);
        assert_eq!(unscaled(&too_wide), None);
    }
}

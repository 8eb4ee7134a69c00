//! Protobuf payloads: the table columns a message type gives, and the cells
//! of a message decoded with its writer schema.
//!
//! Schemas: a Confluent registry holds `.proto` source; it is compiled here
//! (with the files it imports: the registry's references and the
//! well-known `google/protobuf/*.proto`). A value names its message type by
//! indexes into the file's messages, after the schema id (see
//! [`split_message_indexes`]).
//!
//! Columns: those of the file's first message type, the one Confluent's
//! serializers register a subject for. Every leaf field is one column, in
//! field order; a field of a nested message is reached by its dotted path
//! and named with underscores (`customer.id` is `customer_id`); a name floe
//! fills itself gets the prefix `value_`. Repeated fields, maps and
//! recursive messages are one string column holding JSON text; enums are
//! their value names; `google.protobuf.Timestamp` is a timestamptz and the
//! wrapper types (`google.protobuf.Int64Value`...) are their value's type.
//! `uint64` and `fixed64` are decimal(20,0), so no value is lost.
//!
//! Cells: fields are found by name in the writer's message type, so a field
//! the table lacks is ignored and a field the writer lacks is null. A
//! proto3 scalar without `optional` has no presence: unset, it reads as its
//! default (0, "", false), as every protobuf reader shows it; a message
//! field, or one declared `optional`, is null when unset.

use std::borrow::Cow;

use base64::Engine;
use floe_config::{Column, ColumnType};
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor, ReflectMessage, Value,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::columns::{ColumnClash, check_unique, flattened_column};
use crate::dead_letters::PayloadError;
use crate::json::{Cell, rescale_decimal};

/// The name the registry's schema text is compiled under.
const SCHEMA_FILE: &str = "schema.proto";
const TIMESTAMP: &str = "google.protobuf.Timestamp";
/// `uint64` and `fixed64` fit decimal(20,0) exactly.
const UNSIGNED_LONG: ColumnType = ColumnType::Decimal { precision: 20, scale: 0 };
/// Nesting of message indexes past which a value is deemed malformed.
const MAX_INDEX_DEPTH: usize = 32;

/// Compiles a registry's `.proto` text; `imports` are the files it imports
/// by name (the registry's references), `.proto` text too. The error says
/// what does not compile.
pub fn compile(text: &str, imports: &[(String, String)]) -> Result<FileDescriptor, String> {
    let mut files = vec![(SCHEMA_FILE.to_string(), text.to_string())];
    files.extend(imports.iter().cloned());
    let mut resolver = ChainFileResolver::new();
    resolver.add(InMemory(files));
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    compiler.open_file(SCHEMA_FILE).map_err(|e| format!("not a valid Protobuf schema: {e}"))?;
    let pool: DescriptorPool = compiler.descriptor_pool();
    pool.get_file_by_name(SCHEMA_FILE).ok_or_else(|| "the compiled schema has no file".to_string())
}

/// `.proto` files by name, from the registry.
struct InMemory(Vec<(String, String)>);

impl FileResolver for InMemory {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.iter().find(|(file, _)| file == name) {
            Some((_, source)) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// A schema whose messages cannot give columns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufColumnsError {
    #[error("the schema declares no message type: floe makes columns of a message's fields")]
    NoMessage,
    #[error(transparent)]
    Clash(#[from] ColumnClash),
}

/// The table columns of a schema's first message type, in field order.
pub fn columns(file: &FileDescriptor) -> Result<Vec<Column>, ProtobufColumnsError> {
    let message = file.messages().next().ok_or(ProtobufColumnsError::NoMessage)?;
    let mut columns = Vec::new();
    let mut open = vec![message.full_name().to_string()];
    collect(&message, &mut Vec::new(), &mut open, &mut columns);
    check_unique(&columns)?;
    Ok(columns)
}

fn collect(message: &MessageDescriptor, path: &mut Vec<String>, open: &mut Vec<String>, columns: &mut Vec<Column>) {
    for field in message.fields() {
        path.push(field.name().to_string());
        let column_type = match shape(&field) {
            Shape::Leaf(column_type) => Some(column_type),
            // A message inside itself would flatten forever.
            Shape::Nested(inner) if open.iter().any(|name| name == inner.full_name()) => Some(ColumnType::String),
            Shape::Nested(inner) => {
                open.push(inner.full_name().to_string());
                collect(&inner, path, open, columns);
                open.pop();
                None
            }
        };
        if let Some(column_type) = column_type {
            let steps: Vec<&str> = path.iter().map(String::as_str).collect();
            columns.push(flattened_column(&steps, column_type));
        }
        path.pop();
    }
}

/// What a field becomes.
enum Shape {
    Leaf(ColumnType),
    /// A message whose fields are columns of their own.
    Nested(MessageDescriptor),
}

fn shape(field: &FieldDescriptor) -> Shape {
    if field.is_list() || field.is_map() {
        return Shape::Leaf(ColumnType::String);
    }
    Shape::Leaf(match field.kind() {
        Kind::Message(message) if message.full_name() == TIMESTAMP => ColumnType::TimestampTz,
        Kind::Message(message) => match wrapped(&message) {
            Some(value) => return shape(&value),
            None => return Shape::Nested(message),
        },
        Kind::Bool => ColumnType::Boolean,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => ColumnType::Int,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint32 | Kind::Fixed32 => ColumnType::Long,
        Kind::Uint64 | Kind::Fixed64 => UNSIGNED_LONG,
        Kind::Float => ColumnType::Float,
        Kind::Double => ColumnType::Double,
        Kind::String | Kind::Enum(_) => ColumnType::String,
        Kind::Bytes => ColumnType::Binary,
    })
}

/// The `value` field of a `google.protobuf` wrapper type.
fn wrapped(message: &MessageDescriptor) -> Option<FieldDescriptor> {
    let wrapper = message.package_name() == "google.protobuf" && message.name().ends_with("Value");
    wrapper
        .then(|| message.get_field_by_name("value"))
        .flatten()
        .filter(|field| !matches!(field.kind(), Kind::Message(_)))
}

/// Splits a wire-format payload (after the schema id) into the message
/// indexes that name its type in the schema and the message bytes. The
/// indexes are a zigzag varint count, then that many zigzag varints; a
/// count of 0 means `[0]`, the first message type.
pub fn split_message_indexes(payload: &[u8]) -> Result<(Vec<usize>, &[u8]), String> {
    let mut rest = payload;
    let count = zigzag_varint(&mut rest)?;
    let indexes = match usize::try_from(count) {
        Ok(0) => vec![0],
        Ok(count) if count <= MAX_INDEX_DEPTH => {
            let mut indexes = Vec::with_capacity(count);
            for _ in 0..count {
                let index = zigzag_varint(&mut rest)?;
                indexes.push(usize::try_from(index).map_err(|_| format!("message index {index} is negative"))?);
            }
            indexes
        }
        _ => return Err(format!("{count} message indexes after the schema id: not a Protobuf value")),
    };
    Ok((indexes, rest))
}

fn zigzag_varint(bytes: &mut &[u8]) -> Result<i64, String> {
    let value = prost::encoding::decode_varint(bytes)
        .map_err(|_| "the message indexes after the schema id are not varints".to_string())?;
    Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
}

/// The message type `indexes` names in `file`.
fn message_type(file: &FileDescriptor, indexes: &[usize]) -> Option<MessageDescriptor> {
    let (first, nested) = indexes.split_first()?;
    let mut message = file.messages().nth(*first)?;
    for index in nested {
        let child = message.child_messages().nth(*index)?;
        message = child;
    }
    Some(message)
}

/// Decodes one wire-format payload with its writer schema and converts
/// each column's field (its dotted path) to the column's type, in order.
pub fn cells<'p>(
    file: &FileDescriptor,
    payload: &[u8],
    columns: impl Iterator<Item = (&'p [String], ColumnType)>,
    cells: &mut Vec<Cell<'_>>,
) -> Result<(), PayloadError> {
    let (indexes, bytes) = split_message_indexes(payload).map_err(PayloadError::Undecodable)?;
    let message_type = message_type(file, &indexes).ok_or_else(|| {
        PayloadError::Undecodable(format!("message indexes {indexes:?} name no message type of the writer schema"))
    })?;
    let message = DynamicMessage::decode(message_type, bytes)
        .map_err(|e| PayloadError::Undecodable(format!("the payload does not decode with its writer schema: {e}")))?;
    for (index, (path, target)) in columns.enumerate() {
        cells.push(cell_at(&message, path, target).map_err(|reason| PayloadError::Column { index, reason })?);
    }
    Ok(())
}

/// The cell of the field at `path`; null where the path leaves the message.
fn cell_at(message: &DynamicMessage, path: &[String], target: ColumnType) -> Result<Cell<'static>, String> {
    let Some((key, rest)) = path.split_first() else { return Ok(Cell::Null) };
    let Some(field) = message.descriptor().get_field_by_name(key) else { return Ok(Cell::Null) };
    if field.supports_presence() && !message.has_field(&field) {
        return Ok(Cell::Null);
    }
    let value = message.get_field(&field);
    match (rest.is_empty(), value.as_ref()) {
        (true, value) => cell(&field, value, target),
        (false, Value::Message(inner)) => cell_at(inner, rest, target),
        (false, _) => Ok(Cell::Null),
    }
}

/// Converts a field's value to its column's type; the error is the reason
/// without the column's name.
fn cell(field: &FieldDescriptor, value: &Value, target: ColumnType) -> Result<Cell<'static>, String> {
    let mismatch = || format!("{} does not convert to {target}", describe(value));
    Ok(match (target, value) {
        (ColumnType::Boolean, Value::Bool(v)) => Cell::Boolean(*v),
        (ColumnType::Int, Value::I32(v)) => Cell::Int(*v),
        (ColumnType::Long, Value::I32(v)) => Cell::Long((*v).into()),
        (ColumnType::Long, Value::I64(v)) => Cell::Long(*v),
        (ColumnType::Long, Value::U32(v)) => Cell::Long((*v).into()),
        (ColumnType::Decimal { precision, scale }, Value::U64(v)) => rescale_decimal((*v).into(), 0, precision, scale)?,
        (ColumnType::Float, Value::F32(v)) => Cell::Float(*v),
        (ColumnType::Double, Value::F64(v)) => Cell::Double(*v),
        (ColumnType::Double, Value::F32(v)) => Cell::Double((*v).into()),
        (ColumnType::String, Value::String(v)) => Cell::String(Cow::Owned(v.clone())),
        (ColumnType::String, Value::EnumNumber(number)) => Cell::String(Cow::Owned(enum_name(field, *number))),
        (ColumnType::Binary, Value::Bytes(v)) => Cell::Binary(v.to_vec()),
        (ColumnType::Timestamp | ColumnType::TimestampTz, Value::Message(m))
            if m.descriptor().full_name() == TIMESTAMP =>
        {
            let seconds = m.get_field_by_name("seconds").and_then(|v| v.as_i64()).unwrap_or_default();
            let nanos = m.get_field_by_name("nanos").and_then(|v| v.as_i32()).unwrap_or_default();
            let micros = seconds.checked_mul(1_000_000).and_then(|s| s.checked_add(i64::from(nanos).div_euclid(1000)));
            Cell::Long(micros.ok_or_else(|| format!("timestamp {seconds} s is out of range for {target}"))?)
        }
        (ColumnType::String, Value::List(_) | Value::Map(_)) => {
            Cell::String(Cow::Owned(json(field, value).to_string()))
        }
        (_, Value::Message(m)) => match wrapped(&m.descriptor()) {
            Some(inner) => cell(&inner, &m.get_field(&inner), target)?,
            None if target == ColumnType::String => Cell::String(Cow::Owned(json(field, value).to_string())),
            None => return Err(mismatch()),
        },
        _ => return Err(mismatch()),
    })
}

fn enum_name(field: &FieldDescriptor, number: i32) -> String {
    let name = match field.kind() {
        Kind::Enum(descriptor) => descriptor.get_value(number).map(|v| v.name().to_string()),
        _ => None,
    };
    // A number the writer's enum lacks is kept as the number.
    name.unwrap_or_else(|| number.to_string())
}

/// A value as JSON, as the Protobuf JSON mapping writes it for the parts
/// a column can hold: messages by field name (set fields only), enums by
/// name, bytes as base64, maps with their keys as text.
fn json(field: &FieldDescriptor, value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::Bool(v) => Json::Bool(*v),
        Value::I32(v) => Json::from(*v),
        Value::I64(v) => Json::from(*v),
        Value::U32(v) => Json::from(*v),
        Value::U64(v) => Json::from(*v),
        Value::F32(v) => float_json(f64::from(*v)),
        Value::F64(v) => float_json(*v),
        Value::String(v) => Json::String(v.clone()),
        Value::Bytes(v) => Json::String(base64::engine::general_purpose::STANDARD.encode(v)),
        Value::EnumNumber(number) => Json::String(enum_name(field, *number)),
        Value::List(items) => Json::Array(items.iter().map(|item| json(field, item)).collect()),
        Value::Map(entries) => {
            let value_field = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field(),
                _ => field.clone(),
            };
            let mut object: Vec<(String, Json)> =
                entries.iter().map(|(key, value)| (map_key(key), json(&value_field, value))).collect();
            // Map order is not kept on the wire: sort, so equal maps give equal text.
            object.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(object.into_iter().collect())
        }
        Value::Message(message) => Json::Object(
            message.fields().map(|(field, value)| (field.name().to_string(), json(&field, value))).collect(),
        ),
    }
}

fn float_json(value: f64) -> serde_json::Value {
    serde_json::Number::from_f64(value).map_or_else(|| serde_json::Value::String(value.to_string()), Into::into)
}

fn map_key(key: &prost_reflect::MapKey) -> String {
    use prost_reflect::MapKey;
    match key {
        MapKey::Bool(v) => v.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
        MapKey::String(v) => v.clone(),
    }
}

/// "5 (an int32)", "a message"...: a value, for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Bool(v) => format!("{v} (a bool)"),
        Value::I32(v) => format!("{v} (an int32)"),
        Value::I64(v) => format!("{v} (an int64)"),
        Value::U32(v) => format!("{v} (a uint32)"),
        Value::U64(v) => format!("{v} (a uint64)"),
        Value::F32(v) => format!("{v} (a float)"),
        Value::F64(v) => format!("{v} (a double)"),
        Value::String(_) => "a string".to_string(),
        Value::Bytes(_) => "bytes".to_string(),
        Value::EnumNumber(v) => format!("enum number {v}"),
        Value::Message(m) => format!("a {} message", m.descriptor().full_name()),
        Value::List(_) => "a repeated field".to_string(),
        Value::Map(_) => "a map".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    const ORDER: &str = r#"
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        import "google/protobuf/wrappers.proto";
        message Order {
          int64 id = 1;
          int32 qty = 2;
          uint64 big = 3;
          double score = 4;
          bool paid = 5;
          optional string note = 6;
          bytes blob = 7;
          Status status = 8;
          google.protobuf.Timestamp created = 9;
          google.protobuf.Int64Value maybe = 10;
          Customer customer = 11;
          repeated string tags = 12;
          map<string, int64> attrs = 13;
          int64 offset = 14;
          Node tree = 15;
          message Customer { string id = 1; Address address = 2; }
          message Address { string city = 1; }
          enum Status { NEW = 0; PAID = 1; }
        }
        message Node { Node next = 1; string label = 2; }
    "#;

    fn order_file() -> FileDescriptor {
        compile(ORDER, &[]).unwrap()
    }

    fn described(columns: &[Column]) -> Vec<String> {
        columns.iter().map(|c| format!("{} {} {}", c.name, c.column_type, c.path.as_deref().unwrap_or("-"))).collect()
    }

    #[test]
    fn columns_of_the_first_message_in_field_order() {
        assert_eq!(
            described(&columns(&order_file()).unwrap()),
            [
                "id long id",
                "qty int qty",
                "big decimal(20,0) big",
                "score double score",
                "paid boolean paid",
                "note string note",
                "blob binary blob",
                "status string status",
                "created timestamptz created",
                "maybe long maybe",
                "customer_id string customer.id",
                "customer_address_city string customer.address.city",
                "tags string tags",
                "attrs string attrs",
                "value_offset long offset",
                "tree_next string tree.next",
                "tree_label string tree.label",
            ]
        );
        let clash =
            compile(r#"syntax = "proto3"; message A { B a = 1; string a_b = 2; } message B { string b = 1; }"#, &[]);
        assert_eq!(
            columns(&clash.unwrap()).unwrap_err().to_string(),
            "fields `a.b` and `a_b` both become column `a_b`: rename one of them in the schema"
        );
        let empty = compile(r#"syntax = "proto3"; enum E { X = 0; }"#, &[]).unwrap();
        assert_eq!(columns(&empty).unwrap_err(), ProtobufColumnsError::NoMessage);
    }

    fn cells_of(file: &FileDescriptor, payload: &[u8]) -> Result<Vec<Cell<'static>>, PayloadError> {
        let columns = columns(&order_file()).unwrap();
        let paths: Vec<Vec<String>> =
            columns.iter().map(|c| c.path.as_deref().unwrap().split('.').map(str::to_string).collect()).collect();
        let mut out = Vec::new();
        cells(file, payload, paths.iter().map(Vec::as_slice).zip(columns.iter().map(|c| c.column_type)), &mut out)?;
        Ok(out.into_iter().map(Cell::into_owned).collect())
    }

    #[test]
    fn cells_convert_exactly_and_unset_fields_read_as_protobuf_shows_them() {
        let file = order_file();
        let order = file.messages().next().unwrap();
        let mut message = DynamicMessage::new(order.clone());
        let set = |message: &mut DynamicMessage, name: &str, value: Value| message.set_field_by_name(name, value);
        set(&mut message, "id", Value::I64(9_007_199_254_740_993));
        set(&mut message, "big", Value::U64(u64::MAX));
        set(&mut message, "score", Value::F64(0.1));
        set(&mut message, "paid", Value::Bool(true));
        set(&mut message, "blob", Value::Bytes(vec![1, 2].into()));
        set(&mut message, "status", Value::EnumNumber(1));
        let timestamp = order.get_field_by_name("created").unwrap().kind().as_message().unwrap().clone();
        let mut created = DynamicMessage::new(timestamp);
        created.set_field_by_name("seconds", Value::I64(1_767_225_600));
        created.set_field_by_name("nanos", Value::I32(123_456_789));
        set(&mut message, "created", Value::Message(created));
        let wrapper = order.get_field_by_name("maybe").unwrap().kind().as_message().unwrap().clone();
        let mut maybe = DynamicMessage::new(wrapper);
        maybe.set_field_by_name("value", Value::I64(-4));
        set(&mut message, "maybe", Value::Message(maybe));
        let customer = order.get_field_by_name("customer").unwrap().kind().as_message().unwrap().clone();
        let mut buyer = DynamicMessage::new(customer);
        buyer.set_field_by_name("id", Value::String("c-1".into()));
        set(&mut message, "customer", Value::Message(buyer));
        set(&mut message, "tags", Value::List(vec![Value::String("a".into()), Value::String("b".into())]));
        let attrs = [("z", 1), ("a", 2)].map(|(k, v)| (prost_reflect::MapKey::String(k.into()), Value::I64(v)));
        set(&mut message, "attrs", Value::Map(attrs.into_iter().collect()));
        // Message indexes [0]: a single zero byte.
        let mut payload = vec![0];
        payload.extend(message.encode_to_vec());

        use Cell::*;
        let text = |s: &str| String(Cow::Owned(s.to_string()));
        assert_eq!(
            cells_of(&file, &payload).unwrap(),
            [
                Long(9_007_199_254_740_993),
                // Unset proto3 scalars read as their defaults...
                Int(0),
                Decimal(i128::from(u64::MAX)),
                Double(0.1),
                Boolean(true),
                // ...but an `optional` one, or a message, is null.
                Null,
                Binary(vec![1, 2]),
                text("PAID"),
                Long(1_767_225_600_123_456),
                Long(-4),
                text("c-1"),
                Null,
                text(r#"["a","b"]"#),
                text(r#"{"a":2,"z":1}"#),
                Long(0),
                Null,
                Null,
            ]
        );
    }

    #[test]
    fn message_indexes_name_the_type_and_bad_payloads_say_why() {
        let file = order_file();
        assert_eq!(split_message_indexes(&[0, 0xaa]).unwrap(), (vec![0], &[0xaa][..]));
        // Count 2 (zigzag 4), then indexes 1 and 0 (zigzag 2 and 0).
        assert_eq!(split_message_indexes(&[4, 2, 0]).unwrap(), (vec![1, 0], &[][..]));
        assert_eq!(
            split_message_indexes(&[1]).unwrap_err(),
            "-1 message indexes after the schema id: not a Protobuf value"
        );

        // [1] is Node: the order's columns are null but for those it shares.
        let node = file.messages().nth(1).unwrap();
        let mut message = DynamicMessage::new(node);
        message.set_field_by_name("label", Value::String("x".into()));
        let mut payload = vec![2, 2];
        payload.extend(message.encode_to_vec());
        assert!(cells_of(&file, &payload).unwrap().iter().all(|cell| *cell == Cell::Null || *cell == Cell::Long(0)));

        assert_eq!(
            cells_of(&file, &[2, 8]).unwrap_err(),
            PayloadError::Undecodable("message indexes [4] name no message type of the writer schema".to_string())
        );
        let PayloadError::Undecodable(reason) = cells_of(&file, &[0, 0x0a, 0x05]).unwrap_err() else { panic!() };
        assert!(reason.starts_with("the payload does not decode with its writer schema: "), "{reason}");
    }

    #[test]
    fn schemas_that_do_not_compile_say_where() {
        let error = compile(r#"syntax = "proto3"; message A { int64 id = 1 }"#, &[]).unwrap_err();
        assert!(error.starts_with("not a valid Protobuf schema: "), "{error}");
    }
}

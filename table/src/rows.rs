use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Int32Builder, Int64Builder, LargeBinaryBuilder, ListBuilder, StringBuilder, StructBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, FieldRef, Fields, SchemaRef};
use floe_kfs::record::Record;

use crate::columns::SourceColumn;

/// Why records could not become rows of a table.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("table column `{column}` has no source: floe fills {known}")]
    UnknownColumn { column: String, known: String },
    #[error("table column `{column}` is {found} but floe writes {expected} there")]
    ColumnType { column: String, found: DataType, expected: String },
    #[error("record at offset {offset}: header #{index} has a key that is not UTF-8")]
    HeaderKeyNotUtf8 { offset: i64, index: usize },
    #[error("building the Arrow batch: {0}")]
    Arrow(#[from] ArrowError),
}

/// One column being filled, by where its values come from.
enum ColumnBuilder {
    RecordId(StringBuilder),
    Topic(StringBuilder),
    Partition(Int32Builder),
    Offset(Int64Builder),
    TimestampMs(Int64Builder),
    Key(LargeBinaryBuilder),
    Value(LargeBinaryBuilder),
    Headers(ListBuilder<StructBuilder>),
}

impl ColumnBuilder {
    fn new(source: SourceColumn, field: &FieldRef) -> Result<Self, RowError> {
        let wrong_type = |expected: &str| RowError::ColumnType {
            column: field.name().clone(),
            found: field.data_type().clone(),
            expected: expected.to_string(),
        };
        let builder = match (source, field.data_type()) {
            (SourceColumn::RecordId, DataType::Utf8) => ColumnBuilder::RecordId(StringBuilder::new()),
            (SourceColumn::Topic, DataType::Utf8) => ColumnBuilder::Topic(StringBuilder::new()),
            (SourceColumn::Partition, DataType::Int32) => ColumnBuilder::Partition(Int32Builder::new()),
            (SourceColumn::Offset, DataType::Int64) => ColumnBuilder::Offset(Int64Builder::new()),
            (SourceColumn::TimestampMs, DataType::Int64) => ColumnBuilder::TimestampMs(Int64Builder::new()),
            (SourceColumn::Key, DataType::LargeBinary) => ColumnBuilder::Key(LargeBinaryBuilder::new()),
            (SourceColumn::Value, DataType::LargeBinary) => ColumnBuilder::Value(LargeBinaryBuilder::new()),
            (SourceColumn::Headers, DataType::List(element)) => match element.data_type() {
                DataType::Struct(fields) if header_fields_match(fields) => {
                    let entry = StructBuilder::new(
                        fields.clone(),
                        vec![
                            Box::new(StringBuilder::new()) as Box<dyn ArrayBuilder>,
                            Box::new(LargeBinaryBuilder::new()),
                        ],
                    );
                    ColumnBuilder::Headers(ListBuilder::new(entry).with_field(element.clone()))
                }
                _ => return Err(wrong_type("list<struct<key: string, value: binary>>")),
            },
            (SourceColumn::RecordId | SourceColumn::Topic, _) => return Err(wrong_type("string")),
            (SourceColumn::Partition, _) => return Err(wrong_type("int")),
            (SourceColumn::Offset | SourceColumn::TimestampMs, _) => return Err(wrong_type("long")),
            (SourceColumn::Key | SourceColumn::Value, _) => return Err(wrong_type("binary")),
            (SourceColumn::Headers, _) => return Err(wrong_type("list<struct<key: string, value: binary>>")),
        };
        Ok(builder)
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::RecordId(b) | ColumnBuilder::Topic(b) => Arc::new(b.finish()),
            ColumnBuilder::Partition(b) => Arc::new(b.finish()),
            ColumnBuilder::Offset(b) | ColumnBuilder::TimestampMs(b) => Arc::new(b.finish()),
            ColumnBuilder::Key(b) | ColumnBuilder::Value(b) => Arc::new(b.finish()),
            ColumnBuilder::Headers(b) => Arc::new(b.finish()),
        }
    }
}

fn header_fields_match(fields: &Fields) -> bool {
    fields.len() == 2
        && fields[0].name() == "key"
        && fields[0].data_type() == &DataType::Utf8
        && fields[1].name() == "value"
        && fields[1].data_type() == &DataType::LargeBinary
}

/// Fills Arrow record batches of a table's schema from Kafka records.
///
/// Built once per table from the table's Arrow schema (with its Iceberg
/// field ids), then fed records of any partition and drained with
/// [`RowBuilder::finish`] whenever a batch is big enough.
pub struct RowBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    rows: usize,
    payload_bytes: usize,
    /// `topic:partition:` of the records being appended, reused per call.
    record_id: String,
}

impl RowBuilder {
    pub fn new(schema: SchemaRef) -> Result<Self, RowError> {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let source = SourceColumn::from_name(field.name()).ok_or_else(|| RowError::UnknownColumn {
                    column: field.name().clone(),
                    known: SourceColumn::ALL.map(SourceColumn::name).join(", "),
                })?;
                ColumnBuilder::new(source, field)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { schema, columns, rows: 0, payload_bytes: 0, record_id: String::new() })
    }

    /// Appends records of one partition. On error nothing of this call is kept
    /// in a column that another column lacks: the check runs before appending.
    pub fn append(&mut self, topic: &str, partition: i32, records: &[Record]) -> Result<(), RowError> {
        for record in records {
            for (index, header) in record.headers.iter().enumerate() {
                if std::str::from_utf8(&header.key).is_err() {
                    return Err(RowError::HeaderKeyNotUtf8 { offset: record.offset, index });
                }
            }
        }
        self.record_id.clear();
        self.record_id.push_str(topic);
        self.record_id.push(':');
        self.record_id.push_str(itoa::Buffer::new().format(partition));
        self.record_id.push(':');
        let prefix_len = self.record_id.len();
        for record in records {
            self.append_one(topic, partition, record, prefix_len);
        }
        Ok(())
    }

    fn append_one(&mut self, topic: &str, partition: i32, record: &Record, prefix_len: usize) {
        let key = record.key.as_deref();
        let value = record.value.as_deref();
        for column in &mut self.columns {
            match column {
                ColumnBuilder::RecordId(b) => {
                    self.record_id.truncate(prefix_len);
                    self.record_id.push_str(itoa::Buffer::new().format(record.offset));
                    b.append_value(&self.record_id);
                }
                ColumnBuilder::Topic(b) => b.append_value(topic),
                ColumnBuilder::Partition(b) => b.append_value(partition),
                ColumnBuilder::Offset(b) => b.append_value(record.offset),
                ColumnBuilder::TimestampMs(b) => b.append_value(record.timestamp_ms),
                ColumnBuilder::Key(b) => b.append_option(key),
                ColumnBuilder::Value(b) => b.append_option(value),
                ColumnBuilder::Headers(b) => {
                    let entries = b.values();
                    for header in &record.headers {
                        // UTF-8 was checked in `append`.
                        let key = std::str::from_utf8(&header.key).unwrap_or_default();
                        if let Some(k) = entries.field_builder::<StringBuilder>(0) {
                            k.append_value(key);
                        }
                        if let Some(v) = entries.field_builder::<LargeBinaryBuilder>(1) {
                            v.append_option(header.value.as_deref());
                        }
                        entries.append(true);
                    }
                    b.append(true);
                }
            }
        }
        self.rows += 1;
        self.payload_bytes += key.map_or(0, <[u8]>::len)
            + value.map_or(0, <[u8]>::len)
            + record.headers.iter().map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len())).sum::<usize>()
            + topic.len() * 2
            + 32;
    }

    /// Rows appended since the last [`RowBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate in-memory size of the pending rows, to cut batches by size.
    pub fn pending_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Takes the pending rows as one record batch.
    pub fn finish(&mut self) -> Result<RecordBatch, RowError> {
        let columns = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        self.payload_bytes = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    use bytes::Bytes;
    use floe_kfs::record::Header;

    use super::*;
    use crate::columns::source_schema;

    fn arrow_schema() -> SchemaRef {
        Arc::new(iceberg::arrow::schema_to_arrow_schema(&source_schema()).unwrap())
    }

    fn record(offset: i64, key: Option<&str>, value: Option<&[u8]>, headers: Vec<Header>) -> Record {
        Record {
            offset,
            timestamp_ms: 1_700_000_000_000 + offset,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(Bytes::copy_from_slice),
            headers,
        }
    }

    #[test]
    fn fills_every_source_column() {
        let mut rows = RowBuilder::new(arrow_schema()).unwrap();
        let headers = vec![
            Header { key: Bytes::from_static(b"trace"), value: Some(Bytes::from_static(b"t0")) },
            Header { key: Bytes::from_static(b"bin"), value: None },
        ];
        rows.append("orders", 3, &[record(41, Some("k"), Some(&[0xff, 0]), headers), record(42, None, None, vec![])])
            .unwrap();
        assert_eq!(rows.len(), 2);
        let batch = rows.finish().unwrap();
        assert_eq!(rows.len(), 0);
        assert_eq!(batch.num_rows(), 2);

        let ids = batch.column(0).as_string::<i32>();
        assert_eq!((ids.value(0), ids.value(1)), ("orders:3:41", "orders:3:42"));
        assert_eq!(batch.column(2).as_primitive::<Int32Type>().value(1), 3);
        assert_eq!(batch.column(3).as_primitive::<Int64Type>().value(1), 42);
        assert_eq!(batch.column(4).as_primitive::<Int64Type>().value(0), 1_700_000_000_041);
        let keys = batch.column(5).as_binary::<i64>();
        assert_eq!(keys.value(0), b"k");
        assert!(keys.is_null(1));
        assert_eq!(batch.column(6).as_binary::<i64>().value(0), &[0xff, 0]);

        let headers = batch.column(7).as_list::<i32>();
        assert_eq!(headers.value_length(0), 2);
        assert_eq!(headers.value_length(1), 0);
        let entries = headers.value(0);
        let entries = entries.as_struct();
        assert_eq!(entries.column(0).as_string::<i32>().value(1), "bin");
        assert!(entries.column(1).as_binary::<i64>().is_null(1));
    }

    #[test]
    fn refuses_non_utf8_header_keys_without_partial_rows() {
        let mut rows = RowBuilder::new(arrow_schema()).unwrap();
        let bad = vec![Header { key: Bytes::from_static(&[0xc3, 0x28]), value: None }];
        let err = rows.append("t", 0, &[record(1, None, None, vec![]), record(2, None, None, bad)]).unwrap_err();
        assert_eq!(err.to_string(), "record at offset 2: header #0 has a key that is not UTF-8");
        assert_eq!(rows.len(), 0);
    }

    #[test]
    fn names_a_column_it_cannot_fill() {
        let schema =
            Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new("amount", DataType::Float64, true)]));
        let err = RowBuilder::new(schema).err().unwrap();
        assert!(
            err.to_string().starts_with("table column `amount` has no source: floe fills record_id, topic"),
            "{err}"
        );
    }
}

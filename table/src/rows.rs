use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, LargeBinaryBuilder, ListBuilder, StringBuilder, StructBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{ArrowError, DataType, FieldRef, Fields, SchemaRef, TimeUnit};
use floe_config::{ColumnType, PayloadFormat};
use floe_kfs::record::Record;

use crate::avro::WriterSchema;
use crate::columns::{DEAD_LETTER_REASON, DEAD_LETTER_REASON_CODE, MappedColumn, SourceColumn};
use crate::confluent::RegisteredSchema;
use crate::dead_letters::{Rejection, RejectionCode};
use crate::json::{Cell, Found, JsonColumns};
use crate::lfs::{Envelope, LfsRecord};
use crate::validation::RecordValidator;

/// Why records could not become rows of a table.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error(
        "table column `{column}` is required but has no source: floe fills {known} and the mapping's columns; \
         add it to the mapping or make it optional in the table"
    )]
    UnknownColumn { column: String, known: String },
    #[error("table column `{column}` is {found}, a type floe cannot fill from JSON")]
    UnsupportedType { column: String, found: DataType },
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
    RecordTime(TimestampMicrosecondBuilder),
    /// `lfs_bucket`, `lfs_key`, `lfs_sha256`, `lfs_content_type`.
    LfsText(SourceColumn, StringBuilder),
    LfsSize(Int64Builder),
    /// A typed column: the record's `cells[cell]`.
    Mapped {
        cell: usize,
        builder: TypedBuilder,
    },
    /// A table column the mapping does not fill (it was dropped from the
    /// mapping, or another writer added it): always null.
    Absent(DataType),
    ReasonCode(StringBuilder),
    Reason(StringBuilder),
}

/// The builder of a typed column, by Arrow type.
enum TypedBuilder {
    Boolean(BooleanBuilder),
    Int(Int32Builder),
    Long(Int64Builder),
    Float(Float32Builder),
    Double(Float64Builder),
    String(StringBuilder),
    Binary(LargeBinaryBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    Decimal(Decimal128Builder),
}

impl TypedBuilder {
    /// The builder for a column of type `data_type`, and what JSON values
    /// convert to there.
    fn for_type(data_type: &DataType) -> Option<(ColumnType, Self)> {
        Some(match data_type {
            DataType::Boolean => (ColumnType::Boolean, Self::Boolean(BooleanBuilder::new())),
            DataType::Int32 => (ColumnType::Int, Self::Int(Int32Builder::new())),
            DataType::Int64 => (ColumnType::Long, Self::Long(Int64Builder::new())),
            DataType::Float32 => (ColumnType::Float, Self::Float(Float32Builder::new())),
            DataType::Float64 => (ColumnType::Double, Self::Double(Float64Builder::new())),
            DataType::Utf8 => (ColumnType::String, Self::String(StringBuilder::new())),
            DataType::LargeBinary => (ColumnType::Binary, Self::Binary(LargeBinaryBuilder::new())),
            DataType::Timestamp(TimeUnit::Microsecond, zone) => {
                let column_type = if zone.is_some() { ColumnType::TimestampTz } else { ColumnType::Timestamp };
                (column_type, Self::Timestamp(TimestampMicrosecondBuilder::new().with_timezone_opt(zone.clone())))
            }
            DataType::Date32 => (ColumnType::Date, Self::Date(Date32Builder::new())),
            DataType::Decimal128(precision, scale) => {
                let builder = Decimal128Builder::new().with_precision_and_scale(*precision, *scale).ok()?;
                let scale = u8::try_from(*scale).ok()?;
                (ColumnType::Decimal { precision: *precision, scale }, Self::Decimal(builder))
            }
            _ => return None,
        })
    }

    /// Appends a cell converted for this builder's target.
    fn append(&mut self, cell: &Cell) {
        match (self, cell) {
            (Self::Boolean(b), Cell::Boolean(v)) => b.append_value(*v),
            (Self::Int(b), Cell::Int(v)) => b.append_value(*v),
            (Self::Date(b), Cell::Int(v)) => b.append_value(*v),
            (Self::Long(b), Cell::Long(v)) => b.append_value(*v),
            (Self::Timestamp(b), Cell::Long(v)) => b.append_value(*v),
            (Self::Float(b), Cell::Float(v)) => b.append_value(*v),
            (Self::Double(b), Cell::Double(v)) => b.append_value(*v),
            (Self::String(b), Cell::String(v)) => b.append_value(v),
            (Self::Binary(b), Cell::Binary(v)) => b.append_value(v),
            (Self::Decimal(b), Cell::Decimal(v)) => b.append_value(*v),
            (builder, cell) => {
                debug_assert!(matches!(cell, Cell::Null), "a cell converted for another type: {cell:?}");
                builder.append_null();
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Boolean(b) => b.append_null(),
            Self::Int(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Long(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Float(b) => b.append_null(),
            Self::Double(b) => b.append_null(),
            Self::String(b) => b.append_null(),
            Self::Binary(b) => b.append_null(),
            Self::Decimal(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Long(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::Float(b) => Arc::new(b.finish()),
            Self::Double(b) => Arc::new(b.finish()),
            Self::String(b) => Arc::new(b.finish()),
            Self::Binary(b) => Arc::new(b.finish()),
            Self::Decimal(b) => Arc::new(b.finish()),
        }
    }
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
            (SourceColumn::RecordTime, DataType::Timestamp(TimeUnit::Microsecond, zone)) => {
                ColumnBuilder::RecordTime(TimestampMicrosecondBuilder::new().with_timezone_opt(zone.clone()))
            }
            (SourceColumn::RecordTime, _) => return Err(wrong_type("timestamptz")),
            (SourceColumn::LfsSize, DataType::Int64) => ColumnBuilder::LfsSize(Int64Builder::new()),
            (SourceColumn::LfsSize, _) => return Err(wrong_type("long")),
            (
                lfs @ (SourceColumn::LfsBucket
                | SourceColumn::LfsKey
                | SourceColumn::LfsSha256
                | SourceColumn::LfsContentType),
                DataType::Utf8,
            ) => ColumnBuilder::LfsText(lfs, StringBuilder::new()),
            (
                SourceColumn::LfsBucket | SourceColumn::LfsKey | SourceColumn::LfsSha256 | SourceColumn::LfsContentType,
                _,
            ) => return Err(wrong_type("string")),
            (SourceColumn::RecordId | SourceColumn::Topic, _) => return Err(wrong_type("string")),
            (SourceColumn::Partition, _) => return Err(wrong_type("int")),
            (SourceColumn::Offset | SourceColumn::TimestampMs, _) => return Err(wrong_type("long")),
            (SourceColumn::Key | SourceColumn::Value, _) => return Err(wrong_type("binary")),
            (SourceColumn::Headers, _) => return Err(wrong_type("list<struct<key: string, value: binary>>")),
        };
        Ok(builder)
    }

    fn finish(&mut self, rows: usize) -> ArrayRef {
        match self {
            ColumnBuilder::RecordId(b)
            | ColumnBuilder::Topic(b)
            | ColumnBuilder::ReasonCode(b)
            | ColumnBuilder::Reason(b)
            | ColumnBuilder::LfsText(_, b) => Arc::new(b.finish()),
            ColumnBuilder::Mapped { builder, .. } => builder.finish(),
            ColumnBuilder::Absent(data_type) => new_null_array(data_type, rows),
            ColumnBuilder::Partition(b) => Arc::new(b.finish()),
            ColumnBuilder::Offset(b) | ColumnBuilder::TimestampMs(b) | ColumnBuilder::LfsSize(b) => {
                Arc::new(b.finish())
            }
            ColumnBuilder::Key(b) | ColumnBuilder::Value(b) => Arc::new(b.finish()),
            ColumnBuilder::Headers(b) => Arc::new(b.finish()),
            ColumnBuilder::RecordTime(b) => Arc::new(b.finish()),
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
/// field ids) and the mapping's typed columns, then fed records of any
/// partition and drained with [`RowBuilder::finish`] whenever a batch is big
/// enough. A dead-letter table's builder is made with
/// [`RowBuilder::for_dead_letters`] and fed with
/// [`RowBuilder::append_dead_letter`].
pub struct RowBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    /// The mapped columns this table has, in the order of their cells.
    mapped: Vec<(MappedColumn, ColumnType)>,
    /// Reads the mapped columns' values out of JSON values.
    json: JsonColumns,
    rows: usize,
    payload_bytes: usize,
    /// `topic:partition:` of the records being appended, reused per call.
    record_id: String,
    payload: Payload,
    /// Checks each value against the topic's JSON Schema first.
    validator: Option<Arc<RecordValidator>>,
}

/// How typed columns are read from a record's value.
enum Payload {
    Json,
    /// Avro in the Confluent wire format: the writer schemas of the ids
    /// seen, or why an id has none.
    Avro(HashMap<u32, Result<WriterSchema, String>>),
    /// JSON in the Confluent wire format: the ids seen, or why an id has
    /// no JSON Schema. The JSON is read as it is by the mapped columns.
    JsonSchema(HashMap<u32, Result<(), String>>),
    /// Protobuf in the Confluent wire format: the writer schemas of the ids
    /// seen, or why an id has none.
    Protobuf(HashMap<u32, Result<prost_reflect::FileDescriptor, String>>),
}

/// The writer schema of `id` among those looked up; a record naming an id
/// without one is rejected with the reason.
fn writer_schema<T>(schemas: &HashMap<u32, Result<T, String>>, id: u32) -> Result<&T, Rejection> {
    match schemas.get(&id) {
        Some(Ok(schema)) => Ok(schema),
        Some(Err(reason)) => Err(Rejection::new(RejectionCode::UnknownSchemaId, reason.clone())),
        None => {
            let reason = format!("schema id {id} was not looked up in the registry");
            Err(Rejection::new(RejectionCode::UnknownSchemaId, reason))
        }
    }
}

/// What a row carries besides its record and cells.
#[derive(Clone, Copy)]
enum RowExtra<'a> {
    None,
    /// The `lfs_*` columns come from this envelope.
    Envelope(&'a Envelope),
    /// A dead letter's reason.
    Rejection(&'a Rejection),
}

/// A record of an [`RowBuilder::append`] call that did not become a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its position in the records passed.
    pub index: usize,
    pub rejection: Rejection,
}

impl RowBuilder {
    pub fn new(schema: SchemaRef, mapped: &[MappedColumn]) -> Result<Self, RowError> {
        Self::build(schema, Some(mapped))
    }

    pub fn for_dead_letters(schema: SchemaRef) -> Result<Self, RowError> {
        Self::build(schema, None)
    }

    /// `mapped` is `None` for a dead-letter table.
    fn build(schema: SchemaRef, mapped: Option<&[MappedColumn]>) -> Result<Self, RowError> {
        let mut cells = Vec::new();
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let name = field.name().as_str();
            if let Some(source) = SourceColumn::from_name(name) {
                columns.push(ColumnBuilder::new(source, field)?);
                continue;
            }
            let mapped_column = mapped.and_then(|mapped| mapped.iter().find(|c| c.name == name));
            let column = match mapped_column {
                None if mapped.is_none() && name == DEAD_LETTER_REASON_CODE => {
                    ColumnBuilder::ReasonCode(StringBuilder::new())
                }
                None if mapped.is_none() && name == DEAD_LETTER_REASON => ColumnBuilder::Reason(StringBuilder::new()),
                Some(column) => {
                    let (target, builder) = TypedBuilder::for_type(field.data_type()).ok_or_else(|| {
                        RowError::UnsupportedType { column: name.to_string(), found: field.data_type().clone() }
                    })?;
                    cells.push((column.clone(), target));
                    ColumnBuilder::Mapped { cell: cells.len() - 1, builder }
                }
                _ if field.is_nullable() => ColumnBuilder::Absent(field.data_type().clone()),
                _ => {
                    return Err(RowError::UnknownColumn {
                        column: name.to_string(),
                        known: SourceColumn::ALL.map(SourceColumn::name).join(", "),
                    });
                }
            };
            columns.push(column);
        }
        Ok(Self {
            schema,
            columns,
            json: JsonColumns::new(cells.iter().map(|(column, _)| column.path.as_slice())),
            mapped: cells,
            rows: 0,
            payload_bytes: 0,
            record_id: String::new(),
            payload: Payload::Json,
            validator: None,
        })
    }

    /// Turns a value that does not match `validator`'s schema into a
    /// rejection (`schema_invalid`) before its columns are read.
    pub fn with_validator(mut self, validator: Option<Arc<RecordValidator>>) -> Self {
        self.validator = validator;
        self
    }

    /// Reads typed columns from values in `format` (JSON by default).
    pub fn with_format(mut self, format: PayloadFormat) -> Self {
        self.payload = match format {
            PayloadFormat::Json => Payload::Json,
            PayloadFormat::Avro => Payload::Avro(HashMap::new()),
            PayloadFormat::JsonSchema => Payload::JsonSchema(HashMap::new()),
            PayloadFormat::Protobuf => Payload::Protobuf(HashMap::new()),
        };
        self
    }

    /// The writer schema ids of `records` this builder has not been given
    /// yet (see [`RowBuilder::add_writer_schema`]), each once.
    pub fn unknown_schema_ids(&self, records: &[Record]) -> Vec<u32> {
        let known = |id: &u32| match &self.payload {
            Payload::Json => true,
            Payload::Avro(schemas) => schemas.contains_key(id),
            Payload::JsonSchema(schemas) => schemas.contains_key(id),
            Payload::Protobuf(schemas) => schemas.contains_key(id),
        };
        // Plain JSON has no writer schemas.
        if self.mapped.is_empty() || matches!(self.payload, Payload::Json) {
            return Vec::new();
        }
        let mut ids: Vec<u32> = records
            .iter()
            .filter_map(|r| r.value.as_deref().and_then(crate::confluent::schema_id))
            .filter(|id| !known(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The writer schema of id `id`, or why there is none: records written
    /// with it become dead letters with that reason.
    /// A schema of another type than the table's format is such a reason.
    pub fn add_writer_schema(&mut self, id: u32, schema: Result<RegisteredSchema, String>) {
        let wrong_type = |schema: &RegisteredSchema, format: PayloadFormat| {
            format!("schema id {id} is {}, but the table's format is {format}", schema.describe())
        };
        match &mut self.payload {
            Payload::Json => {}
            Payload::Avro(schemas) => {
                let mapped: Vec<MappedColumn> = self.mapped.iter().map(|(column, _)| column.clone()).collect();
                let schema = schema.and_then(|schema| match schema {
                    RegisteredSchema::Avro(avro) => Ok(WriterSchema::new(avro, &mapped)),
                    other => Err(wrong_type(&other, PayloadFormat::Avro)),
                });
                schemas.insert(id, schema);
            }
            Payload::JsonSchema(schemas) => {
                let schema = schema.and_then(|schema| match schema {
                    RegisteredSchema::Json(_) => Ok(()),
                    other => Err(wrong_type(&other, PayloadFormat::JsonSchema)),
                });
                schemas.insert(id, schema);
            }
            Payload::Protobuf(schemas) => {
                let schema = schema.and_then(|schema| match schema {
                    RegisteredSchema::Protobuf(file) => Ok(file),
                    other => Err(wrong_type(&other, PayloadFormat::Protobuf)),
                });
                schemas.insert(id, schema);
            }
        }
    }

    /// Appends records of one partition as rows. Records that cannot become
    /// rows (their value does not fit the typed columns, or their LFS blob
    /// failed) are returned, for the dead-letter table. `lfs` says, record
    /// by record, what the table's LFS mode made of them; empty when the
    /// table's mode is off. On error nothing of this call is kept in a
    /// column that another column lacks: the check runs before appending.
    pub fn append(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[Record],
        lfs: &[LfsRecord],
    ) -> Result<Vec<Rejected>, RowError> {
        check_header_keys(records)?;
        let prefix_len = self.start_partition(topic, partition);
        let mut rejected = Vec::new();
        let mut cells = Vec::with_capacity(self.mapped.len());
        let mut found = Vec::with_capacity(self.mapped.len());
        for (index, record) in records.iter().enumerate() {
            cells.clear();
            let envelope = match lfs.get(index).unwrap_or(&LfsRecord::Plain) {
                LfsRecord::Plain => None,
                LfsRecord::Resolved(envelope) => Some(envelope),
                LfsRecord::Referenced(envelope) => {
                    // The value is the envelope: the typed columns' fields
                    // are in the blob, not fetched. They stay null.
                    cells.resize(self.mapped.len(), Cell::Null);
                    self.append_one(topic, partition, record, prefix_len, &cells, RowExtra::Envelope(envelope));
                    continue;
                }
                LfsRecord::Skipped => continue,
                LfsRecord::Rejected(rejection) => {
                    rejected.push(Rejected { index, rejection: rejection.clone() });
                    continue;
                }
            };
            let invalid = self.validator.as_ref().and_then(|v| v.check(record.value.as_deref()));
            if let Some(rejection) = invalid {
                rejected.push(Rejected { index, rejection });
                continue;
            }
            if let Err(rejection) = self.extract(record, &mut cells, &mut found) {
                rejected.push(Rejected { index, rejection });
                continue;
            }
            self.append_one(
                topic,
                partition,
                record,
                prefix_len,
                &cells,
                envelope.map_or(RowExtra::None, RowExtra::Envelope),
            );
        }
        Ok(rejected)
    }

    /// Appends one rejected record to a dead-letter table.
    pub fn append_dead_letter(
        &mut self,
        topic: &str,
        partition: i32,
        record: &Record,
        rejection: &Rejection,
    ) -> Result<(), RowError> {
        check_header_keys(std::slice::from_ref(record))?;
        let prefix_len = self.start_partition(topic, partition);
        self.append_one(topic, partition, record, prefix_len, &[], RowExtra::Rejection(rejection));
        Ok(())
    }

    /// Converts a record's value into one cell per mapped column.
    /// `found` is scratch space for JSON values, reused between records.
    fn extract<'r>(
        &self,
        record: &'r Record,
        cells: &mut Vec<Cell<'r>>,
        found: &mut Vec<Found>,
    ) -> Result<(), Rejection> {
        if self.mapped.is_empty() {
            return Ok(());
        }
        let Some(value) = record.value.as_deref() else {
            return Err(Rejection::new(RejectionCode::NoValue, "the record has no value (a tombstone)"));
        };
        let column_name = |index: usize| self.mapped[index].0.name.as_str();
        match &self.payload {
            Payload::Json => self.extract_json(value, cells, found)?,
            Payload::Avro(schemas) => {
                let (id, payload) = crate::confluent::split(value)?;
                let schema = writer_schema(schemas, id)?;
                schema.cells(payload, |i| self.mapped[i].1, cells).map_err(|error| error.rejection(column_name))?;
            }
            Payload::JsonSchema(schemas) => {
                let (id, payload) = crate::confluent::split(value)?;
                writer_schema(schemas, id)?;
                self.extract_json(payload, cells, found)?;
            }
            Payload::Protobuf(schemas) => {
                let (id, payload) = crate::confluent::split(value)?;
                let file = writer_schema(schemas, id)?;
                let columns = self.mapped.iter().map(|(column, target)| (column.path.as_slice(), *target));
                crate::protobuf::cells(file, payload, columns, cells).map_err(|error| error.rejection(column_name))?;
            }
        }
        for ((column, _), cell) in self.mapped.iter().zip(cells.iter()) {
            if column.required && *cell == Cell::Null {
                let message = format!("required column `{}` is missing or null", column.name);
                return Err(Rejection::new(RejectionCode::MissingRequired, message));
            }
        }
        Ok(())
    }

    fn extract_json<'r>(
        &self,
        value: &'r [u8],
        cells: &mut Vec<Cell<'r>>,
        found: &mut Vec<Found>,
    ) -> Result<(), Rejection> {
        let text = self.json.read(value, found)?;
        cells.resize(self.mapped.len(), Cell::Null);
        for (((column, target), found), cell) in self.mapped.iter().zip(found.iter()).zip(cells.iter_mut()) {
            self.json.fill(text, *found, *target, cell).map_err(|reason| {
                Rejection::new(RejectionCode::TypeMismatch, format!("column `{}`: {reason}", column.name))
            })?;
        }
        Ok(())
    }

    /// Sets the record-id prefix for a partition; returns its length.
    fn start_partition(&mut self, topic: &str, partition: i32) -> usize {
        self.record_id.clear();
        self.record_id.push_str(topic);
        self.record_id.push(':');
        self.record_id.push_str(itoa::Buffer::new().format(partition));
        self.record_id.push(':');
        self.record_id.len()
    }

    fn append_one(
        &mut self,
        topic: &str,
        partition: i32,
        record: &Record,
        prefix_len: usize,
        cells: &[Cell],
        extra: RowExtra,
    ) {
        let (envelope, rejection) = match extra {
            RowExtra::None => (None, None),
            RowExtra::Envelope(envelope) => (Some(envelope), None),
            RowExtra::Rejection(rejection) => (None, Some(rejection)),
        };
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
                        // UTF-8 was checked before appending.
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
                ColumnBuilder::RecordTime(b) => b.append_value(record.timestamp_ms.saturating_mul(1000)),
                ColumnBuilder::LfsText(column, b) => b.append_option(envelope.and_then(|e| e.text(*column))),
                ColumnBuilder::LfsSize(b) => {
                    b.append_option(envelope.and_then(|e| e.size).map(|size| i64::try_from(size).unwrap_or(i64::MAX)))
                }
                ColumnBuilder::Mapped { cell, builder } => builder.append(&cells[*cell]),
                ColumnBuilder::Absent(_) => {}
                ColumnBuilder::ReasonCode(b) => b.append_option(rejection.map(|r| r.code.as_str())),
                ColumnBuilder::Reason(b) => b.append_option(rejection.map(|r| r.message.as_str())),
            }
        }
        self.rows += 1;
        self.payload_bytes += key.map_or(0, <[u8]>::len)
            + value.map_or(0, <[u8]>::len)
            + record.headers.iter().map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len())).sum::<usize>()
            + topic.len() * 2
            + 32
            + 16 * cells.len();
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
        let rows = self.rows;
        let columns = self.columns.iter_mut().map(|c| c.finish(rows)).collect();
        self.rows = 0;
        self.payload_bytes = 0;
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?)
    }
}

fn check_header_keys(records: &[Record]) -> Result<(), RowError> {
    for record in records {
        for (index, header) in record.headers.iter().enumerate() {
            if std::str::from_utf8(&header.key).is_err() {
                return Err(RowError::HeaderKeyNotUtf8 { offset: record.offset, index });
            }
        }
    }
    Ok(())
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
    use crate::dead_letters::{Rejection, RejectionCode};

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
        let mut rows = RowBuilder::new(arrow_schema(), &[]).unwrap();
        let headers = vec![
            Header { key: Bytes::from_static(b"trace"), value: Some(Bytes::from_static(b"t0")) },
            Header { key: Bytes::from_static(b"bin"), value: None },
        ];
        let rejected = rows
            .append(
                "orders",
                3,
                &[record(41, Some("k"), Some(&[0xff, 0]), headers), record(42, None, None, vec![])],
                &[],
            )
            .unwrap();
        assert!(rejected.is_empty());
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
        let mut rows = RowBuilder::new(arrow_schema(), &[]).unwrap();
        let bad = vec![Header { key: Bytes::from_static(&[0xc3, 0x28]), value: None }];
        let err = rows.append("t", 0, &[record(1, None, None, vec![]), record(2, None, None, bad)], &[]).unwrap_err();
        assert_eq!(err.to_string(), "record at offset 2: header #0 has a key that is not UTF-8");
        assert_eq!(rows.len(), 0);
    }

    #[test]
    fn names_a_column_it_cannot_fill() {
        let schema =
            Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new("amount", DataType::Float64, false)]));
        let err = RowBuilder::new(schema, &[]).err().unwrap();
        assert!(
            err.to_string().starts_with("table column `amount` is required but has no source: floe fills record_id"),
            "{err}"
        );
    }

    fn typed_table() -> (SchemaRef, Vec<MappedColumn>) {
        let columns: Vec<floe_config::Column> = serde_json::from_str(
            r#"[{"name": "order_id", "type": "long", "required": true},
                {"name": "amount", "type": "decimal(10,2)"},
                {"name": "created_at", "type": "timestamptz"},
                {"name": "day", "type": "date"},
                {"name": "vip", "type": "boolean"},
                {"name": "customer_id", "type": "string", "path": "customer.id"}]"#,
        )
        .unwrap();
        let schema = iceberg::arrow::schema_to_arrow_schema(&crate::columns::table_schema(
            &columns,
            &[crate::SourceColumn::RecordTime],
        ))
        .unwrap();
        (Arc::new(schema), columns.iter().map(MappedColumn::from).collect())
    }

    #[test]
    fn typed_columns_and_rejected_records() {
        let (schema, mapped) = typed_table();
        let mut rows = RowBuilder::new(schema, &mapped).unwrap();
        let good = br#"{"order_id": 9007199254740993, "amount": "10.5", "created_at": "2026-01-01T12:00:00+02:00",
                        "day": "2026-01-01", "customer": {"id": "c-7"}}"#;
        let records = [
            record(0, None, Some(good), vec![]),
            record(1, None, Some(br#"{"amount": 1}"#), vec![]),
            record(2, None, Some(b"{nope"), vec![]),
            record(3, None, Some(br#"{"order_id": 4, "day": true}"#), vec![]),
            record(4, None, None, vec![]),
            record(5, None, Some(br#"{"order_id": "5", "vip": "false"}"#), vec![]),
        ];
        let rejected = rows.append("orders", 0, &records, &[]).unwrap();
        let codes: Vec<_> = rejected.iter().map(|r| (r.index, r.rejection.code)).collect();
        assert_eq!(
            codes,
            [
                (1, RejectionCode::MissingRequired),
                (2, RejectionCode::NotJson),
                (3, RejectionCode::TypeMismatch),
                (4, RejectionCode::NoValue)
            ]
        );
        assert_eq!(rejected[0].rejection.message, "required column `order_id` is missing or null");
        assert_eq!(rejected[2].rejection.message, "column `day`: true (a boolean) does not convert to date");

        let batch = rows.finish().unwrap();
        assert_eq!(batch.num_rows(), 2);
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        assert_eq!(column("offset").as_primitive::<Int64Type>().values(), &[0, 5]);
        assert_eq!(column("order_id").as_primitive::<Int64Type>().values(), &[9_007_199_254_740_993, 5]);
        let amount = column("amount");
        let amount = amount.as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!((amount.value(0), amount.is_null(1)), (1050, true));
        let created = column("created_at");
        let created = created.as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        assert_eq!(created.value(0), 1_767_261_600_000_000);
        assert_eq!(column("day").as_primitive::<arrow_array::types::Date32Type>().value(0), 20454);
        let vip = column("vip");
        assert_eq!((vip.as_boolean().is_null(0), vip.as_boolean().value(1)), (true, false));
        assert_eq!(column("customer_id").as_string::<i32>().value(0), "c-7");
        let record_time = column("record_time");
        assert_eq!(
            record_time.as_primitive::<arrow_array::types::TimestampMicrosecondType>().value(1),
            1_700_000_000_005_000
        );

        // A record that fails after some of its columns converted leaves
        // nothing behind, even when it is all a call appended.
        let partial = record(6, None, Some(br#"{"order_id": 6, "amount": 1, "day": "never"}"#), vec![]);
        assert_eq!(rows.append("orders", 0, &[partial], &[]).unwrap().len(), 1);
        assert!(rows.is_empty());
        let later = record(7, None, Some(br#"{"order_id": 7, "day": 3}"#), vec![]);
        assert!(rows.append("orders", 1, &[later], &[]).unwrap().is_empty());
        let batch = rows.finish().unwrap();
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(column("record_id").as_string::<i32>().value(0), "orders:1:7");
        assert_eq!(column("order_id").as_primitive::<Int64Type>().values(), &[7]);
        assert!(column("amount").is_null(0));
        assert_eq!(column("day").as_primitive::<arrow_array::types::Date32Type>().values(), &[3]);
    }

    #[test]
    fn dead_letters_keep_the_record_and_the_reason() {
        let schema = Arc::new(iceberg::arrow::schema_to_arrow_schema(&crate::columns::dead_letter_schema()).unwrap());
        let mut dead = RowBuilder::for_dead_letters(schema).unwrap();
        let headers = vec![Header { key: Bytes::from_static(b"h"), value: None }];
        let rejection = Rejection::new(RejectionCode::NotJson, "value is not JSON: EOF");
        dead.append_dead_letter("orders", 2, &record(9, Some("k"), Some(b"{"), headers), &rejection).unwrap();
        let batch = dead.finish().unwrap();
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        assert_eq!(column("record_id").as_string::<i32>().value(0), "orders:2:9");
        assert_eq!(column("value").as_binary::<i64>().value(0), b"{");
        assert_eq!(column("reason_code").as_string::<i32>().value(0), "not_json");
        assert_eq!(column("reason").as_string::<i32>().value(0), "value is not JSON: EOF");
        assert_eq!(column("headers").as_list::<i32>().value_length(0), 1);
    }

    #[test]
    fn avro_records_fill_columns_by_writer_schema_or_become_dead_letters() {
        let v1 = r#"{"type": "record", "name": "Order", "fields": [
            {"name": "id", "type": "long"},
            {"name": "customer", "type": {"type": "record", "name": "C", "fields": [{"name": "id", "type": "string"}]}}]}"#;
        let v2 = r#"{"type": "record", "name": "Order", "fields": [
            {"name": "id", "type": "long"},
            {"name": "customer", "type": {"type": "record", "name": "C", "fields": [{"name": "id", "type": "string"}]}},
            {"name": "note", "type": ["null", "string"], "default": null}]}"#;
        let (v1, v2) = (apache_avro::Schema::parse_str(v1).unwrap(), apache_avro::Schema::parse_str(v2).unwrap());
        let columns = crate::avro::columns(&v1).unwrap();
        let schema = iceberg::arrow::schema_to_arrow_schema(&crate::columns::table_schema(&columns, &[])).unwrap();
        let mapped: Vec<MappedColumn> = columns.iter().map(MappedColumn::from).collect();
        let mut rows = RowBuilder::new(Arc::new(schema), &mapped).unwrap().with_format(PayloadFormat::Avro);

        let datum = |schema: &apache_avro::Schema, fields: Vec<(&str, apache_avro::types::Value)>| {
            let value =
                apache_avro::types::Value::Record(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
            apache_avro::to_avro_datum(schema, value).unwrap()
        };
        use apache_avro::types::Value as V;
        let customer = |id: &str| V::Record(vec![("id".to_string(), V::String(id.to_string()))]);
        let first = crate::confluent::frame(1, &datum(&v1, vec![("id", V::Long(1)), ("customer", customer("a"))]));
        let note = V::Union(1, Box::new(V::String("new field".to_string())));
        let second = crate::confluent::frame(
            2,
            &datum(&v2, vec![("id", V::Long(2)), ("customer", customer("b")), ("note", note)]),
        );
        let records = [
            record(0, None, Some(&first), vec![]),
            record(1, None, Some(&second), vec![]),
            record(2, None, Some(br#"{"id": 3}"#), vec![]),
            record(3, None, Some(&crate::confluent::frame(9, b"")), vec![]),
            // A varint longer than any long.
            record(4, None, Some(&crate::confluent::frame(1, &[0xff; 11])), vec![]),
        ];
        assert_eq!(rows.unknown_schema_ids(&records), [1, 2, 9]);
        rows.add_writer_schema(1, Ok(RegisteredSchema::Avro(Arc::new(v1))));
        rows.add_writer_schema(2, Ok(RegisteredSchema::Avro(Arc::new(v2))));
        rows.add_writer_schema(9, Err("schema id 9 is not in the registry".to_string()));
        assert!(rows.unknown_schema_ids(&records).is_empty());

        let rejected = rows.append("orders", 0, &records, &[]).unwrap();
        let codes: Vec<_> = rejected.iter().map(|r| (r.index, r.rejection.code)).collect();
        assert_eq!(
            codes,
            [(2, RejectionCode::NotWireFormat), (3, RejectionCode::UnknownSchemaId), (4, RejectionCode::Undecodable)]
        );
        assert_eq!(rejected[1].rejection.message, "schema id 9 is not in the registry");
        let batch = rows.finish().unwrap();
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        assert_eq!(column("id").as_primitive::<Int64Type>().values(), &[1, 2]);
        let customers = column("customer_id");
        assert_eq!((customers.as_string::<i32>().value(0), customers.as_string::<i32>().value(1)), ("a", "b"));
        assert!(batch.column_by_name("note").is_none(), "a field the table lacks is ignored");
    }

    #[test]
    fn json_schema_records_fill_columns_by_name_or_become_dead_letters() {
        let (schema, mapped) = typed_table();
        let mut rows = RowBuilder::new(schema, &mapped).unwrap().with_format(PayloadFormat::JsonSchema);
        let framed = |id: u32, json: &str| crate::confluent::frame(id, json.as_bytes());
        let records = [
            record(0, None, Some(&framed(1, r#"{"order_id": 9007199254740993, "customer": {"id": "c"}}"#)), vec![]),
            record(1, None, Some(br#"{"order_id": 2}"#), vec![]),
            record(2, None, Some(&framed(7, r#"{"order_id": 3}"#)), vec![]),
            record(3, None, Some(&framed(8, r#"{"order_id": 4}"#)), vec![]),
            record(4, None, Some(&framed(1, r#"{"amount": 1}"#)), vec![]),
            record(5, None, Some(&framed(1, "not json")), vec![]),
        ];
        assert_eq!(rows.unknown_schema_ids(&records), [1, 7, 8]);
        let json = serde_json::json!({"type": "object"});
        rows.add_writer_schema(1, Ok(RegisteredSchema::Json(Arc::new(json))));
        rows.add_writer_schema(7, Ok(RegisteredSchema::Avro(Arc::new(apache_avro::Schema::Long))));
        rows.add_writer_schema(8, Err("schema id 8 is not in the registry".to_string()));
        assert!(rows.unknown_schema_ids(&records).is_empty());

        let rejected = rows.append("orders", 0, &records, &[]).unwrap();
        let reasons: Vec<_> =
            rejected.iter().map(|r| (r.index, r.rejection.code, r.rejection.message.as_str())).collect();
        assert_eq!(
            reasons[..4].iter().map(|(index, code, _)| (*index, *code)).collect::<Vec<_>>(),
            [
                (1, RejectionCode::NotWireFormat),
                (2, RejectionCode::UnknownSchemaId),
                (3, RejectionCode::UnknownSchemaId),
                (4, RejectionCode::MissingRequired)
            ]
        );
        assert_eq!(reasons[1].2, "schema id 7 is an Avro schema, but the table's format is json_schema");
        assert_eq!(reasons[2].2, "schema id 8 is not in the registry");
        assert_eq!((reasons[4].0, reasons[4].1), (5, RejectionCode::NotJson));
        let batch = rows.finish().unwrap();
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        assert_eq!(column("order_id").as_primitive::<Int64Type>().values(), &[9007199254740993]);
        assert_eq!(column("customer_id").as_string::<i32>().value(0), "c");
    }

    #[test]
    fn columns_the_mapping_no_longer_fills_stay_null() {
        let (schema, mapped) = typed_table();
        let mut rows = RowBuilder::new(schema, &mapped[..1]).unwrap();
        assert!(
            rows.append("orders", 0, &[record(0, None, Some(br#"{"order_id": 1, "day": 3}"#), vec![])], &[])
                .unwrap()
                .is_empty()
        );
        let batch = rows.finish().unwrap();
        assert!(batch.column_by_name("day").unwrap().is_null(0));
    }

    #[test]
    fn lfs_outcomes_fill_rows_and_rejections() {
        let columns: Vec<floe_config::Column> =
            serde_json::from_str(r#"[{"name": "order_id", "type": "long", "required": true}]"#).unwrap();
        let optional = [SourceColumn::LfsKey, SourceColumn::LfsSize];
        let schema = crate::columns::table_schema(&columns, &optional);
        let schema = Arc::new(iceberg::arrow::schema_to_arrow_schema(&schema).unwrap());
        let mapped: Vec<_> = columns.iter().map(MappedColumn::from).collect();
        let mut rows = RowBuilder::new(schema, &mapped).unwrap();
        let envelope =
            Envelope { bucket: "b".into(), key: "k".into(), size: Some(7), sha256: "0".repeat(64), content_type: None };
        let records = [
            record(0, None, Some(br#"{"order_id": 1}"#), vec![]),
            record(1, None, Some(br#"{"kfs_lfs": 1}"#), vec![]),
            record(2, None, Some(br#"{"kfs_lfs": 1}"#), vec![]),
            record(3, None, Some(br#"{"order_id": 4}"#), vec![]),
            record(4, None, Some(br#"{"kfs_lfs": 1}"#), vec![]),
        ];
        let missing = Rejection::new(RejectionCode::LfsMissing, "s3://b/k: the blob does not exist");
        let lfs = [
            LfsRecord::Plain,
            // Referenced: the required typed column stays null, no dead letter.
            LfsRecord::Referenced(envelope.clone()),
            LfsRecord::Skipped,
            LfsRecord::Resolved(envelope),
            LfsRecord::Rejected(missing.clone()),
        ];
        let rejected = rows.append("docs", 0, &records, &lfs).unwrap();
        assert_eq!(rejected, [Rejected { index: 4, rejection: missing }]);
        let batch = rows.finish().unwrap();
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        assert_eq!(column("offset").as_primitive::<Int64Type>().values(), &[0, 1, 3]);
        let keys = column("lfs_key");
        let keys = keys.as_string::<i32>();
        assert_eq!((keys.is_null(0), keys.value(1), keys.value(2)), (true, "k", "k"));
        assert_eq!(column("lfs_size").as_primitive::<Int64Type>().value(1), 7);
        let order_id = column("order_id");
        let order_id = order_id.as_primitive::<Int64Type>();
        assert_eq!((order_id.value(0), order_id.is_null(1), order_id.value(2)), (1, true, 4));
    }
}

//! A table as the coordinator defined it for this worker.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::SchemaRef as ArrowSchemaRef;
use floe_config::{LfsConfig, LfsMode, PayloadFormat};
use floe_proto::worker::DefineTable;
use floe_table::{MappedColumn, RecordValidator, SourceColumn};
use iceberg::io::FileIO;
use iceberg::spec::{FormatVersion, PartitionSpec, PrimitiveType, Schema, SchemaRef, StructType, Type};
use parquet::basic::{Compression, Encoding, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Everything needed to write data files of one table.
#[derive(Debug)]
pub struct TableDef {
    pub name: String,
    pub schema: SchemaRef,
    pub arrow_schema: ArrowSchemaRef,
    pub partition_spec: PartitionSpec,
    pub partition_type: StructType,
    pub format_version: FormatVersion,
    pub file_io: FileIO,
    /// Typed columns read from the record's value.
    pub columns: Vec<MappedColumn>,
    /// How record values are encoded.
    pub format: PayloadFormat,
    /// Where records that cannot become rows go.
    pub dead_letters: Option<Arc<TableDef>>,
    /// What to do with LFS envelopes.
    pub lfs: LfsConfig,
    /// Values are checked against the topic's JSON Schema first.
    pub validation: Option<Validation>,
}

#[derive(Debug)]
pub struct Validation {
    /// An invalid record stops its partition instead of being a dead letter.
    pub strict: bool,
    pub validator: Arc<RecordValidator>,
}

impl TableDef {
    /// Reads a definition; its dead-letter table must be among `defined`.
    pub fn from_proto(define: &DefineTable, defined: &HashMap<String, Arc<TableDef>>) -> Result<Self, String> {
        let schema: iceberg::spec::Schema =
            serde_json::from_str(&define.schema_json).map_err(|e| format!("table {}: schema: {e}", define.table))?;
        let partition_spec: PartitionSpec = serde_json::from_str(&define.partition_spec_json)
            .map_err(|e| format!("table {}: partition spec: {e}", define.table))?;
        let partition_type =
            partition_spec.partition_type(&schema).map_err(|e| format!("table {}: {e}", define.table))?;
        let arrow_schema =
            iceberg::arrow::schema_to_arrow_schema(&schema).map_err(|e| format!("table {}: {e}", define.table))?;
        let format_version = match define.format_version {
            1 => FormatVersion::V1,
            2 => FormatVersion::V2,
            3 => FormatVersion::V3,
            v => return Err(format!("table {}: unknown Iceberg format version {v}", define.table)),
        };
        let dead_letters = match define.dead_letter_table.as_str() {
            "" => None,
            name => Some(defined.get(name).cloned().ok_or_else(|| {
                format!("table {}: its dead-letter table {name} was not defined first", define.table)
            })?),
        };
        let format = match define.format.as_str() {
            "" => PayloadFormat::Json,
            text => PayloadFormat::from_keyword(text)
                .ok_or_else(|| format!("table {}: unknown payload format `{text}`", define.table))?,
        };
        let lfs = match &define.lfs {
            None => LfsConfig::default(),
            Some(policy) => LfsConfig {
                mode: LfsMode::from_keyword(&policy.mode).ok_or_else(|| {
                    format!(
                        "table {}: unknown LFS mode `{}` (a coordinator of a newer version?)",
                        define.table, policy.mode
                    )
                })?,
                max_inline_bytes: policy.max_inline_bytes,
                max_blob_bytes: policy.max_blob_bytes,
            },
        };
        let validation = match &define.validation {
            None => None,
            Some(validation) => Some(Validation {
                strict: validation.strict,
                validator: Arc::new(
                    RecordValidator::compile(&validation.schema_json)
                        .map_err(|e| format!("table {}: {e}", define.table))?,
                ),
            }),
        };
        let columns = define
            .columns
            .iter()
            .map(|c| MappedColumn { name: c.name.clone(), path: c.path.clone(), required: c.required })
            .collect();
        Ok(Self {
            name: define.table.clone(),
            schema: Arc::new(schema),
            arrow_schema: Arc::new(arrow_schema),
            partition_spec,
            partition_type,
            format_version,
            file_io: floe_storage::warehouse_file_io(&define.file_io_props),
            columns,
            format,
            dead_letters,
            lfs,
            validation,
        })
    }
}

/// Parquet settings from the writer spec, for a table of `schema`.
pub fn writer_properties(compression: &str, level: i32, row_group_bytes: u64, schema: &Schema) -> WriterProperties {
    let compression = match compression {
        "snappy" => Compression::SNAPPY,
        "gzip" => Compression::GZIP(GzipLevel::default()),
        "lz4" => Compression::LZ4_RAW,
        "none" => Compression::UNCOMPRESSED,
        _ => Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
    };
    let mut builder = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_bytes(Some(row_group_bytes as usize));
    // A dictionary only pays for few distinct values. Row groups are small
    // enough that a column of distinct values never outgrows the dictionary
    // limit, so it would be interned and dictionary-encoded to no gain:
    // turn it off where values are (nearly) unique, the record's own
    // offsets, times and payload, and typed measures and times.
    for field in schema.as_struct().fields() {
        let mostly_distinct = match SourceColumn::from_name(&field.name) {
            Some(source) => matches!(
                source,
                SourceColumn::RecordId | SourceColumn::Offset | SourceColumn::TimestampMs | SourceColumn::Value
            ),
            None => matches!(
                *field.field_type,
                Type::Primitive(
                    PrimitiveType::Long
                        | PrimitiveType::Float
                        | PrimitiveType::Double
                        | PrimitiveType::Decimal { .. }
                        | PrimitiveType::Timestamp
                        | PrimitiveType::Timestamptz
                        | PrimitiveType::Binary
                )
            ),
        };
        if mostly_distinct {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(field.name.as_str()), false);
        }
        // Integers without a dictionary (offsets, times, ids): deltas packed
        // to their bit width are a fraction of the plain 8 bytes, so zstd
        // gets far less to do.
        let integer = match *field.field_type {
            Type::Primitive(PrimitiveType::Long | PrimitiveType::Timestamp | PrimitiveType::Timestamptz) => true,
            Type::Primitive(PrimitiveType::Decimal { precision, .. }) => precision <= 18,
            _ => false,
        };
        if mostly_distinct && integer {
            builder = builder.set_column_encoding(ColumnPath::from(field.name.as_str()), Encoding::DELTA_BINARY_PACKED);
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use floe_config::{Column, ColumnType};

    use super::*;

    #[test]
    fn integers_without_a_dictionary_are_delta_encoded() {
        let columns = [("order_id", ColumnType::Long), ("qty", ColumnType::Int), ("note", ColumnType::String)]
            .map(|(name, column_type)| Column { name: name.into(), column_type, required: false, path: None });
        let schema = floe_table::table_schema(&columns, &[]);
        let props = writer_properties("zstd", 1, 8 << 20, &schema);
        let encoding = |name: &str| props.encoding(&ColumnPath::from(name));
        let dictionary = |name: &str| props.dictionary_enabled(&ColumnPath::from(name));
        for name in ["offset", "timestamp_ms", "order_id"] {
            assert_eq!((encoding(name), dictionary(name)), (Some(Encoding::DELTA_BINARY_PACKED), false), "{name}");
        }
        // Few distinct values: a dictionary; text and payloads: plain.
        assert!(dictionary("qty") && dictionary("partition") && dictionary("note"));
        assert_eq!((encoding("value"), dictionary("value")), (None, false));
    }
}

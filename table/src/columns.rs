use floe_config::{Column, ColumnType};
use iceberg::spec::{ListType, NestedField, NestedFieldRef, PrimitiveType, Schema, StructType, Type};

/// Prefix of a column, flattened from a payload schema, whose name floe
/// fills from the record itself.
const CLASH_PREFIX: &str = "value_";

/// The column of a payload schema's leaf field at `path`: a nested field is
/// read by its dotted path and named with underscores (`customer.id` is
/// `customer_id`); a name floe fills itself gets the prefix `value_`.
pub(crate) fn flattened_column(path: &[&str], column_type: ColumnType) -> Column {
    let name = path.join("_");
    let name = match SourceColumn::from_name(&name) {
        Some(_) => format!("{CLASH_PREFIX}{name}"),
        None => name,
    };
    Column { name, column_type, required: false, path: Some(path.join(".")) }
}

/// Two fields of a payload schema that would become the same column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fields `{first}` and `{second}` both become column `{column}`: rename one of them in the schema")]
pub struct ColumnClash {
    pub first: String,
    pub second: String,
    pub column: String,
}

/// Refuses flattened columns of the same name.
pub(crate) fn check_unique(columns: &[Column]) -> Result<(), ColumnClash> {
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for column in columns {
        let path = column.path.as_deref().unwrap_or_default();
        if let Some(first) = seen.insert(&column.name, path) {
            return Err(ColumnClash {
                first: first.to_string(),
                second: path.to_string(),
                column: column.name.clone(),
            });
        }
    }
    Ok(())
}

/// A column whose value comes from the Kafka record itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceColumn {
    /// `topic:partition:offset`, unique per record: a natural dedup key.
    RecordId,
    Topic,
    Partition,
    Offset,
    /// Record timestamp in milliseconds since the epoch (CreateTime or LogAppendTime).
    TimestampMs,
    Key,
    Value,
    /// Every header, in order: `list<struct<key: string, value: binary>>`.
    Headers,
    /// The record timestamp as a `timestamptz`, to partition by time. Not in
    /// the default schema: a table has it when its partition spec uses it.
    RecordTime,
    /// An LFS envelope's fields, on tables whose LFS mode references blobs;
    /// null for records that are not envelopes.
    LfsBucket,
    LfsKey,
    LfsSize,
    LfsSha256,
    LfsContentType,
}

impl SourceColumn {
    pub const ALL: [SourceColumn; 8] = [
        SourceColumn::RecordId,
        SourceColumn::Topic,
        SourceColumn::Partition,
        SourceColumn::Offset,
        SourceColumn::TimestampMs,
        SourceColumn::Key,
        SourceColumn::Value,
        SourceColumn::Headers,
    ];

    /// Columns a table has only when its mapping needs them.
    pub const OPTIONAL: [SourceColumn; 6] = [
        SourceColumn::RecordTime,
        SourceColumn::LfsBucket,
        SourceColumn::LfsKey,
        SourceColumn::LfsSize,
        SourceColumn::LfsSha256,
        SourceColumn::LfsContentType,
    ];

    /// The columns of a table whose LFS mode references blobs.
    pub const LFS: [SourceColumn; 5] = [
        SourceColumn::LfsBucket,
        SourceColumn::LfsKey,
        SourceColumn::LfsSize,
        SourceColumn::LfsSha256,
        SourceColumn::LfsContentType,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SourceColumn::RecordId => "record_id",
            SourceColumn::Topic => "topic",
            SourceColumn::Partition => "partition",
            SourceColumn::Offset => "offset",
            SourceColumn::TimestampMs => "timestamp_ms",
            SourceColumn::Key => "key",
            SourceColumn::Value => "value",
            SourceColumn::Headers => "headers",
            SourceColumn::RecordTime => "record_time",
            SourceColumn::LfsBucket => "lfs_bucket",
            SourceColumn::LfsKey => "lfs_key",
            SourceColumn::LfsSize => "lfs_size",
            SourceColumn::LfsSha256 => "lfs_sha256",
            SourceColumn::LfsContentType => "lfs_content_type",
        }
    }

    /// An optional column as a table column to add (nullable, typed); `None`
    /// for the columns every table has.
    pub fn as_column(self) -> Option<Column> {
        let column_type = match self {
            SourceColumn::RecordTime => ColumnType::TimestampTz,
            SourceColumn::LfsSize => ColumnType::Long,
            SourceColumn::LfsBucket | SourceColumn::LfsKey | SourceColumn::LfsSha256 | SourceColumn::LfsContentType => {
                ColumnType::String
            }
            _ => return None,
        };
        Some(Column { name: self.name().to_string(), column_type, required: false, path: None })
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().chain(Self::OPTIONAL).find(|c| c.name() == name)
    }
}

/// Field ids of the source columns. Nested fields of `headers` take the ids
/// after the top-level ones, so typed columns start at 12.
const HEADERS_ELEMENT_ID: i32 = 9;
const HEADER_KEY_ID: i32 = 10;
const HEADER_VALUE_ID: i32 = 11;
const FIRST_TYPED_ID: i32 = 12;

/// A table column filled from a field of the record's JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedColumn {
    pub name: String,
    /// Keys leading to the value, outermost first.
    pub path: Vec<String>,
    /// A record without a value here is a dead letter, never a row with a null.
    pub required: bool,
}

impl From<&Column> for MappedColumn {
    fn from(column: &Column) -> Self {
        Self {
            name: column.name.clone(),
            path: column.json_path().into_iter().map(str::to_string).collect(),
            required: column.required,
        }
    }
}

/// The Iceberg type of a mapping's column type.
pub fn iceberg_type(column_type: ColumnType) -> Type {
    let primitive = match column_type {
        ColumnType::Boolean => PrimitiveType::Boolean,
        ColumnType::Int => PrimitiveType::Int,
        ColumnType::Long => PrimitiveType::Long,
        ColumnType::Float => PrimitiveType::Float,
        ColumnType::Double => PrimitiveType::Double,
        ColumnType::String => PrimitiveType::String,
        ColumnType::Binary => PrimitiveType::Binary,
        ColumnType::Timestamp => PrimitiveType::Timestamp,
        ColumnType::TimestampTz => PrimitiveType::Timestamptz,
        ColumnType::Date => PrimitiveType::Date,
        ColumnType::Decimal { precision, scale } => {
            PrimitiveType::Decimal { precision: u32::from(precision), scale: u32::from(scale) }
        }
    };
    Type::Primitive(primitive)
}

/// The columns every record fills, in order.
fn source_fields() -> Vec<NestedFieldRef> {
    let header = StructType::new(vec![
        NestedField::required(HEADER_KEY_ID, "key", Type::Primitive(PrimitiveType::String)).into(),
        NestedField::optional(HEADER_VALUE_ID, "value", Type::Primitive(PrimitiveType::Binary)).into(),
    ]);
    let headers = ListType::new(NestedField::list_element(HEADERS_ELEMENT_ID, Type::Struct(header), true).into());
    let fields = SourceColumn::ALL.iter().zip(1..).map(|(column, id)| {
        let field = match column {
            SourceColumn::RecordId | SourceColumn::Topic => {
                NestedField::required(id, column.name(), Type::Primitive(PrimitiveType::String))
            }
            SourceColumn::Partition => NestedField::required(id, column.name(), Type::Primitive(PrimitiveType::Int)),
            SourceColumn::Offset | SourceColumn::TimestampMs => {
                NestedField::required(id, column.name(), Type::Primitive(PrimitiveType::Long))
            }
            SourceColumn::Key | SourceColumn::Value => {
                NestedField::optional(id, column.name(), Type::Primitive(PrimitiveType::Binary))
            }
            SourceColumn::Headers => NestedField::required(id, column.name(), Type::List(headers.clone())),
            // Not in ALL: `table_schema` adds them after the typed columns.
            optional => {
                let column_type = optional.as_column().map_or(ColumnType::String, |c| c.column_type);
                NestedField::optional(id, optional.name(), iceberg_type(column_type))
            }
        };
        field.into()
    });
    fields.collect()
}

fn build_schema(fields: Vec<NestedFieldRef>) -> Schema {
    Schema::builder().with_schema_id(0).with_fields(fields).build().expect("floe's schemas are statically valid")
}

/// The Iceberg schema of a table holding Kafka records as they are.
pub fn source_schema() -> Schema {
    build_schema(source_fields())
}

/// The Iceberg schema of a new table: the source columns, then the mapping's
/// typed columns, then the `optional` source columns the mapping needs
/// (`record_time`, `lfs_*`). Typed columns are optional in the table:
/// `required` is enforced on the way in (dead letters), and a later mapping
/// may relax it.
pub fn table_schema(columns: &[Column], optional: &[SourceColumn]) -> Schema {
    let mut fields = source_fields();
    let optional = optional.iter().filter_map(|c| c.as_column());
    for (column, id) in columns.iter().cloned().chain(optional).zip(FIRST_TYPED_ID..) {
        fields.push(NestedField::optional(id, &column.name, iceberg_type(column.column_type)).into());
    }
    build_schema(fields)
}

/// The Iceberg schema of a dead-letter table: the record as it is, and why
/// it could not become a row.
pub fn dead_letter_schema() -> Schema {
    let mut fields = source_fields();
    let string = || Type::Primitive(PrimitiveType::String);
    fields.push(NestedField::required(FIRST_TYPED_ID, DEAD_LETTER_REASON_CODE, string()).into());
    fields.push(NestedField::required(FIRST_TYPED_ID + 1, DEAD_LETTER_REASON, string()).into());
    build_schema(fields)
}

/// Dead-letter columns: a stable code to group by, and the full reason.
pub const DEAD_LETTER_REASON_CODE: &str = "reason_code";
pub const DEAD_LETTER_REASON: &str = "reason";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_schema_has_the_seed_columns_in_order() {
        let schema = source_schema();
        let names: Vec<_> = schema.as_struct().fields().iter().map(|f| f.name.clone()).collect();
        assert_eq!(names, ["record_id", "topic", "partition", "offset", "timestamp_ms", "key", "value", "headers"]);
        assert_eq!(schema.highest_field_id(), HEADER_VALUE_ID);
        assert_eq!(SourceColumn::from_name("timestamp_ms"), Some(SourceColumn::TimestampMs));
        assert_eq!(SourceColumn::from_name("ts"), None);
    }

    #[test]
    fn typed_columns_follow_the_source_columns() {
        let columns: Vec<Column> = serde_json::from_str(
            r#"[{"name": "order_id", "type": "long", "required": true},
                {"name": "amount", "type": "decimal(10,2)"},
                {"name": "customer_id", "type": "string", "path": "customer.id"}]"#,
        )
        .unwrap();
        let schema = table_schema(&columns, &[SourceColumn::RecordTime, SourceColumn::LfsSize]);
        let order_id = schema.field_by_name("order_id").unwrap();
        assert_eq!((order_id.id, order_id.required), (12, false));
        assert_eq!(*schema.field_by_name("amount").unwrap().field_type, Type::decimal(10, 2).unwrap());
        assert_eq!(schema.field_by_name("customer_id").unwrap().id, 14);
        assert_eq!(MappedColumn::from(&columns[2]).path, ["customer", "id"]);
        let record_time = schema.field_by_name("record_time").unwrap();
        assert_eq!((record_time.id, &*record_time.field_type), (15, &Type::Primitive(PrimitiveType::Timestamptz)));
        let lfs_size = schema.field_by_name("lfs_size").unwrap();
        assert_eq!((lfs_size.id, &*lfs_size.field_type), (16, &Type::Primitive(PrimitiveType::Long)));
        assert_eq!(SourceColumn::from_name("lfs_sha256"), Some(SourceColumn::LfsSha256));
        assert_eq!(SourceColumn::Key.as_column(), None);

        let dead = dead_letter_schema();
        assert_eq!(dead.field_by_name("reason").unwrap().id, 13);
        assert!(dead.field_by_name("value").is_some());
    }
}

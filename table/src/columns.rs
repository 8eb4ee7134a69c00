use iceberg::spec::{ListType, NestedField, PrimitiveType, Schema, StructType, Type};

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
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Field ids of the source columns. Nested fields of `headers` take the ids
/// after the top-level ones, so typed columns added later start at 12.
const HEADERS_ELEMENT_ID: i32 = 9;
const HEADER_KEY_ID: i32 = 10;
const HEADER_VALUE_ID: i32 = 11;

/// The Iceberg schema of a table holding Kafka records as they are.
pub fn source_schema() -> Schema {
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
        };
        field.into()
    });
    Schema::builder().with_schema_id(0).with_fields(fields).build().expect("the source schema is statically valid")
}

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
}

//! Which topic goes to which table, with which columns (`mappings`).

use serde::Deserialize;

use crate::column_type::ColumnType;
use crate::error::Problem;
use crate::keyword::keyword_enum;
use crate::lfs::LfsConfig;
use crate::partition::PartitionField;
use crate::routing::{TopicSelector, check_template};
use crate::table_name::TableName;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// A topic's name, or a pattern over names (see [`TopicSelector`]).
    pub topic: String,
    /// May hold `{topic}` (see [`crate::routing`]).
    pub table: TableName,
    #[serde(default)]
    pub mode: WriteMode,
    /// How record values are encoded.
    #[serde(default)]
    pub format: PayloadFormat,
    #[serde(default = "create_by_default")]
    pub create_table_if_missing: bool,
    #[serde(default)]
    pub schema: MappingSchema,
    /// Where records that cannot become rows of a typed table (or of a table
    /// with an LFS mode other than off) go; default `<table>_dlq` in the
    /// table's namespace.
    #[serde(default)]
    pub dead_letter_table: Option<TableName>,
    /// Where reading starts in a partition the table has no offset for yet.
    #[serde(default)]
    pub start_offset: StartOffset,
    /// With `start_offset: timestamp`: RFC 3339, e.g. 2026-01-01T00:00:00Z.
    #[serde(default)]
    pub start_timestamp: Option<String>,
    /// The table's partition fields, for a table floe creates.
    #[serde(default)]
    pub partition_by: Vec<PartitionField>,
    /// Dot-separated keys of the JSON value holding the record's event
    /// time (epoch milliseconds or ISO-8601); it becomes the `event_time`
    /// column, to partition by.
    #[serde(default)]
    pub event_time_field: Option<String>,
    /// What to do with values the KafScale LFS proxy replaced by envelopes.
    #[serde(default)]
    pub lfs: LfsConfig,
}

keyword_enum! {
    #[derive(Default)]
    pub enum PayloadFormat {
        /// JSON text; typed columns come from `schema.columns`.
        #[default]
        Json => "json",
        /// Avro in the Confluent wire format (a magic byte, the writer
        /// schema's id in `schema.confluent_registry`, the datum); columns
        /// come from the topic's schema there.
        Avro => "avro",
        /// Protobuf in the Confluent wire format (with message indexes);
        /// columns come from the first message type of the topic's latest
        /// schema there.
        Protobuf => "protobuf",
        /// JSON in the Confluent wire format, with a JSON Schema; columns
        /// come from the topic's latest schema there.
        JsonSchema => "json_schema",
    }
}

impl PayloadFormat {
    /// Values carry a schema id of `schema.confluent_registry`.
    pub fn is_confluent(self) -> bool {
        self != PayloadFormat::Json
    }
}

/// The column `event_time_field` fills.
pub const EVENT_TIME_COLUMN: &str = "event_time";

keyword_enum! {
    #[derive(Default)]
    pub enum StartOffset {
        /// The oldest offset storage holds.
        #[default]
        Earliest => "earliest",
        /// Only what arrives after floe first lists the partition.
        Latest => "latest",
        /// The first record at or after `start_timestamp`.
        Timestamp => "timestamp",
    }
}

/// Where reading starts in a partition never committed to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    Earliest,
    Latest,
    /// Unix milliseconds.
    Timestamp(i64),
}

fn create_by_default() -> bool {
    true
}

keyword_enum! {
    #[derive(Default)]
    pub enum WriteMode {
        #[default]
        Append => "append",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MappingSchema {
    pub source: ColumnSource,
    /// Lets a column's table type widen (int to long, float to double) when
    /// the mapping asks for the wider type.
    pub allow_type_widening: bool,
    /// With source `mapping` and no columns, rows carry only the record's
    /// own fields.
    pub columns: Vec<Column>,
}

keyword_enum! {
    #[derive(Default)]
    pub enum ColumnSource {
        /// The `columns` listed here.
        #[default]
        Mapping => "mapping",
        /// Columns from the topic's schema in `schema.registry`.
        Registry => "registry",
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    #[serde(default)]
    pub required: bool,
    /// Dot-separated keys of the JSON value to read, e.g. `customer.id`;
    /// `None` reads the top-level key named like the column.
    #[serde(default)]
    pub path: Option<String>,
}

impl Column {
    /// The keys leading to this column's value in a JSON record.
    pub fn json_path(&self) -> Vec<&str> {
        match &self.path {
            Some(path) => path.split('.').collect(),
            // The name is one key even when it contains a dot.
            None => vec![self.name.as_str()],
        }
    }
}

fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.timestamp_millis())
}

pub(crate) fn validate_mappings(mappings: &[Mapping]) -> Result<(), Problem> {
    if mappings.is_empty() {
        return Err(Problem::invalid(
            "mappings",
            "is empty",
            "add at least one mapping, e.g. `- {topic: orders, table: prod.orders}`",
        ));
    }
    for (index, mapping) in mappings.iter().enumerate() {
        mapping.validate(index)?;
        for (earlier_index, earlier) in mappings[..index].iter().enumerate() {
            // A topic feeding several tables is listed once for all of them.
            if earlier.topic == mapping.topic && earlier.start_position() != mapping.start_position() {
                return Err(Problem::invalid(
                    format!("mappings[{index}].start_offset"),
                    format!(
                        "differs from that of mappings[{earlier_index}], which reads topic `{}` too",
                        mapping.topic
                    ),
                    "give every mapping of one topic the same start_offset (and start_timestamp)",
                ));
            }
            if earlier.table != mapping.table {
                continue;
            }
            if earlier.topic == mapping.topic {
                return Err(Problem::invalid(
                    format!("mappings[{index}]"),
                    format!(
                        "maps topic `{}` to table `{}` again, as mappings[{earlier_index}] does",
                        mapping.topic, mapping.table
                    ),
                    "remove one of the two",
                ));
            }
            // One table has one schema, whichever topic feeds it.
            let shape = |m: &Mapping| {
                (m.format, m.schema.clone(), m.partition_by.clone(), m.event_time_field.clone(), m.lfs.clone())
            };
            if shape(earlier) != shape(mapping) {
                return Err(Problem::invalid(
                    format!("mappings[{index}].schema"),
                    format!(
                        "differs from mappings[{earlier_index}].schema (or format, partition_by, event_time_field, lfs), which writes the same table `{}`",
                        mapping.table
                    ),
                    "give every mapping of one table the same format, schema, partition_by, event_time_field and lfs",
                ));
            }
        }
    }
    Ok(())
}

impl Mapping {
    /// The table has a dead-letter table: it has typed columns (listed, or
    /// from a registry), or an LFS mode whose failures (a missing blob, a
    /// bad envelope) are dead letters.
    pub fn has_dead_letters(&self) -> bool {
        !self.typed_columns().is_empty()
            || self.schema.source == ColumnSource::Registry
            || self.format.is_confluent()
            || self.lfs.mode != crate::lfs::LfsMode::Off
    }

    /// The dead-letter table, when [`Mapping::has_dead_letters`].
    pub fn dead_letter_table(&self) -> TableName {
        self.dead_letter_table.clone().unwrap_or_else(|| TableName {
            namespace: self.table.namespace.clone(),
            name: format!("{}_dlq", self.table.name),
        })
    }

    /// The typed columns: the mapping's, and `event_time` when an
    /// `event_time_field` is set.
    pub fn typed_columns(&self) -> Vec<Column> {
        let mut columns = self.schema.columns.clone();
        if let Some(path) = &self.event_time_field {
            columns.push(Column {
                name: EVENT_TIME_COLUMN.to_string(),
                column_type: ColumnType::TimestampTz,
                required: false,
                path: Some(path.clone()),
            });
        }
        columns
    }

    /// The start rule; `start_timestamp` was checked by validation.
    pub fn start_position(&self) -> StartPosition {
        match (self.start_offset, self.start_timestamp.as_deref().and_then(parse_rfc3339_ms)) {
            (StartOffset::Timestamp, Some(ms)) => StartPosition::Timestamp(ms),
            (StartOffset::Latest, _) => StartPosition::Latest,
            _ => StartPosition::Earliest,
        }
    }

    fn validate(&self, index: usize) -> Result<(), Problem> {
        let key = |suffix: &str| format!("mappings[{index}].{suffix}");
        match (self.start_offset, &self.start_timestamp) {
            (StartOffset::Timestamp, None) => {
                return Err(Problem::invalid(
                    key("start_timestamp"),
                    "is missing, and start_offset is timestamp",
                    "set it to an RFC 3339 time, e.g. 2026-01-01T00:00:00Z",
                ));
            }
            (StartOffset::Timestamp, Some(text)) if parse_rfc3339_ms(text).is_none() => {
                return Err(Problem::invalid(
                    key("start_timestamp"),
                    format!("is `{text}`, not an RFC 3339 time"),
                    "write it like 2026-01-01T00:00:00Z or 2026-01-01T02:00:00+02:00",
                ));
            }
            (StartOffset::Earliest | StartOffset::Latest, Some(_)) => {
                return Err(Problem::invalid(
                    key("start_timestamp"),
                    format!("is set, but start_offset is {}", self.start_offset.as_str()),
                    "set start_offset to timestamp, or remove start_timestamp",
                ));
            }
            _ => {}
        }
        if self.topic.is_empty() {
            return Err(Problem::invalid(key("topic"), "is empty", "set the Kafka topic to read"));
        }
        if let Err(e) = TopicSelector::parse(&self.topic) {
            let reason = e.to_string().lines().last().unwrap_or_default().trim().to_string();
            return Err(Problem::invalid(
                key("topic"),
                format!(
                    "is `{}`, a regular expression (it has characters topic names cannot have) that does not compile: {reason}",
                    self.topic
                ),
                "fix the pattern, e.g. `orders\\..*` for every topic whose name starts with `orders.`",
            ));
        }
        check_template(&key("table"), &self.table)?;
        if let Some(dead_letters) = &self.dead_letter_table {
            check_template(&key("dead_letter_table"), dead_letters)?;
        }
        self.lfs.validate(&key("lfs"))?;
        if let Some(path) = &self.event_time_field {
            if path.split('.').any(str::is_empty) {
                return Err(Problem::invalid(
                    key("event_time_field"),
                    format!("is `{path}`, which has an empty key"),
                    "write it as dot-separated keys of the JSON value, e.g. meta.created_at",
                ));
            }
            if self.schema.columns.iter().any(|c| c.name == EVENT_TIME_COLUMN) {
                return Err(Problem::invalid(
                    key("event_time_field"),
                    format!("is set, and schema.columns has a column named `{EVENT_TIME_COLUMN}` too"),
                    "rename that column, or list the field only once",
                ));
            }
        }
        for (position, field) in self.partition_by.iter().enumerate() {
            if let Some(earlier) = self.partition_by[..position].iter().position(|f| f.name() == field.name()) {
                return Err(Problem::invalid(
                    key(&format!("partition_by[{position}]")),
                    format!("is `{field}`, which partition_by[{earlier}] already is"),
                    "remove one of the two",
                ));
            }
        }
        if self.dead_letter_table.as_ref() == Some(&self.table) {
            return Err(Problem::invalid(
                key("dead_letter_table"),
                format!("is `{}`, the table the rows go to", self.table),
                "name another table, or remove the key for the default `<table>_dlq`",
            ));
        }
        if self.format.is_confluent() {
            let format = self.format;
            if !self.schema.columns.is_empty() {
                return Err(Problem::invalid(
                    key("schema.columns"),
                    format!(
                        "are listed, but format is {format}, which takes the columns from schema.confluent_registry"
                    ),
                    "remove the columns, or set format to json",
                ));
            }
            if self.schema.source == ColumnSource::Registry {
                return Err(Problem::invalid(
                    key("schema.source"),
                    format!(
                        "is registry (schema.registry's JSON Schemas), but format is {format}, whose schemas are in schema.confluent_registry"
                    ),
                    "remove schema.source, or set format to json",
                ));
            }
            if self.event_time_field.is_some() {
                return Err(Problem::invalid(
                    key("event_time_field"),
                    format!("is set, which format {format} does not support yet"),
                    "remove it (partition by day(record_time) instead), or set format to json",
                ));
            }
        }
        if self.schema.source == ColumnSource::Registry && !self.schema.columns.is_empty() {
            return Err(Problem::invalid(
                key("schema.columns"),
                "are listed, but schema.source is registry, which takes the columns from the registry",
                "remove the columns, or set schema.source to mapping",
            ));
        }
        for (position, column) in self.schema.columns.iter().enumerate() {
            let column_key = |field: &str| key(&format!("schema.columns[{position}].{field}"));
            if column.name.is_empty() {
                return Err(Problem::invalid(column_key("name"), "is empty", "name the column"));
            }
            let earlier = self.schema.columns[..position].iter().position(|other| other.name == column.name);
            if let Some(earlier) = earlier {
                return Err(Problem::invalid(
                    column_key("name"),
                    format!("repeats column `{}`, already defined by schema.columns[{earlier}]", column.name),
                    "rename or remove one of the two",
                ));
            }
            if let Some(path) = &column.path
                && path.split('.').any(str::is_empty)
            {
                return Err(Problem::invalid(
                    column_key("path"),
                    format!("is `{path}`, which has an empty key"),
                    "write it as dot-separated keys, e.g. customer.id",
                ));
            }
        }
        Ok(())
    }
}

//! Loading mapped tables: at start for the mappings that name their topic,
//! and while running for the topics a mapping's pattern matches.

use std::sync::Arc;
use std::time::Duration;

use arrow_schema::SchemaRef as ArrowSchemaRef;
use floe_config::{Column, TableName, ValidationMode};
use floe_registry::RegistryClient;
use floe_registry::confluent::ConfluentRegistry;
use floe_table::partitioning::describe as describe_spec;
use floe_table::{MappedColumn, RowBuilder, SourceColumn, dead_letter_schema, partition_spec, table_schema};
use iceberg::spec::{PartitionSpec, Schema};
use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::catalog::{add_missing_columns, load_or_create_table};
use crate::commit::OffsetMap;
use crate::models::{Event, LoadedDeadLetters, LoadedTable, Sourced};
use crate::schema_source::{self, Refresh, SchemaSource};
use crate::settings::TableMapping;
use crate::tail::TailTable;

/// Why a mapped table could not be loaded: a start error, or a topic a
/// pattern matched left unfollowed.
#[derive(Debug, thiserror::Error)]
#[error("table {table}: {message}")]
pub struct LoadError {
    pub table: String,
    pub message: String,
}

/// What loading a table needs, shared by the start and the control loop.
#[derive(Clone)]
pub struct TableLoader {
    pub catalog: Arc<dyn Catalog>,
    /// The JSON Schema registry (`schema.registry`), when configured.
    pub registry: Option<Arc<RegistryClient>>,
    /// The Confluent registry (`schema.confluent_registry`), when configured.
    pub confluent_registry: Option<Arc<ConfluentRegistry>>,
    /// Where tables' schema refreshes report.
    pub events: mpsc::Sender<Event>,
    pub refresh_period: Duration,
    /// Ends the schema refreshes.
    pub stop: CancellationToken,
}

impl TableLoader {
    /// Loads (or creates) the mapping's tables; a table whose columns come
    /// from a registry has them fetched again every `cache_seconds` from now on.
    pub async fn load(&self, mapping: &TableMapping) -> Result<LoadedTable, LoadError> {
        let topic = mapping.topic.clone();
        let source = match (&self.registry, &self.confluent_registry) {
            (_, Some(registry)) if mapping.format.is_confluent() => {
                Some(SchemaSource::Confluent { registry: registry.clone(), topic, format: mapping.format })
            }
            (Some(registry), _) if mapping.registry_columns || mapping.validation != ValidationMode::Off => {
                Some(SchemaSource::JsonSchema {
                    registry: registry.clone(),
                    topic,
                    columns: mapping.registry_columns,
                    validate: mapping.validation != ValidationMode::Off,
                })
            }
            _ => None,
        };
        let loaded = load_table(self.catalog.as_ref(), mapping, source.as_ref()).await?;
        if let Some(source) = source {
            let refresh = Refresh { table: loaded.name.clone(), source, retry_soon: loaded.held.is_some() };
            tokio::spawn(schema_source::refresh(refresh, self.refresh_period, self.events.clone(), self.stop.clone()));
        }
        Ok(loaded)
    }
}

/// Loads (or creates) a mapping's table and, for a typed table, adds the
/// mapping's new columns and loads its dead-letter table. With a schema
/// source, the columns are the source's too; a source that cannot answer
/// holds the table (no leases) until it does, and the others go on.
async fn load_table(
    catalog: &dyn Catalog,
    mapping: &TableMapping,
    source: Option<&SchemaSource>,
) -> Result<LoadedTable, LoadError> {
    let name = mapping.table.to_string();
    let fetched = match source {
        Some(source) => Some(source.fetch().await),
        None => None,
    };
    // A source that cannot answer at start holds the table; it gets the
    // source's columns (and schema to validate against) when it answers.
    let (from_source, held) = match fetched {
        None => (None, None),
        Some(Ok(schema)) => (Some(schema), None),
        Some(Err(e)) => {
            tracing::warn!(table = %name, "{e}");
            (None, Some(e))
        }
    };
    let sourced = source.map(|_| Sourced { mapping: mapping.clone(), pending: None });
    let validation = mapping.validation_of(from_source.as_ref().and_then(|s| s.validation.clone()));
    let source_columns = from_source.map(|s| s.columns).unwrap_or_default();
    let columns: Vec<Column> = source_columns.into_iter().chain(mapping.columns.iter().cloned()).collect();
    let schema = table_schema(&columns, &mapping.optional_columns());
    let spec = partition_spec(&schema, &mapping.partition_by).map_err(|message| LoadError {
        table: name.clone(),
        message: match &held {
            Some(e) => format!("{message}; the columns come from the schema registry, which gave none: {e}"),
            None => message,
        },
    })?;
    let (table, offsets) = load_one(catalog, mapping, &mapping.table, schema, Some(spec)).await?;
    // A table the mapping no longer fits pauses alone, with the reason;
    // the others go on (a start error would crash-loop them all).
    let asked_by = if source.is_some() { "the registry schema" } else { "the mapping" };
    let (table, paused) = match fit_to_mapping(catalog, table.clone(), mapping, &columns, asked_by).await {
        Ok(table) => (table, None),
        Err(message) => {
            tracing::error!(table = %name, "paused: {message}");
            (table, Some(message))
        }
    };
    let mut dead_letters_schema = None;
    let dead_letters = match &mapping.dead_letter_table {
        None => None,
        Some(dead_name) => {
            let (table, offsets) = load_one(catalog, mapping, dead_name, dead_letter_schema(), None).await?;
            let arrow = arrow_schema_of(&table)
                .and_then(|arrow| RowBuilder::for_dead_letters(arrow.clone()).map(|_| arrow).map_err(|e| e.to_string()))
                .map_err(|message| LoadError { table: dead_name.to_string(), message })?;
            dead_letters_schema = Some(arrow);
            Some(LoadedDeadLetters { name: dead_name.to_string(), table, offsets })
        }
    };
    let tail = TailTable {
        schema: arrow_schema_of(&table).map_err(|message| LoadError { table: name.clone(), message })?,
        columns: columns.iter().map(MappedColumn::from).collect(),
        format: mapping.format,
        dead_letters: dead_letters_schema,
    };
    Ok(LoadedTable {
        name,
        mapping: mapping.index,
        topic: mapping.topic.clone(),
        format: mapping.format,
        table,
        offsets,
        columns,
        dead_letters,
        paused,
        sourced,
        held,
        validation,
        lfs: mapping.lfs_policy(),
        tail,
    })
}

/// Adds the table's new columns (`asked_by` says whose they are) to an
/// existing table and checks that workers can write it: same partitioning,
/// columns they can fill.
async fn fit_to_mapping(
    catalog: &dyn Catalog,
    table: Table,
    mapping: &TableMapping,
    columns: &[Column],
    asked_by: &str,
) -> Result<Table, String> {
    let wanted = with_optional_columns(mapping, columns);
    let table = add_missing_columns(catalog, table, &wanted, mapping.allow_type_widening, asked_by).await?;
    // iceberg-rust cannot change a table's partitioning: say so rather
    // than write with a spec other than the one asked for.
    let current = table.metadata().current_schema();
    let asked = partition_spec(current, &mapping.partition_by)?;
    let has = table.metadata().default_partition_spec();
    if !asked.is_compatible_with(has) {
        return Err(format!(
            "is partitioned by {} but the mapping's partition_by is {}; floe cannot change a table's \
             partitioning: make partition_by match, or change the table with an engine (e.g. Spark's \
             ALTER TABLE ... ADD/DROP PARTITION FIELD) and restart",
            describe_spec(has, current),
            describe_spec(&asked, current)
        ));
    }
    // Workers fill rows with the same builder: check now that they can.
    let mapped: Vec<MappedColumn> = columns.iter().map(MappedColumn::from).collect();
    RowBuilder::new(arrow_schema_of(&table)?, &mapped)
        .map(|rows| rows.with_format(mapping.format))
        .map_err(|e| e.to_string())?;
    Ok(table)
}

/// The columns a table has beyond the default ones: `columns`, and the
/// optional source columns (`record_time` when its partition spec uses it,
/// `lfs_*` when its LFS mode fills them).
pub(crate) fn with_optional_columns(mapping: &TableMapping, columns: &[Column]) -> Vec<Column> {
    let optional = mapping.optional_columns().into_iter().filter_map(SourceColumn::as_column);
    columns.iter().cloned().chain(optional).collect()
}

/// Loads or creates one table, with the offsets it records.
async fn load_one(
    catalog: &dyn Catalog,
    mapping: &TableMapping,
    name: &TableName,
    schema: Schema,
    spec: Option<PartitionSpec>,
) -> Result<(Table, OffsetMap), LoadError> {
    let table_error = |message: String| LoadError { table: name.to_string(), message };
    let ident =
        TableIdent::from_strs(name.namespace.iter().chain([&name.name])).map_err(|e| table_error(e.to_string()))?;
    let table = load_or_create_table(catalog, &ident, &schema, spec, mapping.create_if_missing).await.map_err(|e| {
        match e.kind() {
            iceberg::ErrorKind::TableNotFound | iceberg::ErrorKind::NamespaceNotFound => table_error(format!(
                "does not exist and `create_table_if_missing` is false for topic `{}`: create it or set the flag",
                mapping.topic
            )),
            _ => table_error(e.to_string()),
        }
    })?;
    let offsets = OffsetMap::committed(table.metadata()).map_err(|e| table_error(e.to_string()))?;
    Ok((table, offsets))
}

fn arrow_schema_of(table: &Table) -> Result<ArrowSchemaRef, String> {
    let arrow = iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema()).map_err(|e| e.to_string())?;
    Ok(Arc::new(arrow))
}

//! Mappings whose record values are in the Confluent wire format: their
//! columns come from the topic's schema in the registry.

use floe_config::Column;
use floe_registry::confluent::{ConfluentRegistry, SchemaError};

#[derive(Debug, thiserror::Error)]
pub enum ColumnsError {
    #[error("{0}")]
    Registry(#[from] SchemaError),
    #[error("subject `{subject}` (schema id {id}): {source}")]
    Schema { subject: String, id: u32, source: floe_table::avro::AvroColumnsError },
}

/// The subject of a topic's value schemas (Confluent's default
/// TopicNameStrategy).
fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// The current columns of a mapping from the Confluent registry: the
/// fields of the latest version of its topic's value subject.
pub async fn current_columns(registry: &ConfluentRegistry, topic: &str) -> Result<Vec<Column>, ColumnsError> {
    let subject = value_subject(topic);
    let (id, schema) = registry.latest_avro_schema(&subject).await?;
    floe_table::avro::columns(&schema).map_err(|source| ColumnsError::Schema { subject, id, source })
}

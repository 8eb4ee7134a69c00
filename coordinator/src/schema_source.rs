//! Where a table's typed columns come from when the mapping does not list
//! them: a JSON Schema registry (`schema.source: registry`), or the
//! Confluent registry of a mapping whose values are in its wire format.
//!
//! A source is fetched at start and again every `cache_seconds` by one
//! refresh task per table; each result goes to the control loop, which adds
//! new columns, ships the new definition to workers, or holds the table
//! while the source cannot answer. A source that cannot be reached is an
//! outage: retried with backoff, the table waits, nothing is dropped.

use std::sync::Arc;
use std::time::Duration;

use floe_config::PayloadFormat;
use floe_registry::confluent::ConfluentRegistry;
use floe_registry::{Caching, RegistryClient, RegistryError};
use floe_table::confluent::RegisteredSchema;
use floe_table::{RecordValidator, columns_from_json_schema};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::models::{Event, FetchError, FetchedSchema};

/// First retry after an outage, doubled up to the refresh period.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Refreshes never come closer than this, whatever `cache_seconds` says.
const MIN_PERIOD: Duration = Duration::from_secs(1);

/// A schema source.
#[derive(Clone)]
pub enum SchemaSource {
    /// The seed's registry: a JSON Schema at `{base_url}/{topic}.json`, for
    /// the table's columns, to validate values (`schema.mode`), or both.
    JsonSchema { registry: Arc<RegistryClient>, topic: String, columns: bool, validate: bool },
    /// A Confluent registry: the latest version of the subject
    /// `<topic>-value` (Confluent's default TopicNameStrategy), an Avro,
    /// JSON or Protobuf schema as `format` says. Records are decoded with
    /// their own writer schemas; this gives the columns.
    Confluent { registry: Arc<ConfluentRegistry>, topic: String, format: PayloadFormat },
}

impl SchemaSource {
    /// The schema as the source has it now.
    pub async fn fetch(&self) -> Result<FetchedSchema, FetchError> {
        match self {
            SchemaSource::JsonSchema { registry, topic, columns, validate } => {
                let path = format!("/{topic}.json");
                let url = format!("{}{path}", registry.base_url());
                let document = registry.get(&path, Caching::Expiring).await.map_err(|e| match e {
                    e if e.is_outage() => FetchError::Outage(e.to_string()),
                    RegistryError::Rejected { status: 404, .. } => FetchError::Unusable(format!(
                        "the schema registry has no schema for topic `{topic}` (GET {url}: HTTP 404): publish it \
                         there, or set the mapping's schema.source to mapping"
                    )),
                    e => FetchError::Unusable(format!("schema of topic `{topic}`: {e}")),
                })?;
                let unusable = |message: String| {
                    FetchError::Unusable(format!("schema of topic `{topic}` at {url}: {message}; fix the schema"))
                };
                let parsed: serde_json::Value =
                    serde_json::from_str(&document).map_err(|e| unusable(format!("not JSON: {e}")))?;
                let validation = match validate {
                    true => {
                        // Compiled here too, so a schema no worker could
                        // use holds the table instead of failing each partition.
                        RecordValidator::compile(&document).map_err(|e| unusable(e.to_string()))?;
                        Some(document.to_string())
                    }
                    false => None,
                };
                let columns = match columns {
                    true => columns_from_json_schema(&parsed).map_err(|e| unusable(e.to_string()))?,
                    false => Vec::new(),
                };
                Ok(FetchedSchema { columns, validation })
            }
            SchemaSource::Confluent { registry, topic, format } => {
                let subject = format!("{topic}-value");
                let (id, schema) = registry.latest_schema(&subject).await.map_err(|e| match e {
                    e if e.is_outage() => FetchError::Outage(e.to_string()),
                    e => FetchError::Unusable(format!(
                        "subject `{subject}` of topic `{topic}`: {e}; register the topic's value schema there"
                    )),
                })?;
                let unusable = |e: String| {
                    FetchError::Unusable(format!("subject `{subject}` (schema id {id}) of topic `{topic}`: {e}"))
                };
                let columns = match (format, &schema) {
                    (PayloadFormat::Avro, RegisteredSchema::Avro(avro)) => {
                        floe_table::avro::columns(avro).map_err(|e| unusable(e.to_string()))?
                    }
                    (PayloadFormat::JsonSchema, RegisteredSchema::Json(document)) => {
                        columns_from_json_schema(document).map_err(|e| unusable(e.to_string()))?
                    }
                    (PayloadFormat::Protobuf, RegisteredSchema::Protobuf(file)) => {
                        floe_table::protobuf::columns(file).map_err(|e| unusable(e.to_string()))?
                    }
                    (format, schema) => {
                        return Err(unusable(format!(
                            "is {}, but the mapping's format is {format}: set the format the topic's producers use",
                            schema.describe()
                        )));
                    }
                };
                Ok(FetchedSchema { columns, validation: None })
            }
        }
    }
}

/// One table's source, as the refresh task fetches it.
pub struct Refresh {
    pub table: String,
    pub source: SchemaSource,
    /// The fetch at start failed: try again soon rather than a period later.
    pub retry_soon: bool,
}

/// Fetches a table's schema every `period` (sooner after a failure, with
/// backoff) and hands each result to the control loop, until `stop`.
pub async fn refresh(refresh: Refresh, period: Duration, events: mpsc::Sender<Event>, stop: CancellationToken) {
    let period = period.max(MIN_PERIOD);
    let mut backoff = FIRST_RETRY;
    let mut wait = if refresh.retry_soon { FIRST_RETRY } else { period };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let result = refresh.source.fetch().await;
        if result.is_ok() {
            (wait, backoff) = (period, FIRST_RETRY);
        } else {
            (wait, backoff) = (backoff, (backoff * 2).min(period));
        }
        let event = Event::SchemaFetched { table: refresh.table.clone(), result };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

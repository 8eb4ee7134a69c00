//! A Confluent-compatible schema registry: the writer schemas of records in
//! the Confluent wire format, by id (`GET /schemas/ids/{id}`), and a
//! subject's latest version (`GET /subjects/{subject}/versions/latest`).
//! Schemas are parsed once per id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apache_avro::Schema;
use floe_proto::worker::ConfluentRegistrySpec;
use serde::Deserialize;

use crate::{Caching, RegistryClient, RegistryError};

/// Why a schema could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The registry answered, with something floe cannot use.
    #[error("{what}: {message}")]
    Unusable { what: String, message: String },
}

impl SchemaError {
    /// True when asking again later may succeed: never a reason to give up
    /// on a record.
    pub fn is_outage(&self) -> bool {
        matches!(self, SchemaError::Registry(e) if e.is_outage())
    }
}

/// The registry's answer for a schema id or a subject's version.
#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
    /// Absent for Avro.
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    /// Present in a subject's version.
    #[serde(default)]
    id: Option<u32>,
}

pub struct ConfluentRegistry {
    client: RegistryClient,
    avro: Mutex<HashMap<u32, Arc<Schema>>>,
    /// Ids the registry does not have (or not as Avro), with the reason: a
    /// schema id names one schema for good, so the answer is final.
    unknown: Mutex<HashMap<u32, String>>,
}

impl ConfluentRegistry {
    pub fn new(client: RegistryClient) -> Self {
        Self { client, avro: Mutex::new(HashMap::new()), unknown: Mutex::new(HashMap::new()) }
    }

    /// The registry a coordinator describes to its workers.
    pub fn from_spec(spec: &ConfluentRegistrySpec) -> Result<Self, RegistryError> {
        let timeout = Duration::from_millis(spec.timeout_ms.into());
        let mut client = RegistryClient::new(&spec.url, timeout, Duration::from_millis(spec.cache_ms.into()))?;
        if !spec.username.is_empty() {
            client = client.with_basic_auth(&spec.username, &spec.password);
        }
        Ok(Self::new(client))
    }

    /// For decoding a record written with schema `id`: its Avro schema, or
    /// (inside) why records naming it cannot be decoded, which makes them
    /// dead letters. The outer error is the registry's: an outage, or an
    /// answer such as 401 that retrying the record cannot change.
    pub async fn writer_schema(&self, id: u32) -> Result<Result<Arc<Schema>, String>, SchemaError> {
        if let Some(reason) = self.unknown.lock().unwrap().get(&id) {
            return Ok(Err(reason.clone()));
        }
        let reason = match self.avro_schema(id).await {
            Ok(schema) => return Ok(Ok(schema)),
            Err(SchemaError::Registry(RegistryError::Rejected { status: 404, .. })) => {
                format!("schema id {id} is not in the registry at {}", self.client.base_url())
            }
            Err(e @ SchemaError::Unusable { .. }) => e.to_string(),
            Err(e) => return Err(e),
        };
        self.unknown.lock().unwrap().insert(id, reason.clone());
        Ok(Err(reason))
    }

    /// The Avro writer schema of id `id`.
    pub async fn avro_schema(&self, id: u32) -> Result<Arc<Schema>, SchemaError> {
        if let Some(schema) = self.avro.lock().unwrap().get(&id) {
            return Ok(schema.clone());
        }
        let what = format!("schema id {id} in the registry at {}", self.client.base_url());
        let body = self.client.get(&format!("/schemas/ids/{id}"), Caching::Immutable).await?;
        let schema = Arc::new(parse_avro(&what, &body)?.1);
        self.avro.lock().unwrap().insert(id, schema.clone());
        Ok(schema)
    }

    /// The latest version of `subject` (e.g. `orders-value`): its schema id
    /// and its Avro schema. Reused for the client's cache time.
    pub async fn latest_avro_schema(&self, subject: &str) -> Result<(u32, Arc<Schema>), SchemaError> {
        let what = format!("the latest version of subject `{subject}` in the registry at {}", self.client.base_url());
        let body = self.client.get(&format!("/subjects/{subject}/versions/latest"), Caching::Expiring).await?;
        let (id, schema) = parse_avro(&what, &body)?;
        let id = id.ok_or_else(|| SchemaError::Unusable { what, message: "the answer has no `id`".to_string() })?;
        let schema = Arc::new(schema);
        self.avro.lock().unwrap().entry(id).or_insert_with(|| schema.clone());
        Ok((id, schema))
    }
}

fn parse_avro(what: &str, body: &str) -> Result<(Option<u32>, Schema), SchemaError> {
    let unusable = |message: String| SchemaError::Unusable { what: what.to_string(), message };
    let answer: SchemaAnswer =
        serde_json::from_str(body).map_err(|e| unusable(format!("not a registry answer ({e}): {body}")))?;
    match answer.schema_type.as_deref() {
        None | Some("AVRO") => {}
        Some(other) => return Err(unusable(format!("is a {other} schema, not an Avro one"))),
    }
    let schema = Schema::parse_str(&answer.schema).map_err(|e| unusable(format!("not a valid Avro schema: {e}")))?;
    Ok((answer.id, schema))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use floe_tests::http_files::HttpFiles;

    use super::*;

    fn registry(server: &HttpFiles) -> ConfluentRegistry {
        ConfluentRegistry::new(RegistryClient::new(server.base_url(), Duration::from_secs(2), Duration::ZERO).unwrap())
    }

    fn write(dir: &std::path::Path, path: &str, body: &str) {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    }

    #[tokio::test]
    async fn parses_each_id_once_and_reads_the_latest_version() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "schemas/ids/1", r#"{"schema": "\"long\""}"#);
        write(
            dir.path(),
            "subjects/orders-value/versions/latest",
            r#"{"subject": "orders-value", "version": 3, "id": 1, "schema": "\"long\"", "schemaType": "AVRO"}"#,
        );
        let server = HttpFiles::serve(dir.path());
        let registry = registry(&server);
        for _ in 0..2 {
            assert_eq!(*registry.avro_schema(1).await.unwrap(), Schema::Long);
        }
        assert_eq!(server.requests("/schemas/ids/1"), 1);
        let (id, schema) = registry.latest_avro_schema("orders-value").await.unwrap();
        assert_eq!((id, &*schema), (1, &Schema::Long));
    }

    #[tokio::test]
    async fn says_what_is_wrong_with_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "schemas/ids/2", r#"{"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}"#);
        write(dir.path(), "schemas/ids/3", r#"{"schema": "{\"type\": \"nope\"}"}"#);
        let server = HttpFiles::serve(dir.path());
        let registry = registry(&server);
        let base = server.base_url();

        let protobuf = registry.avro_schema(2).await.unwrap_err();
        assert_eq!(
            protobuf.to_string(),
            format!("schema id 2 in the registry at {base}: is a PROTOBUF schema, not an Avro one")
        );
        let invalid = registry.avro_schema(3).await.unwrap_err().to_string();
        assert!(
            invalid.starts_with(&format!("schema id 3 in the registry at {base}: not a valid Avro schema")),
            "{invalid}"
        );
        let missing = registry.avro_schema(4).await.unwrap_err();
        assert!(!missing.is_outage());
        assert!(matches!(missing, SchemaError::Registry(RegistryError::Rejected { status: 404, .. })), "{missing}");

        server.set_down(true);
        assert!(registry.avro_schema(5).await.unwrap_err().is_outage());
    }
}

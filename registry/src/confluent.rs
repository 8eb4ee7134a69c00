//! A Confluent-compatible schema registry: the writer schemas of records in
//! the Confluent wire format, by id (`GET /schemas/ids/{id}`), and a
//! subject's latest version (`GET /subjects/{subject}/versions/latest`).
//! Schemas are parsed once per id, Avro and JSON Schema alike.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use floe_proto::worker::ConfluentRegistrySpec;
use floe_table::confluent::RegisteredSchema;
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
    /// Other subjects' schemas this one imports (Protobuf imports).
    #[serde(default)]
    references: Vec<Reference>,
}

/// A schema's reference: the file `name` is version `version` of `subject`.
#[derive(Deserialize)]
struct Reference {
    name: String,
    subject: String,
    version: u32,
}

/// References followed before a schema is deemed to import itself.
const MAX_REFERENCES: usize = 64;

pub struct ConfluentRegistry {
    client: RegistryClient,
    schemas: Mutex<HashMap<u32, RegisteredSchema>>,
    /// Ids the registry does not have (or not in a type floe reads), with
    /// the reason: a schema id names one schema for good, so the answer is
    /// final.
    unknown: Mutex<HashMap<u32, String>>,
}

impl ConfluentRegistry {
    pub fn new(client: RegistryClient) -> Self {
        Self { client, schemas: Mutex::new(HashMap::new()), unknown: Mutex::new(HashMap::new()) }
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

    /// For decoding a record written with schema `id`: its schema, or
    /// (inside) why records naming it cannot be decoded, which makes them
    /// dead letters. The outer error is the registry's: an outage, or an
    /// answer such as 401 that retrying the record cannot change.
    pub async fn writer_schema(&self, id: u32) -> Result<Result<RegisteredSchema, String>, SchemaError> {
        if let Some(reason) = self.unknown.lock().unwrap().get(&id) {
            return Ok(Err(reason.clone()));
        }
        let reason = match self.schema(id).await {
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

    /// The schema of id `id`.
    pub async fn schema(&self, id: u32) -> Result<RegisteredSchema, SchemaError> {
        if let Some(schema) = self.schemas.lock().unwrap().get(&id) {
            return Ok(schema.clone());
        }
        let what = format!("schema id {id} in the registry at {}", self.client.base_url());
        let body = self.client.get(&format!("/schemas/ids/{id}"), Caching::Immutable).await?;
        let schema = self.parse(&what, &body).await?.1;
        self.schemas.lock().unwrap().insert(id, schema.clone());
        Ok(schema)
    }

    /// The latest version of `subject` (e.g. `orders-value`): its schema id
    /// and its schema. Reused for the client's cache time.
    pub async fn latest_schema(&self, subject: &str) -> Result<(u32, RegisteredSchema), SchemaError> {
        let what = format!("the latest version of subject `{subject}` in the registry at {}", self.client.base_url());
        let body = self.client.get(&format!("/subjects/{subject}/versions/latest"), Caching::Expiring).await?;
        let (id, schema) = self.parse(&what, &body).await?;
        let id = id.ok_or_else(|| SchemaError::Unusable { what, message: "the answer has no `id`".to_string() })?;
        self.schemas.lock().unwrap().entry(id).or_insert_with(|| schema.clone());
        Ok((id, schema))
    }

    /// A registry answer's schema, with the files it references fetched.
    async fn parse(&self, what: &str, body: &str) -> Result<(Option<u32>, RegisteredSchema), SchemaError> {
        let answer = parse_answer(what, body)?;
        let imports = self.imports(what, answer.references).await?;
        let schema = RegisteredSchema::parse(answer.schema_type.as_deref(), &answer.schema, &imports)
            .map_err(|message| SchemaError::Unusable { what: what.to_string(), message })?;
        Ok((answer.id, schema))
    }

    /// The text of every file `references` names, and of those they
    /// reference in turn, by file name.
    async fn imports(&self, what: &str, references: Vec<Reference>) -> Result<Vec<(String, String)>, SchemaError> {
        let mut pending = references;
        let mut files: Vec<(String, String)> = Vec::new();
        while let Some(reference) = pending.pop() {
            if files.iter().any(|(name, _)| *name == reference.name) {
                continue;
            }
            if files.len() >= MAX_REFERENCES {
                let message = format!("references more than {MAX_REFERENCES} schemas");
                return Err(SchemaError::Unusable { what: what.to_string(), message });
            }
            let Reference { name, subject, version } = reference;
            let path = format!("/subjects/{subject}/versions/{version}");
            // A subject's numbered version never changes.
            let body = self.client.get(&path, Caching::Immutable).await?;
            let referenced = format!("{what}: reference `{name}` (version {version} of subject `{subject}`)");
            let answer = parse_answer(&referenced, &body)?;
            pending.extend(answer.references);
            files.push((name, answer.schema));
        }
        Ok(files)
    }
}

fn parse_answer(what: &str, body: &str) -> Result<SchemaAnswer, SchemaError> {
    serde_json::from_str(body).map_err(|e| SchemaError::Unusable {
        what: what.to_string(),
        message: format!("not a registry answer ({e}): {body}"),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use apache_avro::Schema;
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
        let is_long = |schema: &RegisteredSchema| matches!(schema, RegisteredSchema::Avro(s) if **s == Schema::Long);
        for _ in 0..2 {
            assert!(is_long(&registry.schema(1).await.unwrap()));
        }
        assert_eq!(server.requests("/schemas/ids/1"), 1);
        let (id, schema) = registry.latest_schema("orders-value").await.unwrap();
        assert_eq!(id, 1);
        assert!(is_long(&schema));
    }

    #[tokio::test]
    async fn fetches_the_files_a_protobuf_schema_imports() {
        let dir = tempfile::tempdir().unwrap();
        let order = r#"syntax = "proto3"; import "money.proto"; message Order { Money total = 1; }"#;
        let money =
            r#"syntax = "proto3"; import "currency.proto"; message Money { int64 cents = 1; Currency currency = 2; }"#;
        let currency = r#"syntax = "proto3"; enum Currency { EUR = 0; USD = 1; }"#;
        let answer = |schema: &str, references: serde_json::Value| {
            serde_json::json!({"schema": schema, "schemaType": "PROTOBUF", "references": references}).to_string()
        };
        let reference =
            |name: &str, subject: &str| serde_json::json!([{"name": name, "subject": subject, "version": 1}]);
        write(dir.path(), "schemas/ids/7", &answer(order, reference("money.proto", "money")));
        write(dir.path(), "subjects/money/versions/1", &answer(money, reference("currency.proto", "currency")));
        write(dir.path(), "subjects/currency/versions/1", &answer(currency, serde_json::json!([])));
        let server = HttpFiles::serve(dir.path());
        let registry = registry(&server);
        let RegisteredSchema::Protobuf(file) = registry.schema(7).await.unwrap() else { panic!("a Protobuf schema") };
        let order = file.messages().next().unwrap();
        let money = order.get_field_by_name("total").unwrap();
        assert_eq!(money.kind().as_message().unwrap().full_name(), "Money");

        write(dir.path(), "schemas/ids/8", &answer(order.name(), reference("gone.proto", "gone")));
        let missing = registry.schema(8).await.unwrap_err();
        assert!(matches!(missing, SchemaError::Registry(RegistryError::Rejected { status: 404, .. })), "{missing}");
    }

    #[tokio::test]
    async fn says_what_is_wrong_with_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "schemas/ids/2", r#"{"schema": "<schema/>", "schemaType": "XML"}"#);
        write(dir.path(), "schemas/ids/3", r#"{"schema": "{\"type\": \"nope\"}"}"#);
        let server = HttpFiles::serve(dir.path());
        let registry = registry(&server);
        let base = server.base_url();

        let protobuf = registry.schema(2).await.unwrap_err();
        assert_eq!(
            protobuf.to_string(),
            format!(
                "schema id 2 in the registry at {base}: is a XML schema, which floe does not read (it reads AVRO, JSON and PROTOBUF)"
            )
        );
        let invalid = registry.schema(3).await.unwrap_err().to_string();
        assert!(
            invalid.starts_with(&format!("schema id 3 in the registry at {base}: not a valid Avro schema")),
            "{invalid}"
        );
        let missing = registry.schema(4).await.unwrap_err();
        assert!(!missing.is_outage());
        assert!(matches!(missing, SchemaError::Registry(RegistryError::Rejected { status: 404, .. })), "{missing}");

        server.set_down(true);
        assert!(registry.schema(5).await.unwrap_err().is_outage());
    }
}

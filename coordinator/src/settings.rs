//! What the coordinator needs from the config file, checked for what this
//! build supports, with errors that name the key to change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use floe_config::{CatalogType, Config, OffsetsBackend, S3Endpoint, StateStore as StoreChoice, TableName};
use floe_proto::worker::{SourceSpec, WriterSpec};

use crate::catalog::{CatalogKind, CatalogSettings};

/// Where coordinator state lives.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// Tables beside the SQL catalog's, in the same database.
    Sql { uri: String },
    /// In this process only.
    Memory,
}

/// One topic feeding one table.
#[derive(Debug, Clone)]
pub struct TableMapping {
    pub topic: String,
    pub table: TableName,
    pub create_if_missing: bool,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub source: SourceSpec,
    pub writer: WriterSpec,
    pub catalog: CatalogSettings,
    pub store: StoreSettings,
    pub mappings: Vec<TableMapping>,
    pub poll_interval: Duration,
    pub commit_interval: Duration,
    pub max_staged_bytes: u64,
    pub orphan_grace: Duration,
    pub lease_ttl: Duration,
    pub heartbeat: Duration,
    pub listen: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
#[error("config `{key}`: {message}")]
pub struct SettingsError {
    pub key: String,
    pub message: String,
}

fn unsupported(key: &str, message: impl Into<String>) -> SettingsError {
    SettingsError { key: key.to_string(), message: message.into() }
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, SettingsError> {
        let s3 = &config.s3;
        let endpoint = match &s3.endpoint {
            S3Endpoint::LocalDirectory(dir) => format!("file://{}", dir.display()),
            _ => {
                return Err(unsupported(
                    "s3.endpoint",
                    "this build reads segments from a local directory only: set `s3.endpoint: file:///DIR`",
                ));
            }
        };
        let source = SourceSpec {
            endpoint,
            bucket: s3.bucket.clone(),
            region: s3.region.clone(),
            path_style: s3.path_style,
            prefix: s3.prefix(),
            read_bucket: s3.read_bucket.clone(),
            read_region: s3.read_region.clone(),
            read_endpoint: s3.read_endpoint.clone().unwrap_or_default(),
        };
        let catalog = &config.iceberg.catalog;
        if catalog.kind != CatalogType::Sql {
            return Err(unsupported(
                "iceberg.catalog.type",
                format!("`{}` catalogs are not supported by this build: use `sql`", catalog.kind),
            ));
        }
        let catalog_settings = CatalogSettings {
            kind: CatalogKind::Sql { uri: catalog.uri.clone() },
            name: catalog.name.clone(),
            warehouse: config.iceberg.warehouse.clone(),
            file_io_props: HashMap::new(),
        };
        let store = match OffsetsBackend::resolve(config) {
            StoreChoice::Sql => StoreSettings::Sql { uri: catalog.uri.clone() },
            StoreChoice::Memory => StoreSettings::Memory,
            StoreChoice::Etcd => {
                return Err(unsupported(
                    "offsets.backend",
                    "etcd is not supported by this build: remove `etcd.endpoints` or set `offsets.backend: sql`",
                ));
            }
        };
        let mut mappings: Vec<TableMapping> = Vec::new();
        for (i, mapping) in config.mappings.iter().enumerate() {
            if let Some(other) = mappings.iter().find(|m| m.topic == mapping.topic) {
                return Err(unsupported(
                    &format!("mappings[{i}].topic"),
                    format!(
                        "topic `{}` already feeds table `{}`; one topic feeding several tables is not supported by this build",
                        mapping.topic, other.table
                    ),
                ));
            }
            if !mapping.schema.columns.is_empty() {
                return Err(unsupported(
                    &format!("mappings[{i}].schema.columns"),
                    "typed columns are not supported by this build: remove `schema.columns` to store records as they are",
                ));
            }
            mappings.push(TableMapping {
                topic: mapping.topic.clone(),
                table: mapping.table.clone(),
                create_if_missing: mapping.create_table_if_missing,
            });
        }
        let writer = WriterSpec {
            target_file_size_bytes: config.writer.target_file_size_bytes,
            row_group_bytes: config.writer.row_group_bytes,
            compression: config.writer.compression.as_str().to_string(),
            compression_level: config.writer.compression_level,
            fetch_concurrency: config.worker.fetch_concurrency as u32,
            max_pending_txn_bytes: config.worker.max_pending_txn_bytes,
            memory_limit_bytes: config.worker.memory_limit_bytes,
        };
        Ok(Settings {
            source,
            writer,
            catalog: catalog_settings,
            store,
            mappings,
            poll_interval: config.discovery.poll_interval,
            commit_interval: config.commit.interval,
            max_staged_bytes: config.commit.max_staged_bytes,
            orphan_grace: config.commit.orphan_grace,
            lease_ttl: config.offsets.lease_ttl,
            heartbeat: config.coordinator.worker_heartbeat,
            listen: config.coordinator.listen,
        })
    }
}

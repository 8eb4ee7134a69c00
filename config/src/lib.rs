//! floe's configuration: one YAML file, read by the coordinator.
//!
//! It accepts the KafScale iceberg-processor's config unchanged and extends
//! it. Every option but the bucket, the catalog, the warehouse and the
//! mappings has a default; unknown keys are errors, and every error names
//! the file, the key and what to change.

mod admin;
mod catalog;
mod column_type;
mod commit;
mod confluent;
mod coordinator;
mod discovery;
mod env;
mod error;
mod etcd;
mod keyword;
mod lfs;
mod load;
mod mapping;
mod metrics;
mod offsets;
mod partition;
mod routing;
mod schema;
mod secret;
mod source;
mod table_name;
mod tls;
mod validate;
mod value;
mod worker;
mod writer;

pub use admin::AdminConfig;
pub use catalog::{CatalogConfig, CatalogType, IcebergConfig, WarehouseS3Config};
pub use column_type::{ColumnType, InvalidColumnType, MAX_DECIMAL_PRECISION};
pub use commit::CommitConfig;
pub use confluent::ConfluentRegistryConfig;
pub use coordinator::CoordinatorConfig;
pub use discovery::{DiscoveryConfig, DiscoveryMode};
pub use error::{ConfigError, Location, Problem};
pub use etcd::EtcdConfig;
pub use lfs::{LfsConfig, LfsLocation, LfsMode, LfsService};
pub use load::{load_mappings, mappings_from_yaml_str};
pub use mapping::{
    Column, ColumnSource, EVENT_TIME_COLUMN, Mapping, MappingSchema, PayloadFormat, StartOffset, StartPosition,
    WriteMode,
};
pub use metrics::{MetricsAddress, MetricsConfig};
pub use offsets::{OffsetsBackend, OffsetsConfig, StateStore};
pub use partition::{InvalidPartitionField, PartitionField, PartitionTransform};
pub use routing::{TOPIC_PLACEHOLDER, TopicSelector, topic_identifier};
pub use schema::{RegistryConfig, SchemaConfig, ValidationMode};
pub use secret::Secret;
pub use source::{ReadReplica, S3Config, S3Endpoint, SourceLocation};
pub use table_name::{InvalidTableName, TableName};
pub use tls::TlsFiles;
pub use worker::WorkerConfig;
pub use writer::{Compression, WriterConfig};

/// A loaded and validated config file. Built by [`Config::load`] or
/// [`Config::from_yaml_str`]; field names follow the YAML sections.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The segment source.
    pub s3: S3Config,
    pub iceberg: IcebergConfig,
    pub offsets: OffsetsConfig,
    pub discovery: DiscoveryConfig,
    pub etcd: EtcdConfig,
    pub schema: SchemaConfig,
    pub mappings: Vec<Mapping>,
    pub commit: CommitConfig,
    pub writer: WriterConfig,
    pub worker: WorkerConfig,
    pub coordinator: CoordinatorConfig,
    pub admin: AdminConfig,
    pub metrics: MetricsConfig,
    /// Where LFS blobs are fetched from; each mapping's `lfs` says what to
    /// do with envelopes.
    pub lfs: LfsService,
}

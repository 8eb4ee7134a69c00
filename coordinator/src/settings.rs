//! What the coordinator needs from the config file, checked for what this
//! build supports, with errors that name the key to change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use floe_config::{
    CatalogType, Column, ColumnSource, Config, DiscoveryMode, LfsConfig, LfsMode, Mapping, OffsetsBackend,
    PartitionField, PayloadFormat, ReadReplica, S3Endpoint, SourceLocation, StartPosition, StateStore as StoreChoice,
    TableName, TopicSelector, ValidationMode,
};
use floe_proto::worker::{ConfluentRegistrySpec, LfsPolicy, LfsService, SourceSpec, Validation, WriterSpec};
use floe_table::SourceColumn;

use crate::catalog::{CatalogKind, CatalogSettings};
use crate::etcd::{EtcdLayout, EtcdSettings};
use crate::tls::ServerTlsFiles;

/// Where coordinator state lives.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// Tables beside the SQL catalog's, in the same database.
    Sql { uri: String },
    /// In this process only.
    Memory,
    /// etcd, which also elects the leading coordinator.
    Etcd(EtcdSettings),
}

/// Where topic and partition lists come from (`discovery.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionSource {
    /// S3 listings.
    Listing,
    /// KafScale's metadata snapshot in etcd; with `strict`, only there,
    /// otherwise falling back to listings while it is missing or unreadable.
    Metadata { strict: bool },
}

/// One topic feeding one table (a topic feeds as many tables as mappings
/// name it).
#[derive(Debug, Clone)]
pub struct TableMapping {
    /// Its position in the config's `mappings`.
    pub index: usize,
    pub topic: String,
    pub table: TableName,
    pub create_if_missing: bool,
    /// How record values are encoded.
    pub format: PayloadFormat,
    /// Typed columns read from the record's value; none for records as
    /// they are. With a Confluent format, filled from the registry at start.
    pub columns: Vec<Column>,
    pub allow_type_widening: bool,
    /// Set for a typed table: where records that cannot become rows go.
    pub dead_letter_table: Option<TableName>,
    /// Where partitions never committed start.
    pub start: StartPosition,
    /// The partition spec of a table floe creates.
    pub partition_by: Vec<PartitionField>,
    /// The table has the `record_time` column (its spec uses it).
    pub record_time: bool,
    /// The typed columns come from the topic's schema in the registry
    /// (`schema.source: registry`), besides `columns`.
    pub registry_columns: bool,
    /// What workers do with LFS envelopes.
    pub lfs: LfsConfig,
    /// Values are checked against the topic's JSON Schema in the registry
    /// (`schema.mode`; off for payloads that are not plain JSON).
    pub validation: ValidationMode,
}

/// A mapping whose `topic` is a pattern: discovery finds the topics it
/// matches, and their tables are loaded as they appear.
#[derive(Debug, Clone)]
pub struct TopicRoute {
    /// A pattern.
    pub selector: TopicSelector,
    /// Its `topic` is the pattern, its tables may be templates.
    pub mapping: TableMapping,
}

impl TableMapping {
    /// This mapping for `topic`, its tables named for it.
    pub fn for_topic(&self, topic: &str) -> TableMapping {
        TableMapping {
            topic: topic.to_string(),
            table: self.table.for_topic(topic),
            dead_letter_table: self.dead_letter_table.as_ref().map(|t| t.for_topic(topic)),
            ..self.clone()
        }
    }

    /// The source columns this table has beyond the default ones.
    pub fn optional_columns(&self) -> Vec<SourceColumn> {
        let record_time = self.record_time.then_some(SourceColumn::RecordTime);
        let lfs = if self.lfs.mode.has_columns() { &SourceColumn::LFS[..] } else { &[] };
        record_time.into_iter().chain(lfs.iter().copied()).collect()
    }

    /// What workers check values against, given the topic's JSON Schema
    /// `document`; `None` when values are not checked.
    pub fn validation_of(&self, document: Option<String>) -> Option<Validation> {
        let strict = match self.validation {
            ValidationMode::Off => return None,
            ValidationMode::Lenient => false,
            ValidationMode::Strict => true,
        };
        document.map(|schema_json| Validation { strict, schema_json })
    }

    /// The LFS policy sent to workers with the table; `None` when off.
    pub fn lfs_policy(&self) -> Option<LfsPolicy> {
        (self.lfs.mode != LfsMode::Off).then(|| LfsPolicy {
            mode: self.lfs.mode.as_str().to_string(),
            max_inline_bytes: self.lfs.max_inline_bytes,
            max_blob_bytes: self.lfs.max_blob_bytes,
        })
    }
}

/// The schema registry (`schema.registry`).
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub base_url: String,
    pub timeout: Duration,
    /// How long a fetched schema is used before it is fetched again.
    pub cache: Duration,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub source: SourceSpec,
    pub writer: WriterSpec,
    /// The registry of wire-format tables, when the config has one.
    pub confluent_registry: Option<ConfluentRegistrySpec>,
    /// Where LFS blobs are fetched from, when some table fetches them.
    pub lfs: Option<LfsService>,
    pub catalog: CatalogSettings,
    pub store: StoreSettings,
    /// etcd, when configured: state store, leader election, metadata.
    pub etcd: Option<EtcdSettings>,
    pub partitions: PartitionSource,
    /// The mappings that name their topic.
    pub mappings: Vec<TableMapping>,
    /// The mappings whose topic is a pattern, in config order.
    pub routes: Vec<TopicRoute>,
    pub poll_interval: Duration,
    pub idle_poll_interval: Duration,
    pub commit_interval: Duration,
    pub max_staged_bytes: u64,
    pub orphan_grace: Duration,
    pub lease_ttl: Duration,
    pub heartbeat: Duration,
    pub listen: SocketAddr,
    /// TLS on the worker endpoint of `floe coordinator`.
    pub tls: Option<ServerTlsFiles>,
    pub admin: AdminSettings,
    /// Set when a registry is configured.
    pub registry: Option<RegistrySettings>,
}

/// The admin API's endpoint.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    /// Calls must carry it as a bearer token, when set.
    pub token: Option<String>,
    pub tls: Option<ServerTlsFiles>,
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

/// Refuses column names that would clash with the columns floe fills
/// itself (config validation checked that a registry is there when needed).
fn check_typed_columns(index: usize, mapping: &Mapping) -> Result<(), SettingsError> {
    for (position, column) in mapping.schema.columns.iter().enumerate() {
        if SourceColumn::from_name(&column.name).is_some() {
            return Err(unsupported(
                &format!("mappings[{index}].schema.columns[{position}].name"),
                format!(
                    "is `{}`, a column floe fills from the record itself: name the column differently \
                     (with `path: {}` to read the JSON field of that name)",
                    column.name, column.name
                ),
            ));
        }
    }
    Ok(())
}

/// FileIO properties for an `s3://` warehouse: where the service is and how
/// to address it. Credentials are never put here (they would travel to
/// workers with every table definition): each process takes them from its
/// own environment.
fn warehouse_file_io_props(config: &Config) -> HashMap<String, String> {
    let (source, warehouse) = (&config.s3, &config.iceberg.s3);
    if !["s3://", "s3a://"].iter().any(|scheme| config.iceberg.warehouse.starts_with(scheme)) {
        return HashMap::new();
    }
    let source_endpoint = match &source.endpoint {
        S3Endpoint::Custom(url) => Some(url.clone()),
        S3Endpoint::Aws | S3Endpoint::LocalDirectory(_) => None,
    };
    let mut props = HashMap::from([
        ("s3.region".to_string(), warehouse.region.clone().unwrap_or_else(|| source.region.clone())),
        ("s3.path-style-access".to_string(), warehouse.path_style.unwrap_or(source.path_style).to_string()),
    ]);
    if let Some(endpoint) = warehouse.endpoint.clone().or(source_endpoint) {
        props.insert("s3.endpoint".to_string(), endpoint);
    }
    if !warehouse.kms_key_id.is_empty() {
        props.insert("s3.sse.type".to_string(), "kms".to_string());
        props.insert("s3.sse.key".to_string(), warehouse.kms_key_id.clone());
    }
    props
}

impl Settings {
    /// The mappings of a topic no mapping names: the first pattern's that
    /// matches it, and every other mapping with the same pattern (one
    /// topic, several tables), with their tables named for it.
    pub fn route(&self, topic: &str) -> Vec<TableMapping> {
        if self.mappings.iter().any(|m| m.topic == topic) {
            return Vec::new();
        }
        let Some(first) = self.routes.iter().find(|route| route.selector.matches(topic)) else { return Vec::new() };
        let same_pattern = self.routes.iter().filter(|route| route.mapping.topic == first.mapping.topic);
        same_pattern.map(|route| route.mapping.for_topic(topic)).collect()
    }

    /// The tables a topic feeds: those of the mappings that name it, or
    /// that [`Settings::route`] gives it.
    pub fn tables_of(&self, topic: &str) -> Vec<String> {
        let named: Vec<String> =
            self.mappings.iter().filter(|m| m.topic == topic).map(|m| m.table.to_string()).collect();
        match named.is_empty() {
            true => self.route(topic).iter().map(|m| m.table.to_string()).collect(),
            false => named,
        }
    }

    pub fn from_config(config: &Config) -> Result<Self, SettingsError> {
        let s3 = &config.s3;
        let (endpoint, replica) = match s3.location() {
            SourceLocation::Local { root } => (format!("file://{}", root.display()), None),
            SourceLocation::S3 { endpoint, read_replica, .. } => (endpoint.unwrap_or_default(), read_replica),
        };
        let replica = replica.unwrap_or(ReadReplica { bucket: String::new(), region: String::new(), endpoint: None });
        let source = SourceSpec {
            endpoint,
            bucket: s3.bucket.clone(),
            region: s3.region.clone(),
            path_style: s3.path_style,
            prefix: s3.prefix(),
            read_bucket: replica.bucket,
            read_region: replica.region,
            read_endpoint: replica.endpoint.unwrap_or_default(),
        };
        let catalog = &config.iceberg.catalog;
        let kind = match catalog.kind {
            CatalogType::Sql => CatalogKind::Sql { uri: catalog.uri.clone() },
            CatalogType::Rest => CatalogKind::Rest {
                uri: catalog.uri.clone(),
                token: catalog.token.expose().to_string(),
                credential: (!catalog.username.is_empty())
                    .then(|| format!("{}:{}", catalog.username, catalog.password.expose())),
            },
        };
        let catalog_settings = CatalogSettings {
            kind,
            name: catalog.name.clone(),
            warehouse: config.iceberg.warehouse.clone(),
            file_io_props: warehouse_file_io_props(config),
        };
        // Config validation already refused an etcd backend or discovery
        // mode without endpoints, and a `sql` backend without a SQL catalog.
        let has_etcd = !config.etcd.endpoints.is_empty();
        let etcd = EtcdSettings {
            endpoints: config.etcd.endpoints.clone(),
            username: config.etcd.username.clone(),
            password: config.etcd.password.expose().to_string(),
            tls: config.etcd.tls.clone(),
            layout: EtcdLayout::new(&config.offsets.key_prefix),
        };
        let store = match OffsetsBackend::resolve(config) {
            StoreChoice::Sql => StoreSettings::Sql { uri: catalog.uri.clone() },
            StoreChoice::Memory => StoreSettings::Memory,
            StoreChoice::Etcd => StoreSettings::Etcd(etcd.clone()),
        };
        let partitions = match config.discovery.mode {
            DiscoveryMode::Etcd => PartitionSource::Metadata { strict: true },
            DiscoveryMode::Auto if has_etcd => PartitionSource::Metadata { strict: false },
            DiscoveryMode::Auto | DiscoveryMode::S3 => PartitionSource::Listing,
        };
        let etcd = has_etcd.then_some(etcd);
        let mut mappings: Vec<TableMapping> = Vec::new();
        let mut routes: Vec<TopicRoute> = Vec::new();
        for (i, mapping) in config.mappings.iter().enumerate() {
            check_typed_columns(i, mapping)?;
            // Config validation compiled the pattern already.
            let selector = TopicSelector::parse(&mapping.topic)
                .map_err(|e| unsupported(&format!("mappings[{i}].topic"), e.to_string()))?;
            let registry_columns = mapping.schema.source == ColumnSource::Registry;
            // Wire formats carry their own schema: they are decoded by it.
            let validation =
                if mapping.format == PayloadFormat::Json { config.schema.mode } else { ValidationMode::Off };
            // Lenient validation keeps invalid records as dead letters.
            let dead_letters = mapping.has_dead_letters() || validation == ValidationMode::Lenient;
            let table_mapping = TableMapping {
                index: i,
                topic: mapping.topic.clone(),
                table: mapping.table.clone(),
                create_if_missing: mapping.create_table_if_missing,
                format: mapping.format,
                columns: mapping.typed_columns(),
                allow_type_widening: mapping.schema.allow_type_widening,
                dead_letter_table: dead_letters.then(|| mapping.dead_letter_table()),
                start: mapping.start_position(),
                partition_by: mapping.partition_by.clone(),
                record_time: mapping.partition_by.iter().any(|f| f.column == SourceColumn::RecordTime.name()),
                registry_columns,
                lfs: mapping.lfs.clone(),
                validation,
            };
            match selector {
                TopicSelector::Name(topic) => mappings.push(table_mapping.for_topic(&topic)),
                selector => routes.push(TopicRoute { selector, mapping: table_mapping }),
            }
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
        let registry = &config.schema.confluent_registry;
        let confluent_registry = (!registry.url.is_empty()).then(|| ConfluentRegistrySpec {
            url: registry.url.clone(),
            timeout_ms: registry.timeout.as_millis().min(u32::MAX.into()) as u32,
            cache_ms: registry.cache.as_millis().min(u32::MAX.into()) as u32,
            username: registry.username.clone(),
            password: registry.password.expose().to_string(),
        });
        // Validation refused a fetching mode without a service to fetch from.
        let fetches = config.mappings.iter().any(|m| m.lfs.mode.fetches());
        let lfs = config.lfs.location(s3).filter(|_| fetches).map(|location| LfsService {
            endpoint: location.endpoint.unwrap_or_default(),
            region: location.region,
            path_style: location.path_style,
            max_concurrent_fetches: u32::try_from(config.lfs.max_concurrent_fetches).unwrap_or(u32::MAX),
        });
        Ok(Settings {
            source,
            writer,
            confluent_registry,
            lfs,
            catalog: catalog_settings,
            store,
            etcd,
            partitions,
            mappings,
            routes,
            poll_interval: config.discovery.poll_interval,
            idle_poll_interval: config.discovery.idle_poll_interval,
            commit_interval: config.commit.interval,
            max_staged_bytes: config.commit.max_staged_bytes,
            orphan_grace: config.commit.orphan_grace,
            lease_ttl: config.offsets.lease_ttl,
            heartbeat: config.coordinator.worker_heartbeat,
            listen: config.coordinator.listen,
            tls: ServerTlsFiles::from_config(&config.coordinator.tls, "coordinator.tls"),
            admin: AdminSettings {
                listen: config.admin.listen,
                token: Some(config.admin.token.expose().to_string()).filter(|t| !t.is_empty()),
                tls: ServerTlsFiles::from_config(&config.admin.tls, "admin.tls"),
            },
            registry: (!config.schema.registry.base_url.is_empty()).then(|| RegistrySettings {
                base_url: config.schema.registry.base_url.clone(),
                timeout: config.schema.registry.timeout,
                cache: config.schema.registry.cache,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Settings {
        let config = Config::from_yaml_str(yaml, "/etc/floe/floe.yaml").expect("a valid config");
        Settings::from_config(&config).expect("supported settings")
    }

    const S3_SOURCE: &str = "\
s3:
  bucket: segments
  endpoint: http://minio:9000
  region: eu-west-1
  path_style: true
  read_bucket: replica
iceberg:
  catalog:
    type: rest
    uri: http://catalog:8181
  warehouse: s3://tables/prod
etcd:
  endpoints: [http://etcd:2379]
mappings:
  - topic: orders
    table: prod.orders
";

    #[test]
    fn the_warehouse_inherits_the_source_service_and_never_gets_credentials() {
        let settings = settings(S3_SOURCE);
        let props = &settings.catalog.file_io_props;
        assert_eq!(props.get("s3.endpoint").map(String::as_str), Some("http://minio:9000"));
        assert_eq!(props.get("s3.region").map(String::as_str), Some("eu-west-1"));
        assert_eq!(props.get("s3.path-style-access").map(String::as_str), Some("true"));
        assert!(!props.keys().any(|k| k.contains("key")), "{props:?}");
        // The replica inherits region and endpoint.
        assert_eq!(settings.source.read_bucket, "replica");
        assert_eq!(settings.source.read_region, "eu-west-1");
        assert_eq!(settings.source.read_endpoint, "http://minio:9000");
        assert!(matches!(settings.store, StoreSettings::Etcd(_)));
        assert_eq!(settings.partitions, PartitionSource::Metadata { strict: false });
    }

    fn with_format(format: &str) -> Config {
        let yaml = S3_SOURCE
            .replace("    table: prod.orders\n", &format!("    table: prod.orders\n    format: {format}\n"))
            + "schema:\n  confluent_registry:\n    url: http://registry:8081\n    username: key\n    password: secret\n";
        Config::from_yaml_str(&yaml, "/etc/floe/floe.yaml").expect("a valid config")
    }

    #[test]
    fn avro_mappings_have_a_dead_letter_table_and_workers_get_the_registry() {
        let settings = Settings::from_config(&with_format("avro")).unwrap();
        let mapping = &settings.mappings[0];
        assert_eq!(mapping.format, PayloadFormat::Avro);
        assert!(mapping.columns.is_empty(), "filled from the registry at start");
        assert_eq!(mapping.dead_letter_table.as_ref().map(ToString::to_string).as_deref(), Some("prod.orders_dlq"));
        let registry = settings.confluent_registry.unwrap();
        assert_eq!(
            (registry.url.as_str(), registry.timeout_ms, registry.cache_ms),
            ("http://registry:8081", 5000, 300_000)
        );
        assert_eq!((registry.username.as_str(), registry.password.as_str()), ("key", "secret"));
    }

    #[test]
    fn registry_columns_come_with_a_dead_letter_table() {
        let yaml = format!(
            "{S3_SOURCE}  - topic: payments\n    table: prod.payments\n    schema:\n      source: registry\n\
             schema:\n  registry:\n    base_url: http://schemas:8080\n    cache_seconds: 60\n"
        );
        let both = settings(&yaml);
        let registry = both.registry.expect("a registry");
        assert_eq!((registry.base_url.as_str(), registry.cache), ("http://schemas:8080", Duration::from_secs(60)));
        let [orders, payments] = &both.mappings[..] else { panic!("two mappings") };
        assert!(!orders.registry_columns && payments.registry_columns);
        assert_eq!(orders.dead_letter_table, None, "records as they are");
        assert_eq!(payments.dead_letter_table.as_ref().map(ToString::to_string).as_deref(), Some("prod.payments_dlq"));
    }

    #[test]
    fn warehouse_overrides_and_kms() {
        let yaml = S3_SOURCE.replace(
            "  warehouse: s3://tables/prod\n",
            "  warehouse: s3://tables/prod\n  s3:\n    endpoint: https://s3.eu-west-1.amazonaws.com\n    path_style: false\n    kms_key_id: arn:aws:kms:eu-west-1:1:key/k\n",
        );
        let props = settings(&yaml).catalog.file_io_props;
        assert_eq!(props.get("s3.endpoint").map(String::as_str), Some("https://s3.eu-west-1.amazonaws.com"));
        assert_eq!(props.get("s3.path-style-access").map(String::as_str), Some("false"));
        assert_eq!(props.get("s3.sse.type").map(String::as_str), Some("kms"));
        assert_eq!(props.get("s3.sse.key").map(String::as_str), Some("arn:aws:kms:eu-west-1:1:key/k"));
    }

    #[test]
    fn lfs_modes_shape_the_table_and_reach_workers() {
        let with_lfs = |block: &str| {
            S3_SOURCE.replace("    table: prod.orders\n", &format!("    table: prod.orders\n    lfs: {block}\n"))
        };
        let off = settings(S3_SOURCE);
        assert!(off.lfs.is_none());
        assert_eq!((off.mappings[0].lfs_policy(), off.mappings[0].dead_letter_table.is_some()), (None, false));

        let hybrid = settings(&with_lfs("{mode: hybrid, max_inline_bytes: 10}"));
        let mapping = &hybrid.mappings[0];
        assert_eq!(mapping.optional_columns(), SourceColumn::LFS);
        assert_eq!(mapping.dead_letter_table.as_ref().map(ToString::to_string).as_deref(), Some("prod.orders_dlq"));
        let policy = mapping.lfs_policy().expect("a policy");
        assert_eq!((policy.mode.as_str(), policy.max_inline_bytes, policy.max_blob_bytes), ("hybrid", 10, 64 << 20));
        // The blobs' service is the segments' unless `lfs` says otherwise.
        let service = hybrid.lfs.expect("a service for a fetching mode");
        assert_eq!(
            (service.endpoint.as_str(), service.region.as_str(), service.path_style, service.max_concurrent_fetches),
            ("http://minio:9000", "eu-west-1", true, 8)
        );

        // Referencing fetches nothing: no service is sent.
        let reference = settings(&with_lfs("{mode: reference}"));
        assert!(reference.lfs.is_none());
        assert!(settings(&with_lfs("{mode: resolve}")).mappings[0].optional_columns().is_empty());
    }

    #[test]
    fn patterns_route_the_topics_no_mapping_names_first_match_first() {
        let yaml = S3_SOURCE.replace(
            "  - topic: orders\n    table: prod.orders\n",
            concat!(
                "  - topic: orders.eu\n    table: prod.{topic}\n",
                "  - topic: 'orders\\..*'\n    table: raw.{topic}\n    dead_letter_table: dlq.{topic}\n",
                "    schema: {columns: [{name: id, type: long}]}\n",
                "  - topic: '.*'\n    table: raw.everything\n",
            ),
        );
        let settings = settings(&yaml);
        // A named topic's template is filled at once.
        assert_eq!(settings.mappings.len(), 1);
        assert_eq!(settings.mappings[0].table.to_string(), "prod.orders_eu");
        assert!(settings.route("orders.eu").is_empty(), "named by mappings[0], not routed");
        let us = settings.route("orders.US-west").pop().expect("mappings[1] matches");
        assert_eq!(
            (us.index, us.topic.as_str(), us.table.to_string(), us.dead_letter_table.map(|t| t.to_string())),
            (1, "orders.US-west", "raw.orders_us_west".to_string(), Some("dlq.orders_us_west".to_string()))
        );
        let other = settings.route("payments").pop().expect("mappings[2] matches");
        assert_eq!((other.index, other.table.to_string()), (2, "raw.everything".to_string()));
        assert!(settings.route("__consumer_offsets").is_empty(), "internal topics are never matched by a pattern");
        assert_eq!(settings.tables_of("orders.eu"), ["prod.orders_eu"]);
        assert_eq!(settings.tables_of("orders.US-west"), ["raw.orders_us_west"], "the first pattern only");
    }

    #[test]
    fn mappings_with_the_same_topic_each_feed_their_table() {
        let yaml = S3_SOURCE.replace(
            "  - topic: orders\n    table: prod.orders\n",
            concat!(
                "  - topic: orders\n    table: prod.orders\n",
                "  - topic: orders\n    table: audit.orders\n",
                "  - topic: 'pay.*'\n    table: raw.{topic}\n",
                "  - topic: '.*'\n    table: raw.everything\n",
                "  - topic: 'pay.*'\n    table: audit.{topic}\n",
            ),
        );
        let settings = settings(&yaml);
        assert_eq!(settings.tables_of("orders"), ["prod.orders", "audit.orders"]);
        let routed: Vec<(usize, String)> =
            settings.route("payments").iter().map(|m| (m.index, m.table.to_string())).collect();
        assert_eq!(routed, [(2, "raw.payments".to_string()), (4, "audit.payments".to_string())]);
        assert_eq!(settings.tables_of("payments"), ["raw.payments", "audit.payments"]);
        assert_eq!(settings.tables_of("audit"), ["raw.everything"], "the first matching pattern, alone");
    }
}

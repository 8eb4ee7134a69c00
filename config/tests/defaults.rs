//! What a minimal config means, and the helpers other crates use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use floe_config::{
    CatalogType, ColumnSource, ColumnType, Compression, Config, DiscoveryMode, OffsetsBackend, ReadReplica, S3Endpoint,
    SourceLocation, StateStore, TableName, ValidationMode, WriteMode,
};

const MINIMAL: &str = "\
s3:
  bucket: kafscale-data
iceberg:
  catalog:
    type: rest
    uri: https://iceberg-catalog.example.com
  warehouse: s3://iceberg-warehouse/production
mappings:
  - topic: orders
    table: prod.orders
";

fn load(text: &str) -> Config {
    Config::from_yaml_str(text, "test.yaml").unwrap_or_else(|error| panic!("{error}"))
}

/// The minimal config with `extra` appended as more top-level keys.
fn minimal_with(extra: &str) -> Config {
    load(&format!("{MINIMAL}{extra}"))
}

#[test]
fn minimal_config_defaults() {
    let config = load(MINIMAL);

    assert_eq!(config.s3.bucket, "kafscale-data");
    assert_eq!(config.s3.namespace, "");
    assert_eq!(config.s3.endpoint, S3Endpoint::Aws);
    assert_eq!(config.s3.region, "us-east-1");
    assert!(!config.s3.path_style);
    assert_eq!(config.s3.read_bucket, "");
    assert_eq!(config.s3.read_region, "");
    assert_eq!(config.s3.read_endpoint, None);

    let catalog = &config.iceberg.catalog;
    assert_eq!(catalog.kind, CatalogType::Rest);
    assert_eq!(catalog.name, "floe");
    assert!(catalog.token.is_empty());
    assert_eq!(catalog.username, "");
    assert!(catalog.password.is_empty());

    assert_eq!(config.offsets.backend, OffsetsBackend::Auto);
    assert_eq!(config.offsets.lease_ttl, Duration::from_secs(30));
    assert_eq!(config.offsets.key_prefix, "processors");

    assert_eq!(config.discovery.mode, DiscoveryMode::Auto);
    assert_eq!(config.discovery.poll_interval, Duration::from_secs(1));

    assert!(config.etcd.endpoints.is_empty());

    assert_eq!(config.schema.mode, ValidationMode::Off);
    assert_eq!(config.schema.registry.base_url, "");
    assert_eq!(config.schema.registry.timeout, Duration::from_secs(5));
    assert_eq!(config.schema.registry.cache, Duration::from_secs(300));

    let mapping = &config.mappings[0];
    assert_eq!(mapping.topic, "orders");
    assert_eq!(mapping.mode, WriteMode::Append);
    assert!(mapping.create_table_if_missing);
    assert_eq!(mapping.schema.source, ColumnSource::Mapping);
    assert!(!mapping.schema.allow_type_widening);
    assert!(mapping.schema.columns.is_empty());

    assert_eq!(config.commit.interval, Duration::from_secs(5));
    assert_eq!(config.commit.max_staged_bytes, 536_870_912);
    assert_eq!(config.commit.orphan_grace, Duration::from_secs(3600));

    assert_eq!(config.writer.target_file_size_bytes, 134_217_728);
    assert_eq!(config.writer.row_group_bytes, 8_388_608);
    assert_eq!(config.writer.compression, Compression::Zstd);
    assert_eq!(config.writer.compression_level, 1);

    assert_eq!(config.worker.fetch_concurrency, 4);
    assert_eq!(config.worker.max_pending_txn_bytes, 67_108_864);
    assert_eq!(config.worker.memory_limit_bytes, 268_435_456);

    assert_eq!(config.coordinator.listen, "127.0.0.1:7600".parse::<SocketAddr>().expect("address"));
    assert_eq!(config.coordinator.worker_heartbeat, Duration::from_secs(2));
}

#[test]
fn seconds_accept_integers_and_fractions() {
    let config = minimal_with("commit:\n  interval_seconds: 0.25\n  orphan_grace_seconds: 90\n");
    assert_eq!(config.commit.interval, Duration::from_millis(250));
    assert_eq!(config.commit.orphan_grace, Duration::from_secs(90));
}

#[test]
fn schema_mode_off_in_every_spelling() {
    for spelling in ["off", "\"off\"", "false"] {
        let config = minimal_with(&format!("schema:\n  mode: {spelling}\n"));
        assert_eq!(config.schema.mode, ValidationMode::Off, "spelling {spelling}");
    }
    let error = Config::from_yaml_str(&format!("{MINIMAL}schema:\n  mode: true\n"), "test.yaml")
        .expect_err("true is not a mode");
    assert_eq!(
        error.to_string(),
        "config error in test.yaml: invalid value for `schema.mode` (line 12, column 9): \
         found boolean `true`, expected one of off, lenient, strict"
    );
}

#[test]
fn seed_processor_poll_interval_is_the_discovery_poll_interval() {
    let config = minimal_with("processor:\n  poll_interval_seconds: 5\n");
    assert_eq!(config.discovery.poll_interval, Duration::from_secs(5));
}

#[test]
fn table_name_round_trip() {
    for text in ["prod.orders", "a.b.events"] {
        let name: TableName = text.parse().expect("valid name");
        assert_eq!(name.to_string(), text);
    }
    let name: TableName = "prod.orders".parse().expect("valid name");
    assert_eq!(name.namespace, ["prod"]);
    assert_eq!(name.name, "orders");
    let nested: TableName = "a.b.events".parse().expect("valid name");
    assert_eq!(nested.namespace, ["a", "b"]);
    assert_eq!(nested.name, "events");

    for invalid in ["orders", "prod.", ".orders", "a..b", ""] {
        let error = invalid.parse::<TableName>().expect_err(invalid);
        assert_eq!(
            error.to_string(),
            format!("`{invalid}` is not a table name: expected namespace.table with no empty parts, e.g. prod.orders")
        );
    }
}

#[test]
fn column_types() {
    let cases = [
        ("long", ColumnType::Long),
        ("LONG", ColumnType::Long),
        ("timestamptz", ColumnType::TimestampTz),
        ("decimal(10,2)", ColumnType::Decimal { precision: 10, scale: 2 }),
        ("decimal(38, 0)", ColumnType::Decimal { precision: 38, scale: 0 }),
    ];
    for (text, expected) in cases {
        assert_eq!(text.parse::<ColumnType>().as_ref(), Ok(&expected), "{text}");
    }
    assert_eq!(ColumnType::Decimal { precision: 10, scale: 2 }.to_string(), "decimal(10,2)");
    for invalid in ["decimal(40,2)", "decimal(0,0)", "decimal(5,6)", "decimal(10)", "uuid"] {
        assert!(invalid.parse::<ColumnType>().is_err(), "{invalid}");
    }
}

#[test]
fn column_json_path() {
    let config = load(&MINIMAL.replace(
        "    table: prod.orders\n",
        "    table: prod.orders\n    schema:\n      columns:\n        - {name: customer_id, type: string, path: customer.id}\n        - {name: a.b, type: long}\n",
    ));
    let columns = &config.mappings[0].schema.columns;
    assert_eq!(columns[0].json_path(), ["customer", "id"]);
    assert_eq!(columns[1].json_path(), ["a.b"]);
}

#[test]
fn source_location_and_prefix() {
    let aws = load(MINIMAL);
    assert_eq!(aws.s3.prefix(), "");
    assert_eq!(
        aws.s3.location(),
        SourceLocation::S3 {
            bucket: "kafscale-data".to_owned(),
            region: "us-east-1".to_owned(),
            endpoint: None,
            path_style: false,
            read_replica: None,
        }
    );

    let local = load(&MINIMAL.replace(
        "  bucket: kafscale-data\n",
        "  bucket: kafscale-data\n  namespace: production\n  endpoint: file:///var/lib/floe/segments\n",
    ));
    assert_eq!(local.s3.prefix(), "production/");
    assert_eq!(
        local.s3.location(),
        SourceLocation::Local { root: PathBuf::from("/var/lib/floe/segments/kafscale-data") }
    );
}

#[test]
fn read_replica_inherits_what_it_leaves_empty() {
    let config = load(&MINIMAL.replace(
        "  bucket: kafscale-data\n",
        "  bucket: kafscale-data\n  endpoint: http://minio:9000\n  path_style: true\n  read_bucket: kafscale-data-replica\n  read_region: eu-west-1\n",
    ));
    assert_eq!(
        config.s3.location(),
        SourceLocation::S3 {
            bucket: "kafscale-data".to_owned(),
            region: "us-east-1".to_owned(),
            endpoint: Some("http://minio:9000".to_owned()),
            path_style: true,
            read_replica: Some(ReadReplica {
                bucket: "kafscale-data-replica".to_owned(),
                region: "eu-west-1".to_owned(),
                endpoint: Some("http://minio:9000".to_owned()),
            }),
        }
    );
}

#[test]
fn offsets_backend_auto_rule() {
    assert_eq!(OffsetsBackend::resolve(&load(MINIMAL)), StateStore::Memory);

    let with_etcd = minimal_with("etcd:\n  endpoints: [http://etcd:2379]\n");
    assert_eq!(OffsetsBackend::resolve(&with_etcd), StateStore::Etcd);

    let sql = load(
        &MINIMAL
            .replace("type: rest", "type: sql")
            .replace("uri: https://iceberg-catalog.example.com", "uri: sqlite:///tmp/x/catalog.db"),
    );
    assert_eq!(OffsetsBackend::resolve(&sql), StateStore::Sql);

    let pinned = minimal_with("etcd:\n  endpoints: [http://etcd:2379]\noffsets:\n  backend: memory\n");
    assert_eq!(OffsetsBackend::resolve(&pinned), StateStore::Memory);
}

#[test]
fn sqlite_path() {
    let sqlite = |uri: &str| {
        load(
            &MINIMAL
                .replace("type: rest", "type: sql")
                .replace("uri: https://iceberg-catalog.example.com", &format!("uri: {uri}")),
        )
        .iceberg
        .catalog
        .sqlite_path()
    };
    assert_eq!(sqlite("sqlite:///tmp/x/catalog.db"), Some(PathBuf::from("/tmp/x/catalog.db")));
    assert_eq!(sqlite("sqlite:///tmp/x/catalog.db?mode=rwc"), Some(PathBuf::from("/tmp/x/catalog.db")));
    assert_eq!(sqlite("postgresql://floe@db/catalog"), None);
    assert_eq!(load(MINIMAL).iceberg.catalog.sqlite_path(), None);
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let config = load(&MINIMAL.replace(
        "    uri: https://iceberg-catalog.example.com\n",
        "    uri: https://iceberg-catalog.example.com\n    token: hunter2\n",
    ));
    assert_eq!(config.iceberg.catalog.token.expose(), "hunter2");
    assert!(!format!("{config:?}").contains("hunter2"));
}

//! What a user reads when a config file is wrong.

use floe_config::{Config, ConfigError, Problem};

const FILE: &str = "/etc/floe/floe.yaml";

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

fn error(text: &str) -> ConfigError {
    Config::from_yaml_str(text, FILE).expect_err("config should be rejected")
}

fn message(text: &str) -> String {
    error(text).to_string()
}

/// The minimal config with `extra` appended as more top-level keys.
fn minimal_with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

#[test]
fn unknown_top_level_key() {
    assert_eq!(
        message(&minimal_with("mapings: []\n")),
        "config error in /etc/floe/floe.yaml: unknown key `mapings` (line 11, column 1); \
         accepted keys at the top level: s3, iceberg, offsets, discovery, etcd, schema, \
         mappings, commit, writer, worker, coordinator, admin, metrics, lfs, processor"
    );
}

#[test]
fn unknown_nested_key() {
    let text = MINIMAL.replace("  bucket: kafscale-data\n", "  bucket: kafscale-data\n  bukcet: x\n");
    let error = error(&text);
    assert_eq!(
        error.to_string(),
        "config error in /etc/floe/floe.yaml: unknown key `s3.bukcet` (line 3, column 3); \
         accepted keys under `s3`: bucket, namespace, endpoint, region, path_style, \
         read_bucket, read_region, read_endpoint"
    );
    assert_eq!(error.file(), FILE);
    assert!(matches!(error.problem(), Problem::UnknownKey { key, .. } if key == "s3.bukcet"));
}

#[test]
fn unknown_key_in_a_list_item() {
    let text = MINIMAL.replace("    table: prod.orders\n", "    table: prod.orders\n    sink: x\n");
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: unknown key `mappings[0].sink` (line 11, column 5); \
         accepted keys under `mappings[0]`: topic, table, mode, format, create_table_if_missing, schema, dead_letter_table, start_offset, start_timestamp, partition_by, event_time_field, lfs"
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        message(&minimal_with("offsets:\n  lease_ttl_seconds: soon\n")),
        "config error in /etc/floe/floe.yaml: wrong type for `offsets.lease_ttl_seconds` \
         (line 12, column 22): found string \"soon\", expected a positive number of seconds"
    );
    assert_eq!(
        message(&MINIMAL.replace("  bucket: kafscale-data\n", "  bucket: kafscale-data\n  path_style: yes\n")),
        "config error in /etc/floe/floe.yaml: wrong type for `s3.path_style` (line 3, column 15): \
         found string \"yes\", expected a boolean"
    );
}

#[test]
fn wrong_type_for_a_section() {
    assert_eq!(
        message(&minimal_with("etcd: [http://etcd:2379]\n")),
        "config error in /etc/floe/floe.yaml: wrong type for `etcd` (line 11, column 7): \
         found a list, expected a mapping"
    );
}

#[test]
fn missing_required_key() {
    let text = MINIMAL.replace("  bucket: kafscale-data\n", "  namespace: production\n");
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: missing required key `s3.bucket` in the mapping at line 2, column 3"
    );
    let text = MINIMAL.replace("    uri: https://iceberg-catalog.example.com\n", "");
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: missing required key `iceberg.catalog.uri` in the mapping at line 5, column 5"
    );
}

#[test]
fn missing_top_level_section() {
    let text = &MINIMAL[..MINIMAL.find("mappings:").expect("minimal has mappings")];
    assert_eq!(message(text), "config error in /etc/floe/floe.yaml: missing required key `mappings`");
}

#[test]
fn invalid_enum_value() {
    let text = MINIMAL.replace("    table: prod.orders\n", "    table: prod.orders\n    mode: upsert\n");
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: invalid value for `mappings[0].mode` (line 11, column 11): \
         found string \"upsert\", expected `append`, the only supported value"
    );
    assert_eq!(
        message(&minimal_with("offsets:\n  backend: zookeeper\n")),
        "config error in /etc/floe/floe.yaml: invalid value for `offsets.backend` (line 12, column 12): \
         found string \"zookeeper\", expected one of auto, etcd, sql, memory"
    );
}

#[test]
fn decimal_precision_out_of_range() {
    let text = MINIMAL.replace(
        "    table: prod.orders\n",
        "    table: prod.orders\n    schema:\n      columns:\n        - {name: amount, type: \"decimal(40,2)\"}\n",
    );
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: invalid value for `mappings[0].schema.columns[0].type` \
         (line 13, column 32): found string \"decimal(40,2)\", expected decimal(p,s) with precision p \
         from 1 to 38 and scale s from 0 to p"
    );
}

#[test]
fn unknown_column_type() {
    let text = MINIMAL.replace(
        "    table: prod.orders\n",
        "    table: prod.orders\n    schema:\n      columns:\n        - {name: id, type: uuid}\n",
    );
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: invalid value for `mappings[0].schema.columns[0].type` \
         (line 13, column 28): found string \"uuid\", expected one of boolean, int, long, float, \
         double, string, binary, timestamp, timestamptz, date, decimal(p,s)"
    );
}

#[test]
fn table_without_namespace() {
    let text = MINIMAL.replace("table: prod.orders", "table: orders");
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: invalid value for `mappings[0].table` (line 10, column 12): \
         found string \"orders\", expected namespace.table with no empty parts, e.g. prod.orders"
    );
}

#[test]
fn zero_duration_and_size() {
    assert_eq!(
        message(&minimal_with("commit:\n  interval_seconds: 0\n")),
        "config error in /etc/floe/floe.yaml: invalid value for `commit.interval_seconds` (line 12, column 21): \
         found integer `0`, expected a positive number of seconds"
    );
    assert_eq!(
        message(&minimal_with("writer:\n  row_group_bytes: -5\n")),
        "config error in /etc/floe/floe.yaml: invalid value for `writer.row_group_bytes` (line 12, column 20): \
         found integer `-5`, expected a positive integer"
    );
}

#[test]
fn bad_endpoint() {
    let text = MINIMAL.replace("  bucket: kafscale-data\n", "  bucket: kafscale-data\n  endpoint: file://data\n");
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: invalid value for `s3.endpoint` (line 3, column 13): \
         found string \"file://data\", expected \"\" for AWS, an http(s)://host:port URL of an \
         S3-compatible service, or file:///ABSOLUTE/DIR for a local directory"
    );
}

#[test]
fn invalid_yaml() {
    assert_eq!(
        message("s3:\n  bucket: x\n   region: y\n"),
        "config error in /etc/floe/floe.yaml: invalid YAML (line 3, column 10): \
         mapping values are not allowed in this context"
    );
}

#[test]
fn duplicate_key() {
    assert_eq!(
        message(&MINIMAL.replace("  bucket: kafscale-data\n", "  bucket: a\n  bucket: b\n")),
        "config error in /etc/floe/floe.yaml: key `s3.bucket` is given twice in the mapping at line 2, column 3; keep one"
    );
}

#[test]
fn unreadable_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing.yaml");
    let error = Config::load(&path).expect_err("no such file");
    assert_eq!(
        error.to_string(),
        format!("config error in {}: cannot read the file: No such file or directory (os error 2)", path.display())
    );
}

#[test]
fn semantic_errors_name_the_key_and_the_fix() {
    let cases: &[(String, &str)] = &[
        (
            MINIMAL.replace("bucket: kafscale-data", "bucket: \"\""),
            "`s3.bucket` is empty; set it to the bucket the KafScale brokers write segments to",
        ),
        (
            MINIMAL.replace("uri: https://iceberg-catalog.example.com", "uri: \"\""),
            "`iceberg.catalog.uri` is empty; set it to the REST catalog's base URL, e.g. https://iceberg-catalog.example.com",
        ),
        (
            MINIMAL.replace("warehouse: s3://iceberg-warehouse/production", "warehouse: iceberg-warehouse/production"),
            "`iceberg.warehouse` is `iceberg-warehouse/production`, not a URL with a scheme; set it to a URL such as s3://bucket/prefix or file:///var/lib/floe/warehouse",
        ),
        (
            minimal_with("offsets:\n  backend: etcd\n"),
            "`offsets.backend` is etcd but etcd.endpoints is empty; list the etcd endpoints under etcd.endpoints, or set offsets.backend to auto",
        ),
        (
            minimal_with("discovery:\n  mode: etcd\n"),
            "`discovery.mode` is etcd but etcd.endpoints is empty; list the etcd endpoints under etcd.endpoints, or set discovery.mode to auto",
        ),
        (
            minimal_with("  - topic: orders\n    table: prod.orders\n"),
            "`mappings[1]` maps topic `orders` to table `prod.orders` again, as mappings[0] does; remove one of the two",
        ),
        (
            minimal_with("  - topic: clicks\n    table: prod.clicks\n    schema:\n      source: registry\n"),
            "`mappings[1].schema.source` is registry but schema.registry.base_url is empty; set schema.registry.base_url, or list the columns and set source to mapping",
        ),
        (
            minimal_with("schema:\n  mode: strict\n"),
            "`schema.mode` is strict but schema.registry.base_url is empty; set schema.registry.base_url, or set schema.mode to off",
        ),
        (
            MINIMAL.replace("    table: prod.orders\n", "    table: prod.orders\n    start_offset: timestamp\n"),
            "`mappings[0].start_timestamp` is missing, and start_offset is timestamp; set it to an RFC 3339 time, e.g. 2026-01-01T00:00:00Z",
        ),
        (
            MINIMAL.replace(
                "    table: prod.orders\n",
                "    table: prod.orders\n    start_offset: timestamp\n    start_timestamp: yesterday\n",
            ),
            "`mappings[0].start_timestamp` is `yesterday`, not an RFC 3339 time; write it like 2026-01-01T00:00:00Z or 2026-01-01T02:00:00+02:00",
        ),
        (
            MINIMAL.replace("    table: prod.orders\n", "    table: prod.orders\n    dead_letter_table: prod.orders\n"),
            "`mappings[0].dead_letter_table` is `prod.orders`, the table the rows go to; name another table, or remove the key for the default `<table>_dlq`",
        ),
        (
            MINIMAL.replace(
                "    table: prod.orders\n",
                "    table: prod.orders\n    schema:\n      columns:\n        - {name: id, type: long}\n        - {name: id, type: string}\n",
            ),
            "`mappings[0].schema.columns[1].name` repeats column `id`, already defined by schema.columns[0]; rename or remove one of the two",
        ),
        (
            MINIMAL
                .replace("type: rest", "type: sql")
                .replace("uri: https://iceberg-catalog.example.com", "uri: sqlite://catalog.db"),
            "`iceberg.catalog.uri` is `sqlite://catalog.db`, not an absolute SQLite file URL (it needs three slashes); set it to sqlite:///ABSOLUTE/PATH/catalog.db or postgresql://user@host/database",
        ),
        (
            MINIMAL
                .replace("type: rest", "type: sql")
                .replace("uri: https://iceberg-catalog.example.com", "uri: mysql://db/catalog"),
            "`iceberg.catalog.uri` is `mysql://db/catalog`, neither a sqlite: nor a postgres(ql): URL; set it to sqlite:///ABSOLUTE/PATH/catalog.db or postgresql://user@host/database",
        ),
        (
            MINIMAL.replace(
                "  bucket: kafscale-data\n",
                "  bucket: kafscale-data\n  endpoint: file:///srv/segments\n  read_region: eu-west-1\n",
            ),
            "`s3.read_region` is set, but a local directory source (file://) has no read replica; remove the read_* keys, or point s3.endpoint at an S3 service",
        ),
        (
            minimal_with("coordinator:\n  worker_heartbeat_seconds: 30\n"),
            "`coordinator.worker_heartbeat_seconds` (30) is not shorter than offsets.lease_ttl_seconds (30), so workers would lose their leases between heartbeats; make the heartbeat a fraction of the lease TTL, e.g. a third or less",
        ),
        (
            minimal_with("offsets:\n  backend: sql\n"),
            "`offsets.backend` is sql, which keeps leases in the SQL catalog's database, but iceberg.catalog.type is rest; set offsets.backend to etcd (with etcd.endpoints), memory or auto",
        ),
        (
            minimal_with("etcd:\n  endpoints: [https://etcd:2379]\n  tls:\n    cert_file: /etc/floe/etcd/client.crt\n"),
            "`etcd.tls.key_file` is missing while cert_file is set; give the private key of the certificate, or remove cert_file",
        ),
        (
            minimal_with("coordinator:\n  tls:\n    ca_file: /etc/floe/tls/ca.crt\n"),
            "`coordinator.tls.cert_file` is missing while ca_file is set; give the coordinator's certificate and key (cert_file, key_file) to serve TLS",
        ),
        (
            minimal_with("writer:\n  compression: gzip\n  compression_level: 9\n"),
            "`writer.compression_level` is set, but applies to zstd only and compression is gzip; remove compression_level, or set compression to zstd",
        ),
        (
            minimal_with("processor:\n  poll_interval_seconds: 5\ndiscovery:\n  poll_interval_seconds: 2\n"),
            "`processor.poll_interval_seconds` is set together with discovery.poll_interval_seconds; keep only discovery.poll_interval_seconds",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(message(text), format!("config error in {FILE}: {expected}"));
    }
}

#[test]
fn confluent_formats_need_their_registry_and_take_columns_from_it() {
    let avro = |extra: &str| {
        MINIMAL.replace(
            "    table: prod.orders
",
            &format!(
                "    table: prod.orders
    format: avro
{extra}"
            ),
        )
    };
    let registry = "schema:\n  confluent_registry:\n    url: http://registry:8081\n";
    let cases: &[(String, &str)] = &[
        (
            avro(""),
            "`mappings[0].format` is avro, whose writer schemas are in a schema registry, but schema.confluent_registry.url is empty; \
             set schema.confluent_registry.url to the registry's base URL, or set format to json",
        ),
        (
            format!("{}{registry}", avro("    schema:\n      columns:\n        - {name: id, type: long}\n")),
            "`mappings[0].schema.columns` are listed, but format is avro, which takes the columns from schema.confluent_registry; \
             remove the columns, or set format to json",
        ),
        (
            format!("{}{registry}", avro("    event_time_field: created_at\n")),
            "`mappings[0].event_time_field` is set, which format avro does not support yet; \
             remove it (partition by day(record_time) instead), or set format to json",
        ),
        (
            minimal_with("schema:\n  confluent_registry:\n    url: registry:8081\n"),
            "`schema.confluent_registry.url` is `registry:8081`, not an http(s) URL; \
             set it to the registry's base URL, e.g. http://schema-registry:8081",
        ),
        (
            minimal_with("schema:\n  confluent_registry:\n    url: http://registry:8081\n    username: key\n"),
            "`schema.confluent_registry.password` is empty but schema.confluent_registry.username is set; \
             set both for HTTP basic authentication, or neither",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(message(text), format!("config error in {FILE}: {expected}"));
    }
    let text = MINIMAL.replace("    table: prod.orders\n", "    table: prod.orders\n    format: yaml\n");
    assert!(message(&text).contains("expected one of json, avro, protobuf, json_schema"), "{}", message(&text));

    let config = Config::from_yaml_str(&format!("{}{registry}", avro("")), FILE).expect("valid");
    assert_eq!(config.mappings[0].format, floe_config::PayloadFormat::Avro);
    let registry = &config.schema.confluent_registry;
    assert_eq!(
        (registry.url.as_str(), registry.timeout, registry.cache),
        ("http://registry:8081", std::time::Duration::from_secs(5), std::time::Duration::from_secs(300))
    );
}

#[test]
fn empty_mappings() {
    let text = &MINIMAL[..MINIMAL.find("mappings:").expect("minimal has mappings")];
    assert_eq!(
        message(&format!("{text}mappings: []\n")),
        "config error in /etc/floe/floe.yaml: `mappings` is empty; add at least one mapping, \
         e.g. `- {topic: orders, table: prod.orders}`"
    );
}

#[test]
fn unknown_lfs_mode() {
    let text = MINIMAL.replace("    table: prod.orders\n", "    table: prod.orders\n    lfs: {mode: fetch}\n");
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: invalid value for `mappings[0].lfs.mode` (line 11, column 17): \
         found string \"fetch\", expected one of off, resolve, reference, skip, hybrid"
    );
}

#[test]
fn lfs_inline_limit_over_the_blob_limit() {
    let text = MINIMAL.replace(
        "    table: prod.orders\n",
        "    table: prod.orders\n    lfs: {mode: hybrid, max_inline_bytes: 2000, max_blob_bytes: 1000}\n",
    );
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: `mappings[0].lfs.max_inline_bytes` (2000) is larger than \
         mappings[0].lfs.max_blob_bytes (1000); lower max_inline_bytes or raise max_blob_bytes"
    );
}

#[test]
fn lfs_resolve_needs_an_s3_service() {
    let text = MINIMAL
        .replace("  bucket: kafscale-data\n", "  bucket: kafscale-data\n  endpoint: file:///var/lib/kafscale\n")
        .replace("    table: prod.orders\n", "    table: prod.orders\n    lfs: {mode: resolve}\n");
    assert_eq!(
        message(&text),
        "config error in /etc/floe/floe.yaml: `lfs.endpoint` is empty and s3.endpoint is a local directory, \
         but mappings[0].lfs.mode is resolve, which fetches blobs from S3; set lfs.endpoint to the S3 service \
         holding the LFS blobs (e.g. http://minio:9000), or set the mapping's lfs.mode to reference, skip or off"
    );
    // Referencing needs no service.
    let referencing = text.replace("{mode: resolve}", "{mode: reference}");
    assert!(Config::from_yaml_str(&referencing, FILE).is_ok());
}

#[test]
fn topic_patterns_must_compile_and_templates_know_only_topic() {
    let mapping = |topic: &str, table: &str| {
        MINIMAL.replace(
            "  - topic: orders\n    table: prod.orders\n",
            &format!("  - topic: '{topic}'\n    table: {table}\n"),
        )
    };
    assert_eq!(
        message(&mapping("orders(", "raw.{topic}")),
        "config error in /etc/floe/floe.yaml: `mappings[0].topic` is `orders(`, a regular expression (it has \
         characters topic names cannot have) that does not compile: error: unclosed group; fix the pattern, e.g. \
         `orders\\..*` for every topic whose name starts with `orders.`"
    );
    assert_eq!(
        message(&mapping(r"orders\..*", "raw.{topic}_{partition}")),
        "config error in /etc/floe/floe.yaml: `mappings[0].table` is `raw.{topic}_{partition}`, with a placeholder \
         other than {topic}; use {topic}, the only placeholder, e.g. raw.{topic}"
    );
    assert!(Config::from_yaml_str(&mapping(r"orders\..*", "raw.{topic}"), FILE).is_ok());
}

//! Columns from a JSON Schema registry (`schema.source: registry`), served
//! from files by a local HTTP server: typed columns, a topic the registry
//! has no schema for, a property added while floe runs, and a registry
//! that is down when floe starts.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use floe_tests::http_files::HttpFiles;
use floe_tests::running::{RunningFloe, partition_of};
use floe_tests::segments::write_json_segment;
use floe_tests::{Engine, Lakehouse, floe, run_once, wait};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);

const ORDERS_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "customer"],
  "properties": {
    "id": {"type": "integer"},
    "amount": {"type": ["number", "null"]},
    "paid": {"type": "boolean"},
    "at": {"type": "string", "format": "date-time"},
    "day": {"type": "string", "format": "date"},
    "blob": {"type": "string", "contentEncoding": "base64"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "customer": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
  }
}"#;

/// A registry serving `schemas` (topic, JSON Schema) and a source folder.
struct Setup {
    registry: HttpFiles,
    _registry_dir: tempfile::TempDir,
    data: tempfile::TempDir,
    lake: Lakehouse,
}

impl Setup {
    fn new(schemas: &[(&str, &str)]) -> Self {
        let registry_dir = tempfile::tempdir().unwrap();
        for (topic, schema) in schemas {
            std::fs::write(registry_dir.path().join(format!("{topic}.json")), schema).unwrap();
        }
        let registry = HttpFiles::serve(registry_dir.path());
        Self { registry, _registry_dir: registry_dir, data: tempfile::tempdir().unwrap(), lake: Lakehouse::new() }
    }

    fn partition(&self, topic: &str) -> PathBuf {
        self.data.path().join(format!("bucket/production/{topic}/0"))
    }

    /// A config mapping `topics` to `prod.<topic>` with `mapping` under the
    /// last one, and the registry fetched every `cache_seconds`.
    fn config(&self, topics: &[&str], mapping: &str, cache_seconds: u32) -> PathBuf {
        for topic in topics {
            std::fs::create_dir_all(self.partition(topic)).unwrap();
        }
        let tables: Vec<(String, String)> = topics.iter().map(|t| (t.to_string(), format!("prod.{t}"))).collect();
        let mappings: Vec<(&str, &str)> = tables.iter().map(|(t, n)| (t.as_str(), n.as_str())).collect();
        let extra = format!(
            "{mapping}schema:\n  registry:\n    base_url: {}\n    cache_seconds: {cache_seconds}\n",
            self.registry.base_url()
        );
        self.lake.write_config(self.data.path(), "bucket", "production", &mappings, &extra)
    }

    fn rows(&self, table: &str) -> Vec<Value> {
        self.lake.all_columns(Engine::PyIceberg, table)
    }
}

const REGISTRY_COLUMNS: &str = "    schema:\n      source: registry\n";

/// The typed columns of rows, without the record's own columns.
fn typed(rows: &[Value], columns: &[&str]) -> Vec<Value> {
    rows.iter().map(|r| Value::Object(columns.iter().map(|c| (c.to_string(), r[*c].clone())).collect())).collect()
}

fn committed(setup: &Setup, table: &str) -> String {
    let snapshots = setup.lake.snapshots(table);
    snapshots.last().expect("a snapshot")["summary"]["floe.offsets"].as_str().expect("offsets").to_string()
}

#[test]
fn registry_columns_are_typed_and_a_missing_schema_holds_only_its_table() {
    let setup = Setup::new(&[("orders", ORDERS_SCHEMA)]);
    let config = setup.config(&["payments", "orders"], REGISTRY_COLUMNS, 300);
    // payments takes its columns from the registry too, which has none.
    let yaml = std::fs::read_to_string(&config).unwrap().replacen(
        "    table: prod.payments\n",
        "    table: prod.payments\n    schema:\n      source: registry\n",
        1,
    );
    std::fs::write(&config, yaml).unwrap();
    write_json_segment(
        &setup.partition("orders"),
        0,
        &[
            Some(
                r#"{"id": 9007199254740993, "amount": 12.5, "paid": true, "at": "2026-01-01T10:00:00Z",
                    "day": "2026-01-02", "blob": "aGk=", "tags": ["a", "b"], "customer": {"id": "c-1"}}"#,
            ),
            Some(r#"{"id": 2, "amount": null, "customer": {"id": "c-2"}, "tags": [ 1,  2 ]}"#),
            Some(r#"{"id": 3, "customer": {}}"#),
        ],
        10,
    );
    write_json_segment(&setup.partition("payments"), 0, &[Some(r#"{"id": 1}"#)], 10);

    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(1), "payments cannot be read: {}\n{}", run.stdout, run.stderr);
    let url = format!("{}/payments.json", setup.registry.base_url());
    let reason = format!(
        "the schema registry has no schema for topic `payments` (GET {url}: HTTP 404): publish it there, or set \
         the mapping's schema.source to mapping"
    );
    assert!(run.stdout.contains(&reason), "{}", run.stdout);

    let rows = setup.rows("prod.orders");
    let columns = ["offset", "id", "amount", "paid", "at", "day", "blob", "tags", "customer_id"];
    assert_eq!(
        typed(&rows, &columns),
        [
            json!({"offset": 0, "id": 9_007_199_254_740_993_i64, "amount": 12.5, "paid": true,
                   "at": 1_767_261_600_000_000_i64, "day": 20455, "blob": "aGk=", "tags": "[\"a\",\"b\"]",
                   "customer_id": "c-1"}),
            json!({"offset": 1, "id": 2, "amount": null, "paid": null, "at": null, "day": null, "blob": null,
                   "tags": "[1,2]", "customer_id": "c-2"}),
        ]
    );
    let dead = setup.rows("prod.orders_dlq");
    assert_eq!(
        typed(&dead, &["offset", "reason_code", "reason"]),
        [json!({"offset": 2, "reason_code": "missing_required",
                "reason": "required column `customer_id` is missing or null"})]
    );
    assert_eq!(committed(&setup, "prod.orders"), r#"{"orders":{"0":3}}"#);
}

#[test]
fn a_property_added_to_the_schema_becomes_a_column_while_floe_runs() {
    let setup = Setup::new(&[("orders", r#"{"properties": {"id": {"type": "integer"}}, "required": ["id"]}"#)]);
    let config = setup.config(&["orders"], REGISTRY_COLUMNS, 1);
    let partition = setup.partition("orders");
    let next = write_json_segment(&partition, 0, &[Some(r#"{"id": 1, "qty": 5}"#), Some(r#"{"id": 2}"#)], 10);
    let log = setup.lake.path().join("floe.log");
    let floe = RunningFloe::start(&config, &log);
    floe.wait_for("orders", 0, "committed offset 2", |p| p["committed"] == 2);

    let schema = r#"{"properties": {"id": {"type": "integer"}, "qty": {"type": "integer"}}, "required": ["id"]}"#;
    std::fs::write(setup.registry.root().join("orders.json"), schema).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let has_qty = setup.rows("prod.orders").first().is_some_and(|r| r.get("qty").is_some());
        if has_qty {
            break;
        }
        assert!(Instant::now() < deadline, "qty never became a column");
        std::thread::sleep(Duration::from_millis(500));
    }
    write_json_segment(&partition, next, &[Some(r#"{"id": 3, "qty": 7}"#), Some(r#"{"id": 4}"#)], 10);
    floe.wait_for("orders", 0, "committed offset 4", |p| p["committed"] == 4);
    floe.stop();

    assert_eq!(
        typed(&setup.rows("prod.orders"), &["offset", "id", "qty"]),
        [
            json!({"offset": 0, "id": 1, "qty": null}),
            json!({"offset": 1, "id": 2, "qty": null}),
            json!({"offset": 2, "id": 3, "qty": 7}),
            json!({"offset": 3, "id": 4, "qty": null}),
        ]
    );
}

#[test]
fn a_type_change_holds_the_table_with_what_changed_until_the_schema_is_put_back() {
    let integer = r#"{"properties": {"id": {"type": "integer"}}}"#;
    let setup = Setup::new(&[("orders", integer)]);
    let config = setup.config(&["orders"], REGISTRY_COLUMNS, 1);
    let partition = setup.partition("orders");
    let next = write_json_segment(&partition, 0, &[Some(r#"{"id": 1}"#)], 10);
    let log = setup.lake.path().join("floe.log");
    let floe = RunningFloe::start(&config, &log);
    floe.wait_for("orders", 0, "committed offset 1", |p| p["committed"] == 1);

    let schema_file = setup.registry.root().join("orders.json");
    std::fs::write(&schema_file, r#"{"properties": {"id": {"type": "string"}}}"#).unwrap();
    let status = floe.wait_for("orders", 0, "held", |p| p["state"] == "stopped");
    assert_eq!(
        partition_of(&status, "orders", 0)["message"],
        "the schema of topic `orders` changed: column `id` is long in the table but string in the registry \
         schema; the two types are incompatible: keep the table's type in the registry schema, or put the field \
         in a new column"
    );

    std::fs::write(&schema_file, integer).unwrap();
    write_json_segment(&partition, next, &[Some(r#"{"id": 2}"#)], 10);
    floe.wait_for("orders", 0, "committed offset 2", |p| p["committed"] == 2);
    floe.stop();
    assert_eq!(
        typed(&setup.rows("prod.orders"), &["offset", "id"]),
        [json!({"offset": 0, "id": 1}), json!({"offset": 1, "id": 2})]
    );
}

#[test]
fn a_registry_down_at_start_holds_the_table_until_it_answers() {
    let setup = Setup::new(&[("orders", ORDERS_SCHEMA)]);
    setup.registry.set_down(true);
    let config = setup.config(&["orders"], REGISTRY_COLUMNS, 300);
    let values: Vec<String> = (0..20).map(|n| format!(r#"{{"id": {n}, "customer": {{"id": "c{n}"}}}}"#)).collect();
    let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
    write_json_segment(&setup.partition("orders"), 0, &values, 5);

    let child = floe(&["run", "--once", "--config"], &config);
    let deadline = Instant::now() + TIMEOUT;
    // It keeps asking while the registry is down.
    while setup.registry.requests("/orders.json") < 6 {
        assert!(Instant::now() < deadline, "floe never retried the registry");
        std::thread::sleep(Duration::from_millis(200));
    }
    setup.registry.set_down(false);
    let run = wait(child, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let waiting = format!(
        "waiting for schema registry: schema registry unreachable: GET {}/orders.json: HTTP 503",
        setup.registry.base_url()
    );
    assert!(run.stderr.contains(&waiting), "{}", run.stderr);

    let rows = setup.rows("prod.orders");
    let want: Vec<Value> = (0..20).map(|n| json!({"offset": n, "id": n, "customer_id": format!("c{n}")})).collect();
    assert_eq!(typed(&rows, &["offset", "id", "customer_id"]), want, "every record once, typed");
    assert_eq!(committed(&setup, "prod.orders"), r#"{"orders":{"0":20}}"#);
    assert!(setup.rows("prod.orders_dlq").is_empty());
}

/// A schema that says more than the columns do: a range and an enum.
const VALIDATED_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id"],
  "properties": {
    "id": {"type": "integer", "minimum": 1},
    "status": {"enum": ["new", "paid"]}
  }
}"#;

/// A config with `schema.mode` set, the columns listed by the mapping (the
/// registry's schema only validates).
fn validating_config(setup: &Setup, mode: &str) -> PathBuf {
    let config = setup.config(&["orders"], "    schema:\n      columns:\n        - {name: id, type: long}\n", 300);
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, yaml.replacen("schema:\n  registry:", &format!("schema:\n  mode: {mode}\n  registry:"), 1))
        .unwrap();
    config
}

#[test]
fn lenient_validation_keeps_invalid_records_as_dead_letters() {
    let setup = Setup::new(&[("orders", VALIDATED_SCHEMA)]);
    let config = validating_config(&setup, "lenient");
    write_json_segment(
        &setup.partition("orders"),
        0,
        &[
            Some(r#"{"id": 1, "status": "new"}"#),
            Some(r#"{"id": 0, "status": "new"}"#),
            Some(r#"{"id": 2, "status": "lost"}"#),
            Some(r#"{"status": "paid"}"#),
            Some(r#"{"id": 3}"#),
        ],
        10,
    );
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        typed(&setup.rows("prod.orders"), &["offset", "id"]),
        [json!({"offset": 0, "id": 1}), json!({"offset": 4, "id": 3})]
    );
    assert_eq!(
        typed(&setup.rows("prod.orders_dlq"), &["offset", "reason_code", "reason"]),
        [
            json!({"offset": 1, "reason_code": "schema_invalid",
                   "reason": "`/id` fails keyword `minimum`: 0 is less than the minimum of 1"}),
            json!({"offset": 2, "reason_code": "schema_invalid",
                   "reason": "`/status` fails keyword `enum`: \"lost\" is not one of \"new\" or \"paid\""}),
            json!({"offset": 3, "reason_code": "schema_invalid",
                   "reason": "the value fails keyword `required`: \"id\" is a required property"}),
        ]
    );
    assert_eq!(committed(&setup, "prod.orders"), r#"{"orders":{"0":5}}"#);
}

#[test]
fn strict_validation_stops_the_partition_at_the_first_invalid_record() {
    let setup = Setup::new(&[("orders", VALIDATED_SCHEMA)]);
    let config = validating_config(&setup, "strict");
    let values = [Some(r#"{"id": 1}"#), Some(r#"{"id": 0}"#), Some(r#"{"id": 2}"#)];
    write_json_segment(&setup.partition("orders"), 0, &values, 1);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(1), "the partition is stuck: {}\n{}", run.stdout, run.stderr);
    let reason = "record at offset 1 does not match the JSON Schema of topic `orders` and schema.mode is strict: \
                  `/id` fails keyword `minimum`: 0 is less than the minimum of 1; go on past it with \
                  `floe ctl rewind --partition orders/0 --offset 2`, or set schema.mode to lenient to keep such \
                  records as dead letters";
    assert!(run.stdout.contains(reason), "{}", run.stdout);
    assert_eq!(typed(&setup.rows("prod.orders"), &["offset", "id"]), [json!({"offset": 0, "id": 1})]);
    assert_eq!(setup.rows("prod.orders_dlq"), Vec::<Value>::new(), "strict makes no dead letter");
    assert_eq!(committed(&setup, "prod.orders"), r#"{"orders":{"0":1}}"#);
}

/// Strict validation pauses the whole table, not only the partition holding
/// the invalid record: the other partitions' new records wait, the status
/// says why on every partition, and rewinding the failed partition past the
/// record lets the whole table go on, every valid record once.
#[test]
fn strict_validation_pauses_the_table_until_the_record_is_dealt_with() {
    let setup = Setup::new(&[("orders", VALIDATED_SCHEMA)]);
    let config = validating_config(&setup, "strict");
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{yaml}commit:\n  interval_seconds: 0.5\n")).unwrap();
    let (p0, p1) = (setup.partition("orders"), setup.data.path().join("bucket/production/orders/1"));
    let next0 = write_json_segment(&p0, 0, &[Some(r#"{"id": 1}"#)], 1);
    let next1 = write_json_segment(&p1, 0, &[Some(r#"{"id": 10}"#)], 1);
    let floe = RunningFloe::start(&config, &setup.lake.path().join("floe.log"));
    floe.wait_for("orders", 0, "committed offset 1", |p| p["committed"] == 1);
    floe.wait_for("orders", 1, "committed offset 1", |p| p["committed"] == 1);

    write_json_segment(&p0, next0, &[Some(r#"{"id": 0}"#), Some(r#"{"id": 2}"#)], 1);
    let status = floe.wait_for("orders", 0, "failed", |p| p["state"] == "failed");
    let reason = "record at offset 1 does not match the JSON Schema of topic `orders` and schema.mode is strict: \
                  `/id` fails keyword `minimum`: 0 is less than the minimum of 1; go on past it with \
                  `floe ctl rewind --partition orders/0 --offset 2`, or set schema.mode to lenient to keep such \
                  records as dead letters";
    assert_eq!(partition_of(&status, "orders", 0)["message"], reason);

    write_json_segment(&p1, next1, &[Some(r#"{"id": 11}"#)], 1);
    let status = floe.wait_for("orders", 1, "paused", |p| p["state"] == "paused");
    let paused = format!("table prod.orders is paused: partition orders/0 stopped at offset 1: {reason}");
    assert_eq!(partition_of(&status, "orders", 1)["message"], paused.as_str());
    // Several commit intervals later, partition 1's new record still waits.
    std::thread::sleep(Duration::from_secs(3));
    let status = floe.status().unwrap();
    assert_eq!(partition_of(&status, "orders", 1)["committed"], 1, "a paused table reads nothing");
    let table = status["tables"].as_array().unwrap().iter().find(|t| t["table"] == "prod.orders").unwrap();
    assert_eq!((&table["paused"], &table["error"]), (&json!(true), &json!(paused)));

    floe.ctl_ok(&["rewind", "--partition", "orders/0", "--offset", "2"]);
    floe.wait_for("orders", 0, "committed offset 3", |p| p["committed"] == 3);
    floe.wait_for("orders", 1, "committed offset 2", |p| p["committed"] == 2);
    floe.stop();
    let mut rows = typed(&setup.rows("prod.orders"), &["partition", "offset", "id"]);
    rows.sort_by_key(|r| (r["partition"].as_i64(), r["offset"].as_i64()));
    assert_eq!(
        rows,
        [
            json!({"partition": 0, "offset": 0, "id": 1}),
            json!({"partition": 0, "offset": 2, "id": 2}),
            json!({"partition": 1, "offset": 0, "id": 10}),
            json!({"partition": 1, "offset": 1, "id": 11}),
        ]
    );
    assert_eq!(setup.rows("prod.orders_dlq"), Vec::<Value>::new(), "strict makes no dead letter");
}

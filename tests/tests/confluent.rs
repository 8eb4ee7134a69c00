//! Avro, JSON and Protobuf records in the Confluent wire format: columns from the topic's
//! schema in a Confluent-compatible registry (a static one serving recorded
//! answers), values decoded with each record's writer schema, the records
//! that cannot be decoded kept as dead letters with their reason, every
//! offset exactly once, and the table evolving with the subject's latest
//! version.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use apache_avro::types::Value as Avro;
use apache_avro::{Decimal, Schema};
use floe_table::confluent::frame;
use floe_tests::http_files::HttpFiles;
use floe_tests::running::{RunningFloe, partition_of};
use floe_tests::segments::write_segment;
use floe_tests::{Engine, Lakehouse, run_once};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);
const START_MS: i64 = 1_767_225_600_000;

const V1: &str = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
    {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
        {"name": "id", "type": "string"},
        {"name": "country", "type": ["null", "string"], "default": null}]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}}
]}"#;

/// V1 and one more optional field.
fn v2() -> String {
    V1.replace(
        r#"{"name": "tags", "type": {"type": "array", "items": "string"}}"#,
        r#"{"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "note", "type": ["null", "string"], "default": null}"#,
    )
}

/// Recorded registry answers: ids 1 and 2, and `latest_id` as the
/// subject's latest version.
fn write_registry(dir: &Path, latest_id: u32) {
    let ids = dir.join("schemas/ids");
    std::fs::create_dir_all(&ids).unwrap();
    let versions = [(1, V1.to_string()), (2, v2())];
    for (id, schema) in &versions {
        std::fs::write(ids.join(id.to_string()), json!({"schema": schema}).to_string()).unwrap();
    }
    let latest = dir.join("subjects/orders-value/versions");
    std::fs::create_dir_all(&latest).unwrap();
    let (id, schema) = &versions[latest_id as usize - 1];
    let answer = json!({"subject": "orders-value", "version": id, "id": id, "schema": schema, "schemaType": "AVRO"});
    std::fs::write(latest.join("latest"), answer.to_string()).unwrap();
}

/// An order datum of schema `schema` framed under schema id `id`.
fn order(schema: &Schema, id: u32, order_id: i64, cents: i64, note: Option<&str>) -> Vec<u8> {
    let mut fields = vec![
        ("id", Avro::Long(order_id)),
        ("amount", Avro::Decimal(Decimal::from(cents.to_be_bytes()))),
        ("created", Avro::TimestampMillis(created_ms(order_id))),
        ("status", Avro::Enum(1, "PAID".into())),
        (
            "customer",
            Avro::Record(vec![
                ("id".into(), Avro::String(format!("c-{order_id}"))),
                ("country".into(), Avro::Union(1, Box::new(Avro::String("FR".into())))),
            ]),
        ),
        ("tags", Avro::Array(vec![Avro::String("a".into()), Avro::String("b".into())])),
    ];
    if let Some(note) = note {
        fields.push(("note", Avro::Union(1, Box::new(Avro::String(note.into())))));
    }
    let record = Avro::Record(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    frame(id, &apache_avro::to_avro_datum(schema, record).unwrap())
}

/// Within what readers can show as a date, whatever the order id.
fn created_ms(order_id: i64) -> i64 {
    START_MS + order_id % 1000
}

fn offsets(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["offset"].as_i64().unwrap()).collect()
}

fn typed(row: &Value, columns: &[&str]) -> Value {
    Value::Object(columns.iter().map(|c| (c.to_string(), row[*c].clone())).collect())
}

/// `floe run --once` over the segments under `data`, topic orders to table
/// prod.orders in `format`, schemas from `registry`: the lakehouse and the
/// config.
fn run_format(format: &str, registry: &HttpFiles, data: &Path) -> (Lakehouse, std::path::PathBuf) {
    let lake = Lakehouse::new();
    let extra = format!(
        "    format: {format}\nschema:\n  confluent_registry:\n    url: {}\n    timeout_seconds: 2\n",
        registry.base_url()
    );
    let config = lake.write_config(data, "bucket", "production", &[("orders", "prod.orders")], &extra);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    (lake, config)
}

/// The name and type of each column after the eight every table has.
fn typed_fields(lake: &Lakehouse) -> Vec<(String, String)> {
    let schema = lake.schema("prod.orders");
    schema[8..]
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["type"].as_str().unwrap().to_string()))
        .collect()
}

/// The dead letters of prod.orders (every column), and their offsets and
/// reasons.
fn dead_letters(lake: &Lakehouse) -> (Vec<Value>, Vec<Value>) {
    let dead = lake.all_columns(Engine::PyIceberg, "prod.orders_dlq");
    let reasons = dead.iter().map(|r| typed(r, &["offset", "reason_code", "reason"])).collect();
    (dead, reasons)
}

/// Offsets 0..end each land once, as a row or as a dead letter.
fn assert_every_offset_once(rows: &[Value], dead: &[Value], end: i64) {
    let mut all = offsets(rows);
    all.extend(offsets(dead));
    all.sort();
    assert_eq!(all, (0..end).collect::<Vec<_>>());
}

/// Schemas v1 and v2, a registry serving them (v1 latest), and a source
/// folder with the orders partition's path.
struct Setup {
    v1: Schema,
    v2: Schema,
    registry_dir: tempfile::TempDir,
    registry: HttpFiles,
    data: tempfile::TempDir,
    partition: std::path::PathBuf,
}

impl Setup {
    fn new() -> Self {
        let registry_dir = tempfile::tempdir().unwrap();
        write_registry(registry_dir.path(), 1);
        let registry = HttpFiles::serve(registry_dir.path());
        let data = tempfile::tempdir().unwrap();
        let partition = data.path().join("bucket/production/orders/0");
        let (v1, v2) = (Schema::parse_str(V1).unwrap(), Schema::parse_str(&v2()).unwrap());
        Self { v1, v2, registry_dir, registry, data, partition }
    }
}

#[test]
fn avro_records_become_typed_rows_and_the_rest_dead_letters() {
    let Setup { v1, v2, registry_dir, registry, data, partition } = Setup::new();
    let values = [
        order(&v1, 1, 1, 1250, None),
        order(&v2, 2, 2, -5, Some("gift")),
        br#"{"id": 3}"#.to_vec(),
        frame(99, b"\x02"),
        order(&v1, 1, 9_007_199_254_740_993, 9_999_999_999, None),
        // A varint longer than any long.
        frame(1, &[0xff; 11]),
    ];
    let values: Vec<Option<&[u8]>> = values.iter().map(|v| Some(v.as_slice())).collect();
    write_segment(&partition, 0, &values, 1);
    let (lake, config) = run_format("avro", &registry, data.path());

    let typed_fields = typed_fields(&lake);
    let expected_fields = [
        ("id", "long"),
        ("amount", "decimal(10, 2)"),
        ("created", "timestamptz"),
        ("status", "string"),
        ("customer_id", "string"),
        ("customer_country", "string"),
        ("tags", "string"),
    ];
    assert_eq!(
        typed_fields,
        expected_fields.map(|(name, kind)| (name.to_string(), kind.to_string())),
        "columns of the subject's latest version (id 1), in field order"
    );

    let columns = ["offset", "id", "amount", "created", "status", "customer_id", "customer_country", "tags"];
    let rows = lake.all_columns(Engine::PyIceberg, "prod.orders");
    let rows: Vec<Value> = rows.iter().map(|r| typed(r, &columns)).collect();
    let expected_row = |offset: i64, id: i64, amount: &str| {
        json!({
            "offset": offset, "id": id, "amount": amount, "created": created_ms(id) * 1000, "status": "PAID",
            "customer_id": format!("c-{id}"), "customer_country": "FR", "tags": r#"["a","b"]"#,
        })
    };
    assert_eq!(
        rows,
        [
            expected_row(0, 1, "12.50"),
            // Written with schema id 2: its extra field is not a column (yet).
            expected_row(1, 2, "-0.05"),
            expected_row(4, 9_007_199_254_740_993, "99999999.99"),
        ]
    );

    let (dead, reasons) = dead_letters(&lake);
    assert_eq!(
        reasons,
        [
            json!({"offset": 2, "reason_code": "not_wire_format",
                   "reason": "value is not in the Confluent wire format: its first byte is 0x7b, not the magic byte 0x00"}),
            json!({"offset": 3, "reason_code": "unknown_schema_id",
                   "reason": format!("schema id 99 is not in the registry at {}", registry.base_url())}),
            json!({"offset": 5, "reason_code": "undecodable",
                   "reason": dead[2]["reason"].clone()}),
        ]
    );
    let undecodable = dead[2]["reason"].as_str().unwrap();
    assert!(undecodable.starts_with("the payload does not decode with its writer schema: "), "{undecodable}");
    assert_eq!(dead[0]["value"], json!("eyJpZCI6IDN9"), "the record as it was");

    // Every offset exactly once, in one of the two tables.
    assert_every_offset_once(&rows, &dead, 6);
    let snapshots = lake.snapshots("prod.orders");
    assert_eq!(snapshots.last().unwrap()["summary"]["floe.offsets"], json!(r#"{"orders":{"0":6}}"#));

    // The subject moves to id 2: the next start adds its new field as a
    // column, filled from then on.
    write_registry(registry_dir.path(), 2);
    write_segment(&partition, 6, &[Some(&order(&v2, 2, 7, 700, Some("second")))], 1);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let schema = lake.schema("prod.orders");
    assert_eq!(schema.last().unwrap(), &json!({"name": "note", "type": "string", "required": false}));
    let rows = lake.all_columns(Engine::PyIceberg, "prod.orders");
    let notes: Vec<Value> = rows.iter().map(|r| typed(r, &["offset", "id", "note"])).collect();
    assert_eq!(
        notes,
        [
            json!({"offset": 0, "id": 1, "note": null}),
            json!({"offset": 1, "id": 2, "note": null}),
            json!({"offset": 4, "id": 9_007_199_254_740_993i64, "note": null}),
            json!({"offset": 6, "id": 7, "note": "second"}),
        ]
    );
    let committed: BTreeSet<i64> = offsets(&rows).into_iter().chain(offsets(&dead)).collect();
    assert_eq!(committed.len(), 7);
    assert!(registry.requests("/schemas/ids/99") >= 1);
}

/// The registry stops answering while floe runs, and a record names a
/// schema id the worker has not fetched yet: the partition waits and says
/// why, nothing becomes a dead letter, and once the registry answers the
/// record lands, once.
#[test]
fn a_registry_outage_is_waited_out_never_dead_lettered() {
    let Setup { v1, v2, registry_dir: _registry_dir, registry, data, partition } = Setup::new();
    let next = write_segment(&partition, 0, &[Some(&order(&v1, 1, 1, 100, None))], 1);
    let lake = Lakehouse::new();
    let extra = format!(
        "    format: avro\nschema:\n  confluent_registry:\n    url: {}\n    timeout_seconds: 1\n\
         commit:\n  interval_seconds: 0.5\n",
        registry.base_url()
    );
    let config = lake.write_config(data.path(), "bucket", "production", &[("orders", "prod.orders")], &extra);
    let floe = RunningFloe::start(&config, &lake.path().join("floe.log"));
    floe.wait_for("orders", 0, "committed offset 1", |p| p["committed"] == 1);

    registry.set_down(true);
    write_segment(&partition, next, &[Some(&order(&v2, 2, 2, 200, Some("late")))], 1);
    let status = floe.wait_for("orders", 0, "waiting for the registry", |p| p["state"] == "waiting");
    let message = partition_of(&status, "orders", 0)["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("waiting for the schema registry (schema id 2): "), "{message}");
    assert!(message.contains("HTTP 503"), "{message}");
    assert_eq!(lake.rows(Engine::PyIceberg, "prod.orders_dlq"), Vec::<Value>::new(), "no dead letter");

    registry.set_down(false);
    floe.wait_for("orders", 0, "committed offset 2", |p| p["committed"] == 2);
    floe.stop();
    let rows = lake.all_columns(Engine::PyIceberg, "prod.orders");
    let got: Vec<Value> = rows.iter().map(|r| typed(r, &["offset", "id", "status"])).collect();
    assert_eq!(got, [json!({"offset": 0, "id": 1, "status": "PAID"}), json!({"offset": 1, "id": 2, "status": "PAID"})]);
    assert_eq!(lake.rows(Engine::PyIceberg, "prod.orders_dlq"), Vec::<Value>::new(), "no dead letter");
}

/// JSON values in the Confluent wire format (`format: json_schema`):
/// columns from the subject's latest JSON Schema, each value read by name
/// once its schema id is known to be a JSON Schema, the rest dead letters
/// with their reason, every offset exactly once.
#[test]
fn json_schema_records_become_typed_rows_and_the_rest_dead_letters() {
    let registry_dir = tempfile::tempdir().unwrap();
    let orders = json!({
        "type": "object",
        "required": ["id", "customer"],
        "properties": {
            "id": {"type": "integer"},
            "amount": {"type": "number"},
            "placed": {"type": "string", "format": "date-time"},
            "customer": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
        },
    });
    let answer = |schema: &Value| json!({"schema": schema.to_string(), "schemaType": "JSON"});
    let ids = registry_dir.path().join("schemas/ids");
    std::fs::create_dir_all(&ids).unwrap();
    std::fs::write(ids.join("11"), answer(&orders).to_string()).unwrap();
    std::fs::write(ids.join("12"), json!({"schema": V1}).to_string()).unwrap();
    let latest = registry_dir.path().join("subjects/orders-value/versions");
    std::fs::create_dir_all(&latest).unwrap();
    let mut version = answer(&orders);
    version["id"] = json!(11);
    std::fs::write(latest.join("latest"), version.to_string()).unwrap();
    let registry = HttpFiles::serve(registry_dir.path());

    let data = tempfile::tempdir().unwrap();
    let values = [
        frame(11, br#"{"id": 9007199254740993, "amount": 12.5, "placed": "2026-01-01T00:00:00.123+01:00", "customer": {"id": "c-1"}}"#),
        br#"{"id": 2, "customer": {"id": "c-2"}}"#.to_vec(),
        frame(12, br#"{"id": 3, "customer": {"id": "c-3"}}"#),
        frame(11, b"{"),
        frame(11, br#"{"id": 5}"#),
        frame(11, br#"{"id": "6", "customer": {"id": "c-6"}, "extra": true}"#),
    ];
    let values: Vec<Option<&[u8]>> = values.iter().map(|v| Some(v.as_slice())).collect();
    write_segment(&data.path().join("bucket/production/orders/0"), 0, &values, 1);
    let (lake, _) = run_format("json_schema", &registry, data.path());

    let schema = lake.schema("prod.orders");
    let typed_fields: Vec<Value> = schema[8..].to_vec();
    assert_eq!(
        typed_fields,
        [
            json!({"name": "amount", "type": "double", "required": false}),
            json!({"name": "customer_id", "type": "string", "required": false}),
            json!({"name": "id", "type": "long", "required": false}),
            json!({"name": "placed", "type": "timestamptz", "required": false}),
        ],
        "columns of the subject's latest JSON Schema (id 11), by property name"
    );
    let columns = ["offset", "id", "amount", "placed", "customer_id"];
    let rows = lake.all_columns(Engine::PyIceberg, "prod.orders");
    let rows: Vec<Value> = rows.iter().map(|r| typed(r, &columns)).collect();
    assert_eq!(
        rows,
        [
            json!({"offset": 0, "id": 9_007_199_254_740_993i64, "amount": 12.5,
                   "placed": 1_767_222_000_123_000i64, "customer_id": "c-1"}),
            json!({"offset": 5, "id": 6, "amount": null, "placed": null, "customer_id": "c-6"}),
        ]
    );

    let (dead, reasons) = dead_letters(&lake);
    assert_eq!(
        reasons,
        [
            json!({"offset": 1, "reason_code": "not_wire_format",
                   "reason": "value is not in the Confluent wire format: its first byte is 0x7b, not the magic byte 0x00"}),
            json!({"offset": 2, "reason_code": "unknown_schema_id",
                   "reason": "schema id 12 is an Avro schema, but the table's format is json_schema"}),
            json!({"offset": 3, "reason_code": "not_json", "reason": dead[2]["reason"].clone()}),
            json!({"offset": 4, "reason_code": "missing_required",
                   "reason": "required column `customer_id` is missing or null"}),
        ]
    );
    assert_every_offset_once(&rows, &dead, 6);
    let snapshots = lake.snapshots("prod.orders");
    assert_eq!(snapshots.last().unwrap()["summary"]["floe.offsets"], json!(r#"{"orders":{"0":6}}"#));
}

const ORDER_PROTO: &str = r#"
    syntax = "proto3";
    package shop;
    import "google/protobuf/timestamp.proto";
    import "money.proto";
    message Order {
      int64 id = 1;
      shop.Money total = 2;
      Status status = 3;
      google.protobuf.Timestamp created = 4;
      repeated string tags = 5;
      enum Status { NEW = 0; PAID = 1; }
    }
"#;
const MONEY_PROTO: &str = r#"syntax = "proto3"; package shop; message Money { int64 cents = 1; string currency = 2; }"#;

/// Protobuf values in the Confluent wire format: the schema imports another
/// subject's file (a reference), columns come from its first message type,
/// values decode by their message indexes, the rest are dead letters with
/// their reason, every offset exactly once.
#[test]
fn protobuf_records_become_typed_rows_and_the_rest_dead_letters() {
    use prost::Message;
    use prost_reflect::{DynamicMessage, Value as Proto};

    let registry_dir = tempfile::tempdir().unwrap();
    let write = |path: &str, body: Value| {
        let file = registry_dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body.to_string()).unwrap();
    };
    let references = json!([{"name": "money.proto", "subject": "shop-money", "version": 3}]);
    let order_answer = json!({"schema": ORDER_PROTO, "schemaType": "PROTOBUF", "references": references});
    write("schemas/ids/21", order_answer.clone());
    write("schemas/ids/22", json!({"schema": V1}));
    write("subjects/shop-money/versions/3", json!({"schema": MONEY_PROTO, "schemaType": "PROTOBUF", "id": 20}));
    let mut latest = order_answer;
    latest["id"] = json!(21);
    write("subjects/orders-value/versions/latest", latest);
    let registry = HttpFiles::serve(registry_dir.path());

    let imports = [("money.proto".to_string(), MONEY_PROTO.to_string())];
    let file = floe_table::protobuf::compile(ORDER_PROTO, &imports).unwrap();
    let order = file.messages().next().unwrap();
    let message_of = |field: &str| order.get_field_by_name(field).unwrap().kind().as_message().unwrap().clone();
    let framed = |indexes: &[u8], message: &DynamicMessage| {
        let mut payload = indexes.to_vec();
        payload.extend(message.encode_to_vec());
        frame(21, &payload)
    };
    let mut full = DynamicMessage::new(order.clone());
    full.set_field_by_name("id", Proto::I64(9_007_199_254_740_993));
    let mut total = DynamicMessage::new(message_of("total"));
    total.set_field_by_name("cents", Proto::I64(1250));
    total.set_field_by_name("currency", Proto::String("EUR".into()));
    full.set_field_by_name("total", Proto::Message(total));
    full.set_field_by_name("status", Proto::EnumNumber(1));
    let mut created = DynamicMessage::new(message_of("created"));
    created.set_field_by_name("seconds", Proto::I64(START_MS / 1000));
    created.set_field_by_name("nanos", Proto::I32(5_000));
    full.set_field_by_name("created", Proto::Message(created));
    full.set_field_by_name("tags", Proto::List(vec![Proto::String("a".into()), Proto::String("b".into())]));
    let empty = DynamicMessage::new(order.clone());

    let values = [
        framed(&[0], &full),
        frame(21, &[0, 0x0a, 0x05]),
        frame(22, &[0]),
        // Count 1, index 3: the file has one message type.
        frame(21, &[2, 6]),
        br#"{"id": 5}"#.to_vec(),
        framed(&[0], &empty),
    ];
    let data = tempfile::tempdir().unwrap();
    let values: Vec<Option<&[u8]>> = values.iter().map(|v| Some(v.as_slice())).collect();
    write_segment(&data.path().join("bucket/production/orders/0"), 0, &values, 1);
    let (lake, _) = run_format("protobuf", &registry, data.path());

    let typed_fields = typed_fields(&lake);
    let expected_fields = [
        ("id", "long"),
        ("total_cents", "long"),
        ("total_currency", "string"),
        ("status", "string"),
        ("created", "timestamptz"),
        ("tags", "string"),
    ];
    assert_eq!(typed_fields, expected_fields.map(|(name, kind)| (name.to_string(), kind.to_string())));

    let columns = ["offset", "id", "total_cents", "total_currency", "status", "created", "tags"];
    let rows = lake.all_columns(Engine::PyIceberg, "prod.orders");
    let rows: Vec<Value> = rows.iter().map(|r| typed(r, &columns)).collect();
    assert_eq!(
        rows,
        [
            json!({"offset": 0, "id": 9_007_199_254_740_993i64, "total_cents": 1250, "total_currency": "EUR",
                   "status": "PAID", "created": START_MS * 1000 + 5, "tags": r#"["a","b"]"#}),
            // Unset proto3 scalars are their defaults; an unset message is null.
            json!({"offset": 5, "id": 0, "total_cents": null, "total_currency": null,
                   "status": "NEW", "created": null, "tags": "[]"}),
        ]
    );

    let (dead, reasons) = dead_letters(&lake);
    assert_eq!(
        reasons,
        [
            json!({"offset": 1, "reason_code": "undecodable", "reason": dead[0]["reason"].clone()}),
            json!({"offset": 2, "reason_code": "unknown_schema_id",
                   "reason": "schema id 22 is an Avro schema, but the table's format is protobuf"}),
            json!({"offset": 3, "reason_code": "undecodable",
                   "reason": "message indexes [3] name no message type of the writer schema"}),
            json!({"offset": 4, "reason_code": "not_wire_format",
                   "reason": "value is not in the Confluent wire format: its first byte is 0x7b, not the magic byte 0x00"}),
        ]
    );
    let undecodable = dead[0]["reason"].as_str().unwrap();
    assert!(undecodable.starts_with("the payload does not decode with its writer schema: "), "{undecodable}");
    assert_every_offset_once(&rows, &dead, 6);
}

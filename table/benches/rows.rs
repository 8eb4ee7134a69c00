//! Rows built per second from order records like the end-to-end bench's
//! (200-byte JSON values): the raw columns alone, the raw columns plus ten
//! typed columns read from the JSON, and the same ten read from the same
//! orders in Avro (Confluent wire format). The differences are what typed
//! columns cost before Parquet and zstd.
//!
//!     cargo bench -p floe-table --bench rows

use std::hint::black_box;
use std::sync::Arc;

use apache_avro::Schema;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use floe_config::{Column, PayloadFormat};
use floe_kfs::record::Record;
use floe_table::confluent::RegisteredSchema;
use floe_table::{MappedColumn, RowBuilder, SourceColumn, table_schema};

#[path = "common/avro_orders.rs"]
mod avro_orders;
use avro_orders::{AVRO_SCHEMA, avro_order};

const RECORDS: usize = 10_000;

/// The end-to-end bench's typed mapping.
const COLUMNS: &str = r#"[
    {"name": "order_id", "type": "long", "required": true},
    {"name": "status", "type": "string"},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "amount_double", "type": "double", "path": "amount"},
    {"name": "qty", "type": "int"},
    {"name": "customer_id", "type": "long", "path": "customer.id"},
    {"name": "country", "type": "string", "path": "customer.country"},
    {"name": "created_at", "type": "timestamptz"},
    {"name": "note", "type": "string"},
    {"name": "order_ref", "type": "string", "path": "order_id"}]"#;

const STATUSES: [&str; 4] = ["created", "paid", "shipped", "delivered"];
const COUNTRIES: [&str; 5] = ["DE", "FR", "US", "BR", "JP"];
const WORDS: [&str; 8] = ["gift", "wrap", "fragile", "leave", "at", "door", "weekend", "priority"];

/// Order records with pseudo-random fields (a fixed linear congruential
/// sequence, so every run reads the same values).
fn orders() -> Vec<Record> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut below = |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    (0..RECORDS as i64)
        .map(|n| {
            let ts = 1_764_000_000_000 + n;
            let mut value = format!(
                r#"{{"order_id":{},"status":"{}","amount":{}.{:02},"qty":{},"customer":{{"id":{},"country":"{}"}},"created_at":{ts},"note":""#,
                1_000_000 + n,
                STATUSES[below(4) as usize],
                below(1000),
                below(100),
                1 + below(9),
                below(100_000),
                COUNTRIES[below(5) as usize],
            );
            while value.len() < 190 {
                value.push_str(WORDS[below(8) as usize]);
                value.push(' ');
            }
            value.push_str("\"}");
            Record {
                offset: n,
                timestamp_ms: ts,
                key: Some(Bytes::from(format!("user-{}", below(500)))),
                value: Some(Bytes::from(value)),
                headers: Vec::new(),
            }
        })
        .collect()
}

/// The same orders as Avro datums under schema id 1.
fn as_avro(schema: &Schema, records: &[Record]) -> Vec<Record> {
    let value = |record: &Record| Some(Bytes::from(avro_order(schema, record.value.as_deref().expect("a value"))));
    records.iter().map(|record| Record { value: value(record), ..record.clone() }).collect()
}

fn rows(c: &mut Criterion) {
    let records = orders();
    let schema = Arc::new(Schema::parse_str(AVRO_SCHEMA).expect("the bench's Avro schema"));
    let avro = as_avro(&schema, &records);
    let typed: Vec<Column> = serde_json::from_str(COLUMNS).expect("the bench's columns");
    let mut group = c.benchmark_group("rows");
    group.throughput(Throughput::Elements(RECORDS as u64));
    // The Avro record has fields of their own for the JSON's second reads
    // of `amount` and `order_id`.
    let mut typed_avro = typed.clone();
    for column in &mut typed_avro {
        if matches!(column.name.as_str(), "amount_double" | "order_ref") {
            column.path = None;
        }
    }
    let cases = [
        ("raw", &[][..], PayloadFormat::Json, &records),
        ("typed_json", &typed[..], PayloadFormat::Json, &records),
        ("typed_avro", &typed_avro[..], PayloadFormat::Avro, &avro),
    ];
    for (name, columns, format, records) in cases {
        let table = table_schema(columns, &[SourceColumn::RecordTime]);
        let table = Arc::new(iceberg::arrow::schema_to_arrow_schema(&table).expect("an Arrow schema"));
        let mapped: Vec<MappedColumn> = columns.iter().map(MappedColumn::from).collect();
        let mut builder = RowBuilder::new(table, &mapped).expect("a row builder").with_format(format);
        builder.add_writer_schema(1, Ok(RegisteredSchema::Avro(schema.clone())));
        group.bench_function(name, |b| {
            b.iter(|| {
                let rejected = builder.append("orders", 0, black_box(records), &[]).expect("rows");
                assert!(rejected.is_empty(), "{:?}", rejected.first());
                black_box(builder.finish().expect("a batch"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, rows);
criterion_main!(benches);

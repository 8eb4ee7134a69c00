//! The bench orders as Avro: the schema and the datum of a JSON order, for
//! the row bench (`table/benches/rows.rs`) and the end-to-end bench
//! (`floe/benches/e2e.rs`), which both include this file.

use apache_avro::Schema;
use apache_avro::types::Value as Avro;

/// The orders as an Avro record whose fields give the bench's ten typed
/// columns: the amount twice, the order id as text too.
pub const AVRO_SCHEMA: &str = r#"{"type": "record", "name": "Order", "fields": [
    {"name": "order_id", "type": "long"},
    {"name": "status", "type": "string"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "amount_double", "type": "double"},
    {"name": "qty", "type": "int"},
    {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
        {"name": "id", "type": "long"}, {"name": "country", "type": "string"}]}},
    {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "note", "type": "string"},
    {"name": "order_ref", "type": "string"}]}"#;

/// The Avro datum of a JSON order, framed under schema id 1.
pub fn avro_order(schema: &Schema, json: &[u8]) -> Vec<u8> {
    let order: serde_json::Value = serde_json::from_slice(json).expect("a generated order");
    let amount = order["amount"].as_f64().expect("an amount");
    let cents = (amount * 100.0).round() as i64;
    let fields = vec![
        ("order_id", Avro::Long(order["order_id"].as_i64().expect("an order id"))),
        ("status", Avro::String(order["status"].as_str().expect("a status").into())),
        ("amount", Avro::Decimal(apache_avro::Decimal::from(cents.to_be_bytes()))),
        ("amount_double", Avro::Double(amount)),
        ("qty", Avro::Int(order["qty"].as_i64().expect("a quantity") as i32)),
        (
            "customer",
            Avro::Record(vec![
                ("id".into(), Avro::Long(order["customer"]["id"].as_i64().expect("a customer"))),
                ("country".into(), Avro::String(order["customer"]["country"].as_str().expect("a country").into())),
            ]),
        ),
        ("created_at", Avro::TimestampMillis(order["created_at"].as_i64().expect("a time"))),
        ("note", Avro::String(order["note"].as_str().expect("a note").into())),
        ("order_ref", Avro::String(order["order_id"].to_string())),
    ];
    let record = Avro::Record(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    floe_table::confluent::frame(1, &apache_avro::to_avro_datum(schema, record).expect("an order datum"))
}

//! Routing: a mapping whose topic is a pattern feeds every topic it matches,
//! each to the table its `{topic}` template names. Topics that appear later
//! are found at the next listing; a topic whose table another mapping
//! writes is refused, with the reason in the run summary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use floe_tests::running::RunningFloe;
use floe_tests::segments::write_json_segment;
use floe_tests::{Engine, Lakehouse, run_once};

const TIMEOUT: Duration = Duration::from_secs(120);

/// Writes `records` JSON records to one segment of `topic`'s `partition`.
fn write_topic(source: &Path, topic: &str, partition: u32, records: usize) {
    let values: Vec<String> = (0..records).map(|i| format!(r#"{{"topic":"{topic}","n":{i}}}"#)).collect();
    let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
    let dir = source.join(format!("bucket/production/{topic}/{partition}"));
    std::fs::create_dir_all(&dir).unwrap();
    write_json_segment(&dir, 0, &values, 4);
}

fn config(lake: &Lakehouse, source: &Path, mappings: &str) -> PathBuf {
    lake.write_config(source, "bucket", "production", &[], mappings)
}

/// (partition, offset) of every row of `table`, in order.
fn positions(lake: &Lakehouse, table: &str) -> Vec<(i64, i64)> {
    floe_tests::positions(&lake.rows(Engine::PyIceberg, table))
}

fn all(partitions: &[(i64, i64)]) -> Vec<(i64, i64)> {
    partitions.iter().flat_map(|&(p, n)| (0..n).map(move |o| (p, o))).collect()
}

#[test]
fn a_pattern_feeds_each_matching_topic_to_its_own_table_and_finds_new_topics() {
    let lake = Lakehouse::new();
    let source = lake.path().join("source");
    write_topic(&source, "orders.eu", 0, 10);
    write_topic(&source, "orders.us-west", 0, 7);
    write_topic(&source, "orders.us-west", 1, 5);
    write_topic(&source, "payments", 0, 6);
    write_topic(&source, "audit", 0, 3);
    let config = config(
        &lake,
        &source,
        "  - topic: 'orders\\..*'\n    table: raw.{topic}\n  - topic: payments\n    table: prod.payments\n",
    );

    let first = run_once(&config, TIMEOUT);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_eq!(positions(&lake, "raw.orders_eu"), all(&[(0, 10)]));
    assert_eq!(positions(&lake, "raw.orders_us_west"), all(&[(0, 7), (1, 5)]));
    assert_eq!(positions(&lake, "prod.payments"), all(&[(0, 6)]));
    let rows = lake.rows(Engine::DuckDb, "raw.orders_us_west");
    assert!(rows.iter().all(|r| r["topic"] == "orders.us-west"), "{rows:?}");
    assert!(!first.stdout.contains("audit") && !first.stderr.contains("audit"), "no mapping matches audit");

    // A topic that appears later gets its table; the others resume where
    // they stopped.
    write_topic(&source, "orders.apac", 0, 4);
    let dir = source.join("bucket/production/orders.eu/0");
    let more: Vec<Option<&str>> = vec![Some(r#"{"n":10}"#), Some(r#"{"n":11}"#)];
    write_json_segment(&dir, 10, &more, 4);
    let second = run_once(&config, TIMEOUT);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert_eq!(positions(&lake, "raw.orders_apac"), all(&[(0, 4)]));
    assert_eq!(positions(&lake, "raw.orders_eu"), all(&[(0, 12)]), "every offset once");
    assert_eq!(positions(&lake, "raw.orders_us_west"), all(&[(0, 7), (1, 5)]));
    let committed = lake.snapshots("raw.orders_eu").last().expect("a snapshot")["summary"]["floe.offsets"].clone();
    assert_eq!(committed, r#"{"orders.eu":{"0":12}}"#);
}

#[test]
fn a_topic_whose_table_another_mapping_writes_is_refused_and_the_others_go_on() {
    let lake = Lakehouse::new();
    let source = lake.path().join("source");
    write_topic(&source, "payments", 0, 6);
    write_topic(&source, "payouts", 0, 3);
    let config = config(
        &lake,
        &source,
        "  - topic: payments\n    table: prod.payments\n  - topic: 'pay.*'\n    table: prod.payments\n",
    );
    let run = run_once(&config, TIMEOUT);
    assert_ne!(run.code, Some(0), "a refused topic leaves the run incomplete:\n{}", run.stderr);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("topic payouts")
            && said.contains(
                "matches mappings[1], which names its table `prod.payments`, but mappings[0] writes that table"
            ),
        "{said}"
    );
    assert_eq!(positions(&lake, "prod.payments"), all(&[(0, 6)]), "payments alone, every offset once");
}

#[test]
fn a_topic_created_while_floe_runs_is_followed_within_the_idle_poll_interval() {
    let lake = Lakehouse::new();
    let source = lake.path().join("source");
    write_topic(&source, "orders.eu", 0, 5);
    let config = config(
        &lake,
        &source,
        "  - topic: 'orders\\..*'\n    table: raw.{topic}\n\
         discovery:\n  poll_interval_seconds: 0.2\n  idle_poll_interval_seconds: 1\n\
         commit:\n  interval_seconds: 0.5\n",
    );
    let floe = RunningFloe::start(&config, &lake.path().join("floe.log"));
    floe.wait_for("orders.eu", 0, "committed offset 5", |p| p["committed"] == 5);

    write_topic(&source, "orders.apac", 0, 4);
    write_topic(&source, "orders.apac", 1, 2);
    floe.wait_for("orders.apac", 1, "committed offset 2", |p| p["committed"] == 2);
    let status = floe.wait_for("orders.apac", 0, "committed offset 4", |p| p["committed"] == 4);
    let tables = status["tables"].as_array().expect("tables in status");
    let apac = tables.iter().find(|t| t["table"] == "raw.orders_apac").expect("the new table in status");
    assert_eq!(apac["topic"], "orders.apac", "{apac}");
    floe.stop();
    assert_eq!(positions(&lake, "raw.orders_apac"), all(&[(0, 4), (1, 2)]));
    assert_eq!(positions(&lake, "raw.orders_eu"), all(&[(0, 5)]));
}

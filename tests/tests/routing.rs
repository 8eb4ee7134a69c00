//! Routing: a mapping whose topic is a pattern feeds every topic it matches,
//! each to the table its `{topic}` template names. Topics that appear later
//! are found at the next listing; a topic whose table another mapping
//! writes is refused, with the reason in the run summary. Mappings with the
//! same topic (or pattern) each feed their own table, every table at its
//! own pace.

use std::path::{Path, PathBuf};
use std::time::Duration;

use floe_tests::running::RunningFloe;
use floe_tests::segments::write_json_segment;
use floe_tests::{Engine, Lakehouse, run_once};
use serde_json::Value;

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

#[test]
fn one_topic_feeds_several_tables_each_with_every_offset_once() {
    let lake = Lakehouse::new();
    let source = lake.path().join("source");
    write_topic(&source, "orders", 0, 10);
    write_topic(&source, "orders", 1, 5);
    write_topic(&source, "payments", 0, 6);
    let raw_and_typed = concat!(
        "  - topic: orders\n    table: raw.orders\n",
        "  - topic: orders\n    table: typed.orders\n    schema: {columns: [{name: n, type: long}]}\n",
        "  - topic: 'pay.*'\n    table: raw.{topic}\n",
        "  - topic: 'pay.*'\n    table: audit.{topic}\n",
    );
    let first = run_once(&config(&lake, &source, raw_and_typed), TIMEOUT);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    for table in ["raw.orders", "typed.orders"] {
        assert_eq!(positions(&lake, table), all(&[(0, 10), (1, 5)]), "{table}");
    }
    for table in ["raw.payments", "audit.payments"] {
        assert_eq!(positions(&lake, table), all(&[(0, 6)]), "{table}");
    }
    let typed = lake.all_columns(Engine::DuckDb, "typed.orders");
    let mut n: Vec<String> = typed.iter().filter(|r| r["partition"] == 1).map(|r| r["n"].to_string()).collect();
    n.sort_unstable();
    assert_eq!(n, ["0", "1", "2", "3", "4"], "the typed table's column: {typed:?}");

    // A table added to a topic the others have read starts at the
    // beginning; the others resume where they stopped.
    let dir = source.join("bucket/production/orders/0");
    write_json_segment(&dir, 10, &[Some(r#"{"n":10}"#), Some(r#"{"n":11}"#)], 4);
    let with_late = format!("{raw_and_typed}  - topic: orders\n    table: late.orders\n");
    let second = run_once(&config(&lake, &source, &with_late), TIMEOUT);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    for table in ["raw.orders", "typed.orders", "late.orders"] {
        assert_eq!(positions(&lake, table), all(&[(0, 12), (1, 5)]), "{table}: every offset once");
        let offsets = lake.snapshots(table).last().expect("a snapshot")["summary"]["floe.offsets"].clone();
        assert_eq!(offsets, r#"{"orders":{"0":12,"1":5}}"#, "{table}");
    }
}

#[test]
fn mappings_of_one_topic_must_write_different_tables_and_start_alike() {
    let lake = Lakehouse::new();
    let source = lake.path().join("source");
    write_topic(&source, "orders", 0, 1);
    let cases = [
        (
            "  - topic: orders\n    table: raw.orders\n  - topic: orders\n    table: raw.orders\n",
            "`mappings[1]` maps topic `orders` to table `raw.orders` again, as mappings[0] does; remove one of the two",
        ),
        (
            "  - topic: orders\n    table: raw.orders\n  - topic: orders\n    table: b.orders\n    start_offset: latest\n",
            "`mappings[1].start_offset` differs from that of mappings[0], which reads topic `orders` too; give every \
             mapping of one topic the same start_offset (and start_timestamp)",
        ),
    ];
    for (mappings, expected) in cases {
        let config = config(&lake, &source, mappings);
        let run = run_once(&config, TIMEOUT);
        assert_ne!(run.code, Some(0));
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(said.contains(expected) && said.contains("floe.yaml"), "{said}");
    }
}

/// The status of `topic`/`partition` as it feeds `table`.
fn feed_of<'a>(status: &'a Value, table: &str, topic: &str, partition: i64) -> &'a Value {
    let partitions = status["partitions"].as_array().expect("partitions in status");
    let found = partitions.iter().find(|p| p["table"] == table && p["topic"] == topic && p["partition"] == partition);
    found.unwrap_or(&Value::Null)
}

fn wait_for_feeds(floe: &RunningFloe, what: &str, check: impl Fn(&Value) -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let status = floe.status();
        if status.as_ref().is_some_and(&check) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never {what}; last status: {status:#?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_tables_of_one_topic_skip_damage_together_and_move_forward_apart() {
    let lake = Lakehouse::new();
    let source = lake.path().join("source");
    let dir = source.join("bucket/production/orders/0");
    std::fs::create_dir_all(&dir).unwrap();
    let values: Vec<String> = (0..25).map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
    for base in [0, 5, 10] {
        write_json_segment(&dir, base as i64, &values[base..base + 5], 5);
    }
    // A flipped byte inside the second segment's batch.
    let damaged_key = "production/orders/0/segment-00000000000000000005.kfs";
    let damaged = source.join("bucket").join(damaged_key);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    let config = config(
        &lake,
        &source,
        "  - topic: orders\n    table: prod.orders\n  - topic: orders\n    table: audit.orders\n\
         discovery:\n  poll_interval_seconds: 0.2\ncommit:\n  interval_seconds: 0.5\n",
    );
    let floe = RunningFloe::start(&config, &lake.path().join("floe.log"));
    let tables = ["prod.orders", "audit.orders"];
    wait_for_feeds(&floe, "failed in both tables", |s| {
        tables.iter().all(|t| feed_of(s, t, "orders", 0)["state"] == "failed")
    });

    // One partition, two tables: a move must say which.
    let ambiguous = floe.ctl(&["rewind", "--partition", "orders/0", "--offset", "20"]);
    assert!(!ambiguous.status.success());
    let said = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(
        said.contains("partition orders/0 feeds tables audit.orders, prod.orders: name the one to act on (--table)"),
        "{said}"
    );
    // A damaged segment is damaged for every table: one skip serves both.
    let said = floe.ctl_ok(&["skip", "--segment", damaged_key]);
    assert!(
        said.contains("(prod.orders) skips offsets 5..9") && said.contains("(audit.orders) skips offsets 5..9"),
        "{said}"
    );
    wait_for_feeds(&floe, "committed to 15 in both tables", |s| {
        tables.iter().all(|t| feed_of(s, t, "orders", 0)["committed"] == 15)
    });

    // Moving one table's partition forward leaves the other's alone.
    let said = floe.ctl_ok(&["rewind", "--partition", "orders/0", "--offset", "20", "--table", "prod.orders"]);
    assert!(said.contains("skips offsets 15..19"), "{said}");
    write_json_segment(&dir, 15, &values[15..25], 5);
    wait_for_feeds(&floe, "committed to 25 in both tables", |s| {
        tables.iter().all(|t| feed_of(s, t, "orders", 0)["committed"] == 25)
    });
    floe.stop();
    let offsets = |ranges: &[std::ops::Range<i64>]| -> Vec<(i64, i64)> {
        ranges.iter().flat_map(|r| r.clone().map(|o| (0, o))).collect()
    };
    assert_eq!(positions(&lake, "prod.orders"), offsets(&[0..5, 10..15, 20..25]));
    assert_eq!(positions(&lake, "audit.orders"), offsets(&[0..5, 10..25]));
}

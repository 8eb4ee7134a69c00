//! Where reading starts in a partition the table has no offset for:
//! `start_offset: latest` and `start_offset: timestamp`, decided once and
//! committed at once, so a later run resumes there instead of deciding again.

use std::path::PathBuf;
use std::time::Duration;

use floe_tests::segments::copy_segments;
use floe_tests::{Engine, Lakehouse, generate_orders, run_once};

const TIMEOUT: Duration = Duration::from_secs(120);
/// `floe generate`'s first record timestamp; record n is 7n to 7n+4 ms later.
const START_MS: i64 = 1_767_225_600_000;

/// One partition of 3,000 records in six segments of 500 (batches of 100),
/// staged, and the source bucket that segments are copied into.
struct Topic {
    _dir: tempfile::TempDir,
    staging: PathBuf,
    source: PathBuf,
}

impl Topic {
    fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let more = ["--segment-records", "500", "--batch-records", "100", "--codec", "lz4"];
        let staging = generate_orders(&dir.path().join("staging"), 1, 3000, &more).join("0");
        let source = dir.path().join("source");
        Self { _dir: dir, staging, source }
    }

    /// Puts the segments starting at `bases` in the source bucket.
    fn publish(&self, bases: &[i64]) {
        copy_segments(&self.staging, &self.source.join("bucket/production/orders/0"), bases);
    }
}

fn offsets(lake: &Lakehouse) -> Vec<i64> {
    let rows = lake.rows(Engine::PyIceberg, "prod.orders");
    rows.iter().map(|r| r["offset"].as_i64().expect("an offset")).collect()
}

fn committed(lake: &Lakehouse) -> String {
    let snapshots = lake.snapshots("prod.orders");
    snapshots.last().expect("a snapshot")["summary"]["floe.offsets"].as_str().expect("offsets").to_string()
}

#[test]
fn latest_skips_what_is_in_storage_and_reads_what_comes_after() {
    let topic = Topic::generate();
    topic.publish(&[0, 500, 1000]);
    let lake = Lakehouse::new();
    let config = lake.write_config(
        &topic.source,
        "bucket",
        "production",
        &[("orders", "prod.orders")],
        "    start_offset: latest\n",
    );

    let first = run_once(&config, TIMEOUT);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(first.stderr.contains("starts at offset 1500"), "{}", first.stderr);
    assert!(offsets(&lake).is_empty(), "nothing before the start is read");
    assert_eq!(committed(&lake), r#"{"orders":{"0":1500}}"#, "the start is committed");

    // New segments arrive; the next run resumes at the committed start.
    topic.publish(&[1500, 2000, 2500]);
    let second = run_once(&config, TIMEOUT);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert!(!second.stderr.contains("starts at offset"), "decided once:\n{}", second.stderr);
    assert_eq!(offsets(&lake), (1500..3000).collect::<Vec<_>>());
    assert_eq!(committed(&lake), r#"{"orders":{"0":3000}}"#);
}

#[test]
fn timestamp_starts_at_the_first_record_at_or_after_it() {
    let topic = Topic::generate();
    topic.publish(&[0, 500, 1000, 1500, 2000, 2500]);
    let lake = Lakehouse::new();
    // Record 1700 is the first stamped at or after this instant (record
    // 1699 is at most 1699 * 7 + 4 ms after START_MS).
    let at = START_MS + 1700 * 7;
    let rfc3339 = chrono::DateTime::from_timestamp_millis(at)
        .expect("a valid instant")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mapping = format!("    start_offset: timestamp\n    start_timestamp: \"{rfc3339}\"\n");
    let config = lake.write_config(&topic.source, "bucket", "production", &[("orders", "prod.orders")], &mapping);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("segment-00000000000000001500.kfs"), "one segment read to find it:\n{}", run.stderr);
    assert_eq!(offsets(&lake), (1700..3000).collect::<Vec<_>>());
    let rows = lake.rows(Engine::DuckDb, "prod.orders");
    assert!(rows.iter().all(|r| r["timestamp_ms"].as_i64().expect("a timestamp") >= at));
    assert_eq!(committed(&lake), r#"{"orders":{"0":3000}}"#);
}

/// A table added with `latest` to a topic another table reads starts at
/// the end of storage; the other table still gets what lies between its
/// offsets and that end.
#[test]
fn a_table_added_at_latest_leaves_the_other_tables_reading_where_they_were() {
    let topic = Topic::generate();
    topic.publish(&[0, 500, 1000]);
    let lake = Lakehouse::new();
    let mapping = |table: &str| format!("  - topic: orders\n    table: {table}\n    start_offset: latest\n");
    let table_offsets = |table: &str| -> Vec<i64> {
        let rows = lake.rows(Engine::PyIceberg, table);
        rows.iter().map(|r| r["offset"].as_i64().expect("an offset")).collect()
    };
    let config = lake.write_config(&topic.source, "bucket", "production", &[], &mapping("prod.orders"));
    let first = run_once(&config, TIMEOUT);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(table_offsets("prod.orders").is_empty());

    topic.publish(&[1500, 2000]);
    let both = format!("{}{}", mapping("prod.orders"), mapping("audit.orders"));
    let config = lake.write_config(&topic.source, "bucket", "production", &[], &both);
    let second = run_once(&config, TIMEOUT);
    assert_eq!(second.code, Some(0), "{}{}", second.stdout, second.stderr);
    assert_eq!(table_offsets("prod.orders"), (1500..2500).collect::<Vec<_>>());
    assert!(table_offsets("audit.orders").is_empty(), "audit.orders starts at the end");

    topic.publish(&[2500]);
    let third = run_once(&config, TIMEOUT);
    assert_eq!(third.code, Some(0), "{}{}", third.stdout, third.stderr);
    assert_eq!(table_offsets("prod.orders"), (1500..3000).collect::<Vec<_>>());
    assert_eq!(table_offsets("audit.orders"), (2500..3000).collect::<Vec<_>>());
}

//! The conformance corpus through the whole pipeline: `floe run --once` on
//! each case, then the tables read back with PyIceberg and with DuckDB must
//! hold exactly the case's expected records (offsets, timestamps, keys,
//! values, headers, nulls), no more and no fewer.

use std::time::Duration;

use floe_tests::{Engine, Lakehouse, corpus_dir, expected, of_topic, run_once};

const TIMEOUT: Duration = Duration::from_secs(180);

/// Runs a corpus case whose topics all map to `corpus.<topic>` and checks
/// every table with both engines. Returns the run for further checks.
fn run_case(case: &str, topics: &[&str]) -> (Lakehouse, floe_tests::Finished) {
    let lake = Lakehouse::new();
    let tables: Vec<(String, String)> = topics.iter().map(|t| (t.to_string(), format!("corpus.{t}"))).collect();
    let mappings: Vec<(&str, &str)> = tables.iter().map(|(t, n)| (t.as_str(), n.as_str())).collect();
    let config = lake.write_config(&corpus_dir().join(case), "bucket", "production", &mappings, "");
    let run = run_once(&config, TIMEOUT);
    let expected = expected(case);
    for (topic, table) in &tables {
        let want = of_topic(&expected, topic);
        for engine in Engine::ALL {
            let got = lake.rows(engine, table);
            assert_eq!(got.len(), want.len(), "{case}: {engine:?} row count of {table}\nfloe log:\n{}", run.stderr);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{case}: {engine:?} row of {table} differs");
            }
        }
    }
    (lake, run)
}

#[test]
fn plain_uncompressed_batches_with_nulls_and_binary_headers() {
    let (_, run) = run_case("plain", &["orders", "clicks"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn every_codec() {
    let (_, run) = run_case("codecs", &["events"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn log_append_time_and_read_committed_transactions() {
    let (lake, run) = run_case("txn_and_time", &["audit"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Offsets 0-38 were consumed (control batches included), none is open.
    let snapshots = lake.snapshots("corpus.audit");
    let summary = &snapshots.last().expect("a snapshot")["summary"];
    assert_eq!(summary["floe.offsets"], r#"{"audit":{"0":39}}"#);
    assert!(summary.get("floe.open-txn-start").is_none());
}

#[test]
fn json_values_are_kept_byte_for_byte() {
    let (_, run) = run_case("json_columns", &["orders"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn damaged_partitions_are_refused_by_name_and_the_healthy_one_is_committed() {
    let (lake, run) = run_case("damaged", &["logs"]);
    assert_eq!(run.code, Some(1), "a stuck partition makes --once fail\n{}", run.stdout);
    let report = &run.stdout;
    let line = |partition: &str| {
        report
            .lines()
            .find(|l| l.contains(&format!(" logs/{partition} ")) || l.contains(&format!(" logs/{partition}:")))
            .unwrap_or_else(|| panic!("no line for logs/{partition} in:\n{report}"))
            .to_string()
    };
    let flipped = line("1");
    assert!(flipped.starts_with("STUCK"), "{flipped}");
    assert!(flipped.contains("production/logs/1/segment-00000000000000000000.kfs"), "{flipped}");
    assert!(flipped.contains("CRC"), "{flipped}");
    let random = line("4");
    assert!(random.starts_with("STUCK"), "{random}");
    assert!(random.contains("production/logs/4/segment-00000000000000000000.kfs"), "{random}");
    // Still uploading: waiting, never called corrupt.
    for partition in ["2", "3"] {
        let waiting = line(partition);
        assert!(waiting.starts_with("waiting"), "{waiting}");
    }
    let snapshots = lake.snapshots("corpus.logs");
    let summary = &snapshots.last().expect("a snapshot")["summary"];
    assert_eq!(summary["floe.offsets"], r#"{"logs":{"0":60}}"#);
}

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

/// The case's own mapping: typed columns with exact values, and the three
/// records that cannot become rows in the dead-letter table with the reason.
#[test]
fn json_columns_become_typed_rows_and_dead_letters() {
    let case = corpus_dir().join("json_columns");
    let lake = Lakehouse::new();
    let mapping = std::fs::read_to_string(case.join("mapping.yaml")).expect("mapping.yaml");
    let mappings = mapping.strip_prefix("mappings:\n").expect("mapping.yaml starts with `mappings:`");
    let config = lake.write_config(&case, "bucket", "production", &[], mappings);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("prod.orders_dlq"), "the summary names the dead-letter table:\n{}", run.stdout);

    let records = of_topic(&expected("json_columns"), "orders");
    let dead_offsets: Vec<i64> = {
        let text = std::fs::read_to_string(case.join("expected_dead_letters.json")).expect("dead letters");
        let listed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        listed["offsets"].as_array().expect("offsets").iter().map(|o| o.as_i64().expect("an offset")).collect()
    };
    let want_rows: Vec<serde_json::Value> = std::fs::read_to_string(case.join("expected_rows.jsonl"))
        .expect("expected rows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    let is_dead = |r: &serde_json::Value| dead_offsets.contains(&r["offset"].as_i64().expect("an offset"));
    for engine in Engine::ALL {
        let got = lake.all_columns(engine, "prod.orders");
        let typed: Vec<serde_json::Value> = got
            .iter()
            .map(|row| {
                serde_json::json!({
                    "amount": row["amount"], "created_at_us": row["created_at"], "day": row["day"],
                    "offset": row["offset"], "order_id": row["order_id"], "qty": row["qty"],
                    "status": row["status"], "vip": row["vip"],
                })
            })
            .collect();
        assert_eq!(typed, want_rows, "{engine:?}: typed rows of prod.orders");
        // The record itself is kept beside its columns.
        let raw = lake.rows(engine, "prod.orders");
        let want_raw: Vec<_> = records.iter().filter(|r| !is_dead(r)).cloned().collect();
        assert_eq!(raw, want_raw, "{engine:?}: source columns of prod.orders");

        let dead = lake.rows(engine, "prod.orders_dlq");
        let want_dead: Vec<_> = records.iter().filter(|r| is_dead(r)).cloned().collect();
        assert_eq!(dead, want_dead, "{engine:?}: dead letters keep the record as it was");
    }
    let reasons: Vec<(i64, String, String)> = lake
        .all_columns(Engine::PyIceberg, "prod.orders_dlq")
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().expect("a string").to_string();
            (r["offset"].as_i64().expect("an offset"), text("reason_code"), text("reason"))
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, 3);
    assert_eq!(
        (reasons[0].1.as_str(), reasons[0].2.as_str()),
        ("missing_required", "required column `order_id` is missing or null")
    );
    assert_eq!((reasons[1].1.as_str(), reasons[1].2.as_str()), ("not_object", "value is a string, not a JSON object"));
    assert_eq!(reasons[2].1, "not_json");
    assert!(reasons[2].2.starts_with("value is not JSON: "), "{}", reasons[2].2);

    // Both tables record the same offsets: the dead letters are exactly-once too.
    for table in ["prod.orders", "prod.orders_dlq"] {
        let snapshots = lake.snapshots(table);
        let summary = &snapshots.last().expect("a snapshot")["summary"];
        assert_eq!(summary["floe.offsets"], r#"{"orders":{"0":46}}"#, "{table}");
    }
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

//! Steering a running `floe run` through `floe ctl`, as an operator would:
//! a damaged segment stops its partition and is skipped, a paused partition
//! stops reading (and stays paused across a restart) until resumed; the
//! metrics endpoint tells the same story. Every committed row is checked.

use floe_tests::running::{RunningFloe as Running, partition_of};
use floe_tests::segments::copy_segments;
use floe_tests::{Engine, Lakehouse, generate_orders};
use serde_json::Value;

/// A metric's value for the series whose labels include all of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .find(|line| labels.iter().all(|l| line.contains(l)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[test]
fn operators_skip_a_damaged_segment_and_pause_and_resume_a_partition() {
    let data = tempfile::tempdir().unwrap();
    // Two partitions of 4,000 records in segments of 1,000.
    let more = ["--segment-records", "1000", "--batch-records", "100", "--codec", "zstd"];
    let staging = generate_orders(&data.path().join("staging"), 2, 4000, &more);
    let source = data.path().join("source");
    let topic = source.join("bucket/production/orders");
    for partition in ["0", "1"] {
        copy_segments(&staging.join(partition), &topic.join(partition), &[0, 1000, 2000]);
    }
    // A flipped byte in the middle of orders/0's second segment.
    let damaged_key = "production/orders/0/segment-00000000000000001000.kfs";
    let damaged = topic.join("0/segment-00000000000000001000.kfs");
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();

    let lake = Lakehouse::new();
    let extra = "commit:\n  interval_seconds: 1\ndiscovery:\n  poll_interval_seconds: 1\n";
    let config = lake.write_config(&source, "bucket", "production", &[("orders", "prod.orders")], extra);
    let log = lake.path().join("run.log");
    let floe = Running::start(&config, &log);

    // The damage stops orders/0 at offset 1000, naming the object; orders/1 goes on.
    let status = floe.wait_for("orders", 0, "failed", |p| p["state"] == "failed");
    let failed = partition_of(&status, "orders", 0);
    assert_eq!(failed["object"], damaged_key, "{failed:#}");
    assert_eq!(failed["committed"], 1000, "{failed:#}");
    floe.wait_for("orders", 1, "committed 3000", |p| p["committed"] == 3000);
    let text = floe.ctl_ok(&["status"]);
    assert!(text.contains("orders/0 failed: ") && text.contains(damaged_key), "{text}");
    // The admin options after the subcommand too, as the README gives them.
    let args = ["ctl", "status", "--json", "--coordinator", floe.admin.as_str()];
    let after = floe_tests::floe_command().args(args).output().unwrap();
    assert!(after.status.success(), "{}", String::from_utf8_lossy(&after.stderr));
    let status: Value = serde_json::from_slice(&after.stdout).expect("status as JSON");
    assert_eq!(partition_of(&status, "orders", 1)["committed"], 3000, "{status:#}");
    let (code, metrics) = floe.http("/metrics");
    assert_eq!(code, 200);
    assert_eq!(metric(&metrics, "floe_partitions", &["state=\"failed\""]), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, "kafscale_processor_watermark_offset", &["partition=\"1\""]), Some(3000.0));
    assert_eq!(metric(&metrics, "kafscale_processor_last_offset", &["partition=\"1\""]), Some(2999.0));
    assert!(metric(&metrics, "kafscale_processor_errors_total", &["stage=\"decode\""]).is_some_and(|n| n >= 1.0));
    assert_eq!(metric(&metrics, "kafscale_processor_records_total", &["result=\"written\""]), Some(4000.0));
    assert_eq!(floe.http("/healthz"), (200, "ok".to_string()));
    assert_eq!(floe.http("/readyz").0, 200);

    // Skipping the object: orders/0 goes on at the next segment.
    let unknown = floe.ctl(&["skip", "--segment", "production/orders/0/nope.kfs"]);
    assert!(!unknown.status.success());
    let said = floe.ctl_ok(&["skip", "--segment", damaged_key, "--reason", "corrupt upload"]);
    assert!(said.contains("skips offsets 1000..1999"), "{said}");
    floe.wait_for("orders", 0, "committed 3000 after the skip", |p| p["committed"] == 3000 && p["state"] != "failed");

    // Paused, orders/1 reads nothing more, across a restart too.
    let said = floe.ctl_ok(&["pause", "--topic", "orders", "--partition", "1"]);
    assert!(said.starts_with("paused partition orders/1"), "{said}");
    floe.wait_for("orders", 1, "paused", |p| p["state"] == "paused" && p["worker"] == "");
    copy_segments(&staging.join("1"), &topic.join("1"), &[3000]);
    floe.wait_for("orders", 1, "aware of the new segment", |p| p["storage_end"] == 4000 && p["lag_records"] == 1000);
    floe.stop();
    let floe = Running::start(&config, &log);
    let status =
        floe.wait_for("orders", 1, "paused after a restart", |p| p["state"] == "paused" && p["storage_end"] == 4000);
    let paused = partition_of(&status, "orders", 1);
    assert_eq!(paused["committed"], 3000, "{paused:#}");
    let resumed = floe.ctl_ok(&["resume", "--topic", "orders", "--partition", "1"]);
    assert!(resumed.starts_with("resumed partition orders/1"), "{resumed}");
    floe.wait_for("orders", 1, "committed 4000 once resumed", |p| p["committed"] == 4000);
    let status = floe.status().expect("status");
    assert_eq!(status["tables"][0]["paused"], false);
    floe.stop();

    // Every record once, but the skipped ones; the skip is in the table's history.
    let offsets = floe_tests::positions(&lake.rows(Engine::PyIceberg, "prod.orders"));
    let expected: Vec<(i64, i64)> =
        (0..1000).chain(2000..3000).map(|o| (0, o)).chain((0..4000).map(|o| (1, o))).collect();
    assert_eq!(offsets.len(), expected.len());
    assert_eq!(offsets, expected);
    let skips: Vec<Value> = lake
        .snapshots("prod.orders")
        .iter()
        .filter_map(|s| s["summary"]["floe.skipped"].as_str().map(|t| serde_json::from_str(t).unwrap()))
        .collect();
    let reason = format!("segment {damaged_key} skipped: corrupt upload");
    assert_eq!(
        skips,
        [serde_json::json!([{"topic": "orders", "partition": 0, "from": 1000, "to": 2000, "reason": reason}])]
    );
}

/// `floe ctl rewind --table`: the table goes back to an earlier snapshot and
/// its partitions are read again from the offsets that snapshot records, so
/// the rows after it come back exactly once.
#[test]
fn a_table_rewound_to_a_snapshot_reads_again_from_its_offsets() {
    let data = tempfile::tempdir().unwrap();
    let more = ["--segment-records", "1000", "--batch-records", "100"];
    let staging = generate_orders(&data.path().join("staging"), 1, 3000, &more);
    let source = data.path().join("source");
    let partition = source.join("bucket/production/orders/0");
    copy_segments(&staging.join("0"), &partition, &[0]);

    let lake = Lakehouse::new();
    let extra = "commit:\n  interval_seconds: 1\ndiscovery:\n  poll_interval_seconds: 1\n";
    let config = lake.write_config(&source, "bucket", "production", &[("orders", "prod.orders")], extra);
    let floe = Running::start(&config, &lake.path().join("run.log"));
    // One snapshot per segment: offsets 1000, then 2000, then 3000.
    floe.wait_for("orders", 0, "committed 1000", |p| p["committed"] == 1000);
    copy_segments(&staging.join("0"), &partition, &[1000]);
    floe.wait_for("orders", 0, "committed 2000", |p| p["committed"] == 2000);
    copy_segments(&staging.join("0"), &partition, &[2000]);
    floe.wait_for("orders", 0, "committed 3000", |p| p["committed"] == 3000);

    let at_1000 = lake
        .snapshots("prod.orders")
        .into_iter()
        .find(|s| s["summary"]["floe.offsets"] == r#"{"orders":{"0":1000}}"#)
        .expect("a snapshot recording offset 1000");
    let id = at_1000["snapshot_id"].as_i64().unwrap().to_string();
    let unknown = floe.ctl(&["rewind", "--table", "prod.orders", "--snapshot", "42"]);
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains("snapshot 42 is not in the table's current history"), "{said}");

    let said = floe.ctl_ok(&["rewind", "--table", "prod.orders", "--snapshot", &id, "--reason", "bad deploy"]);
    assert!(said.contains(&format!("table prod.orders rewound to snapshot {id}")), "{said}");
    // Read again from 1000, and committed again up to 3000.
    floe.wait_for("orders", 0, "read again to 3000", |p| p["committed"] == 3000);
    floe.stop();

    let mut offsets: Vec<i64> =
        lake.rows(Engine::PyIceberg, "prod.orders").iter().map(|r| r["offset"].as_i64().unwrap()).collect();
    offsets.sort();
    assert_eq!(offsets, (0..3000).collect::<Vec<_>>(), "every offset once");
    let duck: Vec<Value> = lake.rows(Engine::DuckDb, "prod.orders");
    assert_eq!(duck.len(), 3000);
    // The rows after the snapshot were committed again on top of it: the
    // first commits of 1000..2999 are no longer in the table's history.
    let snapshots = lake.snapshots("prod.orders");
    let by_id = |id: &Value| snapshots.iter().find(|s| s["snapshot_id"] == *id);
    let mut history = Vec::new();
    let mut next = snapshots.last();
    while let Some(snapshot) = next {
        history.push(snapshot["summary"]["floe.offsets"].as_str().unwrap_or_default().to_string());
        next = by_id(&snapshot["parent_id"]);
    }
    history.reverse();
    let offsets_of = |next: i64| format!(r#"{{"orders":{{"0":{next}}}}}"#);
    assert_eq!(history.iter().filter(|o| **o == offsets_of(1000)).count(), 1, "{history:?}");
    assert_eq!(history.iter().filter(|o| **o == offsets_of(3000)).count(), 1, "{history:?}");
    assert_eq!(snapshots.iter().filter(|s| s["summary"]["floe.offsets"] == offsets_of(3000)).count(), 2);
}

/// `floe tail` shows what a typed table receives from a partition, and which
/// records would be dead letters and why, decoded from storage over Arrow
/// Flight (the corpus case json_columns, with its own mapping).
#[test]
fn tail_shows_the_rows_and_the_dead_letters_a_table_receives() {
    let case = floe_tests::corpus_dir().join("json_columns");
    let lake = Lakehouse::new();
    let mapping = std::fs::read_to_string(case.join("mapping.yaml")).expect("mapping.yaml");
    let mappings = mapping.strip_prefix("mappings:\n").expect("mapping.yaml starts with `mappings:`");
    let config = lake.write_config(&case, "bucket", "production", &[], mappings);
    let floe = Running::start(&config, &lake.path().join("run.log"));
    floe.wait_for("orders", 0, "listed", |p| p["storage_end"] == 46);
    let tail = |args: &[&str]| -> Vec<Value> {
        let output =
            floe_tests::floe_command().args(["tail", "--coordinator", &floe.admin]).args(args).output().unwrap();
        assert!(output.status.success(), "floe tail {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON row")).collect()
    };

    let want: Vec<Value> = std::fs::read_to_string(case.join("expected_rows.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows = tail(&["orders", "--limit", "0"]);
    let pick = |row: &Value| serde_json::json!([row["offset"], row["order_id"], row["qty"], row["status"], row["vip"]]);
    assert_eq!(rows.iter().map(pick).collect::<Vec<_>>(), want.iter().map(pick).collect::<Vec<_>>());
    // Longs beyond 2^53 come through exactly.
    assert_eq!(rows[0]["order_id"].as_u64(), Some(9_007_199_254_740_993));
    let from_two: Vec<Value> =
        tail(&["orders", "--from", "2", "--limit", "2"]).iter().map(|r| r["offset"].clone()).collect();
    assert_eq!(from_two, [2, 6], "offsets 3 to 5 are dead letters");

    let dead = tail(&["orders", "--dead-letters", "--limit", "0"]);
    let reasons: Vec<(i64, &str)> =
        dead.iter().map(|r| (r["offset"].as_i64().unwrap(), r["reason_code"].as_str().unwrap())).collect();
    assert_eq!(reasons, [(3, "missing_required"), (4, "not_object"), (5, "not_json")]);

    let unknown = floe_tests::floe_command().args(["tail", "--coordinator", &floe.admin, "nope"]).output().unwrap();
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains("topic nope is not mapped; mapped topics: orders"), "{said}");
    floe.stop();
}

//! Partitioned tables: `partition_by` over the record time, a typed column's
//! bucket and an identity column, with the event time read from the
//! payload; one file per partition value, all committed exactly once.

use std::collections::BTreeSet;
use std::time::Duration;

use floe_tests::{Engine, Lakehouse, corpus_dir, expected, generate_orders, of_topic, run_once};

const TIMEOUT: Duration = Duration::from_secs(120);

const MAPPING: &str = concat!(
    "    event_time_field: created_at\n",
    "    partition_by: [\"day(record_time)\", \"bucket(4, customer_id)\", status]\n",
    "    schema:\n      columns:\n",
    "        - {name: order_id, type: long, required: true}\n",
    "        - {name: customer_id, type: long, path: customer.id}\n",
    "        - {name: status, type: string}\n",
);

#[test]
fn one_file_per_partition_value_and_every_record_once() {
    let data = tempfile::tempdir().unwrap();
    generate_orders(data.path(), 2, 2000, &["--segment-records", "500", "--codec", "zstd"]);
    let lake = Lakehouse::new();
    let config = lake.write_config(data.path(), "bucket", "production", &[("orders", "prod.orders")], MAPPING);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    for engine in Engine::ALL {
        let rows = lake.all_columns(engine, "prod.orders");
        assert_eq!(rows.len(), 4000, "{engine:?}");
        for partition in 0..2 {
            let offsets: Vec<i64> = rows
                .iter()
                .filter(|r| r["partition"] == partition)
                .map(|r| r["offset"].as_i64().expect("an offset"))
                .collect();
            assert_eq!(offsets, (0..2000).collect::<Vec<_>>(), "{engine:?} partition {partition}");
        }
        for row in &rows {
            let micros = row["timestamp_ms"].as_i64().expect("a timestamp") * 1000;
            assert_eq!(row["record_time"].as_i64(), Some(micros), "{engine:?}: {row}");
            // The generator stamps created_at with the record's timestamp.
            assert_eq!(row["event_time"].as_i64(), Some(micros), "{engine:?}: {row}");
        }
    }

    // The freshness watermark: the least fresh partition's newest record.
    let rows = lake.rows(Engine::PyIceberg, "prod.orders");
    let newest = |partition: i64| {
        rows.iter().filter(|r| r["partition"] == partition).filter_map(|r| r["timestamp_ms"].as_i64()).max()
    };
    let watermark = newest(0).min(newest(1)).expect("timestamps");
    let snapshots = lake.snapshots("prod.orders");
    let summary = &snapshots.last().expect("a snapshot")["summary"];
    assert_eq!(summary["floe.watermark-ms"], watermark.to_string());

    let files = lake.data_files("prod.orders");
    let folders: BTreeSet<String> = files
        .iter()
        .map(|path| {
            let folder = path.rsplit_once('/').expect("a folder").0;
            folder.split_once("/data/").expect("under data/").1.to_string()
        })
        .collect();
    assert!(folders.len() > 4 && folders.len() <= 16, "{folders:?}");
    for folder in &folders {
        let keys: Vec<&str> = folder.split('/').map(|part| part.split('=').next().unwrap_or_default()).collect();
        assert_eq!(keys, ["record_time_day", "customer_id_bucket", "status"], "{folder}");
    }
}

/// A table that no longer fits its mapping pauses alone: the other table
/// of the run is written, and the run says why.
#[test]
fn a_table_partitioned_otherwise_pauses_alone() {
    let source = corpus_dir().join("plain");
    let lake = Lakehouse::new();
    let plain = lake.write_config(&source, "bucket", "production", &[("orders", "prod.orders")], "");
    assert_eq!(run_once(&plain, TIMEOUT).code, Some(0));
    let rows_before = lake.rows(Engine::PyIceberg, "prod.orders");

    let both = format!("{MAPPING}  - topic: clicks\n    table: prod.clicks\n");
    let partitioned = lake.write_config(&source, "bucket", "production", &[("orders", "prod.orders")], &both);
    let run = run_once(&partitioned, TIMEOUT);
    assert_eq!(run.code, Some(1), "a paused table makes --once fail\n{}\n{}", run.stdout, run.stderr);
    let why = "is partitioned by [] but the mapping's partition_by is \
               [day(record_time), bucket(4, customer_id), status]; floe cannot change a table's partitioning";
    assert!(run.stdout.contains(&format!("error: {why}")), "{}", run.stdout);
    assert!(run.stdout.contains("STUCK orders/0"), "{}", run.stdout);
    assert_eq!(lake.rows(Engine::PyIceberg, "prod.orders"), rows_before, "the paused table is untouched");
    let clicks = of_topic(&expected("plain"), "clicks");
    assert_eq!(lake.rows(Engine::PyIceberg, "prod.clicks"), clicks, "the other table is written");
}

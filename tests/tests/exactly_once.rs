//! Exactly-once into the table: a second run adds nothing, and a run killed
//! with SIGKILL at random moments (mid-read, mid-write, mid-commit), then
//! finished, leaves every committed offset in the table exactly once.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use floe_tests::segments::{committed_offsets, open_transaction_after_each_segment};
use floe_tests::{Engine, Lakehouse, corpus_dir, floe, floe_command, generate_orders, run_once, wait};
use rand::Rng;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(300);

/// Typed columns under which most generated records are dead letters:
/// amounts of 100 and more do not fit decimal(4,2).
const DEAD_LETTER_COLUMNS: &str = concat!(
    "    schema:\n      columns:\n",
    "        - {name: order_id, type: long, required: true}\n",
    "        - {name: amount, type: \"decimal(4,2)\"}\n",
    "        - {name: customer_id, type: int, path: customer.id}\n",
);

#[test]
fn running_once_twice_adds_nothing() {
    let lake = Lakehouse::new();
    let mappings = [("orders", "prod.orders"), ("clicks", "prod.clicks")];
    let config = lake.write_config(&corpus_dir().join("plain"), "bucket", "production", &mappings, "");
    let first = run_once(&config, TIMEOUT);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let before = lake.snapshots("prod.orders");
    let rows_before = lake.rows(Engine::PyIceberg, "prod.orders");
    assert_eq!(before.len(), 1);

    let second = run_once(&config, TIMEOUT);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let orders_line = second.stdout.lines().find(|l| l.starts_with("prod.orders")).expect("a summary line");
    let added: Vec<&str> = orders_line.split_whitespace().collect();
    assert_eq!(added[1], "0", "rows added by the second run: {orders_line}");
    assert_eq!(lake.snapshots("prod.orders"), before, "the second run must not commit");
    assert_eq!(lake.rows(Engine::PyIceberg, "prod.orders"), rows_before);
}

/// `--once` ends only when every offset it read is committed. A commit
/// cycle under way when the last segments are read does not hold them, and
/// an early version could end after that cycle with them unstaged. The
/// window is narrow (it failed about one run in twelve), so the run is
/// repeated.
#[test]
fn run_once_commits_every_offset_it_read() {
    const PARTITIONS: u32 = 4;
    const ROUNDS: usize = 16;
    let data = tempfile::tempdir().unwrap();
    generate(data.path(), PARTITIONS, 30_000);
    let topic_dir = data.path().join("bucket/production/orders");
    let want: usize = (0..PARTITIONS).map(|p| committed_offsets(&topic_dir.join(p.to_string())).len()).sum();
    let extra =
        "commit:\n  interval_seconds: 0.05\nwriter:\n  target_file_size_bytes: 1048576\n  row_group_bytes: 262144\n";
    for round in 1..=ROUNDS {
        let lake = Lakehouse::new();
        let config = lake.write_config(data.path(), "bucket", "production", &[("orders", "prod.orders")], extra);
        let run = run_once(&config, TIMEOUT);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let line = run.stdout.lines().find(|l| l.starts_with("prod.orders")).expect("a summary line");
        let added: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("rows added");
        assert_eq!(added, want, "round {round} of {ROUNDS} ended before committing everything:\n{}", run.stderr);
        if round == ROUNDS {
            let mut positions = floe_tests::positions(&lake.rows(Engine::DuckDb, "prod.orders"));
            let rows = positions.len();
            positions.dedup();
            assert_eq!((rows, positions.len()), (want, want), "every offset once");
        }
    }
}

/// Writes a data set with many segments, transactions spanning segments and
/// every codec.
fn generate(dir: &Path, partitions: u32, records: u32) {
    let more = ["--value-bytes", "120", "--codec", "mixed", "--batch-records", "100", "--segment-records", "1500"];
    generate_orders(dir, partitions, records, &[&more[..], &["--transactions"]].concat());
}

/// Moves generated segments into the source folder one at a time, the
/// `.kfs` before its `.index` as brokers upload them, so floe keeps finding
/// new (and half-uploaded) segments while it runs and is killed.
fn feed_segments(staging: &Path, source: &Path, pause: Duration) {
    let mut segments: Vec<(String, std::path::PathBuf)> = Vec::new();
    for partition in std::fs::read_dir(staging).expect("staging folder") {
        let partition = partition.expect("entry").path();
        for file in std::fs::read_dir(&partition).expect("partition folder") {
            let file = file.expect("entry").path();
            if file.extension().is_some_and(|e| e == "kfs") {
                let name = file.file_name().unwrap().to_string_lossy().to_string();
                segments.push((name, file));
            }
        }
    }
    segments.sort();
    for (_, kfs) in segments {
        let relative = kfs.strip_prefix(staging).unwrap();
        let target = source.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::rename(&kfs, &target).unwrap();
        std::thread::sleep(pause / 4);
        std::fs::rename(kfs.with_extension("index"), target.with_extension("index")).unwrap();
        std::thread::sleep(pause);
    }
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    sigkill_at_random_moments(24, None);
}

/// A typed table where most records cannot become rows: every committed
/// offset is in exactly one of the table and its dead-letter table, once.
#[test]
fn sigkill_at_random_moments_with_dead_letters() {
    sigkill_at_random_moments(12, Some(DEAD_LETTER_COLUMNS));
}

/// Commits the killed runs must make between them, so kills land among them.
const MIN_COMMITS: usize = 10;

/// Runs floe over a growing data set, SIGKILLs it `kills` times, finishes,
/// and checks every committed offset is in the tables exactly once.
/// `columns` is YAML continuing the mapping, for a typed table.
fn sigkill_at_random_moments(kills: usize, columns: Option<&str>) {
    const PARTITIONS: u32 = 4;
    let data = tempfile::tempdir().unwrap();
    generate(&data.path().join("staging"), PARTITIONS, 30_000);
    let staging = data.path().join("staging/bucket/production/orders");
    let source = data.path().join("source");
    let topic_dir = source.join("bucket/production/orders");
    std::fs::create_dir_all(&topic_dir).unwrap();
    let lake = Lakehouse::new();
    let extra = "commit:\n  interval_seconds: 0.2\n  orphan_grace_seconds: 2\nwriter:\n  target_file_size_bytes: 1048576\n  row_group_bytes: 262144\n";
    let extra = format!("{}{extra}", columns.unwrap_or_default());
    let config = lake.write_config(&source, "bucket", "production", &[("orders", "prod.orders")], &extra);
    let tables: &[&str] = if columns.is_some() { &["prod.orders", "prod.orders_dlq"] } else { &["prod.orders"] };

    let feeder = {
        let (staging, topic_dir) = (staging.clone(), topic_dir.clone());
        std::thread::spawn(move || feed_segments(&staging, &topic_dir, Duration::from_millis(300)))
    };
    let mut rng = rand::rng();
    let mut killed_running = 0;
    // On a busy machine a run may commit little before it is killed: a few
    // more kills make sure enough of them land while commits happen.
    let mut runs = 0;
    while runs < kills || (runs < 3 * kills && lake.snapshots("prod.orders").len() < MIN_COMMITS) {
        runs += 1;
        let mut child = floe(&["run", "--config"], &config);
        std::thread::sleep(Duration::from_millis(rng.random_range(150..2500)));
        if child.try_wait().expect("polling floe").is_none() {
            killed_running += 1;
        }
        child.kill().expect("SIGKILL");
        let finished = wait(child, TIMEOUT);
        assert_ne!(finished.code, Some(2), "floe failed on its own:\n{}", finished.stderr);
    }
    feeder.join().expect("feeding segments");
    assert_eq!(killed_running, runs, "floe must still be running when killed");
    let commits_before_finish = lake.snapshots("prod.orders").len();

    // Past the grace period, the killed runs' unfinished files are orphans.
    std::thread::sleep(Duration::from_millis(2500));
    // With what discovery listed and where each partition stood at the
    // final flush, should the check below fail.
    let verbose =
        "warn,floe=info,floe_coordinator=info,floe_coordinator::discovery=debug,floe_coordinator::control=debug";
    let mut last_run = floe_command();
    last_run.env("RUST_LOG", verbose).args(["run", "--once", "--config"]).arg(&config);
    let last = wait(last_run.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting floe"), TIMEOUT);
    assert_eq!(last.code, Some(0), "{}\n{}", last.stdout, last.stderr);

    for engine in Engine::ALL {
        let by_table: Vec<Vec<Value>> = tables.iter().map(|t| lake.rows(engine, t)).collect();
        if columns.is_some() {
            assert!(by_table.iter().all(|rows| rows.len() > 1000), "{engine:?}: both tables get records");
        }
        let mut rows: Vec<Value> = by_table.into_iter().flatten().collect();
        let key = |r: &Value| (r["partition"].as_i64(), r["offset"].as_i64());
        rows.sort_by_key(key);
        let mut total = 0;
        for partition in 0..PARTITIONS {
            let want = committed_offsets(&topic_dir.join(partition.to_string()));
            let got: Vec<i64> = rows
                .iter()
                .filter(|r| r["partition"] == partition)
                .map(|r| r["offset"].as_i64().expect("offset"))
                .collect();
            // Rows come sorted by offset: equal lists mean every committed
            // offset exactly once and nothing else (no aborted record).
            if got != want {
                // What each table records, to tell a lost commit from a lost file.
                // Every snapshot: where the offsets went wrong, if they did.
                let recorded: Vec<String> = tables
                    .iter()
                    .map(|t| {
                        let history: Vec<String> = lake
                            .snapshots(t)
                            .iter()
                            .map(|s| {
                                let summary = &s["summary"];
                                format!(
                                    "\n  +{} records: {} open {}",
                                    summary["added-records"], summary["floe.offsets"], summary["floe.open-txn-start"]
                                )
                            })
                            .collect();
                        format!("{t}:{}", history.concat())
                    })
                    .collect();
                panic!(
                    "{engine:?} partition {partition}: {}\nsnapshots, oldest first: {}\nlast run:\n{}",
                    difference(&got, &want),
                    recorded.join("; "),
                    last.stderr
                );
            }
            total += want.len();
        }
        assert!(total > 100_000, "{total} rows");
        assert_eq!(rows.len(), total, "{engine:?}: rows of unknown partitions");
        let ids: std::collections::HashSet<String> =
            rows.iter().map(|r| format!("{}:{}:{}", r["topic"], r["partition"], r["offset"])).collect();
        assert_eq!(ids.len(), rows.len(), "{engine:?}: duplicate record ids");
    }
    // Files written but never committed by the killed runs were deleted.
    let mut referenced: Vec<String> = tables.iter().flat_map(|t| lake.data_files(t)).collect();
    referenced.sort();
    assert_eq!(lake.parquet_files(), referenced, "orphan data files left behind");
    assert!(
        commits_before_finish >= MIN_COMMITS,
        "the kills must land while commits happen ({commits_before_finish} commits)"
    );
    let summary: &Value = &lake.snapshots("prod.orders").last().cloned().expect("a snapshot")["summary"];
    let offsets: Value = serde_json::from_str(summary["floe.offsets"].as_str().expect("offsets")).unwrap();
    for partition in 0..PARTITIONS {
        let end = offsets["orders"][partition.to_string()].as_i64().expect("an offset per partition");
        assert!(end > 30_000, "partition {partition} consumed to {end}");
    }
}

/// What sets the offsets read apart from those wanted, as ranges.
fn difference(got: &[i64], want: &[i64]) -> String {
    let count = |list: &[i64]| {
        list.iter().fold(std::collections::BTreeMap::new(), |mut m, o| {
            *m.entry(*o).or_insert(0) += 1;
            m
        })
    };
    let (got, want) = (count(got), count(want));
    let missing: Vec<i64> = want.keys().filter(|o| !got.contains_key(o)).copied().collect();
    let unwanted: Vec<i64> = got.keys().filter(|o| !want.contains_key(o)).copied().collect();
    let twice: Vec<i64> = got.iter().filter(|(_, n)| **n > 1).map(|(o, _)| *o).collect();
    format!("missing {}; not committed {}; more than once {}", ranges(&missing), ranges(&unwanted), ranges(&twice))
}

/// `[3, 4, 5, 9]` as `3..=5, 9..=9 (4 offsets)`.
fn ranges(offsets: &[i64]) -> String {
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for &o in offsets {
        match spans.last_mut() {
            Some((_, end)) if *end + 1 == o => *end = o,
            _ => spans.push((o, o)),
        }
    }
    let shown: Vec<String> = spans.iter().take(20).map(|(a, b)| format!("{a}..={b}")).collect();
    format!("{} ({} offsets)", shown.join(", "), offsets.len())
}

#[test]
fn files_of_a_killed_run_are_collected_after_the_grace_period() {
    let source = tempfile::tempdir().unwrap();
    generate(source.path(), 2, 30_000);
    let lake = Lakehouse::new();
    // Commits far apart: the run is killed with its files still open.
    let slow = "commit:\n  interval_seconds: 60\nwriter:\n  row_group_bytes: 262144\n";
    let config = lake.write_config(source.path(), "bucket", "production", &[("orders", "prod.orders")], slow);
    let mut child = floe(&["run", "--config"], &config);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while lake.parquet_files().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no data file was ever written");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    wait(child, TIMEOUT);
    let orphans = lake.parquet_files();
    assert!(!orphans.is_empty());

    std::thread::sleep(Duration::from_millis(1500));
    let quick = "commit:\n  interval_seconds: 0.5\n  orphan_grace_seconds: 1\n";
    let config = lake.write_config(source.path(), "bucket", "production", &[("orders", "prod.orders")], quick);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("deleting orphan data files"), "{}", run.stderr);
    let mut referenced = lake.data_files("prod.orders");
    referenced.sort();
    assert_eq!(lake.parquet_files(), referenced, "orphan data files left behind");
    for orphan in &orphans {
        assert!(!referenced.contains(orphan), "{orphan} was never committed yet is in the table");
    }
    let root = source.path().join("bucket/production/orders");
    let expected: usize = (0..2).map(|p| committed_offsets(&root.join(p.to_string())).len()).sum();
    assert_eq!(lake.rows(Engine::PyIceberg, "prod.orders").len(), expected);
}

#[test]
fn a_transaction_open_at_the_end_of_a_run_is_committed_by_the_next() {
    transaction_open_at_the_end_of_a_run(None);
}

/// The same on a typed table where most records are dead letters: the open
/// transaction's dead letters are written with its marker, in the next run,
/// although the dead-letter table's offset is already past them.
#[test]
fn a_transaction_s_dead_letters_are_written_with_its_marker_in_the_next_run() {
    transaction_open_at_the_end_of_a_run(Some(DEAD_LETTER_COLUMNS));
}

/// Runs floe on segments that end inside a transaction, then again once its
/// marker is in storage. `columns` continues the mapping, for a typed table.
fn transaction_open_at_the_end_of_a_run(columns: Option<&str>) {
    let data = tempfile::tempdir().unwrap();
    generate(&data.path().join("staging"), 1, 20_000);
    let staging = data.path().join("staging/bucket/production/orders/0");
    let partition = data.path().join("source/bucket/production/orders/0");
    std::fs::create_dir_all(&partition).unwrap();
    let segments = open_transaction_after_each_segment(&staging);
    // Upload segments up to one that ends inside a transaction that is
    // committed in the next segment.
    let all_committed = committed_offsets(&staging);
    let cut = segments
        .iter()
        .position(|(_, open)| open.is_some_and(|start| all_committed.contains(&start)))
        .expect("a committed transaction spans two segments")
        + 1;
    let upload = |(kfs, _): &(std::path::PathBuf, Option<i64>)| {
        let name = kfs.file_name().unwrap();
        std::fs::copy(kfs, partition.join(name)).unwrap();
        std::fs::copy(kfs.with_extension("index"), partition.join(name).with_extension("index")).unwrap();
    };
    segments[..cut].iter().for_each(upload);

    let lake = Lakehouse::new();
    let source = data.path().join("source");
    let config =
        lake.write_config(&source, "bucket", "production", &[("orders", "prod.orders")], columns.unwrap_or_default());
    let tables: &[&str] = if columns.is_some() { &["prod.orders", "prod.orders_dlq"] } else { &["prod.orders"] };
    // Offsets in the tables: rows and dead letters together, in order.
    let in_tables = |engine: Engine| {
        let mut offsets: Vec<i64> =
            tables.iter().flat_map(|t| lake.rows(engine, t)).map(|r| r["offset"].as_i64().unwrap()).collect();
        offsets.sort();
        offsets
    };
    let first = run_once(&config, TIMEOUT);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let summary = lake.snapshots("prod.orders").last().cloned().expect("a snapshot")["summary"].clone();
    assert!(summary.get("floe.open-txn-start").is_some(), "the open transaction is recorded: {summary}");
    // Everything decided so far, nothing of the open transaction.
    let first_rows = in_tables(Engine::PyIceberg);
    assert_eq!(first_rows, committed_offsets(&partition));
    let open_start = segments[cut - 1].1.expect("open at the cut");
    assert!(!first_rows.contains(&open_start), "offset {open_start} waits for its transaction's marker");

    segments[cut..].iter().for_each(upload);
    let second = run_once(&config, TIMEOUT);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let want = committed_offsets(&partition);
    for engine in Engine::ALL {
        assert_eq!(in_tables(engine), want, "{engine:?}");
    }
    assert!(want.contains(&open_start), "offset {open_start} is committed once its marker is read");
}

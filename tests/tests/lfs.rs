//! KafScale LFS envelopes end to end: segments on a local directory whose
//! values are envelopes (and ordinary values), the blobs in the real S3
//! server, read back with PyIceberg. Every source offset lands exactly once,
//! as a row or as a dead letter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use floe_tests::running::partition_of;
use floe_tests::segments::write_segment;
use floe_tests::services::{FloeProcess, Services, free_port, services};
use floe_tests::{Engine, Lakehouse, floe_command, run_once};
use serde_json::Value;
use sha2::{Digest, Sha256};

const TIMEOUT: Duration = Duration::from_secs(180);
const NAMESPACE: &str = "production";

/// The test that stops S3 holds this exclusively; the others share it.
static SERVICE_USE: RwLock<()> = RwLock::new(());

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn envelope(bucket: &str, key: &str, size: usize, sha256: &str) -> Vec<u8> {
    format!(
        r#"{{"kfs_lfs":1,"bucket":"{bucket}","key":"{key}","size":{size},"sha256":"{sha256}","content_type":"application/xml","original_headers":{{}},"created_at":"2026-01-31T00:00:00Z","proxy_id":"p1"}}"#
    )
    .into_bytes()
}

/// The records every topic of the test holds, and the blobs they name.
struct Fixture {
    bucket: String,
    values: Vec<Vec<u8>>,
    small: Vec<u8>,
    large: Vec<u8>,
}

impl Fixture {
    fn new(services: &Services, test: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let bucket = format!("{}-{}-{nanos}", test.replace('_', "-"), std::process::id());
        services.create_bucket(&bucket);
        let small = b"<doc>small blob</doc>".to_vec();
        let large: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let s3 = services.s3();
        s3.put_bytes(&bucket, "ns/docs/lfs/small", small.clone());
        s3.put_bytes(&bucket, "ns/docs/lfs/large", large.clone());
        let values = vec![
            br#"{"id":0}"#.to_vec(),
            envelope(&bucket, "ns/docs/lfs/small", small.len(), &sha256_hex(&small)),
            envelope(&bucket, "ns/docs/lfs/large", large.len(), &sha256_hex(&large)),
            // The small blob, but the envelope's checksum is another's.
            envelope(&bucket, "ns/docs/lfs/small", small.len(), &sha256_hex(b"something else")),
            envelope(&bucket, "ns/docs/lfs/gone", small.len(), &sha256_hex(&small)),
            // Looks like an envelope to the 50-byte check, is not one.
            br#"{"note":"kfs_lfs","id":5}"#.to_vec(),
            // An envelope without its key.
            format!(r#"{{"kfs_lfs":1,"bucket":"{bucket}","sha256":"{}"}}"#, sha256_hex(&small)).into_bytes(),
            b"not json at all".to_vec(),
        ];
        Self { bucket, values, small, large }
    }

    fn write_topic(&self, source: &Path, topic: &str) {
        // Three records to a batch: a batch holds envelopes of every kind.
        let values: Vec<Option<&[u8]>> = self.values.iter().map(|v| Some(v.as_slice())).collect();
        write_segment(&source.join(format!("segments/{NAMESPACE}/{topic}/0")), 0, &values, 3);
    }

    /// A config mapping each (topic, mode) to table `lfs.<topic>`, with the
    /// segments (written here) in the lakehouse's folder and the blobs in S3.
    fn config(&self, services: &Services, lake: &Lakehouse, topics: &[(&str, &str)]) -> PathBuf {
        let source = lake.path().join("source");
        let mut mappings = String::new();
        for (topic, mode) in topics {
            self.write_topic(&source, topic);
            mappings.push_str(&format!(
                "  - topic: {topic}\n    table: lfs.{topic}\n    lfs:\n      mode: {mode}\n      max_inline_bytes: 100\n"
            ));
        }
        let extra = format!("{mappings}lfs:\n  endpoint: {}\n  path_style: true\n", services.s3);
        lake.write_config(&source, "segments", NAMESPACE, &[], &extra)
    }

    /// Checks a `resolve` table: the blobs as values, the failures as dead
    /// letters with their reasons.
    fn assert_resolved(&self, lake: &Lakehouse, table: &str) {
        let (bucket, small) = (&self.bucket, &self.small);
        let rows = by_offset(lake.all_columns(Engine::PyIceberg, table));
        assert_eq!(keys(&rows), [0, 1, 2, 5, 7]);
        assert_eq!(value_bytes(&rows[&1]), *small);
        assert_eq!(value_bytes(&rows[&2]), self.large);
        assert_eq!(value_bytes(&rows[&5]), self.values[5]);
        assert!(rows[&1].get("lfs_key").is_none(), "resolve adds no lfs_* columns: {}", rows[&1]);
        let dead = dead_letters(lake, &format!("{table}_dlq"));
        let codes: Vec<_> = dead.iter().map(|(offset, code, _)| (*offset, code.as_str())).collect();
        assert_eq!(codes, [(3, "lfs_checksum"), (4, "lfs_missing"), (6, "lfs_envelope")]);
        assert_eq!(
            dead[0].2,
            format!(
                "s3://{bucket}/ns/docs/lfs/small: the blob's sha256 is {}, the envelope says {}",
                sha256_hex(small),
                sha256_hex(b"something else")
            )
        );
        let gone = format!("s3://{bucket}/ns/docs/lfs/gone: the blob does not exist");
        assert!(dead[1].2.starts_with(&gone), "{}", dead[1].2);
        assert_eq!(dead[2].2, "LFS envelope lacks `key`");
    }
}

/// Rows by offset.
fn by_offset(rows: Vec<Value>) -> BTreeMap<i64, Value> {
    rows.into_iter().map(|r| (r["offset"].as_i64().expect("an offset"), r)).collect()
}

fn value_bytes(row: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(row["value"].as_str().expect("a value")).unwrap()
}

/// (offset, reason_code) of a dead-letter table, and checks each reason
/// names what it is about.
fn dead_letters(lake: &Lakehouse, table: &str) -> Vec<(i64, String, String)> {
    lake.all_columns(Engine::PyIceberg, table)
        .iter()
        .map(|r| {
            let text = |name: &str| r[name].as_str().unwrap_or_default().to_string();
            (r["offset"].as_i64().unwrap(), text("reason_code"), text("reason"))
        })
        .collect()
}

fn keys<V>(map: &BTreeMap<i64, V>) -> Vec<i64> {
    map.keys().copied().collect()
}

#[test]
fn every_mode_against_real_s3() {
    let Some(services) = services("every_mode_against_real_s3") else { return };
    let _shared = SERVICE_USE.read().unwrap_or_else(PoisonError::into_inner);
    let fixture = Fixture::new(&services, "lfs_modes");
    let lake = Lakehouse::new();
    let topics = [("resolve", "resolve"), ("reference", "reference"), ("hybrid", "hybrid"), ("skip", "skip")];
    let config = fixture.config(&services, &lake, &topics);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "floe failed:\n{}", run.stderr);
    let (bucket, values, small, large) = (&fixture.bucket, &fixture.values, &fixture.small, &fixture.large);

    fixture.assert_resolved(&lake, "lfs.resolve");

    // reference: no fetch; the envelope stays the value and fills the columns.
    let rows = by_offset(lake.all_columns(Engine::PyIceberg, "lfs.reference"));
    assert_eq!(keys(&rows), [0, 1, 2, 3, 4, 5, 7]);
    assert_eq!(value_bytes(&rows[&2]), values[2]);
    let lfs_columns =
        |row: &Value| ["lfs_bucket", "lfs_key", "lfs_size", "lfs_sha256", "lfs_content_type"].map(|c| row[c].clone());
    assert_eq!(
        lfs_columns(&rows[&2]),
        [
            Value::from(bucket.as_str()),
            Value::from("ns/docs/lfs/large"),
            Value::from(300),
            Value::from(sha256_hex(large)),
            Value::from("application/xml")
        ]
    );
    assert_eq!(lfs_columns(&rows[&4])[1], Value::from("ns/docs/lfs/gone"));
    assert_eq!(lfs_columns(&rows[&0]), [Value::Null, Value::Null, Value::Null, Value::Null, Value::Null]);
    let codes: Vec<_> = dead_letters(&lake, "lfs.reference_dlq").into_iter().map(|(o, c, _)| (o, c)).collect();
    assert_eq!(codes, [(6, "lfs_envelope".to_string())]);

    // hybrid: the small blob resolved, the large one referenced.
    let rows = by_offset(lake.all_columns(Engine::PyIceberg, "lfs.hybrid"));
    assert_eq!(keys(&rows), [0, 1, 2, 5, 7]);
    assert_eq!(value_bytes(&rows[&1]), *small);
    assert_eq!(rows[&1]["lfs_key"], "ns/docs/lfs/small");
    assert_eq!(value_bytes(&rows[&2]), values[2]);
    assert_eq!(rows[&2]["lfs_size"], 300);
    let codes: Vec<_> = dead_letters(&lake, "lfs.hybrid_dlq").into_iter().map(|(o, c, _)| (o, c)).collect();
    assert_eq!(codes, [(3, "lfs_checksum".into()), (4, "lfs_missing".into()), (6, "lfs_envelope".into())]);

    // skip: envelopes make no row; a damaged one is still a dead letter.
    let rows = by_offset(lake.all_columns(Engine::PyIceberg, "lfs.skip"));
    assert_eq!(keys(&rows), [0, 5, 7]);
    let codes: Vec<_> = dead_letters(&lake, "lfs.skip_dlq").into_iter().map(|(o, c, _)| (o, c)).collect();
    assert_eq!(codes, [(6, "lfs_envelope".to_string())]);

    // Every offset is accounted for exactly once (skipped envelopes aside),
    // and the tables say so.
    let skip: &[i64] = &[1, 2, 3, 4];
    for (table, skipped) in [("lfs.resolve", &[][..]), ("lfs.reference", &[]), ("lfs.hybrid", &[]), ("lfs.skip", skip)]
    {
        let mut offsets: Vec<i64> =
            lake.all_columns(Engine::PyIceberg, table).iter().map(|r| r["offset"].as_i64().unwrap()).collect();
        offsets.extend(dead_letters(&lake, &format!("{table}_dlq")).into_iter().map(|(offset, _, _)| offset));
        offsets.sort_unstable();
        let expected: Vec<i64> = (0..8).filter(|o| !skipped.contains(o)).collect();
        assert_eq!(offsets, expected, "{table}");
        let snapshots = lake.snapshots(table);
        let last = snapshots.last().unwrap_or_else(|| panic!("{table} has no snapshot"));
        let offsets: Value = serde_json::from_str(last["summary"]["floe.offsets"].as_str().unwrap()).unwrap();
        let topic = table.trim_start_matches("lfs.");
        assert_eq!(offsets[&topic]["0"], 8, "{table}: {last}");
    }
}

/// Blobs count under `worker.memory_limit_bytes` while their batch is
/// built: batches whose blobs add up to more than the whole budget take
/// turns, and every blob still lands, once.
#[test]
fn blobs_beyond_the_memory_budget_take_turns_and_all_land() {
    let Some(services) = services("blobs_beyond_the_memory_budget") else { return };
    let _shared = SERVICE_USE.read().unwrap_or_else(PoisonError::into_inner);
    let fixture = Fixture::new(&services, "lfs_budget");
    let blob: Vec<u8> = (0..700 * 1024u32).map(|i| (i % 253) as u8).collect();
    services.s3().put_bytes(&fixture.bucket, "ns/docs/lfs/big", blob.clone());
    let value = envelope(&fixture.bucket, "ns/docs/lfs/big", blob.len(), &sha256_hex(&blob));
    let lake = Lakehouse::new();
    let source = lake.path().join("source");
    // Two partitions read at once; three 700 KiB blobs to a batch, against
    // a 1 MiB budget.
    let values: Vec<Option<&[u8]>> = vec![Some(value.as_slice()); 6];
    for partition in 0..2 {
        write_segment(&source.join(format!("segments/{NAMESPACE}/big/{partition}")), 0, &values, 3);
    }
    let extra = format!(
        "  - topic: big\n    table: lfs.big\n    lfs:\n      mode: resolve\n\
         lfs:\n  endpoint: {}\n  path_style: true\n\
         worker:\n  memory_limit_bytes: 1048576\n  max_pending_txn_bytes: 262144\nwriter:\n  row_group_bytes: 262144\n",
        services.s3
    );
    let config = lake.write_config(&source, "segments", NAMESPACE, &[], &extra);
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "floe failed:\n{}", run.stderr);
    let rows = lake.all_columns(Engine::PyIceberg, "lfs.big");
    assert_eq!(floe_tests::positions(&rows), (0..2).flat_map(|p| (0..6).map(move |o| (p, o))).collect::<Vec<_>>());
    assert!(rows.iter().all(|row| value_bytes(row) == blob), "every value is the blob");
}

#[test]
fn an_s3_outage_makes_the_partition_wait_not_dead_letter() {
    let Some(services) = services("an_s3_outage_makes_the_partition_wait_not_dead_letter") else { return };
    let _exclusive = SERVICE_USE.write().unwrap_or_else(PoisonError::into_inner);
    let fixture = Fixture::new(&services, "lfs_outage");
    let lake = Lakehouse::new();
    let config = fixture.config(&services, &lake, &[("outage", "resolve")]);

    services.ctl("stop", "s3");
    let config = config.to_str().expect("a UTF-8 path");
    let admin = format!("127.0.0.1:{}", free_port());
    let mut command = floe_command();
    command.env("FLOE_ADMIN_LISTEN", &admin);
    let mut floe = FloeProcess::run(command, &["run", "--once", "--config", config], lake.path().join("floe.log"));
    floe.wait_for_log("LFS blob store", TIMEOUT);
    // The partition's status says what it waits for, not only the log.
    let status = || {
        let output = floe_command()
            .args(["ctl", "--coordinator", &format!("http://{admin}"), "status", "--json"])
            .output()
            .expect("floe ctl");
        serde_json::from_slice::<Value>(&output.stdout).ok()
    };
    let deadline = Instant::now() + TIMEOUT;
    let partition = loop {
        let partition = status().map(|s| partition_of(&s, "outage", 0).clone());
        if partition.as_ref().is_some_and(|p| p["state"] == "waiting") {
            break partition.unwrap();
        }
        assert!(Instant::now() < deadline, "outage/0 never showed the wait: {partition:?}\n{}", floe.log());
        std::thread::sleep(Duration::from_millis(250));
    };
    let message = partition["message"].as_str().unwrap();
    assert!(message.starts_with("waiting for the LFS blob store (s3://"), "{message}");
    services.ctl("start", "s3");

    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = floe.child.try_wait().expect("waiting for floe") {
            break status;
        }
        assert!(Instant::now() < deadline, "floe did not finish:\n{}", floe.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "floe failed:\n{}", floe.log());
    // The same rows and dead letters as without the outage: nothing lost,
    // no outage turned into a dead letter.
    fixture.assert_resolved(&lake, "lfs.outage");
}

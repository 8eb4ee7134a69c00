//! Conformance: every case of the shared corpus, read the way a worker reads a
//! partition (completeness, a verification pass, then decoding through
//! read-committed), must reproduce the case's expected.jsonl exactly.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use floe_kfs::{
    Completeness, Error, ObjectKind, ReadCommitted, ReaderOptions, Record, SegmentIndex, SegmentReader, SegmentWriter,
    check_completeness, parse_object_name,
};
use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

#[derive(Debug)]
enum Outcome {
    Read(Vec<Record>),
    /// The object that is not complete yet.
    Incomplete(String),
    Refused(Error),
}

struct Partition {
    topic: String,
    partition: u32,
    outcome: Outcome,
}

fn bucket(case: &str) -> PathBuf {
    Path::new(CORPUS).join(case).join("bucket")
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

/// Every partition of every topic of a case, in (topic, partition) order.
fn read_case(case: &str) -> Vec<Partition> {
    let root = bucket(case);
    let mut partitions = Vec::new();
    for namespace in sorted_dirs(&root) {
        for topic_dir in sorted_dirs(&namespace) {
            let topic = topic_dir.file_name().unwrap().to_str().unwrap().to_owned();
            let mut by_number: Vec<(u32, PathBuf)> = sorted_dirs(&topic_dir)
                .into_iter()
                .map(|p| (p.file_name().unwrap().to_str().unwrap().parse().unwrap(), p))
                .collect();
            by_number.sort();
            for (partition, dir) in by_number {
                let outcome = read_partition(&root, &dir);
                partitions.push(Partition { topic: topic.clone(), partition, outcome });
            }
        }
    }
    partitions
}

/// Segments in base-offset order, each verified in full before any of its
/// records are decoded, so a damaged segment contributes nothing.
fn read_partition(root: &Path, dir: &Path) -> Outcome {
    let mut segments: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| match parse_object_name(p.to_str()?)? {
            (base, ObjectKind::Segment) => Some((base, p)),
            (_, ObjectKind::Index) => None,
        })
        .collect();
    segments.sort();
    let mut txn = ReadCommitted::new(0, 64 << 20);
    let mut out = Vec::new();
    for (_, path) in segments {
        let object = path.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
        let bytes = fs::read(&path).unwrap();
        let len = bytes.len();
        let head = &bytes[..len.min(32)];
        let tail = &bytes[len - len.min(16)..];
        match check_completeness(head, tail, len as u64, &object) {
            Err(e) => return Outcome::Refused(e),
            Ok(Completeness::Incomplete) => return Outcome::Incomplete(object),
            Ok(Completeness::Complete(_)) => {}
        }
        let index_path = path.with_extension("index");
        let Ok(index) = fs::read(&index_path) else {
            return Outcome::Incomplete(object);
        };
        let index_object = index_path.strip_prefix(root).unwrap().to_str().unwrap();
        if let Err(e) = SegmentIndex::parse(&index, index_object) {
            return Outcome::Refused(e);
        }
        let verify = ReaderOptions { decode_records: false, ..ReaderOptions::default() };
        if let Err(e) = read_segment(&bytes, &object, verify, &mut ReadCommitted::new(0, 0), &mut Vec::new()) {
            return Outcome::Refused(e);
        }
        if let Err(e) = read_segment(&bytes, &object, ReaderOptions::default(), &mut txn, &mut out) {
            return Outcome::Refused(e);
        }
    }
    assert_eq!(txn.open_txn_start(), None, "{}: transactions left open", dir.display());
    Outcome::Read(out)
}

fn read_segment(
    bytes: &[u8],
    object: &str,
    opts: ReaderOptions,
    txn: &mut ReadCommitted,
    out: &mut Vec<Record>,
) -> Result<(), Error> {
    let mut reader = SegmentReader::new(bytes, object, bytes.len() as u64, opts)?;
    while let Some(batch) = reader.next_batch()? {
        txn.push(batch, out).unwrap();
    }
    assert!(reader.footer().is_some());
    Ok(())
}

fn b64(b: &Option<Bytes>) -> Value {
    b.as_ref().map_or(Value::Null, |b| Value::String(B64.encode(b)))
}

fn to_json(topic: &str, partition: u32, r: &Record) -> Value {
    let headers: Vec<Value> = r
        .headers
        .iter()
        .map(|h| json!({"key": std::str::from_utf8(&h.key).unwrap(), "value": b64(&h.value)}))
        .collect();
    json!({
        "headers": headers,
        "key": b64(&r.key),
        "offset": r.offset,
        "partition": partition,
        "timestamp_ms": r.timestamp_ms,
        "topic": topic,
        "value": b64(&r.value),
    })
}

fn expected(case: &str) -> Vec<Value> {
    let text = fs::read_to_string(Path::new(CORPUS).join(case).join("expected.jsonl")).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The records of the partitions that were read, in order.
fn emitted(partitions: &[Partition]) -> Vec<Value> {
    partitions
        .iter()
        .flat_map(|p| match &p.outcome {
            Outcome::Read(records) => records.iter().map(|r| to_json(&p.topic, p.partition, r)).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn assert_matches_expected(case: &str, partitions: &[Partition]) {
    let got = emitted(partitions);
    let want = expected(case);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{case}: record {i} differs");
    }
    assert_eq!(got.len(), want.len(), "{case}: record count");
}

fn assert_all_read(case: &str) {
    let partitions = read_case(case);
    assert!(!partitions.is_empty());
    for p in &partitions {
        assert!(matches!(p.outcome, Outcome::Read(_)), "{case} {}/{}: {:?}", p.topic, p.partition, p.outcome);
    }
    assert_matches_expected(case, &partitions);
}

#[test]
fn plain() {
    assert_all_read("plain");
}

#[test]
fn codecs() {
    assert_all_read("codecs");
}

#[test]
fn txn_and_time() {
    assert_all_read("txn_and_time");
}

#[test]
fn json_columns() {
    assert_all_read("json_columns");
}

#[test]
fn damaged() {
    let partitions = read_case("damaged");
    let by_number: BTreeMap<u32, &Outcome> = partitions.iter().map(|p| (p.partition, &p.outcome)).collect();
    assert_eq!(by_number.len(), 5);
    assert!(matches!(by_number[&0], Outcome::Read(r) if r.len() == 60));

    let Outcome::Refused(e) = by_number[&1] else {
        panic!("partition 1: {:?}", by_number[&1]);
    };
    assert!(e.is_corrupt());
    let message = e.to_string();
    assert!(
        message.starts_with(
            "segment production/logs/1/segment-00000000000000000000.kfs at byte 32: batch CRC-32C mismatch (stored 0x"
        ),
        "{message}"
    );

    for p in [2, 3] {
        let Outcome::Incomplete(object) = by_number[&p] else {
            panic!("partition {p}: {:?}", by_number[&p]);
        };
        assert_eq!(object, &format!("production/logs/{p}/segment-00000000000000000000.kfs"));
    }

    let Outcome::Refused(e) = by_number[&4] else {
        panic!("partition 4: {:?}", by_number[&4]);
    };
    assert!(
        e.to_string().starts_with(
            "segment production/logs/4/segment-00000000000000000000.kfs at byte 0: bad segment header magic"
        ),
        "{e}"
    );
    assert_matches_expected("damaged", &partitions);
}

/// Each index entry is a place to start reading: the batch there has the
/// entry's offset, and reading on from it reaches a valid footer.
#[test]
fn index_entries_start_mid_segment() {
    let mut checked = 0;
    for case in ["plain", "codecs", "txn_and_time", "json_columns"] {
        let root = bucket(case);
        for namespace in sorted_dirs(&root) {
            for topic in sorted_dirs(&namespace) {
                for partition in sorted_dirs(&topic) {
                    for entry in fs::read_dir(&partition).unwrap() {
                        let path = entry.unwrap().path();
                        if path.extension().is_some_and(|e| e == "index") {
                            checked += check_index(&path);
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 18);
}

fn check_index(index_path: &Path) -> usize {
    let index = SegmentIndex::parse(&fs::read(index_path).unwrap(), "test.index").unwrap();
    assert_eq!(index.interval, 100);
    let kfs = fs::read(index_path.with_extension("kfs")).unwrap();
    let mut full = SegmentReader::new(&kfs[..], "test.kfs", kfs.len() as u64, ReaderOptions::default()).unwrap();
    let mut from_start = Vec::new();
    while let Some(batch) = full.next_batch().unwrap() {
        from_start.push(batch);
    }
    for entry in &index.entries {
        let at = entry.position as usize;
        let opts = ReaderOptions::default();
        let mut reader = SegmentReader::at_position(&kfs[at..], "test.kfs", kfs.len() as u64, at as u64, opts).unwrap();
        assert!(reader.header().is_none());
        let mut batches = Vec::new();
        while let Some(batch) = reader.next_batch().unwrap() {
            batches.push(batch);
        }
        assert_eq!(batches[0].header.base_offset, entry.offset);
        assert_eq!(batches[0].position, entry.position as u64);
        let skipped = from_start.len() - batches.len();
        assert_eq!(batches, from_start[skipped..]);
    }
    index.entries.len()
}

/// Pushing a corpus segment's batches through `SegmentWriter` gives back the
/// same `.kfs` and `.index`, byte for byte: header counts, footer CRC and
/// index interval rule all agree with the brokers'.
#[test]
fn writer_rebuilds_corpus_segments_byte_for_byte() {
    let mut rebuilt = 0;
    for case in ["plain", "codecs", "txn_and_time", "json_columns"] {
        let root = bucket(case);
        for namespace in sorted_dirs(&root) {
            for topic in sorted_dirs(&namespace) {
                for partition in sorted_dirs(&topic) {
                    for entry in fs::read_dir(&partition).unwrap() {
                        let path = entry.unwrap().path();
                        if path.extension().is_some_and(|e| e == "kfs") {
                            rebuild(&path);
                            rebuilt += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(rebuilt, 12);
}

fn rebuild(path: &Path) {
    let kfs = fs::read(path).unwrap();
    let index = fs::read(path.with_extension("index")).unwrap();
    let opts = ReaderOptions { decode_records: false, ..ReaderOptions::default() };
    let mut reader = SegmentReader::new(&kfs[..], "test.kfs", kfs.len() as u64, opts).unwrap();
    let header = *reader.header().unwrap();
    let mut writer = SegmentWriter::new(header.base_offset, header.created_ms, 100);
    while let Some(batch) = reader.next_batch().unwrap() {
        let start = batch.position as usize;
        let end = start + 12 + batch.header.batch_length as usize;
        writer.push_batch(&kfs[start..end]).unwrap();
    }
    let (new_kfs, new_index) = writer.finish();
    assert!(new_kfs == kfs, "{}", path.display());
    assert!(new_index == index, "{}", path.display());
}

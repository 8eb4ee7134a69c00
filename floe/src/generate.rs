//! Synthetic KafScale segments: what `floe demo` reads, and the data sets of
//! the end-to-end tests and benchmarks. Records are JSON orders with keys
//! and headers, written in producer-sized batches and broker-sized segments
//! with the same writer conformance tests check against the corpus.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use floe_kfs::batch::Compression;
use floe_kfs::naming::{index_object_name, segment_object_name};
use floe_kfs::reader::ControlMarker;
use floe_kfs::writer::{BatchBuilder, NewRecord, SegmentWriter, control_batch};

/// One topic to generate.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// Codecs used in turn, one per batch.
    pub codecs: Vec<Compression>,
    /// Every 8th batch is transactional; every other transaction aborts.
    pub transactions: bool,
}

#[derive(Debug, Clone)]
pub struct DataSpec {
    pub topics: Vec<TopicSpec>,
    pub records_per_partition: u64,
    pub value_bytes: usize,
    pub batch_records: usize,
    pub segment_records: usize,
    /// Timestamp of the first record (ms).
    pub start_ms: i64,
}

/// What was written for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionWritten {
    pub topic: String,
    pub partition: i32,
    pub segments: usize,
    /// Offsets used (records, control batches included).
    pub offsets: i64,
    /// Records a read-committed reader emits.
    pub committed_records: u64,
    pub bytes: u64,
}

/// Writes every topic under `root` (the bucket's folder plus namespace).
pub fn write_data_set(root: &Path, spec: &DataSpec) -> io::Result<Vec<PartitionWritten>> {
    let mut written = Vec::new();
    for topic in &spec.topics {
        for partition in 0..topic.partitions {
            let dir = root.join(&topic.name).join(partition.to_string());
            written.push(write_partition(&dir, spec, topic, partition)?);
        }
    }
    Ok(written)
}

/// A small deterministic generator: the same spec always gives the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const STATUSES: [&str; 4] = ["new", "paid", "shipped", "refunded"];
/// Words for the free-text field: values compress about as real JSON does
/// (2-4x), not as padding would.
const WORDS: [&str; 32] = [
    "parcel",
    "delivery",
    "express",
    "gift",
    "wrap",
    "fragile",
    "leave",
    "door",
    "call",
    "before",
    "after",
    "noon",
    "weekend",
    "priority",
    "return",
    "label",
    "box",
    "small",
    "large",
    "blue",
    "green",
    "red",
    "extra",
    "insured",
    "signature",
    "required",
    "north",
    "south",
    "east",
    "west",
    "floor",
    "office",
];
const COUNTRIES: [&str; 5] = ["DE", "FR", "US", "BR", "JP"];

fn order(rng: &mut Rng, n: u64, ts: i64, value_bytes: usize) -> NewRecord {
    let mut value = format!(
        r#"{{"order_id":{n},"status":"{}","amount":{}.{:02},"qty":{},"customer":{{"id":{},"country":"{}"}},"created_at":{ts},"note":""#,
        STATUSES[rng.below(4) as usize],
        rng.below(1000),
        rng.below(100),
        1 + rng.below(9),
        rng.below(100_000),
        COUNTRIES[rng.below(5) as usize],
    );
    while value.len() + 2 < value_bytes {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        let room = value_bytes - 2 - value.len();
        value.push_str(&word[..word.len().min(room)]);
        if value.len() + 3 < value_bytes {
            value.push(' ');
        }
    }
    value.push_str("\"}");
    let headers = if n.is_multiple_of(4) {
        vec![
            ("trace".to_string(), Some(format!("t{n}").into_bytes())),
            ("bin".to_string(), Some(vec![0xff, 0, n as u8])),
        ]
    } else {
        Vec::new()
    };
    NewRecord {
        timestamp_ms: ts,
        key: (n % 10 != 7).then(|| format!("user-{}", rng.below(500)).into_bytes()),
        value: Some(value.into_bytes()),
        headers,
    }
}

fn write_partition(dir: &Path, spec: &DataSpec, topic: &TopicSpec, partition: i32) -> io::Result<PartitionWritten> {
    fs::create_dir_all(dir)?;
    let seed = topic.name.bytes().fold(0x9E37_79B9_7F4A_7C15_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    let mut rng = Rng(seed ^ (partition as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut out = PartitionWritten {
        topic: topic.name.clone(),
        partition,
        segments: 0,
        offsets: 0,
        committed_records: 0,
        bytes: 0,
    };
    let mut segment = SegmentWriter::new(0, spec.start_ms, 100);
    let mut in_segment = 0usize;
    let mut produced = 0u64;
    let mut batch_no = 0u64;
    let producer_id = 4000 + i64::from(partition);
    let batch_records = spec.batch_records.max(1);
    while produced < spec.records_per_partition {
        let codec = topic.codecs[(batch_no as usize) % topic.codecs.len().max(1)];
        let transactional = topic.transactions && batch_no % 8 == 3;
        let mut builder = BatchBuilder::new(codec);
        if transactional {
            builder = builder.transactional(producer_id, 0);
        }
        let count = (spec.records_per_partition - produced).min(batch_records as u64);
        for i in 0..count {
            let n = produced + i;
            let ts = spec.start_ms + (n as i64) * 7 + rng.below(5) as i64;
            builder.push(order(&mut rng, n, ts, spec.value_bytes));
        }
        let offset = segment.next_offset();
        segment.push_batch(&builder.encode(offset)?).map_err(io::Error::other)?;
        produced += count;
        in_segment += count as usize;
        if transactional {
            let commit = (batch_no / 8).is_multiple_of(2);
            if commit {
                out.committed_records += count;
            }
            // The marker sometimes lands in the next segment, as brokers do.
            if in_segment >= spec.segment_records {
                flush_segment(dir, &mut segment, &mut out, spec)?;
                in_segment = 0;
            }
            let marker = if commit { ControlMarker::Commit } else { ControlMarker::Abort };
            let ts = spec.start_ms + (produced as i64) * 7;
            let control = control_batch(segment.next_offset(), producer_id, 0, marker, ts);
            segment.push_batch(&control).map_err(io::Error::other)?;
        } else {
            out.committed_records += count;
        }
        batch_no += 1;
        if in_segment >= spec.segment_records {
            flush_segment(dir, &mut segment, &mut out, spec)?;
            in_segment = 0;
        }
    }
    flush_segment(dir, &mut segment, &mut out, spec)?;
    Ok(out)
}

/// Writes the current segment (`.kfs` first, then `.index`) and starts the next one.
fn flush_segment(
    dir: &Path,
    segment: &mut SegmentWriter,
    out: &mut PartitionWritten,
    spec: &DataSpec,
) -> io::Result<()> {
    let base = out.offsets;
    let next = segment.next_offset();
    if next == base {
        return Ok(());
    }
    // Flushed just after its newest record (timestamps grow by 7 ms per
    // record, with up to 4 ms of jitter).
    segment.set_created_ms(spec.start_ms + next * 7 + 5);
    let finished = std::mem::replace(segment, SegmentWriter::new(next, spec.start_ms, 100));
    let (kfs, index) = finished.finish();
    write_atomically(&dir.join(segment_object_name(base)), &kfs)?;
    write_atomically(&dir.join(index_object_name(base)), &index)?;
    out.segments += 1;
    out.offsets = next;
    out.bytes += kfs.len() as u64;
    Ok(())
}

/// Writes through a temporary name so a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// Parses a codec name as the CLI takes it.
pub fn parse_codec(name: &str) -> Result<Vec<Compression>, String> {
    Ok(match name {
        "none" => vec![Compression::None],
        "gzip" => vec![Compression::Gzip],
        "snappy" => vec![Compression::Snappy],
        "lz4" => vec![Compression::Lz4],
        "zstd" => vec![Compression::Zstd],
        "mixed" => vec![Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd, Compression::None],
        other => return Err(format!("unknown codec `{other}`: use none, gzip, snappy, lz4, zstd or mixed")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_contiguous_segments_with_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let spec = DataSpec {
            topics: vec![TopicSpec {
                name: "orders".into(),
                partitions: 2,
                codecs: parse_codec("mixed").unwrap(),
                transactions: true,
            }],
            records_per_partition: 1000,
            value_bytes: 120,
            batch_records: 50,
            segment_records: 300,
            start_ms: 1_767_225_600_000,
        };
        let written = write_data_set(dir.path(), &spec).unwrap();
        assert_eq!(written.len(), 2);
        for p in &written {
            // 20 batches, 3 transactional (batches 3, 11, 19), 1 aborted (batch 11).
            assert_eq!(p.offsets, 1000 + 3);
            assert_eq!(p.committed_records, 950);
            assert!(p.segments >= 3);
        }
        let first = dir.path().join("orders/0").join(segment_object_name(0));
        assert!(first.exists());
    }
}

//! Writer -> reader -> read-committed round trips over arbitrary partitions:
//! every codec and snappy framing, LogAppendTime, transactions committed or
//! aborted in later segments, reads started mid-segment through the index, and
//! restarts with `skip_below`.

use std::collections::HashMap;

use bytes::Bytes;
use floe_kfs::{
    BatchBuilder, Compression, ControlMarker, Header, NewRecord, ReadCommitted, ReaderOptions, Record, SegmentIndex,
    SegmentReader, SegmentWriter, control_batch,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Data {
        codec: Compression,
        snappy_raw: bool,
        log_append_time: bool,
        /// Producer (0..3) of a transactional batch.
        producer: Option<i64>,
        records: Vec<NewRecord>,
    },
    Marker {
        producer: i64,
        commit: bool,
    },
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    /// Close the segment after this batch.
    end_segment: bool,
}

struct Segment {
    base: i64,
    last: i64,
    kfs: Vec<u8>,
    index: Vec<u8>,
}

fn new_record() -> impl Strategy<Value = NewRecord> {
    let bytes = |max| proptest::collection::vec(any::<u8>(), 0..max);
    let header = (".{0,8}", proptest::option::of(bytes(12)));
    (
        0i64..1 << 41,
        proptest::option::of(bytes(16)),
        proptest::option::weighted(0.9, bytes(120)),
        proptest::collection::vec(header, 0..3),
    )
        .prop_map(|(timestamp_ms, key, value, headers)| NewRecord { timestamp_ms, key, value, headers })
}

fn step() -> impl Strategy<Value = Step> {
    let data = (
        proptest::sample::select(Compression::ALL.to_vec()),
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::option::weighted(0.4, 0i64..3),
        proptest::collection::vec(new_record(), 1..12),
    )
        .prop_map(|(codec, snappy_raw, log_append_time, producer, records)| Op::Data {
            codec,
            snappy_raw,
            log_append_time,
            producer,
            records,
        });
    let marker = (0i64..3, any::<bool>()).prop_map(|(producer, commit)| Op::Marker { producer, commit });
    let op = prop_oneof![4 => data, 1 => marker];
    (op, proptest::bool::weighted(0.3)).prop_map(|(op, end_segment)| Step { op, end_segment })
}

fn producer_id(p: i64) -> i64 {
    4000 + p
}

/// Writes the steps as segments, starting at offset 0.
fn write(steps: &[Step], interval: i32) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut writer: Option<SegmentWriter> = None;
    let mut next = 0;
    for step in steps {
        let w = writer.get_or_insert_with(|| SegmentWriter::new(next, 1_767_225_600_000 + next, interval));
        let batch = match &step.op {
            Op::Data { codec, snappy_raw, log_append_time, producer, records } => {
                let mut b = BatchBuilder::new(*codec).snappy_raw(*snappy_raw).log_append_time(*log_append_time);
                if let Some(p) = producer {
                    b = b.transactional(producer_id(*p), 0);
                }
                for r in records {
                    b.push(r.clone());
                }
                assert_eq!(b.len(), records.len());
                b.encode(next).unwrap()
            }
            Op::Marker { producer, commit } => {
                let marker = if *commit { ControlMarker::Commit } else { ControlMarker::Abort };
                control_batch(next, producer_id(*producer), 0, marker, 1_767_225_600_000)
            }
        };
        w.push_batch(&batch).unwrap();
        next = w.next_offset();
        if step.end_segment {
            segments.push(finish(writer.take().unwrap()));
        }
    }
    if let Some(w) = writer {
        segments.push(finish(w));
    }
    segments
}

fn finish(w: SegmentWriter) -> Segment {
    let last = w.next_offset() - 1;
    let (kfs, index) = w.finish();
    let base = SegmentIndex::parse(&index, "i").unwrap().entries.first().map_or(last + 1, |e| e.offset);
    Segment { base, last, kfs, index }
}

/// What read-committed must emit, from the steps alone.
fn model(steps: &[Step]) -> (Vec<Record>, Option<i64>) {
    let mut out = Vec::new();
    let mut open: HashMap<i64, (i64, Vec<Record>)> = HashMap::new();
    let mut offset = 0;
    for step in steps {
        match &step.op {
            Op::Data { log_append_time, producer, records, .. } => {
                let max_ts = records.iter().map(|r| r.timestamp_ms).max().unwrap();
                let first = offset;
                let decoded: Vec<Record> = records
                    .iter()
                    .map(|r| {
                        let record = expected_record(offset, r, log_append_time.then_some(max_ts));
                        offset += 1;
                        record
                    })
                    .collect();
                match producer {
                    None => out.extend(decoded),
                    Some(p) => open.entry(*p).or_insert((first, Vec::new())).1.extend(decoded),
                }
            }
            Op::Marker { producer, commit } => {
                if let Some((_, records)) = open.remove(producer)
                    && *commit
                {
                    out.extend(records);
                }
                offset += 1;
            }
        }
    }
    (out, open.values().map(|(first, _)| *first).min())
}

fn expected_record(offset: i64, r: &NewRecord, log_append_time: Option<i64>) -> Record {
    Record {
        offset,
        timestamp_ms: log_append_time.unwrap_or(r.timestamp_ms),
        key: r.key.clone().map(Bytes::from),
        value: r.value.clone().map(Bytes::from),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| Header { key: Bytes::from(k.clone()), value: v.clone().map(Bytes::from) })
            .collect(),
    }
}

/// Reads the partition from `start` (through the index of the segment that
/// holds it) with the given `skip_below`, stopping before the batch at
/// `stop_at`. Returns the records and the open transactions' start.
fn read(segments: &[Segment], start: i64, skip_below: i64, stop_at: Option<i64>) -> (Vec<Record>, Option<i64>) {
    let mut txn = ReadCommitted::new(skip_below, 1 << 30);
    let mut out = Vec::new();
    let opts = ReaderOptions::default();
    let mut first = true;
    for seg in segments.iter().filter(|s| s.last >= start) {
        let len = seg.kfs.len() as u64;
        let mut reader = if first {
            let entry = SegmentIndex::parse(&seg.index, "i").unwrap().seek(start.max(seg.base)).unwrap();
            let at = entry.position as usize;
            SegmentReader::at_position(&seg.kfs[at..], "s.kfs", len, at as u64, opts).unwrap()
        } else {
            SegmentReader::new(&seg.kfs[..], "s.kfs", len, opts).unwrap()
        };
        first = false;
        while let Some(batch) = reader.next_batch().unwrap() {
            if stop_at.is_some_and(|stop| batch.header.base_offset >= stop) {
                return (out, txn.open_txn_start());
            }
            txn.push(batch, &mut out).unwrap();
        }
    }
    (out, txn.open_txn_start())
}

fn batch_starts(steps: &[Step]) -> Vec<i64> {
    let mut starts = vec![0];
    for step in steps {
        let n = match &step.op {
            Op::Data { records, .. } => records.len() as i64,
            Op::Marker { .. } => 1,
        };
        starts.push(starts.last().unwrap() + n);
    }
    starts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn written_records_come_back(
        steps in proptest::collection::vec(step(), 1..14),
        interval in 1i32..30,
    ) {
        let segments = write(&steps, interval);
        let (want, want_open) = model(&steps);

        // From the very start, segment by segment with full checks.
        let mut txn = ReadCommitted::new(0, 1 << 30);
        let mut got = Vec::new();
        for seg in &segments {
            let mut reader = SegmentReader::new(&seg.kfs[..], "s.kfs", seg.kfs.len() as u64, ReaderOptions::default()).unwrap();
            while let Some(batch) = reader.next_batch().unwrap() {
                txn.push(batch, &mut got).unwrap();
            }
            prop_assert_eq!(reader.footer().unwrap().last_offset, seg.last);
        }
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(txn.open_txn_start(), want_open);
        prop_assert_eq!(txn.pending_bytes() > 0, want_open.is_some());

        // Through the index from the first segment's first entry: the same.
        let (indexed, _) = read(&segments, 0, 0, None);
        prop_assert_eq!(&indexed, &want);
    }

    #[test]
    fn restart_resumes_exactly(
        steps in proptest::collection::vec(step(), 1..14),
        interval in 1i32..30,
        cut in any::<proptest::sample::Index>(),
    ) {
        let segments = write(&steps, interval);
        let (full, _) = read(&segments, 0, 0, None);
        let starts = batch_starts(&steps);
        let reached = *cut.get(&starts);
        let (before, open_start) = read(&segments, 0, 0, Some(reached));
        let (after, _) = read(&segments, open_start.unwrap_or(reached), reached, None);
        let resumed: Vec<Record> = before.into_iter().chain(after).collect();
        prop_assert_eq!(resumed, full);
    }

    #[test]
    fn mid_segment_reads_match_full_reads(
        steps in proptest::collection::vec(step(), 1..14),
        interval in 1i32..30,
    ) {
        for seg in write(&steps, interval) {
            let opts = ReaderOptions::default();
            let len = seg.kfs.len() as u64;
            let mut full = SegmentReader::new(&seg.kfs[..], "s.kfs", len, opts).unwrap();
            let mut all = Vec::new();
            while let Some(batch) = full.next_batch().unwrap() {
                all.push(batch);
            }
            for entry in SegmentIndex::parse(&seg.index, "s.index").unwrap().entries {
                let at = entry.position as usize;
                let mut reader = SegmentReader::at_position(&seg.kfs[at..], "s.kfs", len, at as u64, opts).unwrap();
                let mut tail = Vec::new();
                while let Some(batch) = reader.next_batch().unwrap() {
                    tail.push(batch);
                }
                prop_assert_eq!(tail[0].header.base_offset, entry.offset);
                prop_assert_eq!(&tail[..], &all[all.len() - tail.len()..]);
            }
        }
    }
}

//! Decode throughput of a whole in-memory segment through `SegmentReader`,
//! per codec and record size, in records/s and in MB/s of record payload,
//! plus the verification pass (CRCs only, no decoding).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime};
use floe_kfs::{BatchBuilder, Compression, NewRecord, ReaderOptions, SegmentReader, SegmentWriter};

/// Producers send batches of a few hundred records.
const RECORDS_PER_BATCH: usize = 500;
const BATCHES: usize = 20;
const SIZES: [(&str, usize); 2] = [("100B", 100), ("1KiB", 1024)];

struct Workload {
    segment: Vec<u8>,
    records: u64,
    payload_bytes: u64,
}

/// Words for free-text fields: text drawn from a small vocabulary compresses
/// about as well as real payloads do (a few times, not a hundred).
const WORDS: [&str; 32] = [
    "order",
    "customer",
    "shipped",
    "delayed",
    "warehouse",
    "berlin",
    "paris",
    "express",
    "return",
    "refund",
    "invoice",
    "priority",
    "gift",
    "fragile",
    "morning",
    "evening",
    "address",
    "changed",
    "payment",
    "card",
    "pending",
    "confirmed",
    "box",
    "pallet",
    "note",
    "call",
    "before",
    "door",
    "left",
    "neighbour",
    "signed",
    "tracking",
];

/// A deterministic JSON-ish value of exactly `size` bytes: varied numbers,
/// statuses and a free-text note.
fn value(i: u64, size: usize) -> Vec<u8> {
    let mut state = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        // xorshift64: cheap, deterministic variety
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let status = ["new", "paid", "shipped", "cancelled"][(next() % 4) as usize];
    let mut v = format!(
        "{{\"order_id\": {}, \"status\": \"{status}\", \"amount\": {}.{:02}, \"note\": \"",
        next() >> 34,
        next() % 1000,
        next() % 100
    )
    .into_bytes();
    while v.len() + 2 < size {
        v.extend_from_slice(WORDS[(next() % 32) as usize].as_bytes());
        v.push(b' ');
    }
    v.truncate(size.saturating_sub(2));
    v.extend_from_slice(b"\"}");
    v
}

fn workload(codec: Compression, size: usize) -> Workload {
    let mut writer = SegmentWriter::new(0, 1_767_225_600_000, 100);
    let mut payload_bytes = 0;
    let mut i = 0u64;
    for _ in 0..BATCHES {
        let mut batch = BatchBuilder::new(codec);
        for _ in 0..RECORDS_PER_BATCH {
            let key = format!("user-{}", i % 1000).into_bytes();
            // One record in ten carries a trace header, as instrumented producers do.
            let headers = if i.is_multiple_of(10) {
                vec![("trace".to_owned(), Some(format!("{i:016x}").into_bytes()))]
            } else {
                Vec::new()
            };
            let record = NewRecord {
                timestamp_ms: 1_767_225_600_000 + i as i64,
                value: Some(value(i, size)),
                key: Some(key),
                headers,
            };
            payload_bytes +=
                (record.key.as_ref().map_or(0, Vec::len) + record.value.as_ref().map_or(0, Vec::len)) as u64;
            payload_bytes +=
                record.headers.iter().map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64).sum::<u64>();
            batch.push(record);
            i += 1;
        }
        writer.push_batch(&batch.encode(writer.next_offset()).unwrap()).unwrap();
    }
    Workload { segment: writer.finish().0, records: i, payload_bytes }
}

fn read(segment: &[u8], decode_records: bool) -> usize {
    let opts = ReaderOptions { decode_records, ..ReaderOptions::default() };
    let mut reader = SegmentReader::new(segment, "bench.kfs", segment.len() as u64, opts).unwrap();
    let mut records = 0;
    while let Some(batch) = reader.next_batch().unwrap() {
        records += black_box(batch).records.len();
    }
    records
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
}

fn bench(c: &mut Criterion) {
    let workloads: Vec<(Compression, &str, Workload)> = Compression::ALL
        .into_iter()
        .flat_map(|codec| SIZES.map(|(name, size)| (codec, name, workload(codec, size))))
        .collect();
    for (unit, throughput) in [
        ("records", (|w: &Workload| Throughput::Elements(w.records)) as fn(&Workload) -> Throughput),
        ("bytes", |w: &Workload| Throughput::Bytes(w.payload_bytes)),
    ] {
        let mut group = c.benchmark_group(format!("decode_{unit}"));
        configure(&mut group);
        for (codec, size, w) in &workloads {
            assert_eq!(read(&w.segment, true) as u64, w.records);
            group.throughput(throughput(w));
            group.bench_function(format!("{codec}/{size}"), |b| b.iter(|| read(black_box(&w.segment), true)));
        }
        for (codec, size, w) in &workloads {
            group.throughput(throughput(w));
            group.bench_function(format!("verify/{codec}/{size}"), |b| b.iter(|| read(black_box(&w.segment), false)));
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

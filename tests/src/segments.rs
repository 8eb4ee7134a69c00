//! What a table must hold, computed straight from the segments with the
//! segment codec (itself checked against the conformance corpus), so the
//! end-to-end tests do not trust the pipeline they test.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use floe_kfs::batch::Compression;
use floe_kfs::naming::{index_object_name, segment_object_name};
use floe_kfs::reader::{ReaderOptions, SegmentReader};
use floe_kfs::txn::ReadCommitted;
use floe_kfs::writer::{BatchBuilder, NewRecord, SegmentWriter};

/// The offsets a read-committed reader emits from one partition's folder.
pub fn committed_offsets(partition_dir: &Path) -> Vec<i64> {
    let mut segments: Vec<_> = std::fs::read_dir(partition_dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", partition_dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "kfs"))
        .collect();
    segments.sort();
    let mut txn = ReadCommitted::new(0, usize::MAX);
    let mut offsets = Vec::new();
    let mut records = Vec::new();
    for path in segments {
        let len = std::fs::metadata(&path).expect("segment size").len();
        let file = BufReader::new(File::open(&path).expect("opening a segment"));
        let name = path.display().to_string();
        let mut reader =
            SegmentReader::new(file, name.clone(), len, ReaderOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        while let Some(batch) = reader.next_batch().unwrap_or_else(|e| panic!("{e}")) {
            txn.push(batch, &mut records).expect("no pending limit");
            offsets.extend(records.drain(..).map(|r| r.offset));
        }
    }
    offsets
}

/// For each segment of a partition folder, in order: the first offset of a
/// transaction still open after reading it (its marker comes later), if any.
pub fn open_transaction_after_each_segment(partition_dir: &Path) -> Vec<(std::path::PathBuf, Option<i64>)> {
    let mut segments: Vec<_> = std::fs::read_dir(partition_dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", partition_dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "kfs"))
        .collect();
    segments.sort();
    let mut txn = ReadCommitted::new(0, usize::MAX);
    let mut records = Vec::new();
    let mut out = Vec::new();
    for path in segments {
        let len = std::fs::metadata(&path).expect("segment size").len();
        let file = BufReader::new(File::open(&path).expect("opening a segment"));
        let mut reader = SegmentReader::new(file, path.display().to_string(), len, ReaderOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        while let Some(batch) = reader.next_batch().unwrap_or_else(|e| panic!("{e}")) {
            txn.push(batch, &mut records).expect("no pending limit");
            records.clear();
        }
        out.push((path, txn.open_txn_start()));
    }
    out
}

/// Copies the segments (`.kfs` and `.index`) with these base offsets from
/// one partition folder to another, as a broker uploading them would.
pub fn copy_segments(from: &Path, to: &Path, bases: &[i64]) {
    std::fs::create_dir_all(to).unwrap();
    for base in bases {
        for ext in ["kfs", "index"] {
            let name = format!("segment-{base:020}.{ext}");
            std::fs::copy(from.join(&name), to.join(&name)).unwrap();
        }
    }
}

/// Writes one complete segment to a partition folder, one record per value
/// (`None`: a tombstone), `per_batch` records per batch, the first at
/// `base_offset`; record n is stamped 1767225600000 + n ms. The `.kfs`
/// lands last, as an upload completes. Returns the next offset.
pub fn write_segment(partition_dir: &Path, base_offset: i64, values: &[Option<&[u8]>], per_batch: usize) -> i64 {
    std::fs::create_dir_all(partition_dir).unwrap();
    let mut segment = SegmentWriter::new(base_offset, 1_767_225_600_000, 100);
    for chunk in values.chunks(per_batch.max(1)) {
        let mut batch = BatchBuilder::new(Compression::None);
        let first = segment.next_offset();
        for (n, value) in chunk.iter().enumerate() {
            batch.push(NewRecord {
                timestamp_ms: 1_767_225_600_000 + first + n as i64,
                key: None,
                value: value.map(<[u8]>::to_vec),
                headers: Vec::new(),
            });
        }
        segment.push_batch(&batch.encode(first).expect("encoding a batch")).expect("a valid batch");
    }
    let next = segment.next_offset();
    let (kfs, index) = segment.finish();
    std::fs::write(partition_dir.join(index_object_name(base_offset)), index).unwrap();
    // A half-written `.kfs` lacks its footer: floe waits for the rest.
    std::fs::write(partition_dir.join(segment_object_name(base_offset)), kfs).unwrap();
    next
}

/// [`write_segment`] with JSON text values.
pub fn write_json_segment(partition_dir: &Path, base_offset: i64, values: &[Option<&str>], per_batch: usize) -> i64 {
    let values: Vec<Option<&[u8]>> = values.iter().map(|v| v.map(str::as_bytes)).collect();
    write_segment(partition_dir, base_offset, &values, per_batch)
}

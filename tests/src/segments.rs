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

/// Writes one complete segment (`.kfs` and `.index`) of `records` into a
/// partition folder, starting at offset `base`, one batch per record.
pub fn write_segment(partition_dir: &Path, base: i64, records: Vec<NewRecord>) {
    std::fs::create_dir_all(partition_dir).unwrap();
    let created_ms = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
    let mut segment = SegmentWriter::new(base, created_ms, 1);
    for record in records {
        let mut batch = BatchBuilder::new(Compression::None);
        batch.push(record);
        segment.push_batch(&batch.encode(segment.next_offset()).unwrap()).unwrap();
    }
    let (kfs, index) = segment.finish();
    std::fs::write(partition_dir.join(segment_object_name(base)), kfs).unwrap();
    std::fs::write(partition_dir.join(index_object_name(base)), index).unwrap();
}

//! Every way a segment can be wrong gives an error that names the object, the
//! byte position and the problem, and nothing panics.

use std::io::{self, Read};

use floe_kfs::{
    BatchBuilder, Compression, ControlMarker, Error, ErrorKind, NewRecord, ReadCommitted, ReaderOptions, SegmentReader,
    SegmentWriter, control_batch,
};

const OBJECT: &str = "production/logs/1/segment-00000000000000000000.kfs";

fn record(i: u8) -> NewRecord {
    NewRecord {
        timestamp_ms: 1_767_225_601_000 + i64::from(i),
        key: Some(format!("user-{i}").into_bytes()),
        value: Some(format!("{{\"order_id\": {i}}}").into_bytes()),
        headers: vec![("trace".into(), Some(vec![0xff, i]))],
    }
}

fn batch(codec: Compression, base_offset: i64, count: u8) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec);
    for i in 0..count {
        b.push(record(i));
    }
    b.encode(base_offset).unwrap()
}

/// Three uncompressed batches of 3 records (offsets 0-8) at bytes 32, 32+n, 32+2n.
fn segment() -> Vec<u8> {
    let mut w = SegmentWriter::new(0, 1_767_225_601_000, 100);
    for base in [0, 3, 6] {
        w.push_batch(&batch(Compression::None, base, 3)).unwrap();
    }
    w.finish().0
}

fn batch_len() -> usize {
    batch(Compression::None, 0, 3).len()
}

fn read_all_with(bytes: &[u8], object_len: u64, opts: ReaderOptions) -> Result<usize, Error> {
    let mut reader = SegmentReader::new(bytes, OBJECT, object_len, opts)?;
    let mut records = 0;
    while let Some(batch) = reader.next_batch()? {
        records += batch.records.len();
    }
    Ok(records)
}

fn read_all(bytes: &[u8]) -> Result<usize, Error> {
    read_all_with(bytes, bytes.len() as u64, ReaderOptions::default())
}

fn message(bytes: &[u8]) -> String {
    read_all(bytes).unwrap_err().to_string()
}

/// Rewrites a batch's CRC after a deliberate change inside it.
fn reseal(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A segment around one (possibly hand-edited) batch.
fn wrap(batch: &[u8]) -> Vec<u8> {
    let mut w = SegmentWriter::new(0, 0, 100);
    w.push_batch(batch).unwrap();
    w.finish().0
}

#[test]
fn the_healthy_segment_reads() {
    assert_eq!(read_all(&segment()).unwrap(), 9);
}

#[test]
fn flipped_byte_is_a_batch_crc_mismatch() {
    let mut bytes = segment();
    let second = 32 + batch_len();
    bytes[second + 70] ^= 0x01;
    let err = read_all(&bytes).unwrap_err();
    assert!(err.is_corrupt());
    let message = err.to_string();
    let prefix = format!("segment {OBJECT} at byte {second}: batch CRC-32C mismatch (stored 0x");
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.contains(", computed 0x"), "{message}");
    assert!(matches!(err.kind, ErrorKind::BatchCrcMismatch { stored, computed } if stored != computed));
}

#[test]
fn verification_pass_finds_the_same_damage() {
    let mut bytes = segment();
    bytes[32 + 70] ^= 0x01;
    let verify = ReaderOptions { decode_records: false, ..ReaderOptions::default() };
    let err = read_all_with(&bytes, bytes.len() as u64, verify).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BatchCrcMismatch { .. }));
    assert_eq!(read_all_with(&segment(), bytes.len() as u64, verify).unwrap(), 0);
}

#[test]
fn footer_crc_mismatch_names_the_footer() {
    let mut bytes = segment();
    let footer = bytes.len() - 16;
    bytes[footer] ^= 0x80;
    let message = message(&bytes);
    assert!(
        message.starts_with(&format!("segment {OBJECT} at byte {footer}: segment body CRC-32C mismatch (footer 0x")),
        "{message}"
    );
}

#[test]
fn base_offset_rewrite_is_a_gap_or_overlap() {
    // The base offset lies outside the batch CRC (brokers rewrite it), so only
    // the offset continuity check catches it.
    let second = 32 + batch_len();
    let mut gap = segment();
    gap[second + 7] = 5;
    assert_eq!(
        message(&gap),
        format!("segment {OBJECT} at byte {second}: offset gap: batch base offset 5, expected 3")
    );
    let mut overlap = segment();
    overlap[second + 7] = 2;
    assert_eq!(
        message(&overlap),
        format!("segment {OBJECT} at byte {second}: offset overlap: batch base offset 2, expected 3")
    );
}

#[test]
fn first_batch_must_start_at_the_header_base_offset() {
    let mut bytes = segment();
    bytes[15] = 1; // header base offset 1
    assert_eq!(
        message(&bytes),
        format!("segment {OBJECT} at byte 32: offset overlap: batch base offset 0, expected 1")
    );
}

#[test]
fn footer_and_header_counts_must_agree() {
    let mut bytes = segment();
    let last_offset_end = bytes.len() - 5;
    bytes[last_offset_end] = 9; // footer last offset 9 instead of 8
    let footer = bytes.len() - 16;
    assert_eq!(
        message(&bytes),
        format!(
            "segment {OBJECT} at byte {}: footer last offset 9 does not match the last batch's last offset 8",
            footer + 4
        )
    );
    let mut bytes = segment();
    bytes[19] = 10; // header record count 10 instead of 9
    assert_eq!(
        message(&bytes),
        format!("segment {OBJECT} at byte 16: segment record count mismatch: header declares 10, found 9")
    );
}

#[test]
fn declared_length_over_the_caller_limit() {
    let bytes = segment();
    let opts = ReaderOptions { max_batch_bytes: 100, ..ReaderOptions::default() };
    let err = read_all_with(&bytes, bytes.len() as u64, opts).unwrap_err();
    assert!(!err.is_corrupt());
    assert_eq!(
        err.to_string(),
        format!(
            "segment {OBJECT} at byte 32: batch length {} exceeds the caller's limit max_batch_bytes = 100",
            batch_len()
        )
    );
}

#[test]
fn declared_length_past_the_body() {
    let mut bytes = segment();
    bytes[32 + 8..32 + 12].copy_from_slice(&0x7fff_fff0_i32.to_be_bytes());
    let room = bytes.len() - 16 - 32 - 12;
    assert_eq!(
        message(&bytes),
        format!("segment {OBJECT} at byte 40: batch length 2147483632 out of bounds (limit {room})")
    );
    bytes[32 + 8..32 + 12].copy_from_slice(&(-1_i32).to_be_bytes());
    assert_eq!(
        message(&bytes),
        format!("segment {OBJECT} at byte 40: malformed batch: batch length shorter than a batch header")
    );
}

#[test]
fn truncated_source_is_reported_where_it_ends() {
    let bytes = segment();
    let cut = 32 + batch_len() + 20;
    let err = read_all_with(&bytes[..cut], bytes.len() as u64, ReaderOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "segment {OBJECT} at byte {cut}: unexpected end of data in batch: {} bytes needed, 8 available",
            batch_len() - 12
        )
    );
    let err = read_all_with(&bytes[..10], bytes.len() as u64, ReaderOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("segment {OBJECT} at byte 10: unexpected end of data in segment header: 32 bytes needed, 10 available")
    );
}

#[test]
fn short_objects_are_refused() {
    let bytes = segment();
    let err = read_all_with(&bytes[..20], 20, ReaderOptions::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Truncated { what: "segment header", .. }));
    let err = read_all_with(&bytes[..40], 40, ReaderOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("segment {OBJECT} at byte 32: unexpected end of data in segment footer: 48 bytes needed, 40 available")
    );
}

#[test]
fn bytes_too_few_for_a_batch_before_the_footer() {
    let mut w = SegmentWriter::new(0, 0, 100);
    w.push_batch(&batch(Compression::None, 0, 1)).unwrap();
    let (mut bytes, _) = w.finish();
    let footer = bytes.split_off(bytes.len() - 16);
    let end = bytes.len();
    bytes.extend_from_slice(&[0; 10]);
    bytes.extend_from_slice(&footer);
    assert_eq!(
        message(&bytes),
        format!("segment {OBJECT} at byte {end}: 10 bytes left before the footer, too few for a batch")
    );
}

#[test]
fn bad_batch_magic() {
    let mut bytes = segment();
    bytes[32 + 16] = 1; // outside the CRC
    assert_eq!(
        message(&bytes),
        format!("segment {OBJECT} at byte 48: batch magic 1, expected 2 (only Kafka v2 record batches are supported)")
    );
}

#[test]
fn unknown_codec() {
    let mut b = batch(Compression::None, 0, 2);
    b[22] |= 5;
    reseal(&mut b);
    assert_eq!(message(&wrap(&b)), format!("segment {OBJECT} at byte 53: unknown compression codec id 5"));
}

#[test]
fn batch_record_count_mismatch() {
    let mut b = batch(Compression::None, 0, 2);
    b[60] = 3; // declares 3 records, holds 2 (last offset delta stays 1)
    reseal(&mut b);
    assert_eq!(
        message(&wrap(&b)),
        format!("segment {OBJECT} at byte 89: batch record count mismatch: header declares 3, found 2")
    );
}

#[test]
fn malformed_record_names_field_and_position() {
    let mut b = batch(Compression::None, 0, 2);
    // Record 0 starts at byte 61: length, attributes, timestamp delta, offset
    // delta, then the key length.
    b[65] = 0x7e; // key length 63, past the record's end
    reseal(&mut b);
    assert_eq!(
        message(&wrap(&b)),
        format!("segment {OBJECT} at byte 93: malformed record 0 of the batch: key is out of bounds")
    );
}

#[test]
fn record_offsets_must_stay_in_the_batch() {
    let mut b = batch(Compression::None, 0, 2);
    b[23..27].copy_from_slice(&0_i32.to_be_bytes()); // last offset delta 0, two records
    reseal(&mut b);
    let mut w = SegmentWriter::new(0, 0, 100);
    w.push_batch(&b).unwrap();
    let bytes = w.finish().0;
    let message = message(&bytes);
    assert!(
        message.ends_with(
            "malformed record 1 of the batch: offset delta is not after the previous record's and within the batch"
        ),
        "{message}"
    );
}

#[test]
fn decompression_errors_name_the_codec() {
    let mut b = batch(Compression::Gzip, 0, 3);
    let n = b.len();
    b[n - 12..n - 4].copy_from_slice(b"garbage!"); // inside the deflate stream's tail
    reseal(&mut b);
    let message = message(&wrap(&b));
    assert!(message.starts_with(&format!("segment {OBJECT} at byte 93: gzip decompression failed: ")), "{message}");
}

#[test]
fn decompressed_size_over_the_limit() {
    let mut builder = BatchBuilder::new(Compression::Zstd);
    for _ in 0..100 {
        builder.push(NewRecord { value: Some(vec![b'x'; 1000]), ..NewRecord::default() });
    }
    let bytes = wrap(&builder.encode(0).unwrap());
    let opts = ReaderOptions { max_decompressed_bytes: 50_000, ..ReaderOptions::default() };
    let err = read_all_with(&bytes, bytes.len() as u64, opts).unwrap_err();
    assert!(!err.is_corrupt());
    assert_eq!(
        err.to_string(),
        format!(
            "segment {OBJECT} at byte 93: zstd batch decompresses to more than the caller's limit max_decompressed_bytes = 50000"
        )
    );
    assert_eq!(read_all(&bytes).unwrap(), 100);
}

#[test]
fn control_batch_without_a_marker_key() {
    let mut b = control_batch(0, 7, 0, ControlMarker::Commit, 0);
    // Shrink the key to 2 bytes: record length 14, key length 2, value moves up.
    let data: [u8; 15] = [28, 0, 0, 0, 4, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0];
    b.truncate(61);
    b.extend_from_slice(&data);
    let length = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&length.to_be_bytes());
    reseal(&mut b);
    assert_eq!(
        message(&wrap(&b)),
        format!("segment {OBJECT} at byte 93: malformed record 0 of the batch: control record key is truncated")
    );
}

#[test]
fn an_error_stops_the_reader() {
    let mut bytes = segment();
    bytes[32 + 70] ^= 1;
    let mut reader = SegmentReader::new(&bytes[..], OBJECT, bytes.len() as u64, ReaderOptions::default()).unwrap();
    assert!(reader.next_batch().is_err());
    let err = reader.next_batch().unwrap_err();
    assert!(matches!(err.kind, ErrorKind::AfterError));
    assert!(!err.is_corrupt());
}

#[test]
fn failing_source_is_a_read_error() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset"))
        }
    }
    let err = SegmentReader::new(Failing, OBJECT, 1000, ReaderOptions::default()).err().unwrap();
    assert!(!err.is_corrupt());
    assert_eq!(err.to_string(), format!("segment {OBJECT} at byte 0: read failed: connection reset"));
}

#[test]
fn start_position_outside_the_body() {
    let bytes = segment();
    let len = bytes.len() as u64;
    for position in [0, 31, len - 15, len + 100] {
        let err =
            SegmentReader::at_position(&bytes[..0], OBJECT, len, position, ReaderOptions::default()).err().unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "segment {OBJECT} at byte {position}: start position {position} out of bounds (limit {})",
                len - 16
            )
        );
    }
}

#[test]
fn pending_limit_names_the_open_transaction() {
    let mut w = SegmentWriter::new(0, 0, 100);
    let mut b = BatchBuilder::new(Compression::None).transactional(4001, 0);
    for i in 0..10 {
        b.push(record(i));
    }
    w.push_batch(&b.encode(0).unwrap()).unwrap();
    let bytes = w.finish().0;
    let mut reader = SegmentReader::new(&bytes[..], OBJECT, bytes.len() as u64, ReaderOptions::default()).unwrap();
    let mut txn = ReadCommitted::new(0, 500);
    let err = txn.push(reader.next_batch().unwrap().unwrap(), &mut Vec::new()).unwrap_err();
    assert_eq!((err.producer_id, err.first_offset, err.limit), (4001, 0, 500));
    assert_eq!(err.bytes_held, txn.pending_bytes());
    assert_eq!(
        err.to_string(),
        format!(
            "open transactions hold {} bytes, over the limit of 500 bytes (producer 4001, transaction starting at offset 0)",
            err.bytes_held
        )
    );
}

#[test]
fn segment_writer_refuses_batches_out_of_order() {
    let mut w = SegmentWriter::new(0, 0, 100);
    w.push_batch(&batch(Compression::None, 0, 3)).unwrap();
    let err = w.push_batch(&batch(Compression::None, 4, 3)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "segment segment-00000000000000000000.kfs at byte {}: offset gap: batch base offset 4, expected 3",
            32 + batch_len()
        )
    );
    let mut damaged = batch(Compression::None, 3, 3);
    damaged[70] ^= 1;
    let err = w.push_batch(&damaged).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BatchCrcMismatch { .. }));
    assert_eq!(w.next_offset(), 3);
}

//! Arbitrary bytes as a `.kfs` (from the start and from every batch position,
//! decoding through read-committed) and as an `.index`. Random bytes rarely
//! carry valid CRCs, so each input is also tried with its batch and segment
//! CRCs repaired: that lets the fuzzer reach decompression and record parsing.

#![no_main]

use floe_kfs::{ReadCommitted, ReaderOptions, SegmentIndex, SegmentReader, check_completeness};
use libfuzzer_sys::fuzz_target;

const OBJECT: &str = "fuzz/0/segment-00000000000000000000.kfs";
const VERIFY: ReaderOptions = ReaderOptions {
    max_batch_bytes: 1 << 20,
    max_decompressed_bytes: 4 << 20,
    decode_records: false,
};
const DECODE: ReaderOptions = ReaderOptions {
    decode_records: true,
    ..VERIFY
};

fuzz_target!(|data: &[u8]| {
    let (repaired, positions) = repair(data);
    for bytes in [data, &repaired[..]] {
        read_segment(bytes, &positions);
    }
    if let Ok(index) = SegmentIndex::parse(data, "fuzz/0/segment-00000000000000000000.index") {
        assert_eq!(
            SegmentIndex::parse(&index.encode(), "again").ok(),
            Some(index.clone())
        );
        for entry in &index.entries {
            assert_eq!(index.seek(entry.offset), Some(*entry));
        }
    }
});

fn read_segment(bytes: &[u8], positions: &[usize]) {
    let len = bytes.len();
    let _ = check_completeness(
        &bytes[..len.min(32)],
        &bytes[len - len.min(16)..],
        len as u64,
        OBJECT,
    );
    let mut txn = ReadCommitted::new(0, 1 << 20);
    for opts in [VERIFY, DECODE] {
        if let Ok(reader) = SegmentReader::new(bytes, OBJECT, len as u64, opts) {
            drain(reader, &mut txn);
        }
    }
    // As after an index seek and a ranged read; also with a source that ends
    // before the object length it was listed with.
    for &at in positions.iter().take(4) {
        let mut txn = ReadCommitted::new(at as i64, 1 << 20);
        for object_len in [len, len + 7] {
            if let Ok(reader) = SegmentReader::at_position(
                &bytes[at..],
                OBJECT,
                object_len as u64,
                at as u64,
                DECODE,
            ) {
                drain(reader, &mut txn);
            }
        }
    }
}

fn drain(mut reader: SegmentReader<&[u8]>, txn: &mut ReadCommitted) {
    let mut out = Vec::new();
    loop {
        match reader.next_batch() {
            Ok(Some(batch)) => {
                let (base, last) = (batch.header.base_offset, batch.header.last_offset());
                assert!(
                    batch
                        .records
                        .iter()
                        .all(|r| (base..=last).contains(&r.offset))
                );
                assert!(batch.records.is_empty() || !batch.header.control());
                if txn.push(batch, &mut out).is_err() {
                    return;
                }
            }
            Ok(None) => {
                assert!(reader.footer().is_some());
                assert!(matches!(reader.next_batch(), Ok(None)));
                return;
            }
            Err(_) => {
                assert!(reader.next_batch().is_err());
                return;
            }
        }
    }
}

/// A copy with every batch CRC and the footer CRC made to match, and the
/// batch positions found on the way.
fn repair(data: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = data.to_vec();
    let mut positions = Vec::new();
    if bytes.len() < 48 {
        return (bytes, positions);
    }
    let body_end = bytes.len() - 16;
    let mut pos = 32;
    while pos + 61 <= body_end {
        let length = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        let Some(end) = usize::try_from(length)
            .ok()
            .and_then(|l| (pos + 12).checked_add(l))
        else {
            break;
        };
        if length < 49 || end > body_end {
            break;
        }
        let crc = crc32c::crc32c(&bytes[pos + 21..end]);
        bytes[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
        positions.push(pos);
        pos = end;
    }
    let crc = crc32c::crc32c(&bytes[32..body_end]);
    bytes[body_end..body_end + 4].copy_from_slice(&crc.to_be_bytes());
    (bytes, positions)
}

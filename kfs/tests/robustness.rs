//! Damaged segments (flipped bytes, cut short, spliced) never panic the
//! reader, and every error names the object and a position inside it.

use floe_kfs::{
    BatchBuilder, Compression, NewRecord, ReadCommitted, ReaderOptions, SegmentIndex, SegmentReader, SegmentWriter,
};
use proptest::prelude::*;

const OBJECT: &str = "production/t/0/segment-00000000000000000000.kfs";

fn segment() -> (Vec<u8>, Vec<u8>) {
    let mut w = SegmentWriter::new(0, 0, 4);
    for (i, codec) in Compression::ALL.into_iter().enumerate() {
        let mut b = BatchBuilder::new(codec).snappy_raw(i % 2 == 0);
        for n in 0..5u8 {
            b.push(NewRecord {
                timestamp_ms: i64::from(n),
                key: (n % 2 == 0).then(|| vec![n; 3]),
                value: Some(vec![b'v'; usize::from(n) * 9]),
                headers: vec![("h".into(), None)],
            });
        }
        w.push_batch(&b.encode(w.next_offset()).unwrap()).unwrap();
    }
    w.finish()
}

fn read(bytes: &[u8], object_len: u64, position: Option<u64>) {
    let opts = ReaderOptions { max_batch_bytes: 4096, max_decompressed_bytes: 4096, decode_records: true };
    let reader = match position {
        None => SegmentReader::new(bytes, OBJECT, object_len, opts),
        Some(at) => SegmentReader::at_position(bytes, OBJECT, object_len, at, opts),
    };
    let check = |e: floe_kfs::Error| {
        assert_eq!(e.object, OBJECT);
        assert!(e.position <= object_len, "{e}");
        assert!(e.to_string().starts_with(&format!("segment {OBJECT} at byte {}: ", e.position)));
    };
    let mut reader = match reader {
        Ok(r) => r,
        Err(e) => return check(e),
    };
    let mut txn = ReadCommitted::new(0, 1 << 20);
    let mut out = Vec::new();
    loop {
        match reader.next_batch() {
            Ok(Some(batch)) => txn.push(batch, &mut out).unwrap(),
            Ok(None) => return,
            Err(e) => return check(e),
        }
    }
}

proptest! {
    #[test]
    fn flipped_bytes(flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..4)) {
        let (mut bytes, _) = segment();
        for (at, mask) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        read(&bytes, bytes.len() as u64, None);
    }

    #[test]
    fn cut_short(cut in any::<prop::sample::Index>(), claimed_len_kept in any::<bool>()) {
        let (bytes, _) = segment();
        let part = &bytes[..cut.index(bytes.len())];
        let len = if claimed_len_kept { bytes.len() } else { part.len() } as u64;
        read(part, len, None);
    }

    #[test]
    fn started_anywhere(at in any::<prop::sample::Index>()) {
        let (bytes, index) = segment();
        let at = at.index(bytes.len());
        read(&bytes[at..], bytes.len() as u64, Some(at as u64));
        prop_assert!(SegmentIndex::parse(&index, "i.index").unwrap().entries.len() >= 2);
    }

    #[test]
    fn random_index_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200), count in 0i32..20) {
        let mut index = b"IDX\0\0\x01".to_vec();
        index.extend_from_slice(&count.to_be_bytes());
        index.extend_from_slice(&bytes);
        if let Ok(parsed) = SegmentIndex::parse(&index, "i.index") {
            prop_assert_eq!(parsed.entries.len(), count as usize);
        }
    }
}

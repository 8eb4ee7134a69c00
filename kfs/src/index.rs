//! The `.index` beside a segment: sparse (offset, byte position) pairs used to
//! start reading in the middle of a segment with a ranged read.

use bytes::{Buf, BufMut};

use crate::error::{Error, ErrorKind, Result};
use crate::segment::{HEADER_LEN, bad_magic, truncated};

pub const INDEX_HEADER_LEN: usize = 16;
pub const INDEX_ENTRY_LEN: usize = 12;
pub const INDEX_MAGIC: [u8; 4] = *b"IDX\0";
pub const INDEX_VERSION: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Base offset of the batch.
    pub offset: i64,
    /// Absolute byte position of the batch in the `.kfs`.
    pub position: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentIndex {
    /// Records between entries (brokers use 100).
    pub interval: i32,
    /// Ascending by offset and by position.
    pub entries: Vec<IndexEntry>,
}

impl SegmentIndex {
    pub fn parse(bytes: &[u8], object: &str) -> Result<Self> {
        let Some((head, body)) = bytes.split_first_chunk::<INDEX_HEADER_LEN>() else {
            return Err(truncated(object, 0, "index header", INDEX_HEADER_LEN, bytes.len()));
        };
        let mut h = &head[..];
        let magic = h.get_u32().to_be_bytes();
        if magic != INDEX_MAGIC {
            return Err(bad_magic(object, 0, "index header", INDEX_MAGIC, magic));
        }
        let version = h.get_u16();
        if version != INDEX_VERSION {
            let kind = ErrorKind::UnsupportedVersion { what: "index", version };
            return Err(Error::new(object, 4, kind));
        }
        let declared = h.get_i32();
        let interval = h.get_i32();
        if interval < 0 {
            let kind = ErrorKind::MalformedIndex { reason: "negative interval" };
            return Err(Error::new(object, 10, kind));
        }
        // The entry count must agree with the bytes actually present, so the
        // allocation below is bounded by the input's size, not by its claim.
        let fits = usize::try_from(declared)
            .ok()
            .and_then(|n| n.checked_mul(INDEX_ENTRY_LEN))
            .is_some_and(|n| n == body.len());
        if !fits {
            let kind = ErrorKind::IndexEntryCount { declared, entry_bytes: body.len() as u64 };
            return Err(Error::new(object, 6, kind));
        }
        let mut entries: Vec<IndexEntry> = Vec::with_capacity(body.len() / INDEX_ENTRY_LEN);
        for (i, chunk) in body.chunks_exact(INDEX_ENTRY_LEN).enumerate() {
            let position_in_index = (INDEX_HEADER_LEN + i * INDEX_ENTRY_LEN) as u64;
            let mut c = chunk;
            let offset = c.get_i64();
            let position = c.get_i32();
            let malformed = |reason| Error::new(object, position_in_index, ErrorKind::MalformedIndex { reason });
            let position = match u32::try_from(position) {
                Ok(p) if p as usize >= HEADER_LEN => p,
                _ => return Err(malformed("entry position inside the segment header")),
            };
            if let Some(prev) = entries.last()
                && (offset <= prev.offset || position <= prev.position)
            {
                return Err(malformed("entries not in ascending order"));
            }
            entries.push(IndexEntry { offset, position });
        }
        Ok(SegmentIndex { interval, entries })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(INDEX_HEADER_LEN + self.entries.len() * INDEX_ENTRY_LEN);
        out.put_slice(&INDEX_MAGIC);
        out.put_u16(INDEX_VERSION);
        out.put_i32(i32::try_from(self.entries.len()).unwrap_or(i32::MAX));
        out.put_i32(self.interval);
        out.put_u16(0); // reserved
        for e in &self.entries {
            out.put_i64(e.offset);
            out.put_i32(i32::try_from(e.position).unwrap_or(i32::MAX));
        }
        out
    }

    /// The entry of the batch to start reading at to find `target_offset`:
    /// the last entry whose offset is <= the target. `None` when the target
    /// lies before the segment's first entry.
    pub fn seek(&self, target_offset: i64) -> Option<IndexEntry> {
        let after = self.entries.partition_point(|e| e.offset <= target_offset);
        self.entries.get(after.checked_sub(1)?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECT: &str = "production/events/0/segment-00000000000000000000.index";

    fn index() -> SegmentIndex {
        let entries =
            [(0, 32), (400, 10_728), (705, 23_735)].map(|(offset, position)| IndexEntry { offset, position }).to_vec();
        SegmentIndex { interval: 100, entries }
    }

    #[test]
    fn round_trip_and_seek() {
        let idx = index();
        let bytes = idx.encode();
        assert_eq!(bytes.len(), 16 + 3 * 12);
        let parsed = SegmentIndex::parse(&bytes, OBJECT).unwrap();
        assert_eq!(parsed, idx);
        let at = |t| parsed.seek(t).map(|e| e.offset);
        assert_eq!(at(-1), None);
        assert_eq!(at(0), Some(0));
        assert_eq!(at(399), Some(0));
        assert_eq!(at(400), Some(400));
        assert_eq!(at(i64::MAX), Some(705));
        assert_eq!(SegmentIndex { interval: 100, entries: vec![] }.seek(5), None);
    }

    #[test]
    fn count_must_match_length() {
        let mut bytes = index().encode();
        bytes[9] = 200; // declares 200 entries
        let err = SegmentIndex::parse(&bytes, OBJECT).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("index {OBJECT} at byte 6: index declares 200 entries but holds 36 bytes of 12-byte entries")
        );
        bytes[6] = 0x80; // negative count
        assert!(matches!(SegmentIndex::parse(&bytes, OBJECT).unwrap_err().kind, ErrorKind::IndexEntryCount { .. }));
        let short = &index().encode()[..30];
        assert!(SegmentIndex::parse(short, OBJECT).is_err());
    }

    #[test]
    fn bad_magic_and_order_are_refused() {
        let mut bytes = index().encode();
        bytes[0] = b'X';
        let err = SegmentIndex::parse(&bytes, OBJECT).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("index {OBJECT} at byte 0: bad index header magic \"XDX\\x00\" (expected \"IDX\\x00\")")
        );
        let mut idx = index();
        idx.entries.swap(1, 2);
        let err = SegmentIndex::parse(&idx.encode(), OBJECT).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("index {OBJECT} at byte 40: malformed index: entries not in ascending order")
        );
        let mut idx = index();
        idx.entries[0].position = 3;
        let err = SegmentIndex::parse(&idx.encode(), OBJECT).unwrap_err();
        assert!(err.to_string().ends_with("at byte 16: malformed index: entry position inside the segment header"));
    }

    #[test]
    fn short_input_is_truncated() {
        let err = SegmentIndex::parse(b"IDX\0\0", OBJECT).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("index {OBJECT} at byte 0: unexpected end of data in index header: 16 bytes needed, 5 available")
        );
    }
}

//! The `.kfs` frame around the batches: a 32-byte header and a 16-byte footer,
//! and the completeness check a reader runs before touching the body.

use bytes::{Buf, BufMut};

use crate::error::{Error, ErrorKind, Result};

pub const HEADER_LEN: usize = 32;
pub const FOOTER_LEN: usize = 16;
pub const HEADER_MAGIC: [u8; 4] = *b"KAFS";
pub const FOOTER_MAGIC: [u8; 4] = *b"END!";
pub const SEGMENT_VERSION: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub version: u16,
    pub flags: u16,
    pub base_offset: i64,
    /// Sum of the record counts of all batches, control batches included.
    pub record_count: i32,
    pub created_ms: i64,
}

impl SegmentHeader {
    /// Parses the first 32 bytes of a `.kfs`. Extra bytes are ignored.
    pub fn parse(bytes: &[u8], object: &str) -> Result<Self> {
        let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(truncated(object, 0, "segment header", HEADER_LEN, bytes.len()));
        };
        let mut b = &head[..];
        let magic = b.get_u32().to_be_bytes();
        if magic != HEADER_MAGIC {
            return Err(bad_magic(object, 0, "segment header", HEADER_MAGIC, magic));
        }
        let version = b.get_u16();
        if version != SEGMENT_VERSION {
            let kind = ErrorKind::UnsupportedVersion { what: "segment", version };
            return Err(Error::new(object, 4, kind));
        }
        Ok(SegmentHeader {
            version,
            flags: b.get_u16(),
            base_offset: b.get_i64(),
            record_count: b.get_i32(),
            created_ms: b.get_i64(),
        })
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut b = &mut out[..];
        b.put_slice(&HEADER_MAGIC);
        b.put_u16(self.version);
        b.put_u16(self.flags);
        b.put_i64(self.base_offset);
        b.put_i32(self.record_count);
        b.put_i64(self.created_ms);
        b.put_u32(0); // reserved
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFooter {
    /// CRC-32C of the body (all batches, neither header nor footer).
    pub crc: u32,
    /// Last batch's base offset + its last offset delta.
    pub last_offset: i64,
}

impl SegmentFooter {
    /// Parses the last 16 bytes of a `.kfs`; `position` is where they start in
    /// the object (`object_len - 16`), for error messages.
    pub fn parse(bytes: &[u8], object: &str, position: u64) -> Result<Self> {
        let Some(tail) = bytes.first_chunk::<FOOTER_LEN>() else {
            return Err(truncated(object, position, "segment footer", FOOTER_LEN, bytes.len()));
        };
        let mut b = &tail[..];
        let crc = b.get_u32();
        let last_offset = b.get_i64();
        let magic = b.get_u32().to_be_bytes();
        if magic != FOOTER_MAGIC {
            return Err(bad_magic(object, position.saturating_add(12), "segment footer", FOOTER_MAGIC, magic));
        }
        Ok(SegmentFooter { crc, last_offset })
    }

    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let mut b = &mut out[..];
        b.put_u32(self.crc);
        b.put_i64(self.last_offset);
        b.put_slice(&FOOTER_MAGIC);
        out
    }
}

/// Whether a `.kfs` may be read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Header and footer are in place; the body still has to pass its CRCs.
    Complete(SegmentFooter),
    /// A valid start without a footer: an upload still in progress, not damage.
    Incomplete,
}

/// Classifies a `.kfs` from its first `min(32, len)` and last `min(16, len)`
/// bytes, so a lister can decide with two small ranged reads. Wrong header
/// bytes are an error: random data under a segment name is damage, not an
/// upload in progress.
pub fn check_completeness(head: &[u8], tail: &[u8], object_len: u64, object: &str) -> Result<Completeness> {
    let head_needed = object_len.min(HEADER_LEN as u64);
    let tail_needed = object_len.min(FOOTER_LEN as u64);
    if (head.len() as u64) < head_needed {
        return Err(truncated(object, 0, "segment header", head_needed as usize, head.len()));
    }
    if (tail.len() as u64) < tail_needed {
        let position = object_len - tail_needed;
        return Err(truncated(object, position, "segment footer", tail_needed as usize, tail.len()));
    }
    // A multipart upload shows a prefix of the header first.
    let magic_len = head.len().min(HEADER_MAGIC.len());
    if head.get(..magic_len) != HEADER_MAGIC.get(..magic_len) {
        let mut found = [0u8; 4];
        found.iter_mut().zip(head).for_each(|(f, h)| *f = *h);
        return Err(bad_magic(object, 0, "segment header", HEADER_MAGIC, found));
    }
    if object_len < HEADER_LEN as u64 {
        return Ok(Completeness::Incomplete);
    }
    SegmentHeader::parse(head, object)?;
    let footer_start = object_len - FOOTER_LEN as u64;
    if object_len < (HEADER_LEN + FOOTER_LEN) as u64 || !tail.ends_with(&FOOTER_MAGIC) {
        return Ok(Completeness::Incomplete);
    }
    let footer_bytes = tail.get(tail.len().saturating_sub(FOOTER_LEN)..).unwrap_or(tail);
    SegmentFooter::parse(footer_bytes, object, footer_start).map(Completeness::Complete)
}

pub(crate) fn truncated(object: &str, position: u64, what: &'static str, needed: usize, available: usize) -> Error {
    let kind = ErrorKind::Truncated { what, needed: needed as u64, available: available as u64 };
    Error::new(object, position, kind)
}

pub(crate) fn bad_magic(object: &str, position: u64, what: &'static str, expected: [u8; 4], found: [u8; 4]) -> Error {
    Error::new(object, position, ErrorKind::BadMagic { what, expected, found })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECT: &str = "production/logs/0/segment-00000000000000000000.kfs";

    fn header() -> SegmentHeader {
        SegmentHeader { version: 1, flags: 0, base_offset: 30, record_count: 12, created_ms: 1_767_225_601_000 }
    }

    fn segment(body: &[u8], footer: bool) -> Vec<u8> {
        let mut out = header().encode().to_vec();
        out.extend_from_slice(body);
        if footer {
            out.extend_from_slice(&SegmentFooter { crc: 7, last_offset: 41 }.encode());
        }
        out
    }

    fn check(bytes: &[u8]) -> Result<Completeness> {
        let head = &bytes[..bytes.len().min(HEADER_LEN)];
        let tail = &bytes[bytes.len() - bytes.len().min(FOOTER_LEN)..];
        check_completeness(head, tail, bytes.len() as u64, OBJECT)
    }

    #[test]
    fn header_and_footer_round_trip() {
        let h = header();
        assert_eq!(SegmentHeader::parse(&h.encode(), OBJECT).unwrap(), h);
        let f = SegmentFooter { crc: 0xdead_beef, last_offset: 99 };
        assert_eq!(SegmentFooter::parse(&f.encode(), OBJECT, 100).unwrap(), f);
    }

    #[test]
    fn complete_segment_gives_its_footer() {
        let bytes = segment(b"batches", true);
        assert_eq!(check(&bytes).unwrap(), Completeness::Complete(SegmentFooter { crc: 7, last_offset: 41 }));
    }

    #[test]
    fn uploads_in_progress_are_incomplete() {
        let bytes = segment(b"half a batch", false);
        assert_eq!(check(&bytes).unwrap(), Completeness::Incomplete);
        for len in 0..HEADER_LEN + FOOTER_LEN {
            let full = segment(&[], true);
            assert!(matches!(check(&full[..len]), Ok(Completeness::Incomplete)), "prefix of {len} bytes");
        }
    }

    #[test]
    fn random_bytes_are_refused() {
        let err = check(b"\x0ai!\xe3 not a segment at all, not at all").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("segment {OBJECT} at byte 0: bad segment header magic \"\\ni!\\xe3\" (expected \"KAFS\")")
        );
        assert!(err.is_corrupt());
        assert!(check(b"KAX").is_err());
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut bytes = segment(b"", true);
        bytes[5] = 2;
        let err = check(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("segment {OBJECT} at byte 4: unsupported segment version 2 (version 1 is known)")
        );
    }

    #[test]
    fn short_head_is_a_caller_error_not_a_panic() {
        let err = check_completeness(b"KAFS", b"", 100, OBJECT).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Truncated { needed: 32, available: 4, .. }));
    }
}

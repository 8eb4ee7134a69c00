//! The 61-byte header of a Kafka v2 record batch and its attribute bits.

use bytes::{Buf, BufMut};

pub use crate::compression::Compression;
use crate::error::ErrorKind;

pub const BATCH_HEADER_LEN: usize = 61;
pub const BATCH_MAGIC: i8 = 2;
/// The batch length field counts the bytes after it, i.e. from byte 12 on.
pub const BATCH_LENGTH_END: usize = 12;
/// The batch CRC covers everything from the attributes (byte 21) to the end,
/// so the broker can rewrite the base offset without touching it.
pub const CRC_START: usize = 21;

const CODEC_MASK: i16 = 0b111;
pub(crate) const LOG_APPEND_TIME: i16 = 1 << 3;
pub(crate) const TRANSACTIONAL: i16 = 1 << 4;
pub(crate) const CONTROL: i16 = 1 << 5;

/// Every field of the batch header, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes that follow this field: the batch is `12 + batch_length` bytes.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    /// CRC-32C of bytes 21..end of the batch.
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    pub fn parse(bytes: &[u8; BATCH_HEADER_LEN]) -> Self {
        let mut b = &bytes[..];
        BatchHeader {
            base_offset: b.get_i64(),
            batch_length: b.get_i32(),
            partition_leader_epoch: b.get_i32(),
            magic: b.get_i8(),
            crc: b.get_u32(),
            attributes: b.get_i16(),
            last_offset_delta: b.get_i32(),
            base_timestamp: b.get_i64(),
            max_timestamp: b.get_i64(),
            producer_id: b.get_i64(),
            producer_epoch: b.get_i16(),
            base_sequence: b.get_i32(),
            record_count: b.get_i32(),
        }
    }

    pub fn encode(&self) -> [u8; BATCH_HEADER_LEN] {
        let mut out = [0u8; BATCH_HEADER_LEN];
        let mut b = &mut out[..];
        b.put_i64(self.base_offset);
        b.put_i32(self.batch_length);
        b.put_i32(self.partition_leader_epoch);
        b.put_i8(self.magic);
        b.put_u32(self.crc);
        b.put_i16(self.attributes);
        b.put_i32(self.last_offset_delta);
        b.put_i64(self.base_timestamp);
        b.put_i64(self.max_timestamp);
        b.put_i64(self.producer_id);
        b.put_i16(self.producer_epoch);
        b.put_i32(self.base_sequence);
        b.put_i32(self.record_count);
        out
    }

    /// The codec id in attribute bits 0-2.
    pub fn codec_id(&self) -> u8 {
        (self.attributes & CODEC_MASK) as u8
    }

    /// `None` when the codec id is not one Kafka defines.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id(self.codec_id())
    }

    /// Every record's timestamp is the batch's max timestamp.
    pub fn log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME != 0
    }

    pub fn transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL != 0
    }

    /// A transaction marker (COMMIT or ABORT), never user data.
    pub fn control(&self) -> bool {
        self.attributes & CONTROL != 0
    }

    /// Base offset + last offset delta. Saturates on nonsense values; the
    /// reader refuses batches where the sum overflows or the delta is negative.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }
}

/// A batch problem at a byte position relative to the batch's start.
pub(crate) type BatchFault = (u64, ErrorKind);

/// Checks a whole batch's framing (length field, magic, CRC) and returns its
/// header and the CRC computed over bytes 21..end.
pub(crate) fn verify(bytes: &[u8]) -> Result<(BatchHeader, u32), BatchFault> {
    let Some(head) = bytes.first_chunk::<BATCH_HEADER_LEN>() else {
        let kind = ErrorKind::Truncated {
            what: "batch header",
            needed: BATCH_HEADER_LEN as u64,
            available: bytes.len() as u64,
        };
        return Err((0, kind));
    };
    let header = BatchHeader::parse(head);
    let framed = i64::from(header.batch_length) + BATCH_LENGTH_END as i64;
    if framed != bytes.len() as i64 {
        let kind = ErrorKind::LengthOutOfBounds {
            field: "batch length",
            value: i64::from(header.batch_length),
            limit: (bytes.len() - BATCH_LENGTH_END) as u64,
        };
        return Err((8, kind));
    }
    if header.magic != BATCH_MAGIC {
        return Err((16, ErrorKind::BadBatchMagic { found: header.magic }));
    }
    let computed = crc32c::crc32c(bytes.get(CRC_START..).unwrap_or_default());
    if computed != header.crc {
        let kind = ErrorKind::BatchCrcMismatch { stored: header.crc, computed };
        return Err((0, kind));
    }
    Ok((header, computed))
}

impl BatchHeader {
    /// The batch's last offset and the base offset the next batch must have.
    pub(crate) fn offset_range(&self) -> Result<(i64, i64), BatchFault> {
        let malformed = |reason| (23, ErrorKind::MalformedBatch { reason });
        if self.last_offset_delta < 0 {
            return Err(malformed("negative last offset delta"));
        }
        let last = self.base_offset.checked_add(i64::from(self.last_offset_delta));
        let range = last.and_then(|last| Some((last, last.checked_add(1)?)));
        range.ok_or_else(|| malformed("last offset overflows"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_bits() {
        let mut h = BatchHeader::parse(&[0; BATCH_HEADER_LEN]);
        assert_eq!(h.compression(), Some(Compression::None));
        h.attributes = 0b11_1100;
        assert_eq!(h.compression(), Some(Compression::Zstd));
        assert!(h.log_append_time() && h.transactional() && h.control());
        h.attributes = 6;
        assert_eq!((h.compression(), h.codec_id()), (None, 6));
        h.base_offset = 37;
        h.last_offset_delta = 9;
        assert_eq!(h.last_offset(), 46);
    }

    #[test]
    fn header_round_trip() {
        let bytes: [u8; BATCH_HEADER_LEN] = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(BatchHeader::parse(&bytes).encode(), bytes);
    }
}

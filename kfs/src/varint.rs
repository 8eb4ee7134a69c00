//! Kafka's zig-zag varints. Decoding is on the hot path of record parsing:
//! single-byte values (most lengths and deltas) take one branch.

use crate::error::RecordProblem;

/// A zig-zag varint of at most 5 bytes (Kafka "varint").
#[inline(always)]
pub(crate) fn read_i32(buf: &[u8], pos: &mut usize) -> Result<i32, RecordProblem> {
    match buf.get(*pos) {
        Some(&b) if b < 0x80 => {
            *pos += 1;
            Ok(unzigzag32(u32::from(b)))
        }
        _ => read_i32_long(buf, pos),
    }
}

/// A zig-zag varint of at most 10 bytes (Kafka "varlong").
#[inline(always)]
pub(crate) fn read_i64(buf: &[u8], pos: &mut usize) -> Result<i64, RecordProblem> {
    match buf.get(*pos) {
        Some(&b) if b < 0x80 => {
            *pos += 1;
            Ok(unzigzag64(u64::from(b)))
        }
        _ => read_i64_long(buf, pos),
    }
}

fn read_i32_long(buf: &[u8], pos: &mut usize) -> Result<i32, RecordProblem> {
    // The 5th byte carries the top 4 bits and no continuation bit.
    read_unsigned(buf, pos, 5, 0x0f).map(|v| unzigzag32(v as u32))
}

fn read_i64_long(buf: &[u8], pos: &mut usize) -> Result<i64, RecordProblem> {
    // The 10th byte carries the top bit and no continuation bit.
    read_unsigned(buf, pos, 10, 0x01).map(unzigzag64)
}

fn read_unsigned(buf: &[u8], pos: &mut usize, max_len: usize, last_max: u8) -> Result<u64, RecordProblem> {
    let bytes = buf.get(*pos..).unwrap_or_default();
    let mut value = 0u64;
    for (i, &b) in bytes.iter().take(max_len).enumerate() {
        if i + 1 == max_len && b > last_max {
            return Err(RecordProblem::VarintTooLong);
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *pos += i + 1;
            return Ok(value);
        }
    }
    Err(RecordProblem::Truncated)
}

#[inline(always)]
fn unzigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[inline(always)]
fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn write_i32(out: &mut Vec<u8>, v: i32) {
    write_unsigned(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    write_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn write_unsigned(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_extremes() {
        for v in [0, 1, -1, 63, -64, 64, -65, 300, i32::MAX, i32::MIN] {
            let mut buf = Vec::new();
            write_i32(&mut buf, v);
            let mut pos = 0;
            assert_eq!(read_i32(&buf, &mut pos), Ok(v));
            assert_eq!(pos, buf.len());
        }
        for v in [0, -1, 1 << 40, i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            write_i64(&mut buf, v);
            let mut pos = 0;
            assert_eq!(read_i64(&buf, &mut pos), Ok(v));
            assert_eq!(pos, buf.len());
        }
    }

    #[test]
    fn overlong_and_truncated_varints_are_refused() {
        let mut pos = 0;
        assert_eq!(read_i32(&[0xff, 0xff, 0xff, 0xff, 0x1f], &mut pos), Err(RecordProblem::VarintTooLong));
        assert_eq!(read_i32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos), Err(RecordProblem::VarintTooLong));
        assert_eq!(read_i32(&[0x80, 0x80], &mut pos), Err(RecordProblem::Truncated));
        assert_eq!(read_i32(&[], &mut pos), Err(RecordProblem::Truncated));
        assert_eq!(read_i64(&[0xff; 10], &mut pos), Err(RecordProblem::VarintTooLong));
        assert_eq!(pos, 0);
    }
}

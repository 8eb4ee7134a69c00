//! Records inside a batch. This is the hot path: every field is bounds-checked
//! against the record's own length, and keys, values and headers are
//! zero-copy slices of the batch's (decompressed) record buffer.

use bytes::Bytes;

use crate::error::RecordProblem;
use crate::varint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// Header keys are raw bytes: UTF-8 is the producer's promise, and the caller
/// decides what to do when it is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

impl Record {
    /// Bytes this record keeps reachable: the struct plus its payload slices.
    pub fn held_bytes(&self) -> usize {
        let payload = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self.headers.iter().map(|h| size_of::<Header>() + h.key.len() + payload(&h.value)).sum();
        size_of::<Record>() + payload(&self.key) + payload(&self.value) + headers
    }
}

/// The smallest record: length, attributes, timestamp delta, offset delta,
/// key length, value length and header count, one byte each.
const MIN_RECORD_LEN: usize = 7;
/// The smallest header: key length and value length.
const MIN_HEADER_LEN: usize = 2;

/// What every record of a batch takes from the batch header.
pub(crate) struct RecordContext {
    pub base_offset: i64,
    pub last_offset: i64,
    pub base_timestamp: i64,
    /// Set for LogAppendTime batches: the batch max timestamp.
    pub log_append_time: Option<i64>,
}

/// A record that could not be parsed; `at` is its byte position in the buffer.
#[derive(Debug)]
pub(crate) struct RecordError {
    pub index: usize,
    pub at: usize,
    pub field: &'static str,
    pub problem: RecordProblem,
}

/// Parses every record in `data` (a batch's whole records section) into
/// `out`. The record count is the caller's to check against the header.
pub(crate) fn parse_records(
    data: &Bytes,
    ctx: &RecordContext,
    declared_count: i32,
    out: &mut Vec<Record>,
) -> Result<(), RecordError> {
    let buf: &[u8] = data;
    let declared = usize::try_from(declared_count).unwrap_or(0);
    out.reserve(declared.min(buf.len() / MIN_RECORD_LEN));
    let mut pos = 0;
    let mut previous_offset = None;
    while pos < buf.len() {
        let index = out.len();
        let start = pos;
        let fail = |field, problem| RecordError { index, at: start, field, problem };
        let len = varint::read_i32(buf, &mut pos).map_err(|p| fail("length", p))?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| pos.checked_add(len))
            .filter(|&end| end <= buf.len())
            .ok_or(fail("length", RecordProblem::OutOfBounds))?;
        // Every field below is read from the record's own bytes only.
        let rec = buf.get(..end).unwrap_or_default();
        if pos >= end {
            return Err(fail("attributes", RecordProblem::Truncated));
        }
        pos += 1; // record attributes: unused by Kafka v2
        let timestamp_delta = varint::read_i64(rec, &mut pos).map_err(|p| fail("timestamp delta", p))?;
        let offset_delta = varint::read_i32(rec, &mut pos).map_err(|p| fail("offset delta", p))?;
        let key = read_bytes(data, rec, &mut pos).map_err(|p| fail("key", p))?;
        let value = read_bytes(data, rec, &mut pos).map_err(|p| fail("value", p))?;
        let header_count = varint::read_i32(rec, &mut pos).map_err(|p| fail("header count", p))?;
        let headers = match usize::try_from(header_count) {
            Ok(0) => Vec::new(),
            Ok(n) if n <= (end - pos) / MIN_HEADER_LEN => {
                let mut headers = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = read_bytes(data, rec, &mut pos)
                        .and_then(|k| k.ok_or(RecordProblem::OutOfBounds))
                        .map_err(|p| fail("header key", p))?;
                    let value = read_bytes(data, rec, &mut pos).map_err(|p| fail("header value", p))?;
                    headers.push(Header { key, value });
                }
                headers
            }
            _ => return Err(fail("header count", RecordProblem::OutOfBounds)),
        };
        if pos != end {
            return Err(fail("length", RecordProblem::LengthMismatch));
        }
        let offset = ctx
            .base_offset
            .checked_add(i64::from(offset_delta))
            .ok_or(fail("offset delta", RecordProblem::Overflow))?;
        if offset_delta < 0 || offset > ctx.last_offset || previous_offset.is_some_and(|p| offset <= p) {
            return Err(fail("offset delta", RecordProblem::OffsetOutOfOrder));
        }
        previous_offset = Some(offset);
        let timestamp_ms = match ctx.log_append_time {
            Some(ts) => ts,
            None => ctx
                .base_timestamp
                .checked_add(timestamp_delta)
                .ok_or(fail("timestamp delta", RecordProblem::Overflow))?,
        };
        out.push(Record { offset, timestamp_ms, key, value, headers });
    }
    Ok(())
}

/// A varint length (-1 for null) and that many bytes, sliced without copying.
#[inline(always)]
fn read_bytes(data: &Bytes, rec: &[u8], pos: &mut usize) -> Result<Option<Bytes>, RecordProblem> {
    let len = varint::read_i32(rec, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let start = *pos;
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .filter(|&end| end <= rec.len())
        .ok_or(RecordProblem::OutOfBounds)?;
    *pos = end;
    Ok(Some(data.slice(start..end)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::varint::{write_i32, write_i64};

    fn ctx() -> RecordContext {
        RecordContext { base_offset: 100, last_offset: 101, base_timestamp: 1_000, log_append_time: None }
    }

    /// One record with key "k", null value and one header ("h", null).
    fn record(offset_delta: i32, ts_delta: i64) -> Vec<u8> {
        let mut body = vec![0u8];
        write_i64(&mut body, ts_delta);
        write_i32(&mut body, offset_delta);
        write_i32(&mut body, 1);
        body.push(b'k');
        write_i32(&mut body, -1);
        write_i32(&mut body, 1);
        write_i32(&mut body, 1);
        body.push(b'h');
        write_i32(&mut body, -1);
        let mut out = Vec::new();
        write_i32(&mut out, body.len() as i32);
        out.extend(body);
        out
    }

    fn parse(data: Vec<u8>, ctx: &RecordContext) -> Result<Vec<Record>, RecordError> {
        let mut out = Vec::new();
        parse_records(&Bytes::from(data), ctx, 2, &mut out).map(|()| out)
    }

    #[test]
    fn parses_fields_and_log_append_time() {
        let data = [record(0, 5), record(1, -3)].concat();
        let records = parse(data.clone(), &ctx()).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].offset, records[0].timestamp_ms), (100, 1_005));
        assert_eq!((records[1].offset, records[1].timestamp_ms), (101, 997));
        assert_eq!(records[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(records[0].value, None);
        assert_eq!(records[0].headers, vec![Header { key: Bytes::from_static(b"h"), value: None }]);
        let lat = RecordContext { log_append_time: Some(7), ..ctx() };
        assert!(parse(data, &lat).unwrap().iter().all(|r| r.timestamp_ms == 7));
    }

    #[test]
    fn bad_fields_name_the_record_and_field() {
        let err = |data: Vec<u8>| {
            let e = parse(data, &ctx()).unwrap_err();
            (e.index, e.at, e.field, e.problem)
        };
        let first = record(0, 0);
        let n = first.len();
        assert_eq!(
            err([first.clone(), record(0, 0)].concat()),
            (1, n, "offset delta", RecordProblem::OffsetOutOfOrder)
        );
        assert_eq!(err(record(2, 0)), (0, 0, "offset delta", RecordProblem::OffsetOutOfOrder));
        let mut long = record(0, 0);
        long[0] += 2;
        assert_eq!(err(long), (0, 0, "length", RecordProblem::OutOfBounds));
        let mut short = record(0, 0);
        short[0] -= 2; // the record now ends inside its header
        assert_eq!(err(short).2, "header value");
        let mut key_len = record(0, 0);
        key_len[4] = 0x7e; // key length 63
        assert_eq!(err(key_len), (0, 0, "key", RecordProblem::OutOfBounds));
        let mut headers = record(0, 0);
        headers[7] = 0x7e; // 63 headers in 3 bytes
        assert_eq!(err(headers), (0, 0, "header count", RecordProblem::OutOfBounds));
        let mut null_key = record(0, 0);
        null_key[8] = 1; // header key length -1
        assert_eq!(err(null_key).2, "header key");
        let big = RecordContext { base_timestamp: i64::MAX, ..ctx() };
        let e = parse(record(0, 1), &big).unwrap_err();
        assert_eq!((e.field, e.problem), ("timestamp delta", RecordProblem::Overflow));
    }

    #[test]
    fn empty_buffer_has_no_records() {
        assert!(parse(Vec::new(), &ctx()).unwrap().is_empty());
    }
}

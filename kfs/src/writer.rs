//! Builds batches and segments the way producers and brokers do: for the
//! demo, tests and benchmarks.

use std::io;

use crate::batch::{
    self, BATCH_HEADER_LEN, BATCH_LENGTH_END, BATCH_MAGIC, BatchHeader, CONTROL, CRC_START, LOG_APPEND_TIME,
    TRANSACTIONAL,
};
use crate::codec::{self, SnappyFraming};
use crate::compression::Compression;
use crate::error::{Error, ErrorKind, Result};
use crate::index::{IndexEntry, SegmentIndex};
use crate::naming::segment_object_name;
use crate::reader::ControlMarker;
use crate::segment::{HEADER_LEN, SEGMENT_VERSION, SegmentFooter, SegmentHeader};
use crate::varint::{write_i32, write_i64};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Builds one Kafka v2 record batch.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    snappy: SnappyFraming,
    log_append_time: bool,
    /// Producer id and epoch of a transactional batch.
    producer: Option<(i64, i16)>,
    records: Vec<NewRecord>,
}

impl BatchBuilder {
    pub fn new(compression: Compression) -> Self {
        BatchBuilder {
            compression,
            snappy: SnappyFraming::Xerial,
            log_append_time: false,
            producer: None,
            records: Vec::new(),
        }
    }

    /// Marks the batch LogAppendTime; its max timestamp (the largest record
    /// timestamp) then becomes every record's timestamp.
    pub fn log_append_time(mut self, on: bool) -> Self {
        self.log_append_time = on;
        self
    }

    pub fn transactional(mut self, producer_id: i64, producer_epoch: i16) -> Self {
        self.producer = Some((producer_id, producer_epoch));
        self
    }

    /// Raw snappy (as librdkafka may send) instead of xerial framing.
    pub fn snappy_raw(mut self, raw: bool) -> Self {
        self.snappy = if raw { SnappyFraming::Raw } else { SnappyFraming::Xerial };
        self
    }

    pub fn push(&mut self, record: NewRecord) {
        self.records.push(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The whole batch, CRC included. Fails only when compression fails or
    /// the batch would not fit Kafka's 32-bit fields.
    pub fn encode(&self, base_offset: i64) -> io::Result<Vec<u8>> {
        let base_timestamp = self.records.first().map_or(0, |r| r.timestamp_ms);
        let max_timestamp = self.records.iter().map(|r| r.timestamp_ms).max().unwrap_or(base_timestamp);
        let record_count = i32::try_from(self.records.len()).map_err(|_| too_big("record count"))?;
        let mut plain = Vec::new();
        let mut scratch = Vec::new();
        for (delta, r) in (0..record_count).zip(&self.records) {
            let headers = r.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_deref()));
            // Deltas of absurd timestamps wrap like Java's; real ones fit.
            let ts_delta = r.timestamp_ms.wrapping_sub(base_timestamp);
            let (key, value) = (r.key.as_deref(), r.value.as_deref());
            write_record(&mut plain, &mut scratch, delta, ts_delta, key, value, headers)?;
        }
        let data = codec::compress(self.compression, &plain, self.snappy)?;
        let mut attributes = i16::from(self.compression.id());
        if self.log_append_time {
            attributes |= LOG_APPEND_TIME;
        }
        let (producer_id, producer_epoch, base_sequence) = match self.producer {
            Some((id, epoch)) => {
                attributes |= TRANSACTIONAL;
                (id, epoch, 0)
            }
            None => (-1, -1, -1),
        };
        let header = BatchHeader {
            base_offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: BATCH_MAGIC,
            crc: 0,
            attributes,
            last_offset_delta: record_count.saturating_sub(1).max(0),
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            record_count,
        };
        assemble(header, &data)
    }
}

/// A COMMIT or ABORT marker batch for a producer's transaction.
pub fn control_batch(
    base_offset: i64,
    producer_id: i64,
    producer_epoch: i16,
    marker: ControlMarker,
    timestamp_ms: i64,
) -> Vec<u8> {
    let [_, _, t0, t1] = marker.key();
    // One record, zig-zag lengths: length 16, attributes, timestamp delta 0,
    // offset delta 0, key length 4, key (version 0, type), value length 6,
    // value (version 0, coordinator epoch 0), header count 0.
    let data = [32, 0, 0, 0, 8, 0, 0, t0, t1, 12, 0, 0, 0, 0, 0, 0, 0];
    let header = BatchHeader {
        base_offset,
        batch_length: (BATCH_HEADER_LEN - BATCH_LENGTH_END + data.len()) as i32,
        partition_leader_epoch: 0,
        magic: BATCH_MAGIC,
        crc: 0,
        attributes: TRANSACTIONAL | CONTROL,
        last_offset_delta: 0,
        base_timestamp: timestamp_ms,
        max_timestamp: timestamp_ms,
        producer_id,
        producer_epoch,
        base_sequence: -1,
        record_count: 1,
    };
    seal(header, &data)
}

fn too_big(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what} does not fit a Kafka batch"))
}

fn write_len(out: &mut Vec<u8>, len: usize, what: &str) -> io::Result<()> {
    write_i32(out, i32::try_from(len).map_err(|_| too_big(what))?);
    Ok(())
}

fn write_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>, what: &str) -> io::Result<()> {
    match bytes {
        None => write_i32(out, -1),
        Some(b) => {
            write_len(out, b.len(), what)?;
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

/// Appends one record (length-prefixed); `scratch` is reused for its body.
fn write_record<'a>(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
) -> io::Result<()> {
    scratch.clear();
    scratch.push(0); // attributes
    write_i64(scratch, timestamp_delta);
    write_i32(scratch, offset_delta);
    write_bytes(scratch, key, "key")?;
    write_bytes(scratch, value, "value")?;
    write_len(scratch, headers.len(), "header count")?;
    for (k, v) in headers {
        write_bytes(scratch, Some(k), "header key")?;
        write_bytes(scratch, v, "header value")?;
    }
    write_len(out, scratch.len(), "record")?;
    out.extend_from_slice(scratch);
    Ok(())
}

/// Header + records section, with the batch length and CRC filled in.
fn assemble(mut header: BatchHeader, data: &[u8]) -> io::Result<Vec<u8>> {
    let length = BATCH_HEADER_LEN - BATCH_LENGTH_END + data.len();
    header.batch_length = i32::try_from(length).map_err(|_| too_big("batch"))?;
    Ok(seal(header, data))
}

/// Header (with its batch length set) + records section, with the CRC.
fn seal(header: BatchHeader, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BATCH_HEADER_LEN + data.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(data);
    let crc = crc32c::crc32c(out.get(CRC_START..).unwrap_or_default());
    if let Some(field) = out.get_mut(17..CRC_START) {
        field.copy_from_slice(&crc.to_be_bytes());
    }
    out
}

/// Builds a `.kfs` and its `.index` from whole batches, as a broker does.
#[derive(Debug)]
pub struct SegmentWriter {
    base_offset: i64,
    created_ms: i64,
    index: SegmentIndex,
    body: Vec<u8>,
    body_crc: u32,
    record_count: i32,
    records_since_entry: i64,
    next_offset: i64,
}

impl SegmentWriter {
    /// `index_interval`: records between index entries (brokers use 100).
    pub fn new(base_offset: i64, created_ms: i64, index_interval: i32) -> Self {
        SegmentWriter {
            base_offset,
            created_ms,
            index: SegmentIndex { interval: index_interval, entries: Vec::new() },
            body: Vec::new(),
            body_crc: 0,
            record_count: 0,
            records_since_entry: 0,
            next_offset: base_offset,
        }
    }

    /// Appends a batch unchanged. It must be a valid batch whose base offset
    /// is `next_offset()`.
    pub fn push_batch(&mut self, batch: &[u8]) -> Result<()> {
        let position = (HEADER_LEN + self.body.len()) as u64;
        let fail = |at: u64, kind| Error::new(segment_object_name(self.base_offset), position + at, kind);
        let (header, _) = batch::verify(batch).map_err(|(at, kind)| fail(at, kind))?;
        if header.base_offset != self.next_offset {
            let kind = ErrorKind::OffsetDiscontinuity { expected: self.next_offset, found: header.base_offset };
            return Err(fail(0, kind));
        }
        let (_, next) = header.offset_range().map_err(|(at, kind)| fail(at, kind))?;
        let out_of_bounds =
            |field, value: i64, limit: u64| fail(0, ErrorKind::LengthOutOfBounds { field, value, limit });
        let record_count = self
            .record_count
            .checked_add(header.record_count.max(0))
            .ok_or_else(|| out_of_bounds("segment record count", i64::from(header.record_count), i32::MAX as u64))?;
        // Index positions are 32-bit.
        let entry_position = u32::try_from(position)
            .ok()
            .filter(|&p| i32::try_from(p).is_ok())
            .ok_or_else(|| out_of_bounds("batch position", position as i64, i32::MAX as u64))?;
        if self.index.entries.is_empty() || self.records_since_entry >= i64::from(self.index.interval) {
            self.index.entries.push(IndexEntry { offset: header.base_offset, position: entry_position });
            self.records_since_entry = 0;
        }
        self.records_since_entry += i64::from(header.record_count);
        self.record_count = record_count;
        self.next_offset = next;
        self.body_crc = crc32c::crc32c_append(self.body_crc, batch);
        self.body.extend_from_slice(batch);
        Ok(())
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Sets the creation time written in the header: brokers write the
    /// time they flush the segment, known only once it is full.
    pub fn set_created_ms(&mut self, created_ms: i64) {
        self.created_ms = created_ms;
    }

    /// The `.kfs` and `.index` bytes.
    pub fn finish(self) -> (Vec<u8>, Vec<u8>) {
        let header = SegmentHeader {
            version: SEGMENT_VERSION,
            flags: 0,
            base_offset: self.base_offset,
            record_count: self.record_count,
            created_ms: self.created_ms,
        };
        let footer = SegmentFooter { crc: self.body_crc, last_offset: self.next_offset.wrapping_sub(1) };
        let mut kfs = Vec::with_capacity(HEADER_LEN + self.body.len() + footer.encode().len());
        kfs.extend_from_slice(&header.encode());
        kfs.extend_from_slice(&self.body);
        kfs.extend_from_slice(&footer.encode());
        (kfs, self.index.encode())
    }
}

//! Streaming `.kfs` reader over any `std::io::Read`. It holds at most one batch
//! and its decompressed records, checks every CRC, and checks that offsets and
//! counts agree between batches, header and footer.

use std::io::{self, Read};

use bytes::Bytes;

use crate::batch::{self, BATCH_HEADER_LEN, BATCH_LENGTH_END, BatchHeader, CRC_START};
use crate::codec;
use crate::compression::Compression;
use crate::error::{Error, ErrorKind, RecordProblem, Result};
use crate::record::{Record, RecordContext, RecordError, parse_records};
use crate::segment::{FOOTER_LEN, HEADER_LEN, SegmentFooter, SegmentHeader};

/// Batches larger than this continue the body CRC by combining it with the
/// batch CRC instead of a second pass (see `decode_batch`).
const COMBINE_ABOVE_BYTES: usize = 400 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Largest batch (all of its bytes) the reader will buffer.
    pub max_batch_bytes: usize,
    /// Largest records section a compressed batch may expand to.
    pub max_decompressed_bytes: usize,
    /// When false, batches are read and CRC-checked but records are neither
    /// decompressed nor parsed (a fast verification pass).
    pub decode_records: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions { max_batch_bytes: 64 << 20, max_decompressed_bytes: 256 << 20, decode_records: true }
    }
}

/// The transaction marker a control batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlMarker {
    Commit,
    Abort,
}

impl ControlMarker {
    /// The control record key: i16 version, i16 type (0 abort, 1 commit).
    /// Other types exist (KRaft metadata) and carry no transaction decision.
    fn from_key(key: &[u8]) -> Option<Option<ControlMarker>> {
        let (_version, rest) = key.split_first_chunk::<2>()?;
        let kind = i16::from_be_bytes(*rest.first_chunk::<2>()?);
        Some(match kind {
            0 => Some(ControlMarker::Abort),
            1 => Some(ControlMarker::Commit),
            _ => None,
        })
    }

    pub(crate) fn key(self) -> [u8; 4] {
        let kind: i16 = match self {
            ControlMarker::Abort => 0,
            ControlMarker::Commit => 1,
        };
        let [a, b] = kind.to_be_bytes();
        [0, 0, a, b]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub header: BatchHeader,
    /// Absolute byte position of the batch in the `.kfs`.
    pub position: u64,
    /// Empty for control batches and when `decode_records` is false.
    pub records: Vec<Record>,
    /// The marker of a control batch (COMMIT or ABORT), if it is one.
    pub control: Option<ControlMarker>,
}

pub struct SegmentReader<R: Read> {
    source: R,
    object: String,
    opts: ReaderOptions,
    header: Option<SegmentHeader>,
    footer: Option<SegmentFooter>,
    /// Absolute position of the next byte the source yields.
    position: u64,
    /// Where the footer starts.
    body_end: u64,
    /// Running CRC-32C of the body; only known when reading from the start.
    body_crc: Option<u32>,
    /// Base offset the next batch must have, once known.
    expected_base: Option<i64>,
    last_offset: Option<i64>,
    /// Sum of the batches' record counts.
    record_count: i64,
    /// Set by an error: the stream position is then unknown.
    stopped: bool,
}

impl<R: Read> SegmentReader<R> {
    /// Reads and checks the segment header; `object_len` is the object's size.
    pub fn new(source: R, object: impl Into<String>, object_len: u64, opts: ReaderOptions) -> Result<Self> {
        let mut reader = Self::unchecked(source, object.into(), object_len, HEADER_LEN as u64, opts);
        if object_len < HEADER_LEN as u64 {
            return Err(reader.truncated(0, "segment header", HEADER_LEN as u64, object_len));
        }
        let mut head = [0u8; HEADER_LEN];
        reader.read_exact_at(&mut head, 0, "segment header")?;
        let header = SegmentHeader::parse(&head, &reader.object)?;
        reader.check_room_for_footer()?;
        reader.header = Some(header);
        reader.body_crc = Some(0);
        reader.expected_base = Some(header.base_offset);
        Ok(reader)
    }

    /// Starts at `position` (an index entry's position, e.g. after a ranged
    /// read): `source` yields the object's bytes from there on. Without the
    /// start of the body, the segment CRC and the header counts are not
    /// checked; batch CRCs and the footer's last offset still are.
    pub fn at_position(
        source: R,
        object: impl Into<String>,
        object_len: u64,
        position: u64,
        opts: ReaderOptions,
    ) -> Result<Self> {
        let reader = Self::unchecked(source, object.into(), object_len, position, opts);
        reader.check_room_for_footer()?;
        if position < HEADER_LEN as u64 || position > reader.body_end {
            let kind = ErrorKind::LengthOutOfBounds {
                field: "start position",
                value: i64::try_from(position).unwrap_or(i64::MAX),
                limit: reader.body_end,
            };
            return Err(Error::new(reader.object, position, kind));
        }
        Ok(reader)
    }

    fn unchecked(source: R, object: String, object_len: u64, position: u64, opts: ReaderOptions) -> Self {
        SegmentReader {
            source,
            object,
            opts,
            header: None,
            footer: None,
            position,
            body_end: object_len.saturating_sub(FOOTER_LEN as u64),
            body_crc: None,
            expected_base: None,
            last_offset: None,
            record_count: 0,
            stopped: false,
        }
    }

    fn check_room_for_footer(&self) -> Result<()> {
        let object_len = self.body_end + FOOTER_LEN as u64;
        let needed = (HEADER_LEN + FOOTER_LEN) as u64;
        if self.body_end < HEADER_LEN as u64 {
            return Err(self.truncated(object_len.min(HEADER_LEN as u64), "segment footer", needed, object_len));
        }
        Ok(())
    }

    /// The segment header, when reading from the start.
    pub fn header(&self) -> Option<&SegmentHeader> {
        self.header.as_ref()
    }

    /// The footer, once every batch has been read and the footer validated.
    pub fn footer(&self) -> Option<&SegmentFooter> {
        self.footer.as_ref()
    }

    /// The next batch, or `Ok(None)` once the footer has been read and
    /// validated. After an error the reader refuses to go on.
    pub fn next_batch(&mut self) -> Result<Option<Batch>> {
        if self.stopped {
            return Err(self.error(self.position, ErrorKind::AfterError));
        }
        if self.footer.is_some() {
            return Ok(None);
        }
        let result = if self.position == self.body_end {
            self.read_footer().map(|()| None)
        } else {
            self.read_batch().map(Some)
        };
        self.stopped = result.is_err();
        result
    }

    fn read_batch(&mut self) -> Result<Batch> {
        let position = self.position;
        let room = self.body_end - position;
        if room < BATCH_HEADER_LEN as u64 {
            return Err(self.error(position, ErrorKind::TrailingBytes { count: room }));
        }
        let mut prefix = [0u8; BATCH_LENGTH_END];
        self.read_exact_at(&mut prefix, position, "batch header")?;
        let [_, _, _, _, _, _, _, _, l0, l1, l2, l3] = prefix;
        let batch_length = i32::from_be_bytes([l0, l1, l2, l3]);
        let min_length = (BATCH_HEADER_LEN - BATCH_LENGTH_END) as i64;
        if i64::from(batch_length) < min_length {
            let kind = ErrorKind::MalformedBatch { reason: "batch length shorter than a batch header" };
            return Err(self.error(position + 8, kind));
        }
        let length = u64::from(batch_length.unsigned_abs());
        let total = BATCH_LENGTH_END as u64 + length;
        if total > room {
            let kind = ErrorKind::LengthOutOfBounds {
                field: "batch length",
                value: i64::from(batch_length),
                limit: room - BATCH_LENGTH_END as u64,
            };
            return Err(self.error(position + 8, kind));
        }
        if total > self.opts.max_batch_bytes as u64 {
            let kind = ErrorKind::BatchTooLarge { length: total, limit: self.opts.max_batch_bytes };
            return Err(self.error(position, kind));
        }
        // Bounded by the body and by the caller's limit, both checked above.
        let mut buf = Vec::with_capacity(total as usize);
        buf.extend_from_slice(&prefix);
        let rest = total - BATCH_LENGTH_END as u64;
        let read = (&mut self.source).take(rest).read_to_end(&mut buf);
        let got = read.map_err(|e| self.read_error(self.position, e))? as u64;
        self.position += got;
        if got < rest {
            return Err(self.truncated(self.position, "batch", rest, got));
        }
        self.decode_batch(buf, position)
    }

    fn decode_batch(&mut self, buf: Vec<u8>, position: u64) -> Result<Batch> {
        let (header, computed) = batch::verify(&buf).map_err(|(at, kind)| self.error(position + at, kind))?;
        if let Some(crc) = self.body_crc {
            // The body CRC continues over the batch. `crc32c_combine` with
            // the batch CRC costs about as much as a second pass over
            // 400 KiB (it works through the length bit by bit), so smaller
            // batches, most of them, take the second pass.
            self.body_crc = Some(match buf.split_at_checked(CRC_START) {
                Some((unchecked, checked)) if checked.len() > COMBINE_ABOVE_BYTES => {
                    crc32c::crc32c_combine(crc32c::crc32c_append(crc, unchecked), computed, checked.len())
                }
                _ => crc32c::crc32c_append(crc, &buf),
            });
        }
        let last_offset = self.check_offsets(&header, position)?;
        let Some(codec) = header.compression() else {
            return Err(self.error(position + 21, ErrorKind::UnknownCodec { id: header.codec_id() }));
        };
        if header.record_count < 0 {
            let kind = ErrorKind::MalformedBatch { reason: "negative record count" };
            return Err(self.error(position + 57, kind));
        }
        self.record_count = self.record_count.saturating_add(i64::from(header.record_count));

        let mut batch = Batch { header, position, records: Vec::new(), control: None };
        // Control batches are decoded even in a verification pass: the marker
        // is what read-committed needs, and they hold a single tiny record.
        if !self.opts.decode_records && !header.control() {
            return Ok(batch);
        }
        let data_position = position + BATCH_HEADER_LEN as u64;
        let data = match codec {
            Compression::None => Bytes::from(buf).slice(BATCH_HEADER_LEN..),
            _ => {
                let compressed = buf.get(BATCH_HEADER_LEN..).unwrap_or_default();
                let limit = self.opts.max_decompressed_bytes;
                let out =
                    codec::decompress(codec, compressed, limit).map_err(|kind| self.error(data_position, kind))?;
                Bytes::from(out)
            }
        };
        let ctx = RecordContext {
            base_offset: header.base_offset,
            last_offset,
            base_timestamp: header.base_timestamp,
            log_append_time: header.log_append_time().then_some(header.max_timestamp),
        };
        if let Err(e) = parse_records(&data, &ctx, header.record_count, &mut batch.records) {
            // Inside compressed data there is no byte position in the object.
            let at = match codec {
                Compression::None => data_position + e.at as u64,
                _ => position,
            };
            return Err(self.record_error(at, e));
        }
        if batch.records.len() as i64 != i64::from(header.record_count) {
            let kind = ErrorKind::RecordCountMismatch {
                scope: "batch",
                declared: i64::from(header.record_count),
                actual: batch.records.len() as i64,
            };
            return Err(self.error(position + 57, kind));
        }
        if header.control() {
            batch.control = self.control_marker(&batch.records, data_position)?;
            batch.records = Vec::new();
        }
        Ok(batch)
    }

    /// Offsets must continue exactly where the previous batch (or the header)
    /// left them. Returns the batch's last offset.
    /// Offsets must continue exactly where the previous batch (or the header)
    /// left them. Returns the batch's last offset.
    fn check_offsets(&mut self, header: &BatchHeader, position: u64) -> Result<i64> {
        if let Some(expected) = self.expected_base
            && header.base_offset != expected
        {
            let kind = ErrorKind::OffsetDiscontinuity { expected, found: header.base_offset };
            return Err(self.error(position, kind));
        }
        let (last, next) = header.offset_range().map_err(|(at, kind)| self.error(position + at, kind))?;
        self.expected_base = Some(next);
        self.last_offset = Some(last);
        Ok(last)
    }

    fn control_marker(&self, records: &[Record], data_position: u64) -> Result<Option<ControlMarker>> {
        let marker = records.first().and_then(|r| ControlMarker::from_key(r.key.as_deref().unwrap_or_default()));
        marker.ok_or_else(|| {
            let kind =
                ErrorKind::MalformedRecord { index: 0, field: "control record key", problem: RecordProblem::Truncated };
            self.error(data_position, kind)
        })
    }

    fn read_footer(&mut self) -> Result<()> {
        let position = self.position;
        let mut bytes = [0u8; FOOTER_LEN];
        self.read_exact_at(&mut bytes, position, "segment footer")?;
        let footer = SegmentFooter::parse(&bytes, &self.object, position)?;
        if let Some(computed) = self.body_crc
            && computed != footer.crc
        {
            let kind = ErrorKind::SegmentCrcMismatch { stored: footer.crc, computed };
            return Err(self.error(position, kind));
        }
        if let Some(last_batch) = self.last_offset
            && last_batch != footer.last_offset
        {
            let kind = ErrorKind::FooterLastOffsetMismatch { footer: footer.last_offset, last_batch };
            return Err(self.error(position + 4, kind));
        }
        if let Some(header) = &self.header
            && i64::from(header.record_count) != self.record_count
        {
            let kind = ErrorKind::RecordCountMismatch {
                scope: "segment",
                declared: i64::from(header.record_count),
                actual: self.record_count,
            };
            return Err(self.error(16, kind));
        }
        self.footer = Some(footer);
        Ok(())
    }

    /// Fills `buf` from the source, which must be at `position`.
    fn read_exact_at(&mut self, buf: &mut [u8], position: u64, what: &'static str) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let dst = buf.get_mut(filled..).unwrap_or_default();
            match self.source.read(dst) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(position + filled as u64, e)),
            }
        }
        self.position = position + filled as u64;
        if filled < buf.len() {
            return Err(self.truncated(self.position, what, buf.len() as u64, filled as u64));
        }
        Ok(())
    }

    fn error(&self, position: u64, kind: ErrorKind) -> Error {
        Error::new(self.object.clone(), position, kind)
    }

    fn truncated(&self, position: u64, what: &'static str, needed: u64, available: u64) -> Error {
        self.error(position, ErrorKind::Truncated { what, needed, available })
    }

    fn read_error(&self, position: u64, e: io::Error) -> Error {
        self.error(position, ErrorKind::Read(e))
    }

    fn record_error(&self, position: u64, e: RecordError) -> Error {
        let kind = ErrorKind::MalformedRecord { index: e.index, field: e.field, problem: e.problem };
        self.error(position, kind)
    }
}

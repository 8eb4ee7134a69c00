//! Read-committed filtering across the segments of one partition: records of
//! open transactions wait for their producer's marker, aborted ones never come
//! out, and control batches are never records.

use std::collections::HashMap;

use crate::reader::{Batch, ControlMarker};
use crate::record::Record;

/// Open transactions hold more than the caller allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "open transactions hold {bytes_held} bytes, over the limit of {limit} bytes \
     (producer {producer_id}, transaction starting at offset {first_offset})"
)]
pub struct PendingLimit {
    /// The producer whose batch crossed the limit.
    pub producer_id: i64,
    /// First offset of that producer's open transaction.
    pub first_offset: i64,
    /// Bytes held by all open transactions.
    pub bytes_held: usize,
    pub limit: usize,
}

#[derive(Debug)]
struct OpenTxn {
    first_offset: i64,
    records: Vec<Record>,
    bytes: usize,
}

#[derive(Debug)]
pub struct ReadCommitted {
    skip_below: i64,
    max_pending_bytes: usize,
    /// Open transactions by producer id.
    open: HashMap<i64, OpenTxn>,
    pending_bytes: usize,
}

impl ReadCommitted {
    /// `skip_below`: offsets below it were already consumed before a restart:
    /// non-transactional records below it are dropped, and transactional
    /// records below it are emitted only if their transaction's marker sits at
    /// an offset >= skip_below (the transaction was still open at the restart
    /// point).
    pub fn new(skip_below: i64, max_pending_bytes: usize) -> Self {
        ReadCommitted { skip_below, max_pending_bytes, open: HashMap::new(), pending_bytes: 0 }
    }

    /// Feed batches in offset order; decided records are appended to `out`.
    /// Over the limit, the batch is still held (the state stays consistent)
    /// and the error says which transaction is open.
    pub fn push(&mut self, batch: Batch, out: &mut Vec<Record>) -> Result<(), PendingLimit> {
        let header = batch.header;
        if header.control() {
            // Unknown control types (None) decide nothing.
            if let Some(marker) = batch.control
                && let Some(txn) = self.open.remove(&header.producer_id)
            {
                self.pending_bytes -= txn.bytes;
                // A marker below skip_below was resolved before the restart.
                if marker == ControlMarker::Commit && header.base_offset >= self.skip_below {
                    out.extend(txn.records);
                }
            }
            return Ok(());
        }
        let mut records = batch.records;
        if !header.transactional() {
            if header.base_offset >= self.skip_below {
                out.append(&mut records);
            } else {
                out.extend(records.into_iter().filter(|r| r.offset >= self.skip_below));
            }
            return Ok(());
        }
        let txn = self.open.entry(header.producer_id).or_insert_with(|| OpenTxn {
            first_offset: header.base_offset,
            records: Vec::new(),
            bytes: 0,
        });
        let bytes: usize = records.iter().map(Record::held_bytes).sum();
        txn.bytes += bytes;
        txn.records.append(&mut records);
        self.pending_bytes += bytes;
        if self.pending_bytes > self.max_pending_bytes {
            return Err(PendingLimit {
                producer_id: header.producer_id,
                first_offset: txn.first_offset,
                bytes_held: self.pending_bytes,
                limit: self.max_pending_bytes,
            });
        }
        Ok(())
    }

    /// Lowest first offset among open (undecided) transactions, if any. A
    /// restart must resume reading from here (with skip_below = the position
    /// reached).
    pub fn open_txn_start(&self) -> Option<i64> {
        self.open.values().map(|t| t.first_offset).min()
    }

    /// Bytes held by open transactions (records and their payload).
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BATCH_HEADER_LEN, BatchHeader, CONTROL, TRANSACTIONAL};

    fn batch(base: i64, producer: Option<i64>, count: i64) -> Batch {
        let mut header = BatchHeader::parse(&[0; BATCH_HEADER_LEN]);
        header.base_offset = base;
        header.last_offset_delta = (count - 1) as i32;
        header.record_count = count as i32;
        header.producer_id = producer.unwrap_or(-1);
        if producer.is_some() {
            header.attributes = TRANSACTIONAL;
        }
        let records = (base..base + count)
            .map(|offset| Record {
                offset,
                timestamp_ms: 0,
                key: None,
                value: Some(bytes::Bytes::from_static(b"v")),
                headers: Vec::new(),
            })
            .collect();
        Batch { header, position: 32, records, control: None }
    }

    fn marker(base: i64, producer: i64, marker: Option<ControlMarker>) -> Batch {
        let mut b = batch(base, Some(producer), 0);
        b.header.attributes = TRANSACTIONAL | CONTROL;
        b.control = marker;
        b
    }

    fn offsets(rc: &mut ReadCommitted, batches: Vec<Batch>) -> Vec<i64> {
        let mut out = Vec::new();
        for b in batches {
            rc.push(b, &mut out).unwrap();
        }
        out.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn commit_emits_abort_drops_in_marker_order() {
        let mut rc = ReadCommitted::new(0, usize::MAX);
        let got = offsets(
            &mut rc,
            vec![
                batch(0, Some(1), 2),
                batch(2, Some(2), 2),
                batch(4, None, 1),
                marker(5, 2, Some(ControlMarker::Abort)),
            ],
        );
        assert_eq!(got, [4]);
        assert_eq!(rc.open_txn_start(), Some(0));
        assert!(rc.pending_bytes() > 0);
        let got = offsets(
            &mut rc,
            vec![
                marker(6, 1, None), // an unknown control type decides nothing
                batch(7, Some(1), 1),
                marker(8, 1, Some(ControlMarker::Commit)),
            ],
        );
        assert_eq!(got, [0, 1, 7]);
        assert_eq!((rc.open_txn_start(), rc.pending_bytes()), (None, 0));
    }

    #[test]
    fn restart_point_filters_what_was_consumed() {
        // Reading resumes at 0 (the open transaction's start) after a restart
        // that had reached offset 6.
        let mut rc = ReadCommitted::new(6, usize::MAX);
        let got = offsets(
            &mut rc,
            vec![
                batch(0, Some(1), 2),                      // open at the restart point
                batch(2, Some(2), 2),                      // decided before it
                batch(4, None, 1),                         // consumed already
                marker(5, 2, Some(ControlMarker::Commit)), // below 6: discard
                batch(6, None, 1),
                marker(7, 1, Some(ControlMarker::Commit)),
            ],
        );
        assert_eq!(got, [6, 0, 1]);
        assert_eq!(rc.pending_bytes(), 0);
    }
}

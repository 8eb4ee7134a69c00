//! Admission: which worker reports become staged files.
//!
//! A worker reports the files it closed with the offset ranges their rows
//! came from, one range per partition. A report is staged only if every
//! range
//!
//! - comes from the worker session holding the partition's lease, under
//!   that lease's epoch. Epochs come from the state store and only grow, so
//!   a worker that lost its lease (a silent worker past the TTL, a
//!   rebalance, a coordinator restart) never has a late report accepted:
//!   the partition's next holder reads those offsets again;
//! - is not empty and starts exactly where the ranges accepted before it
//!   end (for a partition never committed, where its start was decided).
//!   A partition's staged ranges then follow each other with no gap and
//!   no overlap, so a report that an earlier one already covers, committed
//!   or not, is refused too.
//!
//! Otherwise the whole report is refused (a file is never half staged):
//! the worker's session is dropped and it starts over from what was
//! accepted. The rules are pure functions of a partition's lease and
//! accepted position, so each is checked alone below.

use std::collections::HashSet;

use floe_proto::worker::OffsetRange;
use iceberg::spec::{DataFile, deserialize_data_file_from_json};
use iceberg::table::Table;

use super::offsets::Position;
use super::staged::StagedRange;
use crate::feed::{Feed, Tp};

/// A worker's connection, numbered by the coordinator. A lease is held by
/// one session; a worker that reconnects is a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session-{}", self.0)
    }
}

/// Whoever may report a partition's ranges: the session holding its lease,
/// under the lease's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub session: SessionId,
    pub epoch: u64,
}

/// What admission needs to know of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitting {
    /// Its lease's holder, when it has one.
    pub holder: Option<Holder>,
    /// Where the ranges accepted so far end; `None` before its start is
    /// known.
    pub accepted: Option<Position>,
}

/// Why a report was refused. The worker gets the text; the coordinator
/// counts refusals in a row per partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown table {0}")]
    UnknownTable(String),
    /// Orphan collection deleted the file before the report came.
    #[error("the file outlived the orphan grace period and was deleted")]
    Deleted,
    #[error("no offset range")]
    NoRange,
    #[error("a range without a partition")]
    NoPartition,
    #[error("{feed} is not a partition of table {table}")]
    OtherTable { feed: Feed, table: String },
    #[error("{0} appears twice")]
    Twice(Tp),
    #[error("unknown partition {0}")]
    UnknownPartition(Feed),
    /// Not reported under the partition's current lease.
    #[error("{tp} epoch {epoch} is not the current lease")]
    StaleLease { tp: Tp, epoch: u64 },
    /// Empty, or not starting where the accepted ranges end.
    #[error("{tp} range [{from}, {to}) does not continue at {expected}")]
    NotContinuing { tp: Tp, from: i64, to: i64, expected: i64 },
    #[error("{dead_letters} is not the dead-letter table of {table}")]
    NotDeadLetterTable { dead_letters: String, table: String },
    /// A data file's description does not fit the table.
    #[error("{0}")]
    DataFile(String),
}

/// Admits the ranges of a report `reporter` made for `table`, in order;
/// `partition` tells what admission needs to know of each partition they
/// name, `None` for one the coordinator does not know.
pub fn admit_ranges(
    table: &str,
    reporter: SessionId,
    ranges: &[OffsetRange],
    partition: impl Fn(&Feed) -> Option<Admitting>,
) -> Result<Vec<StagedRange>, Refusal> {
    if ranges.is_empty() {
        return Err(Refusal::NoRange);
    }
    let mut admitted = Vec::with_capacity(ranges.len());
    let mut seen = HashSet::new();
    for range in ranges {
        let feed = Feed::from_proto(range.feed.as_ref().ok_or(Refusal::NoPartition)?);
        if feed.table != table {
            return Err(Refusal::OtherTable { feed, table: table.to_string() });
        }
        if !seen.insert(feed.tp.clone()) {
            return Err(Refusal::Twice(feed.tp));
        }
        let known = partition(&feed).ok_or_else(|| Refusal::UnknownPartition(feed.clone()))?;
        admitted.push(admit_range(feed.tp, range, reporter, known)?);
    }
    Ok(admitted)
}

/// Admits one range of partition `tp` that `reporter` reported.
pub fn admit_range(
    tp: Tp,
    range: &OffsetRange,
    reporter: SessionId,
    partition: Admitting,
) -> Result<StagedRange, Refusal> {
    let OffsetRange { epoch, from, to, open_txn_start, record_count, max_timestamp_ms, .. } = *range;
    if partition.holder != Some(Holder { session: reporter, epoch }) {
        return Err(Refusal::StaleLease { tp, epoch });
    }
    let expected = partition.accepted.map_or(from, |p| p.next);
    if from != expected || to <= from {
        return Err(Refusal::NotContinuing { tp, from, to, expected });
    }
    Ok(StagedRange { tp, from, to, open_txn_start, record_count, max_timestamp_ms, skipped: None })
}

/// A staged data file's description, read against the table it is for.
pub fn read_data_file(table: &Table, path: &str, json: &str) -> Result<DataFile, Refusal> {
    let metadata = table.metadata();
    let spec = metadata.default_partition_spec();
    let schema = metadata.current_schema();
    let partition_type = spec.partition_type(schema).map_err(|e| Refusal::DataFile(e.to_string()))?;
    let file = deserialize_data_file_from_json(json, spec.spec_id(), &partition_type, schema)
        .map_err(|e| Refusal::DataFile(format!("unreadable data file description: {e}")))?;
    if file.file_path() != path {
        return Err(Refusal::DataFile(format!("data file path {} differs from {path}", file.file_path())));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use floe_proto::worker::Feed as ProtoFeed;

    use super::*;

    const WORKER: SessionId = SessionId(1);

    /// A range of `orders/0` for table `t` under `epoch`.
    fn reported(epoch: u64, from: i64, to: i64) -> OffsetRange {
        let feed = ProtoFeed { topic: "orders".into(), partition: 0, table: "t".into() };
        OffsetRange {
            feed: Some(feed),
            epoch,
            from,
            to,
            open_txn_start: None,
            record_count: (to - from).max(0) as u64,
            max_timestamp_ms: None,
        }
    }

    /// A partition leased to `WORKER` under epoch 3, its accepted ranges
    /// ending at `accepted`.
    fn leased(accepted: Option<i64>) -> Admitting {
        Admitting {
            holder: Some(Holder { session: WORKER, epoch: 3 }),
            accepted: accepted.map(|next| Position { next, open_txn_start: None }),
        }
    }

    fn admit(range: OffsetRange, partition: Admitting) -> Result<StagedRange, Refusal> {
        admit_range(Tp::new("orders", 0), &range, WORKER, partition)
    }

    #[test]
    fn a_range_continuing_the_accepted_ones_under_the_current_lease_is_staged() {
        let staged = admit(reported(3, 10, 20), leased(Some(10))).unwrap();
        assert_eq!((staged.tp, staged.from, staged.to, staged.record_count), (Tp::new("orders", 0), 10, 20, 10));
        // A partition whose start is not known yet takes its first range
        // where it starts.
        assert_eq!(admit(reported(3, 40, 50), leased(None)).unwrap().from, 40);
    }

    #[test]
    fn a_stale_epoch_is_refused() {
        // The lease moved on to epoch 3 (a rebalance, a restart): the
        // report of epoch 2 comes from a worker that no longer holds it.
        let refused = admit(reported(2, 10, 20), leased(Some(10))).unwrap_err();
        assert_eq!(refused, Refusal::StaleLease { tp: Tp::new("orders", 0), epoch: 2 });
        assert_eq!(refused.to_string(), "orders/0 epoch 2 is not the current lease");
        // The right epoch from another session, and any report of a
        // partition nobody holds, are refused alike.
        let other = admit_range(Tp::new("orders", 0), &reported(3, 10, 20), SessionId(2), leased(Some(10)));
        assert!(matches!(other, Err(Refusal::StaleLease { epoch: 3, .. })), "{other:?}");
        let free = Admitting { holder: None, ..leased(Some(10)) };
        assert!(matches!(admit(reported(3, 10, 20), free), Err(Refusal::StaleLease { .. })));
    }

    #[test]
    fn a_gap_is_refused() {
        // Offsets 10 and 11 would never be committed.
        let refused = admit(reported(3, 12, 20), leased(Some(10))).unwrap_err();
        assert_eq!(refused, Refusal::NotContinuing { tp: Tp::new("orders", 0), from: 12, to: 20, expected: 10 });
        assert_eq!(refused.to_string(), "orders/0 range [12, 20) does not continue at 10");
    }

    #[test]
    fn a_report_an_earlier_one_already_covers_is_refused() {
        // [10, 20) was accepted (and maybe committed) already: reporting it,
        // or part of it, again would commit its rows twice.
        let again = admit(reported(3, 10, 20), leased(Some(20))).unwrap_err();
        assert!(matches!(again, Refusal::NotContinuing { from: 10, expected: 20, .. }), "{again}");
        let overlapping = admit(reported(3, 15, 30), leased(Some(20))).unwrap_err();
        assert!(matches!(overlapping, Refusal::NotContinuing { from: 15, expected: 20, .. }), "{overlapping}");
    }

    #[test]
    fn an_empty_or_backward_range_is_refused() {
        assert!(matches!(admit(reported(3, 10, 10), leased(Some(10))), Err(Refusal::NotContinuing { .. })));
        assert!(matches!(admit(reported(3, 10, 5), leased(Some(10))), Err(Refusal::NotContinuing { .. })));
    }

    #[test]
    fn a_report_names_each_partition_of_its_table_once() {
        let known = |_: &Feed| Some(leased(Some(10)));
        assert_eq!(admit_ranges("t", WORKER, &[], known), Err(Refusal::NoRange));
        let twice = [reported(3, 10, 20), reported(3, 20, 30)];
        assert_eq!(admit_ranges("t", WORKER, &twice, known), Err(Refusal::Twice(Tp::new("orders", 0))));
        let refused = admit_ranges("other", WORKER, &[reported(3, 10, 20)], known).unwrap_err();
        assert_eq!(refused.to_string(), "orders/0 (t) is not a partition of table other");
        let unknown = admit_ranges("t", WORKER, &[reported(3, 10, 20)], |_: &Feed| None).unwrap_err();
        assert_eq!(unknown.to_string(), "unknown partition orders/0 (t)");
        assert_eq!(admit_ranges("t", WORKER, &[reported(3, 10, 20)], known).map(|r| r.len()), Ok(1));
    }
}

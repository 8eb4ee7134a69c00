//! The classify rule: how a staged file relates to the offsets a table
//! records, decided afresh before every commit attempt.
//!
//! - every range ends at or before the recorded offsets: the file is in
//!   the table already (an earlier attempt landed but its reply was lost),
//!   and is not committed again;
//! - every range starts exactly at the recorded offsets, or its partition
//!   has none yet: the file continues the table, and the offsets move to
//!   its ends;
//! - anything else is a conflict: offsets were committed by someone else,
//!   or the table went back, and nothing is committed.
//!
//! Files are classified in the order they were accepted, so a file can
//! continue the one before it in the same commit.

use iceberg::TableIdent;

use super::error::CommitError;
use super::offsets::{OffsetMap, Position};
use super::staged::{StagedFile, StagedRange};

/// How one staged file relates to the offsets already in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Every range ends at or before the recorded offsets: an earlier
    /// attempt committed it and its reply was lost.
    Committed,
    /// Every range starts exactly at the recorded offsets (or is the
    /// partition's first): to commit now.
    Pending,
}

/// Decides whether a file is in the table already or continues it, and
/// advances `offsets` past a pending file.
pub fn classify(ident: &TableIdent, file: &StagedFile, offsets: &mut OffsetMap) -> Result<FileState, CommitError> {
    let conflict = |range: &StagedRange, committed: i64| CommitError::Conflict {
        table: ident.clone(),
        tp: range.tp.clone(),
        from: range.from,
        to: range.to,
        committed,
    };
    let mut committed = Vec::new();
    for range in &file.ranges {
        match offsets.get(&range.tp) {
            Some(recorded) if recorded.next >= range.to => committed.push((range, recorded.next)),
            Some(recorded) if recorded.next != range.from => return Err(conflict(range, recorded.next)),
            _ => {}
        }
    }
    match committed.first() {
        Some(_) if committed.len() == file.ranges.len() => Ok(FileState::Committed),
        // Part of one file can never be in the table without the rest of it.
        Some((range, recorded)) => Err(conflict(range, *recorded)),
        None => {
            for range in &file.ranges {
                offsets.set(range.tp.clone(), Position { next: range.to, open_txn_start: range.open_txn_start });
                if let Some(ms) = range.max_timestamp_ms {
                    offsets.raise_max_timestamp(&range.tp, ms);
                }
            }
            Ok(FileState::Pending)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Tp;

    fn ident() -> TableIdent {
        TableIdent::from_strs(["prod", "orders"]).unwrap()
    }

    fn range(partition: i32, from: i64, to: i64) -> StagedRange {
        StagedRange {
            tp: Tp::new("orders", partition),
            from,
            to,
            open_txn_start: None,
            record_count: (to - from) as u64,
            max_timestamp_ms: None,
            skipped: None,
        }
    }

    fn file(ranges: Vec<StagedRange>) -> StagedFile {
        StagedFile { data_files: Vec::new(), dead_letters: None, ranges, record_count: 0, file_size_bytes: 0 }
    }

    /// The offsets a table records: `(partition of orders, next offset)`.
    fn recorded(positions: &[(i32, i64)]) -> OffsetMap {
        let mut offsets = OffsetMap::default();
        for (partition, next) in positions {
            offsets.set(Tp::new("orders", *partition), Position { next: *next, open_txn_start: None });
        }
        offsets
    }

    #[test]
    fn a_commit_whose_reply_was_lost_is_found_already_committed() {
        // An attempt appended [0, 10) of orders/0 and [5, 7) of orders/1,
        // then its reply was lost: the retry finds the table there.
        let mut offsets = recorded(&[(0, 10), (1, 7)]);
        let before = offsets.clone();
        let retried = file(vec![range(0, 0, 10), range(1, 5, 7)]);
        assert_eq!(classify(&ident(), &retried, &mut offsets).unwrap(), FileState::Committed);
        // A file of an even earlier attempt ends below the offsets.
        assert_eq!(classify(&ident(), &file(vec![range(0, 0, 4)]), &mut offsets).unwrap(), FileState::Committed);
        assert_eq!(offsets, before, "a file already in the table moves no offset");
    }

    #[test]
    fn a_file_continuing_the_recorded_offsets_is_pending_and_moves_them_to_its_ends() {
        let mut offsets = recorded(&[(0, 10)]);
        let mut continuing = range(0, 10, 20);
        continuing.open_txn_start = Some(15);
        continuing.max_timestamp_ms = Some(2_000);
        // orders/1 has no offset yet: its first range starts where it may.
        let first = file(vec![continuing, range(1, 40, 45)]);
        assert_eq!(classify(&ident(), &first, &mut offsets).unwrap(), FileState::Pending);
        assert_eq!(offsets.get(&Tp::new("orders", 0)), Some(Position { next: 20, open_txn_start: Some(15) }));
        assert_eq!(offsets.get(&Tp::new("orders", 1)), Some(Position { next: 45, open_txn_start: None }));
        assert_eq!(offsets.max_timestamp(&Tp::new("orders", 0)), Some(2_000));
        // The next file of the same commit continues the first.
        assert_eq!(classify(&ident(), &file(vec![range(0, 20, 30)]), &mut offsets).unwrap(), FileState::Pending);
        assert_eq!(offsets.get(&Tp::new("orders", 0)).map(|p| p.next), Some(30));
    }

    #[test]
    fn a_range_that_neither_ends_within_nor_continues_the_recorded_offsets_is_a_conflict() {
        // A gap: the table is at 10, the file starts at 12.
        let err = classify(&ident(), &file(vec![range(0, 12, 20)]), &mut recorded(&[(0, 10)])).unwrap_err();
        assert!(matches!(err, CommitError::Conflict { from: 12, to: 20, committed: 10, .. }), "{err}");
        // An overlap: the table is at 15, inside the file's range.
        let err = classify(&ident(), &file(vec![range(0, 10, 20)]), &mut recorded(&[(0, 15)])).unwrap_err();
        assert!(matches!(err, CommitError::Conflict { from: 10, to: 20, committed: 15, .. }), "{err}");
        assert!(!err.is_retryable(), "retrying cannot make another writer's offsets ours");
    }

    #[test]
    fn a_file_partly_in_the_table_is_a_conflict() {
        // Its orders/0 range is committed, its orders/1 range continues the
        // table: one file is never half in a table.
        let partly = file(vec![range(0, 0, 10), range(1, 5, 9)]);
        let err = classify(&ident(), &partly, &mut recorded(&[(0, 10), (1, 5)])).unwrap_err();
        assert!(matches!(err, CommitError::Conflict { from: 0, to: 10, committed: 10, .. }), "{err}");
    }
}

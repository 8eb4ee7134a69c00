//! When the control loop ends.
//!
//! Without `--once` it runs until drained: a drain grants nothing more,
//! flushes and commits what is staged, then ends. Rows a holder read but
//! had not staged are read again by the next holder, as after any lost
//! lease.
//!
//! With `--once` it ends once every partition is read to the end of what
//! storage holds (or cannot be read further) and everything read is
//! committed. Read is not staged: a holder may read the last segments
//! while a flush is under way, and that flush stages only what was read
//! before it, so the rest sits in the holder's open files until a later
//! flush. Ending when the staged offsets are committed would leave those
//! rows out of the run.

use super::partition::Partition;

/// How the loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Runs until drained.
    Never,
    /// `--once`: read what storage holds now, commit, stop.
    WhenCaughtUp,
}

/// `--once`: whether a partition is read to the end of what storage holds,
/// or will not be read further: failed, or `held` (paused, waiting for a
/// usable schema, or stopped by strict validation) once its lease is back.
/// `held` is asked only of a partition nobody holds: it looks at the
/// partition's whole table.
pub fn read_to_end(partition: &Partition, held: impl FnOnce() -> bool) -> bool {
    let Some(end) = partition.readable_end() else { return true };
    partition.failure.is_some()
        || (partition.lease.is_none() && held())
        || partition.staged.is_some_and(|s| s.next >= end)
        || partition.lease.as_ref().is_some_and(|l| l.read_to >= end)
}

/// Whether a partition has nothing left to commit before the loop ends:
/// what was staged is committed and, under `--once`, its holder holds no
/// rows it read and has not staged; or its rows cannot be committed
/// (`stopped`: its table's commits stopped, or its schema is unusable).
pub fn committed_to_end(partition: &Partition, ending: Ending, stopped: bool) -> bool {
    let committed = partition.staged.is_none_or(|s| partition.committed.is_some_and(|c| c.next >= s.next));
    partition.failure.is_some()
        || stopped
        || (committed && (ending == Ending::Never || !partition.holds_unstaged_reads()))
}

#[cfg(test)]
mod tests {
    use floe_proto::worker::SegmentRef;

    use super::*;
    use crate::commit::{Position, SessionId};
    use crate::control::partition::{Failure, Lease, LeaseState};

    fn at(next: i64) -> Option<Position> {
        Some(Position { next, open_txn_start: None })
    }

    /// A partition whose storage holds offsets 0..50, committed and staged
    /// to 20, leased to a holder that has read to `read_to`.
    fn partition(read_to: Option<i64>) -> Partition {
        let mut p = Partition::new(at(20));
        p.segments.insert(
            0,
            SegmentRef {
                kfs_key: "orders/0/segment-00000000000000000000.kfs".into(),
                index_key: "orders/0/segment-00000000000000000000.index".into(),
                base_offset: 0,
                last_offset: 49,
                kfs_size: 100,
                created_ms: 0,
            },
        );
        p.lease = read_to.map(|read_to| Lease {
            session: SessionId(1),
            epoch: 1,
            state: LeaseState::Active,
            sent_to: 50,
            read_to,
            waiting: None,
        });
        p
    }

    #[test]
    fn a_flush_racing_the_final_cycle_keeps_a_once_run_going() {
        // The holder read to the end while a flush of offsets up to 20 was
        // under way; that flush committed: staged and committed agree, yet
        // 20..50 are in the holder's open files only.
        let raced = partition(Some(50));
        assert!(read_to_end(&raced, || false));
        assert!(!committed_to_end(&raced, Ending::WhenCaughtUp, false));
        // A drain ends anyway: the next holder reads them again.
        assert!(committed_to_end(&raced, Ending::Never, false));
        // The next flush stages them, and its commit ends the run.
        let mut flushed = partition(Some(50));
        flushed.staged = at(50);
        assert!(!committed_to_end(&flushed, Ending::WhenCaughtUp, false), "staged, not committed yet");
        flushed.committed = at(50);
        assert!(committed_to_end(&flushed, Ending::WhenCaughtUp, false));
    }

    #[test]
    fn a_partition_is_read_to_the_end_once_its_holder_or_its_staged_rows_reach_it() {
        assert!(!read_to_end(&partition(Some(30)), || false));
        assert!(read_to_end(&partition(Some(50)), || false));
        let mut staged = partition(None);
        staged.staged = at(50);
        assert!(read_to_end(&staged, || false));
    }

    #[test]
    fn a_held_partition_counts_as_read_once_its_lease_is_back() {
        assert!(!read_to_end(&partition(Some(30)), || true), "its holder is still staging its rows");
        assert!(read_to_end(&partition(None), || true));
        assert!(!read_to_end(&partition(None), || false), "free, and to be read");
    }

    #[test]
    fn a_partition_that_cannot_commit_does_not_hold_the_end_back() {
        let mut failed = partition(Some(30));
        failed.staged = at(30);
        assert!(!committed_to_end(&failed, Ending::WhenCaughtUp, false));
        assert!(committed_to_end(&failed, Ending::WhenCaughtUp, true), "its table's commits stopped");
        failed.failure = Some(Failure {
            object: "orders/0/segment-00000000000000000030.kfs".into(),
            offset: 30,
            message: "bad header magic".into(),
            pauses_table: false,
        });
        assert!(committed_to_end(&failed, Ending::WhenCaughtUp, false));
        assert!(read_to_end(&failed, || false));
    }
}

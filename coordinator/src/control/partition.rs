//! What the control loop knows of one topic-partition feeding one table:
//! how far it is committed and staged, who holds its lease, and which complete segments
//! still have to be read.

use std::collections::BTreeMap;

use floe_proto::worker::SegmentRef;

use crate::commit::{Admitting, Holder, Position, SessionId};
use crate::models::PendingSkip;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    Active,
    /// Revoke sent; waiting for the worker's Released.
    Revoking,
}

#[derive(Debug, Clone)]
pub struct Lease {
    pub session: SessionId,
    pub epoch: u64,
    pub state: LeaseState,
    /// Segments up to this offset (exclusive) were sent to the holder.
    pub sent_to: i64,
    /// How far the holder has read (its rows may still be in an open file).
    pub read_to: i64,
    /// Why the holder says its reading is held up (the schema registry
    /// unreachable), as of its last report.
    pub waiting: Option<String>,
}

/// Why a partition cannot make progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub object: String,
    pub offset: i64,
    pub message: String,
    /// Strict validation refused a record here: the table's other
    /// partitions pause until this one is rewound past it.
    pub pauses_table: bool,
}

#[derive(Debug)]
pub struct Partition {
    /// Recorded in the table; `None` before the first commit.
    pub committed: Option<Position>,
    /// End of the ranges accepted from workers (at or past `committed`).
    /// `None` until the start is known (a commit, or the first segment).
    pub staged: Option<Position>,
    pub lease: Option<Lease>,
    /// Complete segments not yet wholly committed, by base offset.
    pub segments: BTreeMap<i64, SegmentRef>,
    /// Segment objects that can never be read as they are, by base offset.
    pub damaged: BTreeMap<i64, (String, String)>,
    pub failure: Option<Failure>,
    /// Why the partition is waiting (an upload in progress, missing offsets).
    pub waiting: Option<String>,
    /// Reports refused in a row; past a few the partition stops instead of
    /// having workers start over forever.
    pub refusals: u32,
    /// The `.kfs` key of the last segment every offset of which is
    /// committed: a later discovery may list after it.
    pub discovery_cursor: Option<String>,
    /// Offsets below this are recorded in the dead-letter table (it commits
    /// just before the table, so it can be ahead after a crash).
    pub dead_letters_committed: i64,
    /// One past the newest complete segment found in storage.
    pub storage_end: Option<i64>,
    /// The highest committed record timestamp (ms).
    pub watermark_ms: Option<i64>,
    /// An operator's skip, applied once the lease is back.
    pub pending_skip: Option<PendingSkip>,
}

impl Partition {
    pub fn new(committed: Option<Position>) -> Self {
        Self {
            committed,
            staged: committed,
            lease: None,
            segments: BTreeMap::new(),
            damaged: BTreeMap::new(),
            failure: None,
            waiting: None,
            refusals: 0,
            discovery_cursor: None,
            dead_letters_committed: 0,
            storage_end: None,
            watermark_ms: None,
            pending_skip: None,
        }
    }

    /// What admitting its holder's reports depends on.
    pub fn admitting(&self) -> Admitting {
        let holder = self.lease.as_ref().map(|lease| Holder { session: lease.session, epoch: lease.epoch });
        Admitting { holder, accepted: self.staged }
    }

    /// Learns where reading starts when nothing was ever committed: the
    /// first segment in storage (earliest available offset).
    pub fn settle_start(&mut self) {
        if self.staged.is_some() {
            return;
        }
        let first_complete = self.segments.keys().next().copied();
        let first_damaged = self.damaged.keys().next().copied();
        let start = match (first_complete, first_damaged) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(start) => start,
                None => return,
            },
        };
        self.staged = Some(Position { next: start, open_txn_start: None });
    }

    /// The contiguous run of complete segments a new holder, or the current
    /// one, should read next. Stops at a gap or a damaged segment, and says
    /// why in `waiting` / `failure`.
    pub fn next_segments(&mut self) -> Vec<SegmentRef> {
        let Some(lease) = self.lease.as_mut() else { return Vec::new() };
        let mut next = lease.sent_to;
        let mut out = Vec::new();
        for segment in self.segments.values() {
            if segment.last_offset < next {
                continue;
            }
            if segment.base_offset > next {
                break;
            }
            out.push(segment.clone());
            next = segment.last_offset + 1;
        }
        lease.sent_to = next;
        self.waiting = None;
        // The damaged object that would hold `next`: the last one starting at
        // or before it, with no complete segment starting after it.
        let damaged = self.damaged.range(..=next).next_back();
        if let Some((base, (object, message))) = damaged
            && (*base == next || self.segments.range(base + 1..=next).next().is_none())
        {
            let failure =
                Failure { object: object.clone(), offset: next, message: message.clone(), pauses_table: false };
            self.failure.get_or_insert(failure);
        }
        if let Some(later) = self.segments.values().find(|s| s.base_offset > next) {
            self.waiting =
                Some(format!("offsets {next}..{} are not in storage as a complete segment yet", later.base_offset - 1));
        }
        out
    }

    /// Why the partition is waiting: for storage, or as its holder says.
    pub fn waiting_reason(&self) -> Option<&String> {
        self.waiting.as_ref().or_else(|| self.lease.as_ref()?.waiting.as_ref())
    }

    /// Where reading stands for `--once`: the end of what storage holds
    /// contiguously from the staged position.
    pub fn readable_end(&self) -> Option<i64> {
        let mut next = self.staged?.resume_from();
        for segment in self.segments.values() {
            if segment.last_offset < next {
                continue;
            }
            if segment.base_offset > next {
                break;
            }
            next = segment.last_offset + 1;
        }
        Some(next.max(self.staged?.next))
    }

    /// Whether its holder has read offsets it has not staged yet: they sit
    /// in the holder's open files until the next flush.
    pub fn holds_unstaged_reads(&self) -> bool {
        self.lease.as_ref().is_some_and(|l| self.staged.is_none_or(|s| s.next < l.read_to))
    }

    /// Forgets segments every offset of which is committed, remembering the
    /// last one as the discovery cursor.
    pub fn prune_committed_segments(&mut self) {
        let Some(committed) = self.committed else { return };
        let keep_from = committed.resume_from();
        if let Some(done) = self.segments.values().take_while(|s| s.last_offset < keep_from).last() {
            self.discovery_cursor = Some(done.kfs_key.clone());
        }
        self.segments.retain(|_, s| s.last_offset >= keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(base: i64, last: i64) -> SegmentRef {
        SegmentRef {
            kfs_key: format!("t/0/segment-{base:020}.kfs"),
            index_key: format!("t/0/segment-{base:020}.index"),
            base_offset: base,
            last_offset: last,
            kfs_size: 100,
            created_ms: 0,
        }
    }

    fn leased(partition: &mut Partition, from: i64) {
        partition.lease = Some(Lease {
            session: SessionId(1),
            epoch: 1,
            state: LeaseState::Active,
            sent_to: from,
            read_to: from,
            waiting: None,
        });
    }

    #[test]
    fn sends_contiguous_segments_from_the_resume_point_and_waits_at_a_gap() {
        let mut p = Partition::new(Some(Position { next: 15, open_txn_start: None }));
        for (b, l) in [(0, 9), (10, 19), (20, 29), (40, 49)] {
            p.segments.insert(b, segment(b, l));
        }
        leased(&mut p, 15);
        let sent: Vec<_> = p.next_segments().iter().map(|s| s.base_offset).collect();
        assert_eq!(sent, [10, 20]);
        assert_eq!(p.waiting.as_deref(), Some("offsets 30..39 are not in storage as a complete segment yet"));
        assert!(p.next_segments().is_empty());
        p.segments.insert(30, segment(30, 39));
        let sent: Vec<_> = p.next_segments().iter().map(|s| s.base_offset).collect();
        assert_eq!(sent, [30, 40]);
        assert_eq!(p.waiting, None);
        assert_eq!(p.readable_end(), Some(50));
    }

    #[test]
    fn a_damaged_next_segment_fails_the_partition() {
        let mut p = Partition::new(None);
        p.segments.insert(0, segment(0, 29));
        p.damaged.insert(30, ("t/0/segment-00000000000000000030.kfs".into(), "bad header magic".into()));
        p.settle_start();
        leased(&mut p, 0);
        assert_eq!(p.next_segments().len(), 1);
        let failure = p.failure.clone().expect("failed");
        assert_eq!(failure.offset, 30);
        assert!(failure.object.ends_with("00030.kfs"));
    }

    #[test]
    fn offsets_read_past_the_staged_position_are_unstaged_until_a_flush_stages_them() {
        let mut p = Partition::new(Some(Position { next: 10, open_txn_start: None }));
        assert!(!p.holds_unstaged_reads(), "no holder, nothing read");
        leased(&mut p, 10);
        assert!(!p.holds_unstaged_reads());
        // The holder read to the end while a flush of offsets up to 20 was
        // under way: those past 20 are in its open files only.
        p.lease.as_mut().unwrap().read_to = 50;
        p.staged = Some(Position { next: 20, open_txn_start: None });
        assert!(p.holds_unstaged_reads());
        p.staged = Some(Position { next: 50, open_txn_start: Some(45) });
        assert!(!p.holds_unstaged_reads());
    }

    #[test]
    fn start_is_the_earliest_segment_when_never_committed() {
        let mut p = Partition::new(None);
        p.settle_start();
        assert_eq!(p.staged, None);
        p.segments.insert(100, segment(100, 199));
        p.settle_start();
        assert_eq!(p.staged, Some(Position { next: 100, open_txn_start: None }));
    }

    #[test]
    fn the_discovery_cursor_is_the_last_wholly_committed_segment() {
        let mut p = Partition::new(None);
        for (base, last) in [(0, 29), (30, 59), (60, 89)] {
            p.segments.insert(base, segment(base, last));
        }
        p.committed = Some(Position { next: 45, open_txn_start: None });
        p.prune_committed_segments();
        assert_eq!(p.discovery_cursor.as_deref(), Some("t/0/segment-00000000000000000000.kfs"));
        assert_eq!(p.segments.keys().copied().collect::<Vec<_>>(), [30, 60]);
        // A transaction open since offset 20 keeps its segment (and the cursor) back.
        let mut open = Partition::new(None);
        for (base, last) in [(0, 29), (30, 59)] {
            open.segments.insert(base, segment(base, last));
        }
        open.committed = Some(Position { next: 45, open_txn_start: Some(20) });
        open.prune_committed_segments();
        assert_eq!(open.discovery_cursor, None);
        assert_eq!(open.segments.len(), 2);
    }
}

//! A table's commit cycle. Every commit interval the workers writing the
//! table are asked to close their files (a flush); once every one of them
//! has, or the flush times out, everything staged is committed in one
//! snapshot, and the cycle waits for the next interval. A failed commit is
//! tried again after a backoff, unless retrying cannot help.
//!
//! The cycle owns the table's staged files. A commit takes the files staged
//! when it starts; files accepted while it runs wait for the next one, so a
//! report accepted during a commit is neither lost nor committed twice.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::commit::{CommitError, SessionId, StagedFile};

/// A failed commit is never tried more than this often under `--once`:
/// the run ends and says why instead.
const ONCE_ATTEMPTS: u32 = 5;

#[derive(Debug)]
enum Phase {
    Idle,
    /// Waiting for the table's writers to close their files.
    Flushing {
        flush_id: u64,
        waiting: HashSet<SessionId>,
        deadline: Instant,
    },
    /// The files staged when the commit started are being committed.
    Committing {
        started: Instant,
    },
    /// An operator's rewind is moving the table back.
    RollingBack,
}

#[derive(Debug)]
pub struct CommitCycle {
    staged: Vec<StagedFile>,
    phase: Phase,
    /// When the next flush may start.
    next_at: Instant,
    /// Commits failed in a row.
    failures: u32,
}

/// What a landed commit took out of the cycle.
#[derive(Debug)]
pub struct Landed {
    pub files: Vec<StagedFile>,
    pub duration: Duration,
}

/// What follows a failed commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Tried again after a backoff; `attempt` commits failed in a row.
    Retry { attempt: u32 },
    /// Retrying cannot fix it: the table's commits stop.
    Stop,
}

impl Default for CommitCycle {
    fn default() -> Self {
        Self { staged: Vec::new(), phase: Phase::Idle, next_at: Instant::now(), failures: 0 }
    }
}

impl CommitCycle {
    pub fn stage(&mut self, file: StagedFile) {
        self.staged.push(file);
    }

    pub fn staged(&self) -> &[StagedFile] {
        &self.staged
    }

    pub fn staged_bytes(&self) -> u64 {
        self.staged.iter().map(|f| f.file_size_bytes).sum()
    }

    /// The data files staged, for status.
    pub fn staged_files(&self) -> u64 {
        self.staged.iter().map(|f| f.data_files.len() as u64).sum()
    }

    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle)
    }

    /// Idle, and the commit interval since the last flush has passed.
    pub fn is_due(&self, now: Instant) -> bool {
        self.is_idle() && now >= self.next_at
    }

    /// A flush that has waited past its deadline: what is staged is
    /// committed without the writers that did not answer.
    pub fn flush_overdue(&self, now: Instant) -> bool {
        matches!(self.phase, Phase::Flushing { deadline, .. } if now >= deadline)
    }

    /// Nothing to flush or commit now: the next cycle is an interval away.
    pub fn wait(&mut self, now: Instant, interval: Duration) {
        self.next_at = now + interval;
    }

    /// Asks `writers` to close their files; the flush times out after the
    /// interval, and never sooner than 30 s.
    pub fn start_flush(&mut self, flush_id: u64, writers: HashSet<SessionId>, now: Instant, interval: Duration) {
        let deadline = now + interval.max(Duration::from_secs(30));
        self.phase = Phase::Flushing { flush_id, waiting: writers, deadline };
        self.next_at = now + interval;
    }

    /// A writer closed its files for `flush_id`; true when it was the last
    /// one this flush waited for.
    pub fn flushed(&mut self, flush_id: u64, session: SessionId) -> bool {
        match &mut self.phase {
            Phase::Flushing { flush_id: current, waiting, .. } if *current == flush_id => {
                waiting.remove(&session);
                waiting.is_empty()
            }
            _ => false,
        }
    }

    /// A writer is gone: the flush no longer waits for it (it ends at its
    /// deadline if nobody else answers).
    pub fn forget(&mut self, session: SessionId) {
        if let Phase::Flushing { waiting, .. } = &mut self.phase {
            waiting.remove(&session);
        }
    }

    /// Ends a flush: back to idle when nothing is staged; true when there
    /// is something to commit.
    pub fn end_flush(&mut self) -> bool {
        if self.staged.is_empty() {
            self.phase = Phase::Idle;
        }
        !self.staged.is_empty()
    }

    /// Starts a commit of every file staged now, and returns them.
    pub fn begin_commit(&mut self, now: Instant) -> Vec<StagedFile> {
        self.phase = Phase::Committing { started: now };
        self.staged.clone()
    }

    /// A commit of the first `files` staged files landed: they leave the
    /// cycle, and the next flush is at least half an interval away.
    pub fn landed(&mut self, files: usize, now: Instant, interval: Duration) -> Landed {
        let duration = match self.phase {
            Phase::Committing { started } => now.saturating_duration_since(started),
            _ => Duration::ZERO,
        };
        self.phase = Phase::Idle;
        self.failures = 0;
        self.next_at = self.next_at.max(now + interval / 2);
        Landed { files: self.staged.drain(..files).collect(), duration }
    }

    /// A commit failed: it is tried again after a backoff when the error
    /// may pass, except under `--once` after a few attempts.
    pub fn failed(&mut self, error: &CommitError, once: bool, now: Instant) -> AfterFailure {
        self.phase = Phase::Idle;
        self.failures = self.failures.saturating_add(1);
        if !error.is_retryable() || (once && self.failures >= ONCE_ATTEMPTS) {
            return AfterFailure::Stop;
        }
        self.next_at = now + self.backoff();
        AfterFailure::Retry { attempt: self.failures }
    }

    /// Drops what is staged for a rewind (those files become orphans; their
    /// rows are read again) and holds the cycle until it is done.
    pub fn begin_rollback(&mut self) {
        self.staged.clear();
        self.phase = Phase::RollingBack;
    }

    pub fn end_rollback(&mut self) {
        self.phase = Phase::Idle;
    }

    /// Delay before the next attempt after the failed ones: 1 s, doubling,
    /// at most 30 s.
    fn backoff(&self) -> Duration {
        let exp = self.failures.min(6);
        Duration::from_millis(500 << exp).min(Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use iceberg::TableIdent;

    use super::*;
    use crate::commit::StagedRange;
    use crate::feed::Tp;

    const INTERVAL: Duration = Duration::from_secs(10);

    fn file(from: i64, to: i64) -> StagedFile {
        StagedFile::marker(StagedRange {
            tp: Tp::new("orders", 0),
            from,
            to,
            open_txn_start: None,
            record_count: 0,
            max_timestamp_ms: None,
            skipped: None,
        })
    }

    fn ranges(files: &[StagedFile]) -> Vec<(i64, i64)> {
        files.iter().flat_map(|f| &f.ranges).map(|r| (r.from, r.to)).collect()
    }

    fn ident() -> TableIdent {
        TableIdent::from_strs(["prod", "orders"]).unwrap()
    }

    fn catalog_down() -> CommitError {
        let source = iceberg::Error::new(iceberg::ErrorKind::Unexpected, "connection refused");
        CommitError::Load { table: ident(), source: Box::new(source) }
    }

    #[test]
    fn files_staged_while_a_commit_runs_wait_for_the_next_one() {
        let now = Instant::now();
        let mut cycle = CommitCycle::default();
        cycle.stage(file(0, 10));
        let committing = cycle.begin_commit(now);
        assert_eq!(ranges(&committing), [(0, 10)]);
        // A worker's report is accepted while the commit runs.
        cycle.stage(file(10, 20));
        let landed = cycle.landed(committing.len(), now + Duration::from_secs(2), INTERVAL);
        assert_eq!(ranges(&landed.files), [(0, 10)]);
        assert_eq!(landed.duration, Duration::from_secs(2));
        assert_eq!(ranges(cycle.staged()), [(10, 20)], "kept for the next commit");
        assert!(cycle.is_idle());
    }

    #[test]
    fn a_flush_ends_when_every_writer_has_closed_its_files_or_at_its_deadline() {
        let now = Instant::now();
        let mut cycle = CommitCycle::default();
        cycle.start_flush(7, HashSet::from([SessionId(1), SessionId(2)]), now, INTERVAL);
        assert!(!cycle.is_idle() && !cycle.is_due(now + INTERVAL), "no new cycle while one runs");
        assert!(!cycle.flushed(7, SessionId(1)));
        assert!(!cycle.flushed(6, SessionId(2)), "an answer to an earlier flush");
        assert!(cycle.flushed(7, SessionId(2)));
        // A writer that goes away is not waited for, and a flush nobody
        // answers ends at its deadline (30 s at least).
        cycle.start_flush(8, HashSet::from([SessionId(1), SessionId(2)]), now, INTERVAL);
        cycle.forget(SessionId(2));
        assert!(cycle.flushed(8, SessionId(1)));
        assert!(!cycle.flush_overdue(now + Duration::from_secs(29)));
        assert!(cycle.flush_overdue(now + Duration::from_secs(30)));
    }

    #[test]
    fn a_flush_that_staged_nothing_goes_back_to_idle_until_the_next_interval() {
        let now = Instant::now();
        let mut cycle = CommitCycle::default();
        cycle.start_flush(1, HashSet::from([SessionId(1)]), now, INTERVAL);
        assert!(cycle.flushed(1, SessionId(1)));
        assert!(!cycle.end_flush(), "nothing to commit");
        assert!(cycle.is_idle() && !cycle.is_due(now) && cycle.is_due(now + INTERVAL));
        cycle.stage(file(0, 10));
        cycle.start_flush(2, HashSet::from([SessionId(1)]), now, INTERVAL);
        assert!(cycle.end_flush(), "a commit follows");
    }

    #[test]
    fn a_failed_commit_is_retried_with_backoff_unless_retrying_cannot_help() {
        let now = Instant::now();
        let mut cycle = CommitCycle::default();
        cycle.stage(file(0, 10));
        cycle.begin_commit(now);
        assert_eq!(cycle.failed(&catalog_down(), false, now), AfterFailure::Retry { attempt: 1 });
        assert!(!cycle.is_due(now + Duration::from_millis(999)) && cycle.is_due(now + Duration::from_secs(1)));
        for _ in 0..10 {
            cycle.failed(&catalog_down(), false, now);
        }
        assert!(cycle.is_due(now + Duration::from_secs(30)), "the backoff stops growing at 30 s");
        assert_eq!(ranges(cycle.staged()), [(0, 10)], "still staged for the retry");
        // A conflict is not retried, and `--once` gives up after a few.
        let conflict =
            CommitError::Conflict { table: ident(), tp: Tp::new("orders", 0), from: 0, to: 10, committed: 5 };
        assert_eq!(CommitCycle::default().failed(&conflict, false, now), AfterFailure::Stop);
        let mut once = CommitCycle::default();
        let attempts: Vec<AfterFailure> = (0..ONCE_ATTEMPTS).map(|_| once.failed(&catalog_down(), true, now)).collect();
        assert_eq!(attempts[3], AfterFailure::Retry { attempt: 4 });
        assert_eq!(attempts[4], AfterFailure::Stop);
    }

    #[test]
    fn a_landed_commit_resets_the_backoff() {
        let now = Instant::now();
        let mut cycle = CommitCycle::default();
        for _ in 0..3 {
            cycle.failed(&catalog_down(), false, now);
        }
        cycle.stage(file(0, 10));
        cycle.begin_commit(now);
        cycle.landed(1, now, INTERVAL);
        assert_eq!(cycle.failed(&catalog_down(), false, now), AfterFailure::Retry { attempt: 1 });
    }
}

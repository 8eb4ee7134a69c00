//! The workers connected to this coordinator: one session per connection,
//! with its queue of messages, when it was last heard from, and the table
//! definitions it has been sent. A worker that stops reading its queue, or
//! stays silent past the lease TTL, is dropped and its leases move.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use floe_proto::worker::CoordinatorMessage;
use floe_proto::worker::coordinator_message::Body as ToWorker;
use tokio::sync::mpsc::error::TrySendError;

use crate::commit::SessionId;
use crate::models::Outbox;

/// How long after the first worker connects leases start being granted:
/// workers starting together all get a share, instead of the first one
/// getting everything and then giving half of it away.
const ASSIGNMENT_SETTLE: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct WorkerSession {
    pub worker_id: String,
    outbox: Outbox,
    pub last_seen: Instant,
    /// Tables this worker has a definition of.
    defined: HashSet<String>,
}

#[derive(Debug, Default)]
pub struct Workers {
    sessions: BTreeMap<SessionId, WorkerSession>,
    /// No lease is granted before this.
    assign_after: Option<Instant>,
}

impl Workers {
    pub fn connect(&mut self, session: SessionId, worker_id: String, outbox: Outbox, now: Instant) {
        self.assign_after.get_or_insert(now + ASSIGNMENT_SETTLE);
        let worker = WorkerSession { worker_id, outbox, last_seen: now, defined: HashSet::new() };
        self.sessions.insert(session, worker);
    }

    pub fn get(&self, session: &SessionId) -> Option<&WorkerSession> {
        self.sessions.get(session)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SessionId, &WorkerSession)> {
        self.sessions.iter()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn contains(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    pub fn sessions(&self) -> Vec<SessionId> {
        self.sessions.keys().copied().collect()
    }

    pub fn remove(&mut self, session: SessionId) -> Option<WorkerSession> {
        self.sessions.remove(&session)
    }

    /// Whether leases may be granted: the first workers had time to connect.
    pub fn settled(&self, now: Instant) -> bool {
        self.assign_after.is_some_and(|at| now >= at)
    }

    /// Notes that a worker was heard from; false for a session that is
    /// gone (its messages are ignored).
    pub fn heard_from(&mut self, session: SessionId, now: Instant) -> bool {
        let Some(worker) = self.sessions.get_mut(&session) else { return false };
        worker.last_seen = now;
        true
    }

    /// The sessions not heard from for longer than `ttl`.
    pub fn silent(&self, now: Instant, ttl: Duration) -> Vec<SessionId> {
        let silent = self.sessions.iter().filter(|(_, w)| now.duration_since(w.last_seen) > ttl);
        silent.map(|(session, _)| *session).collect()
    }

    /// Queues a message for a worker. An error says why the worker must be
    /// dropped: its queue is full or closed.
    pub fn send(&self, session: SessionId, body: ToWorker) -> Result<(), &'static str> {
        let Some(worker) = self.sessions.get(&session) else { return Ok(()) };
        worker.outbox.try_send(Ok(CoordinatorMessage { body: Some(body) })).map_err(|e| match e {
            TrySendError::Full(_) => "not reading its messages",
            TrySendError::Closed(_) => "disconnected",
        })
    }

    /// Whether the worker has yet to be sent `table`'s definition; from now
    /// on it counts as sent.
    pub fn needs_definition(&mut self, session: SessionId, table: &str) -> bool {
        self.sessions.get_mut(&session).is_some_and(|worker| worker.defined.insert(table.to_string()))
    }

    /// The table's definition changed: every worker is sent it again.
    pub fn forget_definition(&mut self, table: &str) {
        for worker in self.sessions.values_mut() {
            worker.defined.remove(table);
        }
    }
}

#[cfg(test)]
mod tests {
    use floe_proto::worker::Flush;
    use tokio::sync::mpsc;

    use super::*;

    fn flush() -> ToWorker {
        ToWorker::Flush(Flush { flush_id: 1, tables: Vec::new() })
    }

    #[test]
    fn a_worker_whose_queue_is_full_or_closed_is_to_be_dropped() {
        let mut workers = Workers::default();
        let (outbox, inbox) = mpsc::channel(1);
        workers.connect(SessionId(1), "w1".into(), outbox, Instant::now());
        assert_eq!(workers.send(SessionId(1), flush()), Ok(()));
        assert_eq!(workers.send(SessionId(1), flush()), Err("not reading its messages"));
        drop(inbox);
        assert_eq!(workers.send(SessionId(1), flush()), Err("disconnected"));
        assert_eq!(workers.send(SessionId(2), flush()), Ok(()), "a session already gone");
    }

    #[test]
    fn leases_wait_for_workers_starting_together_and_silent_ones_are_found() {
        let start = Instant::now();
        let mut workers = Workers::default();
        assert!(!workers.settled(start + Duration::from_secs(60)), "no worker yet");
        workers.connect(SessionId(1), "w1".into(), mpsc::channel(1).0, start);
        assert!(!workers.settled(start));
        assert!(workers.settled(start + ASSIGNMENT_SETTLE));
        workers.connect(SessionId(2), "w2".into(), mpsc::channel(1).0, start);
        assert!(workers.heard_from(SessionId(2), start + Duration::from_secs(5)));
        assert!(!workers.heard_from(SessionId(3), start), "unknown session");
        assert_eq!(workers.silent(start + Duration::from_secs(11), Duration::from_secs(10)), [SessionId(1)]);
    }

    #[test]
    fn a_table_definition_is_sent_once_per_worker_until_it_changes() {
        let mut workers = Workers::default();
        workers.connect(SessionId(1), "w1".into(), mpsc::channel(1).0, Instant::now());
        assert!(workers.needs_definition(SessionId(1), "orders"));
        assert!(!workers.needs_definition(SessionId(1), "orders"));
        workers.forget_definition("orders");
        assert!(workers.needs_definition(SessionId(1), "orders"));
        assert!(!workers.needs_definition(SessionId(9), "orders"), "no such worker");
    }
}

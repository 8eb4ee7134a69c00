//! What the blocking decode thread needs from the async side: writer
//! schemas from the registry, LFS blobs, and room in the memory budget.
//!
//! The decode thread never enters the runtime. It asks through [`Lookups`],
//! a channel, and blocks until the answer comes back as a value; the
//! segment's async task answers with [`Resolver::serve`] until the decode
//! thread lets go of its end. Waiting out an outage (the backoff, the
//! partition's status, giving up when the lease stops) happens on the async
//! side, where the timers and the network run.

use floe_registry::confluent::ConfluentRegistry;
use floe_table::confluent::RegisteredSchema;
use tokio::sync::{mpsc, oneshot};

use crate::halt::Halt;
use crate::lfs::{self, Fetched, LfsFetcher, Wanted};
use crate::memory::{MemoryBudget, Reservation};
use crate::outage::Waiter;

/// A writer schema, or (inside) why records naming its id cannot be
/// decoded, which makes them dead letters.
pub type WriterSchema = Result<RegisteredSchema, String>;

/// One request of the decode thread, with where its answer goes.
pub enum Lookup {
    WriterSchema { id: u32, answer: oneshot::Sender<Result<WriterSchema, Halt>> },
    Blobs { wanted: Vec<Wanted>, answer: oneshot::Sender<Result<Fetched, Halt>> },
    Memory { bytes: usize, answer: oneshot::Sender<Option<Reservation>> },
}

/// The decode thread's end. Every call blocks until answered, so none may
/// be made from an async task.
pub struct Lookups {
    requests: mpsc::Sender<Lookup>,
}

/// The two ends: the decode thread asks through the first, a [`Resolver`]
/// answers what comes out of the second.
pub fn channel() -> (Lookups, mpsc::Receiver<Lookup>) {
    // The decode thread waits for each answer before it asks again.
    let (requests, received) = mpsc::channel(1);
    (Lookups { requests }, received)
}

impl Lookups {
    /// The writer schema of `id`, once the registry answers for good.
    pub fn writer_schema(&self, id: u32) -> Result<WriterSchema, Halt> {
        self.ask(|answer| Lookup::WriterSchema { id, answer }).unwrap_or(Err(Halt::Stopped))
    }

    /// The blobs, fetched ([`lfs::fetch`]).
    pub fn blobs(&self, wanted: Vec<Wanted>) -> Result<Fetched, Halt> {
        self.ask(|answer| Lookup::Blobs { wanted, answer }).unwrap_or(Err(Halt::Stopped))
    }

    /// Room for `bytes` in the memory budget ([`MemoryBudget::reserve`]).
    pub fn memory(&self, bytes: usize) -> Option<Reservation> {
        self.ask(|answer| Lookup::Memory { bytes, answer }).flatten()
    }

    /// `None` when nothing answers any more: the segment's task has ended.
    fn ask<T>(&self, request: impl FnOnce(oneshot::Sender<T>) -> Lookup) -> Option<T> {
        let (answer, answered) = oneshot::channel();
        self.requests.blocking_send(request(answer)).ok()?;
        answered.blocking_recv().ok()
    }
}

/// The async end: answers with what one partition's reader holds.
pub struct Resolver<'a> {
    /// The table's name, for messages.
    pub table: &'a str,
    pub registry: Option<&'a ConfluentRegistry>,
    pub lfs: Option<&'a LfsFetcher>,
    pub memory: &'a MemoryBudget,
    pub waiter: Waiter<'a>,
}

impl Resolver<'_> {
    /// Answers requests in order until every [`Lookups`] of the channel is
    /// gone. An answer nobody waits for any more is dropped, and with it any
    /// reservation it held.
    pub async fn serve(&self, mut requests: mpsc::Receiver<Lookup>) {
        while let Some(request) = requests.recv().await {
            match request {
                Lookup::WriterSchema { id, answer } => {
                    let _ = answer.send(self.writer_schema(id).await);
                }
                Lookup::Blobs { wanted, answer } => {
                    let _ = answer.send(lfs::fetch(self.lfs, self.memory, self.table, wanted, &self.waiter).await);
                }
                Lookup::Memory { bytes, answer } => {
                    let _ = answer.send(self.memory.reserve(bytes).await);
                }
            }
        }
    }

    /// A registry outage is waited out (the partition says so), never turned
    /// into dead letters; an id the registry does not have is answered as
    /// such, and its records become dead letters.
    async fn writer_schema(&self, id: u32) -> Result<WriterSchema, Halt> {
        let Some(registry) = self.registry else {
            return Err(Halt::Failed(format!(
                "table {} reads the Confluent wire format but the coordinator named no schema registry",
                self.table
            )));
        };
        let attempt = || async {
            match registry.writer_schema(id).await {
                Err(e) if e.is_outage() => Err(e.to_string()),
                answer => Ok(answer),
            }
        };
        let what = format!("the schema registry (schema id {id})");
        match self.waiter.wait_out(&what, attempt).await {
            None => Err(Halt::Stopped),
            Some(Ok(schema)) => Ok(schema),
            Some(Err(e)) => Err(Halt::Failed(format!("writer schema id {id}: {e}"))),
        }
    }
}

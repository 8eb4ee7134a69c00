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
pub type RegistryAnswer = Result<RegisteredSchema, String>;

/// One request of the decode thread, with where its answer goes.
pub enum Lookup {
    WriterSchema { id: u32, answer: oneshot::Sender<Result<RegistryAnswer, Halt>> },
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
    pub fn writer_schema(&self, id: u32) -> Result<RegistryAnswer, Halt> {
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
    async fn writer_schema(&self, id: u32) -> Result<RegistryAnswer, Halt> {
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;
    use std::time::Duration;

    use floe_proto::worker::Feed;
    use floe_registry::RegistryClient;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::testing::orders_feed;

    /// What a partition's resolver borrows.
    struct Partition {
        feed: Feed,
        stop: CancellationToken,
        waiting: Mutex<String>,
        memory: MemoryBudget,
    }

    impl Partition {
        fn new(memory_bytes: u64) -> Self {
            Self {
                feed: orders_feed(),
                stop: CancellationToken::new(),
                waiting: Mutex::new(String::new()),
                memory: MemoryBudget::new(memory_bytes),
            }
        }

        fn resolver<'a>(&'a self, registry: Option<&'a ConfluentRegistry>) -> Resolver<'a> {
            let waiter = Waiter { feed: &self.feed, stop: &self.stop, waiting: &self.waiting };
            Resolver { table: "orders", registry, lfs: None, memory: &self.memory, waiter }
        }
    }

    /// Runs `decode` on a blocking thread, as the reader does, and answers
    /// its lookups until it is done.
    async fn on_decode_thread<T: Send + 'static>(
        resolver: &Resolver<'_>,
        decode: impl FnOnce(Lookups) -> T + Send + 'static,
    ) -> T {
        let (lookups, requests) = channel();
        let decoded = tokio::task::spawn_blocking(move || decode(lookups));
        resolver.serve(requests).await;
        decoded.await.unwrap()
    }

    /// A registry on loopback that answers every request with `body`.
    fn registry_answering(body: &'static str) -> ConfluentRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = Vec::new();
                let mut buffer = [0; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(format!("{head}{body}").as_bytes());
            }
        });
        ConfluentRegistry::new(RegistryClient::new(&url, Duration::from_secs(5), Duration::ZERO).unwrap())
    }

    /// A registry at an address where nothing listens.
    fn registry_down() -> ConfluentRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        ConfluentRegistry::new(RegistryClient::new(&url, Duration::from_secs(1), Duration::ZERO).unwrap())
    }

    #[tokio::test]
    async fn a_writer_schema_reaches_the_decode_thread_as_a_value() {
        let partition = Partition::new(1 << 20);
        let registry = registry_answering(r#"{"schema":"\"long\""}"#);
        let answer = on_decode_thread(&partition.resolver(Some(&registry)), |lookups| lookups.writer_schema(7)).await;
        assert!(matches!(answer, Ok(Ok(RegisteredSchema::Avro(_)))), "{answer:?}");
    }

    #[tokio::test]
    async fn a_registry_outage_is_waited_out_and_shown_until_the_lease_stops() {
        let partition = Partition::new(1 << 20);
        let registry = registry_down();
        let resolver = partition.resolver(Some(&registry));
        let stop_once_shown = async {
            while partition.waiting.lock().unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            partition.stop.cancel();
            partition.waiting.lock().unwrap().clone()
        };
        let (answer, shown) =
            tokio::join!(on_decode_thread(&resolver, |lookups| lookups.writer_schema(3)), stop_once_shown);
        assert!(matches!(answer, Err(Halt::Stopped)), "{answer:?}");
        assert!(
            shown.starts_with("waiting for the schema registry (schema id 3): schema registry unreachable"),
            "{shown}"
        );
        assert_eq!(*partition.waiting.lock().unwrap(), "", "cleared once the wait ends");
    }

    #[tokio::test]
    async fn without_a_registry_the_partition_stops_with_the_reason() {
        let partition = Partition::new(1 << 20);
        let answer = on_decode_thread(&partition.resolver(None), |lookups| lookups.writer_schema(3)).await;
        let Err(Halt::Failed(message)) = answer else { panic!("{answer:?}") };
        assert_eq!(
            message,
            "table orders reads the Confluent wire format but the coordinator named no schema registry"
        );
    }

    #[tokio::test]
    async fn the_decode_thread_waits_for_room_in_the_memory_budget() {
        let partition = Partition::new(10 * 1024);
        let held = partition.memory.reserve(6 * 1024).await.unwrap();
        let resolver = partition.resolver(None);
        let (lookups, requests) = channel();
        let decoded = tokio::task::spawn_blocking(move || lookups.memory(6 * 1024).map(|r| r.num_permits()));
        let serve = resolver.serve(requests);
        tokio::pin!(serve);
        let early = tokio::time::timeout(Duration::from_millis(50), &mut serve).await;
        assert!(early.is_err() && !decoded.is_finished(), "6 KiB more do not fit in 10 KiB with 6 KiB taken");
        drop(held);
        serve.await;
        assert_eq!(decoded.await.unwrap(), Some(6));
    }

    #[tokio::test]
    async fn with_nothing_left_to_answer_the_decode_thread_stops() {
        let (lookups, requests) = channel();
        drop(requests);
        let answers = tokio::task::spawn_blocking(move || (lookups.writer_schema(1), lookups.memory(1))).await.unwrap();
        assert!(matches!(answers, (Err(Halt::Stopped), None)), "{answers:?}");
    }
}

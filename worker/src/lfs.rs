//! Resolving a batch's KafScale LFS envelopes before its rows are built:
//! each envelope record is looked at once, per the table's mode, and the
//! blobs to resolve are fetched concurrently (at most
//! `lfs.max_concurrent_fetches` at once on the worker), checked against
//! their envelope's size and sha256, and become the records' values.
//!
//! A batch's blobs are counted under the worker's memory budget
//! (`worker.memory_limit_bytes`) from before they are fetched until the
//! batch's rows are built: by their envelopes' sizes, or the mode's limit
//! when an envelope gives none.
//!
//! A blob that is missing, or does not match its envelope, and an envelope
//! that cannot be read, are dead letters. A transient S3 failure never is:
//! the fetch is retried (the SDK's own retries, then here with backoff,
//! without end) and the partition waits, saying so in its status; a failure that needs a config
//! change (credentials, endpoint) stops the partition with the reason.
//!
//! The two halves run on different threads: [`prepare`] decides on the
//! blocking decode thread and hands the blobs it wants to a fetch function,
//! which asks the async side, through the decode thread's lookups, to run
//! [`fetch`]. The decode thread only ever receives the blobs as values.

use bytes::Bytes;
use floe_config::{LfsConfig, LfsMode};
use floe_kfs::record::Record;
use floe_proto::worker::LfsService;
use floe_storage::{Blob, BlobStore, ServiceLocation, StorageErrorKind};
use floe_table::lfs::{decide, looks_like_envelope};
use floe_table::{Envelope, LfsAction, LfsRecord, Rejection};
use tokio::sync::Semaphore;

use crate::halt::Halt;
use crate::memory::{MemoryBudget, Reservation};
use crate::outage::Waiter;

/// The worker's blob reader, shared by its partitions.
#[derive(Debug)]
pub struct LfsFetcher {
    blobs: BlobStore,
    permits: Semaphore,
}

impl LfsFetcher {
    pub async fn connect(service: &LfsService) -> Self {
        let location = ServiceLocation {
            region: service.region.clone(),
            endpoint: Some(service.endpoint.clone()).filter(|e| !e.is_empty()),
            path_style: service.path_style,
        };
        let permits = Semaphore::new(service.max_concurrent_fetches.max(1) as usize);
        Self { blobs: BlobStore::connect(&location).await, permits }
    }

    /// One blob, checked against its envelope (a rejection when it does not
    /// match or is missing); waits out transient failures.
    async fn fetch(
        &self,
        envelope: &Envelope,
        limit: u64,
        waiter: &Waiter<'_>,
    ) -> Result<Result<Bytes, Rejection>, Halt> {
        let attempt = || async {
            let Ok(_permit) = self.permits.acquire().await else { return Ok(Err(Halt::Stopped)) };
            match self.blobs.get(&envelope.bucket, &envelope.key, limit).await {
                Ok(Blob::Complete(bytes)) => Ok(Ok(envelope.verify(&bytes).map(|()| bytes))),
                Ok(Blob::TooLarge { size }) => {
                    let rejection = envelope.check_size(size).err().unwrap_or_else(|| envelope.too_large(size, limit));
                    Ok(Ok(Err(rejection)))
                }
                Err(e) if e.kind == StorageErrorKind::NotFound => Ok(Ok(Err(envelope.missing(&e.message)))),
                Err(e) if e.kind == StorageErrorKind::Permanent => {
                    Ok(Err(Halt::Failed(format!("LFS blob {}: {e}", envelope.url()))))
                }
                Err(e) => Err(e.to_string()),
            }
        };
        let what = format!("the LFS blob store ({})", envelope.url());
        waiter.wait_out(&what, attempt).await.unwrap_or(Err(Halt::Stopped))
    }
}

/// A blob an envelope asks to resolve: the record it belongs to, its
/// envelope, and the most bytes to read of it.
#[derive(Debug)]
pub struct Wanted {
    index: usize,
    envelope: Envelope,
    limit: u64,
}

/// A batch's wanted blobs, fetched: each with its bytes, or the reason it
/// is a dead letter. The reservation holds the blobs' share of the memory
/// budget: keep it until the rows are built.
#[derive(Debug)]
pub struct Fetched {
    pub blobs: Vec<(Wanted, Result<Bytes, Rejection>)>,
    pub reservation: Option<Reservation>,
}

/// What the table's LFS mode makes of each of `records`, in order; blobs
/// resolved replace their record's value. Empty when the mode is off. The
/// blobs to resolve, if any, go to `fetch` in one call. The reservation
/// holds the blobs' share of the memory budget: keep it until the rows are
/// built.
pub fn prepare(
    config: &LfsConfig,
    table: &str,
    records: &mut [Record],
    fetch: impl FnOnce(Vec<Wanted>) -> Result<Fetched, Halt>,
) -> Result<(Vec<LfsRecord>, Option<Reservation>), Halt> {
    if config.mode == LfsMode::Off {
        return Ok((Vec::new(), None));
    }
    let mut outcomes = Vec::with_capacity(records.len());
    let mut wanted = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let outcome = match record.value.as_deref().filter(|value| looks_like_envelope(value)).map(Envelope::parse) {
            None | Some(Ok(None)) => LfsRecord::Plain,
            Some(Err(rejection)) => LfsRecord::Rejected(rejection),
            Some(Ok(Some(envelope))) => match decide(config, &envelope) {
                LfsAction::Reference => LfsRecord::Referenced(envelope),
                LfsAction::Skip => LfsRecord::Skipped,
                LfsAction::TooLarge { size } => LfsRecord::Rejected(envelope.too_large(size, config.max_blob_bytes)),
                LfsAction::Resolve { limit } => {
                    // Decided once fetched.
                    wanted.push(Wanted { index, envelope, limit });
                    LfsRecord::Plain
                }
            },
        };
        outcomes.push(outcome);
    }
    let mut reservation = None;
    if !wanted.is_empty() {
        let fetched = fetch(wanted)?;
        for (Wanted { index, envelope, .. }, blob) in fetched.blobs {
            outcomes[index] = match blob {
                Ok(blob) => {
                    records[index].value = Some(blob);
                    LfsRecord::Resolved(envelope)
                }
                Err(rejection) => LfsRecord::Rejected(rejection),
            };
        }
        reservation = fetched.reservation;
    }
    count(table, &outcomes);
    Ok((outcomes, reservation))
}

/// Fetches a batch's wanted blobs (at least one) concurrently, counted in
/// `memory` from before the first is fetched: by their envelopes' sizes, or
/// their limits when an envelope gives none.
pub async fn fetch(
    fetcher: Option<&LfsFetcher>,
    memory: &MemoryBudget,
    table: &str,
    wanted: Vec<Wanted>,
    waiter: &Waiter<'_>,
) -> Result<Fetched, Halt> {
    let Some(fetcher) = fetcher else {
        return Err(Halt::Failed(format!(
            "table {table} resolves LFS blobs but the coordinator sent no LFS service (set lfs.endpoint, \
             and run workers of the coordinator's version)"
        )));
    };
    let declared: u64 = wanted.iter().map(|w| w.envelope.size.unwrap_or(w.limit).min(w.limit)).sum();
    let reservation = memory.reserve(usize::try_from(declared).unwrap_or(usize::MAX)).await;
    let fetches = wanted.iter().map(|w| fetcher.fetch(&w.envelope, w.limit, waiter));
    let fetched = futures::future::join_all(fetches).await;
    let blobs = wanted.into_iter().zip(fetched).map(|(wanted, blob)| blob.map(|blob| (wanted, blob)));
    let blobs = blobs.collect::<Result<Vec<_>, Halt>>()?;
    Ok(Fetched { blobs, reservation })
}

fn count(table: &str, outcomes: &[LfsRecord]) {
    let (mut resolved, mut referenced, mut skipped, mut rejected) = (0, 0, 0, 0);
    for outcome in outcomes {
        match outcome {
            LfsRecord::Plain => {}
            LfsRecord::Resolved(_) => resolved += 1,
            LfsRecord::Referenced(_) => referenced += 1,
            LfsRecord::Skipped => skipped += 1,
            LfsRecord::Rejected(_) => rejected += 1,
        }
    }
    floe_metrics::count_lfs(table, "resolved", resolved);
    floe_metrics::count_lfs(table, "referenced", referenced);
    floe_metrics::count_lfs(table, "skipped", skipped);
    floe_metrics::count_lfs(table, "dead_letter", rejected);
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::testing::orders_feed;

    const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn record(offset: i64, value: &str) -> Record {
        Record { offset, timestamp_ms: 0, key: None, value: Some(Bytes::from(value.to_string())), headers: Vec::new() }
    }

    fn envelope(key: &str) -> String {
        format!(r#"{{"kfs_lfs":1,"bucket":"b","key":"{key}","size":5,"sha256":"{HELLO_SHA256}"}}"#)
    }

    fn mode(mode: LfsMode) -> LfsConfig {
        LfsConfig { mode, ..LfsConfig::default() }
    }

    #[test]
    fn only_the_wanted_blobs_are_fetched_and_they_become_the_values() {
        let mut records = [record(0, r#"{"id":1}"#), record(1, &envelope("a")), record(2, r#"{"kfs_lfs":"x"}"#)];
        let mut asked = Vec::new();
        let (outcomes, _) = prepare(&mode(LfsMode::Resolve), "orders", &mut records, |wanted| {
            asked.extend(wanted.iter().map(|w| (w.index, w.envelope.key.clone())));
            let blobs = wanted.into_iter().map(|w| (w, Ok(Bytes::from_static(b"hello")))).collect();
            Ok(Fetched { blobs, reservation: None })
        })
        .unwrap();
        assert_eq!(asked, [(1, "a".to_string())], "one fetch, of the one envelope to resolve");
        assert_eq!(records[1].value.as_deref(), Some(&b"hello"[..]));
        assert!(
            matches!(&outcomes[..], [LfsRecord::Plain, LfsRecord::Resolved(e), LfsRecord::Rejected(_)] if e.key == "a"),
            "{outcomes:?}"
        );
    }

    #[test]
    fn nothing_is_fetched_when_nothing_is_to_be_resolved() {
        let no_fetch = |_: Vec<Wanted>| -> Result<Fetched, Halt> { panic!("nothing to fetch") };
        let mut records = [record(0, &envelope("a"))];
        let (outcomes, _) = prepare(&mode(LfsMode::Off), "orders", &mut records, no_fetch).unwrap();
        assert!(outcomes.is_empty(), "mode off looks at no record");
        let (outcomes, _) = prepare(&mode(LfsMode::Reference), "orders", &mut records, no_fetch).unwrap();
        assert!(matches!(&outcomes[..], [LfsRecord::Referenced(_)]));
        assert_eq!(records[0].value.as_deref(), Some(envelope("a").as_bytes()));
    }

    #[test]
    fn a_halt_while_fetching_stops_the_batch() {
        let mut records = [record(0, &envelope("a"))];
        let prepared = prepare(&mode(LfsMode::Resolve), "orders", &mut records, |_| Err(Halt::Stopped));
        assert!(matches!(prepared, Err(Halt::Stopped)));
    }

    #[tokio::test]
    async fn without_an_lfs_service_the_partition_stops_with_the_reason() {
        let feed = orders_feed();
        let (stop, waiting) = (CancellationToken::new(), Mutex::new(String::new()));
        let waiter = Waiter { feed: &feed, stop: &stop, waiting: &waiting };
        let envelope = Envelope::parse(envelope("a").as_bytes()).unwrap().unwrap();
        let wanted = vec![Wanted { index: 0, envelope, limit: 5 }];
        let fetched = fetch(None, &MemoryBudget::new(1 << 20), "orders", wanted, &waiter).await;
        let Err(Halt::Failed(message)) = fetched else { panic!("{fetched:?}") };
        assert_eq!(
            message,
            "table orders resolves LFS blobs but the coordinator sent no LFS service (set lfs.endpoint, and run \
             workers of the coordinator's version)"
        );
    }
}

//! Waiting out an outage of something a partition reads from (storage, the
//! schema registry, the LFS blob store): the operation is retried with
//! doubling backoff until it answers for good, never turned into skipped
//! data or a dead letter, and given up only when the lease stops. While it
//! waits, the partition's status says what for.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use floe_proto::worker::Feed;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// One partition's view of an outage: when to give up, and where its
/// status tells of the wait.
pub struct Waiter<'a> {
    pub feed: &'a Feed,
    pub stop: &'a CancellationToken,
    /// Shown in the partition's status; empty when not waiting.
    pub waiting: &'a Mutex<String>,
}

impl Waiter<'_> {
    /// Runs `attempt` until it gives `Ok` (the final answer, which may be
    /// an error that retrying cannot fix). `Err(reason)` is an outage of
    /// `what` ("the schema registry (schema id 3)"): logged, shown as
    /// `waiting for {what}: {reason}`, and waited out. `None` when the
    /// lease stops first.
    pub async fn wait_out<T, F, Fut>(&self, what: &str, mut attempt: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let mut backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX);
        let mut waited = false;
        let answer = loop {
            let outcome = tokio::select! {
                _ = self.stop.cancelled() => break None,
                outcome = attempt() => outcome,
            };
            match outcome {
                Ok(answer) => break Some(answer),
                Err(reason) => {
                    let pause = backoff.next_pause();
                    tracing::warn!(
                        topic = %self.feed.topic,
                        partition = self.feed.partition,
                        "{what} unavailable, retrying in {pause:?}: {reason}"
                    );
                    *self.waiting.lock().unwrap() = format!("waiting for {what}: {reason}");
                    waited = true;
                    tokio::select! {
                        _ = self.stop.cancelled() => break None,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        };
        if waited {
            self.waiting.lock().unwrap().clear();
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn outages_are_waited_out_and_shown_then_cleared() {
        let feed = Feed { topic: "orders".into(), partition: 3, table: "orders".into() };
        let (stop, waiting) = (CancellationToken::new(), Mutex::new(String::new()));
        let waiter = Waiter { feed: &feed, stop: &stop, waiting: &waiting };
        let calls = AtomicU32::new(0);
        let seen = Mutex::new(Vec::new());
        let answer = waiter
            .wait_out("the registry", || async {
                seen.lock().unwrap().push(waiting.lock().unwrap().clone());
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err("HTTP 503".to_string()),
                    _ => Ok(Err::<(), _>("HTTP 404")),
                }
            })
            .await;
        assert_eq!(answer, Some(Err("HTTP 404")), "the final answer, even an error, ends the wait");
        assert_eq!(*seen.lock().unwrap(), ["", "waiting for the registry: HTTP 503"]);
        assert_eq!(*waiting.lock().unwrap(), "", "cleared once answered");
    }

    #[tokio::test]
    async fn a_stop_ends_the_wait() {
        let feed = Feed { topic: "orders".into(), partition: 0, table: "orders".into() };
        let (stop, waiting) = (CancellationToken::new(), Mutex::new(String::new()));
        let waiter = Waiter { feed: &feed, stop: &stop, waiting: &waiting };
        let answer: Option<()> = waiter
            .wait_out("storage", || async {
                stop.cancel();
                Err("connection refused".to_string())
            })
            .await;
        assert_eq!(answer, None);
        assert_eq!(*waiting.lock().unwrap(), "");
    }
}

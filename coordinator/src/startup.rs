//! The start-up check of segment storage: a refusal (credentials, a missing
//! bucket, a wrong region) is an error at once, so a wrong setting is one
//! clear line; an outage (5xx, throttling, no answer) is waited out with
//! backoff, as every other storage call does, so a coordinator that comes to
//! lead during one does not exit and restart.

use std::time::Duration;

use floe_storage::{SegmentStore, StorageError, StorageErrorKind};
use tokio::time::Instant;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// How long `floe run --once` waits out an outage: a run meant to finish
/// says what is wrong rather than hang.
const ONCE_PATIENCE: Duration = Duration::from_secs(10);

/// Returns once `segments` answers; with `once`, gives up on an outage that
/// outlasts `ONCE_PATIENCE`.
pub(crate) async fn probe_segments(segments: &dyn SegmentStore, once: bool) -> Result<(), StorageError> {
    let patience = once.then_some(ONCE_PATIENCE);
    retry_outages(async || segments.probe().await, FIRST_BACKOFF, MAX_BACKOFF, patience).await
}

/// Calls `probe` until it succeeds or fails for good, doubling the wait from
/// `first` up to `max` after each outage, for at most `patience`.
async fn retry_outages(
    mut probe: impl AsyncFnMut() -> Result<(), StorageError>,
    first: Duration,
    max: Duration,
    patience: Option<Duration>,
) -> Result<(), StorageError> {
    let give_up_at = patience.map(|patience| Instant::now() + patience);
    let mut wait = first;
    loop {
        let error = match probe().await {
            Ok(()) => return Ok(()),
            Err(error) if error.kind == StorageErrorKind::Transient => error,
            Err(refused) => return Err(refused),
        };
        if give_up_at.is_some_and(|at| Instant::now() + wait > at) {
            return Err(error);
        }
        tracing::warn!("segment storage does not answer, trying again in {wait:?}: {error}");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Probes answering `answers` in turn (then OK); how many were made and
    /// what the retry made of them.
    async fn probe(answers: &[StorageErrorKind], patience: Option<Duration>) -> (usize, Result<(), StorageError>) {
        let mut calls = 0;
        let result = retry_outages(
            async || {
                calls += 1;
                match answers.get(calls - 1) {
                    Some(kind) => Err(StorageError::new(*kind, "list", "s3://bucket/production/", "answer")),
                    None => Ok(()),
                }
            },
            MS,
            MS,
            patience,
        )
        .await;
        (calls, result)
    }

    #[tokio::test]
    async fn outages_are_waited_out_and_refusals_are_not() {
        use StorageErrorKind::*;
        let (calls, result) = probe(&[Transient, Transient], None).await;
        assert_eq!(calls, 3, "two 5xx answers, then the answer");
        assert!(result.is_ok());

        for refusal in [Permanent, NotFound] {
            let (calls, result) = probe(&[Transient, refusal], None).await;
            assert_eq!(calls, 2, "{refusal:?} ends it");
            assert_eq!(result.unwrap_err().kind, refusal);
        }

        let (calls, result) = probe(&[Transient; 1000], Some(20 * MS)).await;
        assert!(calls < 1000, "gave up after its patience, at {calls} calls");
        assert_eq!(result.unwrap_err().kind, Transient);
    }
}

//! The worker's budget for rows in flight between readers and writers.
//! Readers reserve a chunk's size before handing it over and the reservation
//! ends when the writer has written the chunk, so a slow writer makes
//! readers wait instead of letting memory grow with the backlog.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget unit: permits count KiB.
const UNIT: usize = 1024;

#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    units: usize,
}

/// Held while a chunk is in flight; dropping it returns the bytes.
pub type Reservation = OwnedSemaphorePermit;

impl MemoryBudget {
    pub fn new(bytes: u64) -> Self {
        // A semaphore holds at most `usize::MAX >> 3` permits.
        let units = usize::try_from(bytes).unwrap_or(usize::MAX).div_ceil(UNIT).clamp(1, usize::MAX >> 4);
        Self { permits: Arc::new(Semaphore::new(units)), units }
    }

    /// Waits until `bytes` fit in the budget. More than the whole budget
    /// waits for the budget to be empty instead of forever.
    pub async fn reserve(&self, bytes: usize) -> Option<Reservation> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.units) as u32;
        self.permits.clone().acquire_many_owned(units).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_reservation_waits_for_room_and_more_than_the_budget_for_all_of_it() {
        let budget = MemoryBudget::new(10 * 1024);
        let first = budget.reserve(6 * 1024).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.reserve(6 * 1024)).await;
        assert!(waiting.is_err(), "6 KiB more do not fit in 10 KiB with 6 KiB taken");
        drop(first);
        let whole = budget.reserve(usize::MAX).await.unwrap();
        assert_eq!(whole.num_permits(), 10, "more than the budget takes all of it");
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.reserve(1)).await;
        assert!(waiting.is_err());
    }
}

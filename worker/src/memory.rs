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

    /// Waits (blocking the calling thread, which must not be an async task)
    /// until `bytes` fit in the budget. A chunk larger than the whole budget
    /// waits for the budget to be empty instead of forever.
    pub fn reserve_blocking(&self, bytes: usize) -> Option<Reservation> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.units) as u32;
        let handle = tokio::runtime::Handle::current();
        handle.block_on(self.permits.clone().acquire_many_owned(units)).ok()
    }
}

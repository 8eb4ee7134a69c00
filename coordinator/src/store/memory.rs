use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{FileIntent, StateStore, StoreError};
use crate::feed::Tp;

/// State in this process only: for a single coordinator without a database.
#[derive(Debug, Default)]
pub struct MemoryStore {
    epochs: Mutex<HashMap<Tp, u64>>,
    files: Mutex<HashMap<String, FileIntent>>,
    pauses: Mutex<BTreeSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn next_epochs(&self, tps: &[Tp]) -> Result<Vec<u64>, StoreError> {
        let mut epochs = lock(&self.epochs);
        Ok(tps
            .iter()
            .map(|tp| {
                let epoch = epochs.entry(tp.clone()).or_insert(0);
                *epoch += 1;
                *epoch
            })
            .collect())
    }

    async fn record_file_intent(&self, intent: &FileIntent) -> Result<(), StoreError> {
        lock(&self.files).insert(intent.path.clone(), intent.clone());
        Ok(())
    }

    async fn forget_files(&self, paths: &[String]) -> Result<(), StoreError> {
        let mut files = lock(&self.files);
        for path in paths {
            files.remove(path);
        }
        Ok(())
    }

    async fn file_intents_before(&self, before_ms: i64) -> Result<Vec<FileIntent>, StoreError> {
        let mut old: Vec<_> = lock(&self.files).values().filter(|f| f.created_ms < before_ms).cloned().collect();
        old.sort_by_key(|f| f.created_ms);
        Ok(old)
    }

    async fn pauses(&self) -> Result<Vec<String>, StoreError> {
        Ok(lock(&self.pauses).iter().cloned().collect())
    }

    async fn set_pause(&self, key: &str, paused: bool) -> Result<(), StoreError> {
        let mut pauses = lock(&self.pauses);
        match paused {
            true => pauses.insert(key.to_string()),
            false => pauses.remove(key),
        };
        Ok(())
    }
}

use async_trait::async_trait;
use etcd_client::{Client, Compare, CompareOp, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse};

use std::collections::HashMap;

use super::{FileIntent, Progress, StateStore, StoreError};
use crate::etcd::{EtcdLayout, Fence};
use crate::feed::{Feed, Tp};

/// Operations per etcd transaction; etcd refuses more than 128 by default.
const TXN_CHUNK: usize = 64;

/// State in etcd, under `{offsets.key_prefix}/` (see [`EtcdLayout`]). Every
/// write is fenced: it lands only while this coordinator still holds the
/// leader key it was elected with, so a deposed leader cannot hand out
/// epochs or touch file intents.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    layout: EtcdLayout,
    fence: Fence,
    name: String,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").field("name", &self.name).field("layout", &self.layout).finish()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IntentValue {
    table: String,
    created_ms: i64,
}

impl EtcdStore {
    pub fn new(client: Client, layout: EtcdLayout, fence: Fence, name: String) -> Self {
        Self { client, layout, fence, name }
    }

    fn error(&self, operation: &'static str, e: impl std::fmt::Display) -> StoreError {
        StoreError { store: self.name.clone(), operation, message: e.to_string() }
    }

    /// Every key-value under `prefix`.
    async fn under(&self, prefix: &str, operation: &'static str) -> Result<Vec<KeyValue>, StoreError> {
        let response = self.client.kv_client().get(prefix, Some(GetOptions::new().with_prefix())).await;
        let mut response = response.map_err(|e| self.error(operation, e))?;
        Ok(response.take_kvs())
    }

    /// Runs `ops` if this coordinator still leads and `compares` hold.
    /// `Ok(false)` when a compare other than the fence failed.
    async fn fenced(
        &self,
        operation: &'static str,
        compares: Vec<Compare>,
        ops: Vec<TxnOp>,
    ) -> Result<(bool, Vec<TxnOpResponse>), StoreError> {
        let fence = self.fence.compare();
        let txn = Txn::new()
            .when([vec![fence], compares].concat())
            .and_then(ops)
            .or_else([TxnOp::get(self.fence.key.clone(), None)]);
        let response = self.client.kv_client().txn(txn).await.map_err(|e| self.error(operation, e))?;
        if response.succeeded() {
            return Ok((true, response.op_responses()));
        }
        let still_leading = response.op_responses().iter().any(|r| match r {
            TxnOpResponse::Get(get) => get.kvs().iter().any(|kv| kv.create_revision() == self.fence.create_revision),
            _ => false,
        });
        if !still_leading {
            return Err(self.error(operation, "this coordinator is no longer the leader"));
        }
        Ok((false, Vec::new()))
    }
}

#[async_trait]
impl StateStore for EtcdStore {
    async fn next_epochs(&self, tps: &[Tp]) -> Result<Vec<u64>, StoreError> {
        let mut epochs = Vec::with_capacity(tps.len());
        for chunk in tps.chunks(TXN_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(|tp| self.layout.epoch(tp)).collect();
            loop {
                // Read the current epochs, then write them + 1 if nobody
                // changed them in between (compare-and-swap per key).
                let read = Txn::new().and_then(keys.iter().map(|k| TxnOp::get(k.as_str(), None)).collect::<Vec<_>>());
                let read = self.client.kv_client().txn(read).await.map_err(|e| self.error("read lease epochs", e))?;
                let mut compares = Vec::with_capacity(keys.len());
                let mut puts = Vec::with_capacity(keys.len());
                let mut next = Vec::with_capacity(keys.len());
                for (key, response) in keys.iter().zip(read.op_responses()) {
                    let TxnOpResponse::Get(get) = response else {
                        return Err(self.error("read lease epochs", "unexpected response"));
                    };
                    let (epoch, compare) = match get.kvs().first() {
                        Some(kv) => {
                            let epoch: u64 = kv
                                .value_str()
                                .ok()
                                .and_then(|v| v.parse().ok())
                                .ok_or_else(|| self.error("read lease epochs", format!("{key} is not a number")))?;
                            (epoch, Compare::mod_revision(key.as_str(), CompareOp::Equal, kv.mod_revision()))
                        }
                        None => (0, Compare::create_revision(key.as_str(), CompareOp::Equal, 0)),
                    };
                    compares.push(compare);
                    puts.push(TxnOp::put(key.as_str(), (epoch + 1).to_string(), None));
                    next.push(epoch + 1);
                }
                if self.fenced("allocate lease epochs", compares, puts).await?.0 {
                    epochs.extend(next);
                    break;
                }
            }
        }
        Ok(epochs)
    }

    async fn record_file_intent(&self, intent: &FileIntent) -> Result<(), StoreError> {
        let value = serde_json::to_string(&IntentValue { table: intent.table.clone(), created_ms: intent.created_ms })
            .map_err(|e| self.error("record file intent", e))?;
        let put = TxnOp::put(self.layout.file(&intent.path), value, None);
        self.fenced("record file intent", Vec::new(), vec![put]).await.map(drop)
    }

    async fn forget_files(&self, paths: &[String]) -> Result<(), StoreError> {
        for chunk in paths.chunks(TXN_CHUNK) {
            let deletes = chunk.iter().map(|path| TxnOp::delete(self.layout.file(path), None)).collect();
            self.fenced("forget files", Vec::new(), deletes).await?;
        }
        Ok(())
    }

    async fn file_intents_before(&self, before_ms: i64) -> Result<Vec<FileIntent>, StoreError> {
        let prefix = self.layout.files();
        let mut intents = Vec::new();
        for kv in self.under(&prefix, "list file intents").await? {
            let key = kv.key_str().map_err(|e| self.error("list file intents", e))?;
            let value: IntentValue = serde_json::from_slice(kv.value())
                .map_err(|e| self.error("list file intents", format!("{key}: {e}")))?;
            if value.created_ms < before_ms {
                let path = key.strip_prefix(&prefix).unwrap_or(key).to_string();
                intents.push(FileIntent { table: value.table, path, created_ms: value.created_ms });
            }
        }
        intents.sort_by_key(|f| f.created_ms);
        Ok(intents)
    }

    async fn record_progress(&self, progress: &[Progress]) -> Result<(), StoreError> {
        let puts: Vec<TxnOp> = progress
            .iter()
            .flat_map(|p| {
                let offset = TxnOp::put(self.layout.offset(&p.feed), p.next_offset.to_string(), None);
                let cursor =
                    p.discovery_cursor.as_ref().map(|key| TxnOp::put(self.layout.cursor(&p.feed), key.as_str(), None));
                std::iter::once(offset).chain(cursor)
            })
            .collect();
        for chunk in puts.chunks(TXN_CHUNK) {
            self.fenced("record progress", Vec::new(), chunk.to_vec()).await?;
        }
        Ok(())
    }

    async fn pauses(&self) -> Result<Vec<String>, StoreError> {
        let prefix = self.layout.pauses();
        let kvs = self.under(&prefix, "list pauses").await?;
        Ok(kvs.iter().filter_map(|kv| kv.key_str().ok()?.strip_prefix(&prefix).map(str::to_string)).collect())
    }

    async fn set_pause(&self, key: &str, paused: bool) -> Result<(), StoreError> {
        let key = self.layout.pause(key);
        let op = match paused {
            true => TxnOp::put(key, "", None),
            false => TxnOp::delete(key, None),
        };
        self.fenced("record pause", Vec::new(), vec![op]).await.map(drop)
    }

    async fn forget_discovery_cursors(&self, feeds: &[Feed]) -> Result<(), StoreError> {
        for chunk in feeds.chunks(TXN_CHUNK) {
            let deletes = chunk.iter().map(|feed| TxnOp::delete(self.layout.cursor(feed), None)).collect();
            self.fenced("forget discovery cursors", Vec::new(), deletes).await?;
        }
        Ok(())
    }

    async fn discovery_cursors(&self) -> Result<HashMap<Feed, String>, StoreError> {
        let mut cursors = HashMap::new();
        for kv in self.under(&self.layout.cursors(), "read discovery cursors").await? {
            let (Ok(key), Ok(value)) = (kv.key_str(), kv.value_str()) else { continue };
            if let Some(feed) = self.layout.cursor_feed(key) {
                cursors.insert(feed, value.to_string());
            }
        }
        Ok(cursors)
    }
}

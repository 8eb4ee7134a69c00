use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

use super::{FileIntent, StateStore, StoreError};
use crate::catalog::prepare_sqlite_file;
use crate::feed::Tp;

/// State in the SQL catalog's database (SQLite or PostgreSQL), in tables of
/// its own beside the catalog's.
#[derive(Debug)]
pub struct SqlStore {
    pool: AnyPool,
    name: String,
    dollar_params: bool,
}

impl SqlStore {
    /// Connects and creates floe's tables when missing. A SQLite file (and
    /// its folder) is created when it does not exist yet.
    pub async fn connect(uri: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let sqlite = uri.starts_with("sqlite:");
        let name = redact(uri);
        let err = |operation, e: sqlx::Error| StoreError { store: name.clone(), operation, message: e.to_string() };
        let url = if sqlite {
            prepare_sqlite_file(uri).map_err(|message| StoreError {
                store: name.clone(),
                operation: "create",
                message,
            })?
        } else {
            uri.to_string()
        };
        let pool = AnyPoolOptions::new().max_connections(4).connect(&url).await.map_err(|e| err("connect", e))?;
        if sqlite {
            // Readers (PyIceberg, DuckDB) keep reading while we commit.
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await.map_err(|e| err("set WAL", e))?;
        }
        for ddl in [
            "CREATE TABLE IF NOT EXISTS floe_lease_epochs (
                topic VARCHAR(255) NOT NULL,
                partition_id INTEGER NOT NULL,
                epoch BIGINT NOT NULL,
                PRIMARY KEY (topic, partition_id))",
            "CREATE TABLE IF NOT EXISTS floe_file_intents (
                path VARCHAR(2048) NOT NULL PRIMARY KEY,
                table_name VARCHAR(1024) NOT NULL,
                created_ms BIGINT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS floe_pauses (
                target VARCHAR(2048) NOT NULL PRIMARY KEY)",
        ] {
            sqlx::query(ddl).execute(&pool).await.map_err(|e| err("create tables", e))?;
        }
        Ok(Self { pool, name, dollar_params: !sqlite })
    }

    fn sql(&self, text: &str) -> String {
        numbered_params(text, self.dollar_params)
    }

    fn error(&self, operation: &'static str, e: sqlx::Error) -> StoreError {
        StoreError { store: self.name.clone(), operation, message: e.to_string() }
    }
}

/// Writes `?` placeholders as `$1, $2...` (PostgreSQL) when `dollar` is set.
pub fn numbered_params(text: &str, dollar: bool) -> String {
    if !dollar {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The URI without a password, for messages.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &uri[..scheme], &uri[at + 1..]),
        _ => uri.to_string(),
    }
}

#[async_trait]
impl StateStore for SqlStore {
    async fn next_epochs(&self, tps: &[Tp]) -> Result<Vec<u64>, StoreError> {
        let query = self.sql(
            "INSERT INTO floe_lease_epochs (topic, partition_id, epoch) VALUES (?, ?, 1)
             ON CONFLICT (topic, partition_id) DO UPDATE SET epoch = floe_lease_epochs.epoch + 1
             RETURNING epoch",
        );
        let mut tx = self.pool.begin().await.map_err(|e| self.error("begin", e))?;
        let mut epochs = Vec::with_capacity(tps.len());
        for tp in tps {
            let row = sqlx::query(&query)
                .bind(tp.topic.as_str())
                .bind(tp.partition)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.error("allocate lease epoch", e))?;
            let epoch: i64 = row.try_get(0).map_err(|e| self.error("read lease epoch", e))?;
            epochs.push(epoch as u64);
        }
        tx.commit().await.map_err(|e| self.error("commit lease epochs", e))?;
        Ok(epochs)
    }

    async fn record_file_intent(&self, intent: &FileIntent) -> Result<(), StoreError> {
        sqlx::query(&self.sql("INSERT INTO floe_file_intents (path, table_name, created_ms) VALUES (?, ?, ?)"))
            .bind(intent.path.as_str())
            .bind(intent.table.as_str())
            .bind(intent.created_ms)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error("record file intent", e))?;
        Ok(())
    }

    async fn forget_files(&self, paths: &[String]) -> Result<(), StoreError> {
        let query = self.sql("DELETE FROM floe_file_intents WHERE path = ?");
        let mut tx = self.pool.begin().await.map_err(|e| self.error("begin", e))?;
        for path in paths {
            sqlx::query(&query)
                .bind(path.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error("forget file", e))?;
        }
        tx.commit().await.map_err(|e| self.error("commit forgotten files", e))
    }

    async fn file_intents_before(&self, before_ms: i64) -> Result<Vec<FileIntent>, StoreError> {
        let rows = sqlx::query(&self.sql(
            "SELECT table_name, path, created_ms FROM floe_file_intents WHERE created_ms < ? ORDER BY created_ms",
        ))
        .bind(before_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.error("list file intents", e))?;
        rows.iter()
            .map(|row| Ok(FileIntent { table: row.try_get(0)?, path: row.try_get(1)?, created_ms: row.try_get(2)? }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.error("read file intents", e))
    }

    async fn pauses(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT target FROM floe_pauses ORDER BY target")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error("list pauses", e))?;
        rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>().map_err(|e| self.error("read pauses", e))
    }

    async fn set_pause(&self, key: &str, paused: bool) -> Result<(), StoreError> {
        let query = match paused {
            true => "INSERT INTO floe_pauses (target) VALUES (?) ON CONFLICT (target) DO NOTHING",
            false => "DELETE FROM floe_pauses WHERE target = ?",
        };
        sqlx::query(&self.sql(query)).bind(key).execute(&self.pool).await.map_err(|e| self.error("record pause", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn epochs_grow_across_reconnects_and_intents_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("sqlite://{}/state/catalog.db", dir.path().display());
        let tps = [Tp::new("orders", 0), Tp::new("orders", 1)];
        {
            let store = SqlStore::connect(&uri).await.unwrap();
            assert_eq!(store.next_epochs(&tps).await.unwrap(), [1, 1]);
            assert_eq!(store.next_epochs(&tps[..1]).await.unwrap(), [2]);
            let intent = FileIntent { table: "prod.orders".into(), path: "file:///w/a.parquet".into(), created_ms: 10 };
            store.record_file_intent(&intent).await.unwrap();
            store
                .record_file_intent(&FileIntent {
                    path: "file:///w/b.parquet".into(),
                    created_ms: 20,
                    ..intent.clone()
                })
                .await
                .unwrap();
            assert_eq!(store.file_intents_before(15).await.unwrap(), [intent]);
            store.forget_files(&["file:///w/a.parquet".into()]).await.unwrap();
            assert!(store.file_intents_before(15).await.unwrap().is_empty());
        }
        let store = SqlStore::connect(&uri).await.unwrap();
        assert_eq!(store.next_epochs(&tps).await.unwrap(), [3, 2]);
        assert_eq!(store.file_intents_before(100).await.unwrap().len(), 1);
        store.set_pause("topic/orders", true).await.unwrap();
        store.set_pause("table/a", true).await.unwrap();
        store.set_pause("table/a", true).await.unwrap();
        store.set_pause("table/b", false).await.unwrap();
        assert_eq!(store.pauses().await.unwrap(), ["table/a", "topic/orders"]);
        store.set_pause("table/a", false).await.unwrap();
        assert_eq!(SqlStore::connect(&uri).await.unwrap().pauses().await.unwrap(), ["topic/orders"]);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgresql://floe:secret@db:5432/cat"), "postgresql://***@db:5432/cat");
        assert_eq!(redact("sqlite:///tmp/c.db"), "sqlite:///tmp/c.db");
    }
}

//! What the worker's unit tests share: a table, its feed and records, and a
//! folder of their own to write in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use floe_kfs::record::Record;
use floe_proto::worker::{DefineTable, Feed};

use crate::table::TableDef;

/// A folder removed when dropped, named so tests running at once do not
/// share one.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("floe-worker-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Table `orders`: the source columns only, unpartitioned, JSON values.
pub fn orders_table() -> Arc<TableDef> {
    let define = DefineTable {
        table: "orders".into(),
        schema_json: serde_json::to_string(&floe_table::table_schema(&[], &[])).unwrap(),
        partition_spec_json: r#"{"spec-id":0,"fields":[]}"#.into(),
        format_version: 2,
        ..DefineTable::default()
    };
    Arc::new(TableDef::from_proto(&define, &HashMap::new()).unwrap())
}

/// Partition 0 of topic `orders`, read into table `orders`.
pub fn orders_feed() -> Feed {
    Feed { topic: "orders".into(), partition: 0, table: "orders".into() }
}

/// Records at offsets `offsets`, each with the value `{}`.
pub fn records(offsets: std::ops::Range<i64>) -> Vec<Record> {
    let record = |offset| Record {
        offset,
        timestamp_ms: offset,
        key: None,
        value: Some(Bytes::from_static(b"{}")),
        headers: Vec::new(),
    };
    offsets.map(record).collect()
}

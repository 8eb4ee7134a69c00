//! Orphan collection: data files workers were given a path for but that
//! never made it into a commit (a worker died, a report was refused, the
//! coordinator stopped between staging and committing).
//!
//! Every path is recorded in the state store before a worker writes it and
//! forgotten once committed. A path still recorded after the grace period is
//! checked against the table: files that did get committed (the store update
//! was lost) are only forgotten; the rest are orphans. The control loop makes
//! the final call, since it knows which files are staged right now.

use std::collections::{BTreeMap, HashSet};

use iceberg::{Catalog, TableIdent};
use tracing::warn;

use crate::store::{FileIntent, StateStore};

/// The outcome of one scan, for one table.
#[derive(Debug, Default)]
pub struct OrphanScan {
    /// Never committed: to delete (unless staged right now).
    pub orphans: Vec<String>,
    /// Committed after all: only their record is stale.
    pub committed: Vec<String>,
}

/// Clock skew and commit latency allowed between recording a path and the
/// snapshot that commits it.
const SNAPSHOT_SLACK_MS: i64 = 10 * 60 * 1000;

/// Looks at the file intents recorded before `before_ms`.
pub async fn scan_orphans(
    catalog: &dyn Catalog,
    store: &dyn StateStore,
    tables: &BTreeMap<String, TableIdent>,
    before_ms: i64,
) -> BTreeMap<String, OrphanScan> {
    let intents = match store.file_intents_before(before_ms).await {
        Ok(intents) => intents,
        Err(e) => {
            warn!("orphan collection skipped: {e}");
            return BTreeMap::new();
        }
    };
    let mut by_table: BTreeMap<String, Vec<FileIntent>> = BTreeMap::new();
    for intent in intents {
        by_table.entry(intent.table.clone()).or_default().push(intent);
    }
    let mut out = BTreeMap::new();
    for (name, intents) in by_table {
        let Some(ident) = tables.get(&name) else { continue };
        let oldest = intents.iter().map(|i| i.created_ms).min().unwrap_or(before_ms);
        let committed = match paths_committed_since(catalog, ident, oldest - SNAPSHOT_SLACK_MS).await {
            Ok(paths) => paths,
            Err(e) => {
                warn!(table = %name, "orphan collection skipped for this table: {e}");
                continue;
            }
        };
        let (done, orphans): (Vec<_>, Vec<_>) = intents.into_iter().partition(|i| committed.contains(&i.path));
        out.insert(
            name,
            OrphanScan {
                orphans: orphans.into_iter().map(|i| i.path).collect(),
                committed: done.into_iter().map(|i| i.path).collect(),
            },
        );
    }
    out
}

/// Paths of the data files added by snapshots taken since `since_ms`.
async fn paths_committed_since(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    since_ms: i64,
) -> iceberg::Result<HashSet<String>> {
    let table = catalog.load_table(ident).await?;
    let mut paths = HashSet::new();
    for snapshot in table.metadata().snapshots() {
        if snapshot.timestamp_ms() < since_ms {
            continue;
        }
        let list = table.manifest_list_reader(snapshot).load().await?;
        for manifest in list.entries() {
            if manifest.added_snapshot_id != snapshot.snapshot_id() {
                continue;
            }
            let manifest = manifest.load_manifest(table.file_io()).await?;
            paths.extend(manifest.entries().iter().map(|e| e.file_path().to_string()));
        }
    }
    Ok(paths)
}

//! The append kind: staged files into a table, one snapshot per attempt,
//! with the offsets they reach recorded in its summary.
//!
//! Each attempt loads the table fresh and classifies the staged files
//! ([`super::classify`]): those already in the table are skipped, the
//! others appended in one fast append through the guard
//! ([`super::guard`]), with operators' skips named in `floe.skipped`.
//!
//! A typed table's dead letters are committed to its dead-letter table just
//! before, with the same ranges recorded there. If the table's commit then
//! fails for good, the dead-letter table is ahead: its files are skipped on
//! the next attempt, and a worker reading the ranges again is told not to
//! write those dead letters a second time.

use std::collections::{BTreeMap, HashMap};

use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, TableIdent};

use super::classify::{FileState, classify};
use super::error::{CommitError, load};
use super::guard::CheckedCommitCatalog;
use super::offsets::{OffsetMap, Position};
use super::offsets::{SKIPPED_KEY, WATERMARK_KEY};
use super::staged::StagedFile;

/// What a commit attempt did.
#[derive(Debug)]
pub struct Committed {
    /// The new snapshot, or `None` when every file was already in the table.
    pub snapshot_id: Option<i64>,
    /// The table after the commit.
    pub table: Table,
    /// Positions recorded in the table after the commit.
    pub offsets: OffsetMap,
    /// Files appended by this attempt, and files found already committed.
    pub appended_files: usize,
    pub already_committed_files: usize,
    pub appended_records: u64,
    /// What went to the dead-letter table first, when anything did.
    pub dead_letters: Option<Box<DeadLettersCommitted>>,
}

#[derive(Debug)]
pub struct DeadLettersCommitted {
    pub snapshot_id: Option<i64>,
    pub table: Table,
    pub offsets: OffsetMap,
    pub appended_files: usize,
    pub appended_records: u64,
    /// How many of the appended records for each reason code.
    pub reasons: BTreeMap<String, u64>,
}

/// Makes one checked attempt to append `files` (in the order they were
/// accepted) to the table, their dead letters first to `dead_letters`.
pub async fn commit_staged(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    dead_letters: Option<&TableIdent>,
    files: &[StagedFile],
) -> Result<Committed, CommitError> {
    let (table, recorded) = load(catalog, ident).await?;
    let mut offsets = recorded.clone();
    let mut pending = Vec::new();
    let mut already_committed_files = 0;
    for file in files {
        match classify(ident, file, &mut offsets)? {
            FileState::Committed => already_committed_files += 1,
            FileState::Pending => pending.push(file),
        }
    }
    if pending.is_empty() {
        return Ok(Committed {
            snapshot_id: None,
            table,
            offsets: recorded,
            appended_files: 0,
            already_committed_files,
            appended_records: 0,
            dead_letters: None,
        });
    }
    let dead_letters = match dead_letters {
        Some(dead_ident) if pending.iter().any(|f| f.dead_letters.is_some()) => {
            Some(Box::new(commit_dead_letters(catalog, dead_ident, &pending).await?))
        }
        _ => None,
    };

    let data_files: Vec<DataFile> = pending.iter().flat_map(|f| f.data_files.iter().cloned()).collect();
    let appended_files = data_files.len();
    let appended_records = pending.iter().map(|f| f.record_count).sum();
    let mut summary = offsets.to_summary();
    if let Some(skips) = skipped_ranges(&pending) {
        summary.insert(SKIPPED_KEY.to_string(), skips);
    }
    let table = append(catalog, ident, table, data_files, &offsets, summary).await?;
    Ok(Committed {
        snapshot_id: table.metadata().current_snapshot_id(),
        table,
        offsets,
        appended_files,
        already_committed_files,
        appended_records,
        dead_letters,
    })
}

/// Appends the dead letters of `pending` files to the dead-letter table,
/// except those whose ranges it records already (an earlier attempt landed
/// there, the table's did not).
async fn commit_dead_letters(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    pending: &[&StagedFile],
) -> Result<DeadLettersCommitted, CommitError> {
    let (table, recorded) = load(catalog, ident).await?;
    let mut offsets = recorded.clone();
    let mut data_files = Vec::new();
    let mut appended_records = 0;
    let mut reasons = BTreeMap::new();
    for file in pending {
        let Some(dead) = &file.dead_letters else { continue };
        let in_table = file.ranges.iter().all(|r| recorded.get(&r.tp).is_some_and(|p| p.next >= r.to));
        if in_table {
            continue;
        }
        for range in &file.ranges {
            if offsets.get(&range.tp).is_none_or(|p| p.next < range.to) {
                offsets.set(range.tp.clone(), Position { next: range.to, open_txn_start: None });
            }
        }
        data_files.extend(dead.data_files.iter().cloned());
        appended_records += dead.record_count;
        for (reason, count) in &dead.reasons {
            *reasons.entry(reason.clone()).or_default() += count;
        }
    }
    if data_files.is_empty() {
        return Ok(DeadLettersCommitted {
            snapshot_id: None,
            table,
            offsets: recorded,
            appended_files: 0,
            appended_records: 0,
            reasons,
        });
    }
    let appended_files = data_files.len();
    let table = append(catalog, ident, table, data_files, &offsets, offsets.to_summary()).await?;
    Ok(DeadLettersCommitted {
        snapshot_id: table.metadata().current_snapshot_id(),
        table,
        offsets,
        appended_files,
        appended_records,
        reasons,
    })
}

/// The skipped ranges of `pending` files as the `floe.skipped` summary entry:
/// `[{"topic","partition","from","to","reason"}]`.
fn skipped_ranges(pending: &[&StagedFile]) -> Option<String> {
    let skips: Vec<serde_json::Value> = pending
        .iter()
        .flat_map(|f| &f.ranges)
        .filter_map(|r| {
            let reason = r.skipped.as_ref()?;
            Some(serde_json::json!({
                "topic": r.tp.topic, "partition": r.tp.partition, "from": r.from, "to": r.to, "reason": reason,
            }))
        })
        .collect();
    (!skips.is_empty()).then(|| serde_json::Value::Array(skips).to_string())
}

/// One snapshot appending `data_files` on top of exactly the `table` that
/// was checked, with `summary` (the offsets it records, and more).
async fn append(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    table: Table,
    data_files: Vec<DataFile>,
    offsets: &OffsetMap,
    summary: HashMap<String, String>,
) -> Result<Table, CommitError> {
    let tx = Transaction::new(&table);
    let commit_err = |source| CommitError::Commit { table: ident.clone(), source: Box::new(source) };
    let tx = match offsets.watermark_ms() {
        Some(watermark) => {
            let update = tx.update_table_properties().set(WATERMARK_KEY.to_string(), watermark.to_string());
            update.apply(tx).map_err(commit_err)?
        }
        None => tx,
    };
    let tx = tx
        .fast_append()
        // The offset check is exact and cheap; the library's duplicate
        // check reads every manifest of the table on each commit.
        .with_check_duplicate(false)
        .add_data_files(data_files)
        .set_snapshot_properties(summary)
        .apply(tx)
        .map_err(commit_err)?;
    tx.commit(&CheckedCommitCatalog::new(catalog, table)).await.map_err(commit_err)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use floe_table::{dead_letter_schema, source_schema};
    use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Struct};

    use super::*;
    use crate::catalog::{CatalogKind, CatalogSettings, connect_catalog, load_or_create_table};
    use crate::commit::{StagedDeadLetters, StagedRange};
    use crate::feed::Tp;

    async fn catalog(dir: &std::path::Path) -> Arc<dyn Catalog> {
        let settings = CatalogSettings {
            kind: CatalogKind::Sql { uri: format!("sqlite://{}/catalog.db", dir.display()) },
            name: "floe".into(),
            warehouse: format!("file://{}/warehouse", dir.display()),
            file_io_props: HashMap::new(),
        };
        connect_catalog(&settings).await.unwrap()
    }

    fn data_file(path: &str, records: u64) -> DataFile {
        DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path(path.to_string())
            .file_format(DataFileFormat::Parquet)
            .partition(Struct::empty())
            .record_count(records)
            .file_size_in_bytes(1000)
            .partition_spec_id(0)
            .build()
            .unwrap()
    }

    /// Rows of `orders/0` [from, to) in `rows.parquet`, with `dead` of them in
    /// `dead.parquet` when given.
    fn staged(rows: &str, dead: Option<&str>, from: i64, to: i64) -> StagedFile {
        let range = StagedRange {
            tp: Tp::new("orders", 0),
            from,
            to,
            open_txn_start: None,
            record_count: 8,
            max_timestamp_ms: Some(to * 10),
            skipped: None,
        };
        StagedFile {
            data_files: vec![data_file(rows, 8)],
            dead_letters: dead.map(|path| StagedDeadLetters {
                data_files: vec![data_file(path, 2)],
                record_count: 2,
                reasons: BTreeMap::from([("not_json".to_string(), 2)]),
            }),
            ranges: vec![range],
            record_count: 8,
            file_size_bytes: 1000,
        }
    }

    fn total_files(table: &Table) -> String {
        let snapshot = table.metadata().current_snapshot().expect("a snapshot");
        snapshot.summary().additional_properties["total-data-files"].clone()
    }

    /// The dead-letter commit lands and the table's does not (a crash in
    /// between): the next attempt must not add the dead letters again, and
    /// a re-read range that straddles the dead-letter table's offset adds
    /// only what is new.
    #[tokio::test]
    async fn dead_letters_committed_before_a_crash_are_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog(dir.path()).await;
        let (main, dead) = (
            TableIdent::from_strs(["prod", "orders"]).unwrap(),
            TableIdent::from_strs(["prod", "orders_dlq"]).unwrap(),
        );
        load_or_create_table(catalog.as_ref(), &main, &source_schema(), None, true).await.unwrap();
        load_or_create_table(catalog.as_ref(), &dead, &dead_letter_schema(), None, true).await.unwrap();
        let w = |name: &str| format!("file://{}/warehouse/{name}.parquet", dir.path().display());

        let first = commit_staged(catalog.as_ref(), &main, Some(&dead), &[staged(&w("r1"), Some(&w("d1")), 0, 10)])
            .await
            .unwrap();
        assert_eq!(first.dead_letters.as_ref().map(|d| d.appended_records), Some(2));
        // The freshness watermark, in the summary and as a table property.
        let summary = &first.table.metadata().current_snapshot().expect("a snapshot").summary().additional_properties;
        assert_eq!(summary.get(WATERMARK_KEY).map(String::as_str), Some("100"));
        assert_eq!(first.table.metadata().properties().get(WATERMARK_KEY).map(String::as_str), Some("100"));

        // The crash: only the dead letters of [10, 20) landed.
        let second = staged(&w("r2"), Some(&w("d2")), 10, 20);
        let dead_files = second.dead_letters.clone().map(|d| d.data_files).unwrap_or_default();
        let dead_only = StagedFile { data_files: dead_files, ..second.clone() };
        commit_staged(catalog.as_ref(), &dead, None, &[dead_only]).await.unwrap();

        let retried = commit_staged(catalog.as_ref(), &main, Some(&dead), &[second]).await.unwrap();
        let dead_letters = retried.dead_letters.expect("the dead-letter table was checked");
        assert_eq!((dead_letters.snapshot_id, dead_letters.appended_files), (None, 0), "already there");
        assert_eq!(total_files(&retried.table), "2");
        assert_eq!(total_files(&dead_letters.table), "2");
        assert_eq!(retried.offsets.get(&Tp::new("orders", 0)).map(|p| p.next), Some(20));

        // Again, with the worker's re-read cut differently: [20, 40) while
        // the dead-letter table holds [20, 30) already (the worker left out
        // dead letters below 30).
        let ahead = staged(&w("r3"), Some(&w("d3")), 20, 30);
        let dead_files = ahead.dead_letters.clone().map(|d| d.data_files).unwrap_or_default();
        let dead_only = StagedFile { data_files: dead_files, ..ahead };
        commit_staged(catalog.as_ref(), &dead, None, &[dead_only]).await.unwrap();
        let reread = commit_staged(catalog.as_ref(), &main, Some(&dead), &[staged(&w("r4"), Some(&w("d4")), 20, 40)])
            .await
            .unwrap();
        let dead_letters = reread.dead_letters.expect("dead letters committed");
        assert_eq!(dead_letters.appended_files, 1);
        assert_eq!(dead_letters.offsets.get(&Tp::new("orders", 0)).map(|p| p.next), Some(40));
        assert_eq!(total_files(&dead_letters.table), "4");
        assert_eq!(total_files(&reread.table), "3");
    }

    /// A skip is a snapshot without files whose summary says which offsets
    /// were skipped and why, with the offsets past them.
    #[tokio::test]
    async fn a_skip_is_recorded_in_the_snapshot_summary() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog(dir.path()).await;
        let main = TableIdent::from_strs(["prod", "orders"]).unwrap();
        load_or_create_table(catalog.as_ref(), &main, &source_schema(), None, true).await.unwrap();
        let rows = staged(&format!("file://{}/warehouse/r1.parquet", dir.path().display()), None, 0, 10);
        let mut skip = staged("unused", None, 10, 500);
        skip.data_files.clear();
        skip.record_count = 0;
        skip.ranges[0].record_count = 0;
        skip.ranges[0].max_timestamp_ms = None;
        skip.ranges[0].skipped = Some("damaged segment t/0/segment-10.kfs".into());
        let committed = commit_staged(catalog.as_ref(), &main, None, &[rows, skip]).await.unwrap();
        let summary =
            &committed.table.metadata().current_snapshot().expect("a snapshot").summary().additional_properties;
        assert_eq!(
            summary.get(SKIPPED_KEY).map(String::as_str),
            Some(
                r#"[{"from":10,"partition":0,"reason":"damaged segment t/0/segment-10.kfs","to":500,"topic":"orders"}]"#
            )
        );
        assert_eq!(committed.offsets.get(&Tp::new("orders", 0)).map(|p| p.next), Some(500));
        assert_eq!(total_files(&committed.table), "1");
    }
}

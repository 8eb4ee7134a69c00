//! What a commit takes: the files workers staged for a table, each with
//! the source offset ranges its rows came from.

use std::collections::BTreeMap;

use iceberg::spec::DataFile;

use crate::feed::Tp;

/// Source offsets consumed into one staged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedRange {
    pub tp: Tp,
    pub from: i64,
    pub to: i64,
    pub open_txn_start: Option<i64>,
    pub record_count: u64,
    pub max_timestamp_ms: Option<i64>,
    /// Set when an operator skipped these offsets: why. Recorded in the
    /// snapshot summary, so skipped data is never invisible.
    pub skipped: Option<String>,
}

/// Data files a worker staged (one per partition value), or only progress
/// when no row came out of its ranges.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub data_files: Vec<DataFile>,
    /// The ranges' records that could not become rows.
    pub dead_letters: Option<StagedDeadLetters>,
    pub ranges: Vec<StagedRange>,
    pub record_count: u64,
    pub file_size_bytes: u64,
}

/// Data files of the dead-letter table, covering the same ranges.
#[derive(Debug, Clone)]
pub struct StagedDeadLetters {
    pub data_files: Vec<DataFile>,
    pub record_count: u64,
    /// How many for each reason code.
    pub reasons: BTreeMap<String, u64>,
}

impl StagedFile {
    /// Progress without rows: where a partition starts, or a skip.
    pub fn marker(range: StagedRange) -> Self {
        Self { data_files: Vec::new(), dead_letters: None, ranges: vec![range], record_count: 0, file_size_bytes: 0 }
    }

    /// The data files' paths and the dead letters' ones.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        let dead_letters = self.dead_letters.iter().flat_map(|d| &d.data_files);
        self.data_files.iter().chain(dead_letters).map(DataFile::file_path)
    }
}

//! What a run committed and what stopped it, as `floe run --once` prints it.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub table: String,
    /// Records, files and commits this run added.
    pub records: u64,
    pub files: u64,
    pub commits: u64,
    /// The table's current snapshot and metadata file.
    pub snapshot_id: Option<i64>,
    pub metadata_location: Option<String>,
    pub error: Option<String>,
}

/// A partition that could not be read to the end, or is waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionIssue {
    pub partition: String,
    pub object: Option<String>,
    pub offset: Option<i64>,
    pub message: String,
    /// Stuck: data after this point exists but cannot be read. Otherwise
    /// only waiting (a segment upload in progress).
    pub stuck: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub tables: Vec<TableSummary>,
    pub issues: Vec<PartitionIssue>,
    /// Set when the run ended because another coordinator may lead now.
    pub leadership_lost: Option<String>,
}

impl RunSummary {
    /// Everything storage held was read and committed.
    pub fn is_complete(&self) -> bool {
        self.leadership_lost.is_none()
            && self.issues.iter().all(|i| !i.stuck)
            && self.tables.iter().all(|t| t.error.is_none())
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<32} {:>12} {:>7} {:>8}  snapshot", "table", "rows added", "files", "commits")?;
        for t in &self.tables {
            let snapshot = t.snapshot_id.map_or_else(|| "-".to_string(), |s| s.to_string());
            writeln!(f, "{:<32} {:>12} {:>7} {:>8}  {snapshot}", t.table, t.records, t.files, t.commits)?;
            if let Some(error) = &t.error {
                writeln!(f, "  error: {error}")?;
            }
        }
        if let Some(reason) = &self.leadership_lost {
            writeln!(f, "stopped leading: {reason}")?;
        }
        for issue in &self.issues {
            let what = if issue.stuck { "STUCK" } else { "waiting" };
            write!(f, "{what} {}", issue.partition)?;
            if let Some(offset) = issue.offset {
                write!(f, " at offset {offset}")?;
            }
            if let Some(object) = &issue.object {
                write!(f, " ({object})")?;
            }
            writeln!(f, ": {}", issue.message)?;
        }
        Ok(())
    }
}

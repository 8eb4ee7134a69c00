//! What the control loop knows of one table: its definition for workers,
//! its commit cycle with the files staged for it, and what it committed.

use std::collections::{HashMap, VecDeque};

use floe_config::{Column, PayloadFormat};
use floe_proto::admin::Commit;
use floe_proto::worker::{DefineTable, LfsPolicy, MappedColumn, Validation};
use floe_table::MappedColumn as Mapped;
use iceberg::TableIdent;
use iceberg::table::Table;

use super::cycle::CommitCycle;
use crate::models::{FetchError, PendingRewind, Sourced};

/// What this coordinator committed to the table since it started.
#[derive(Debug, Default, Clone)]
pub struct TableTotals {
    pub commits: u64,
    pub files: u64,
    pub records: u64,
    pub last_snapshot_id: Option<i64>,
}

impl TableTotals {
    /// Counts a snapshot this coordinator committed.
    pub fn count(&mut self, snapshot_id: i64, files: usize, records: u64) {
        self.commits += 1;
        self.files += files as u64;
        self.records += records;
        self.last_snapshot_id = Some(snapshot_id);
    }
}

#[derive(Debug)]
pub struct TableState {
    pub name: String,
    pub ident: TableIdent,
    /// The newest metadata this coordinator has seen (to read staged files).
    pub table: Table,
    pub define: DefineTable,
    /// The dead-letter table, committed just before this one.
    pub dead_letters: Option<String>,
    /// Set on a dead-letter table: the table whose dead letters it holds.
    pub dead_letters_of: Option<String>,
    pub cycle: CommitCycle,
    /// Why the last commit failed, until one lands.
    pub last_error: Option<String>,
    /// Commits stopped for a reason retrying cannot fix.
    pub stopped: Option<String>,
    pub totals: TableTotals,
    /// The last commits, newest last (for status).
    pub recent_commits: VecDeque<Commit>,
    /// An operator's rewind, waiting for the table's leases to come back.
    pub rewind: Option<PendingRewind>,
    /// The typed columns workers fill.
    pub columns: Vec<Column>,
    /// How record values are encoded.
    pub format: PayloadFormat,
    /// Set when the columns come from a schema source.
    pub sourced: Option<Sourced>,
    /// Why the schema source keeps the table from being read: no leases
    /// until it answers with a schema floe can use; staged rows still commit.
    pub held: Option<FetchError>,
    /// What workers do with LFS envelopes; `None` when the mode is off.
    pub lfs: Option<LfsPolicy>,
    /// What workers check values against; `None` when they do not.
    pub validation: Option<Validation>,
}

impl TableState {
    pub fn new(name: String, table: Table, file_io_props: HashMap<String, String>) -> Self {
        let define = define_table(&name, &table, file_io_props);
        Self {
            name,
            ident: table.identifier().clone(),
            table,
            define,
            dead_letters: None,
            dead_letters_of: None,
            cycle: CommitCycle::default(),
            last_error: None,
            stopped: None,
            totals: TableTotals::default(),
            recent_commits: VecDeque::new(),
            rewind: None,
            columns: Vec::new(),
            format: PayloadFormat::Json,
            sourced: None,
            held: None,
            lfs: None,
            validation: None,
        }
    }

    /// Rebuilds the definition workers get from the table's current schema,
    /// typed columns and dead-letter table.
    pub fn redefine(&mut self, file_io_props: HashMap<String, String>) {
        let mut define = define_table(&self.name, &self.table, file_io_props);
        define.columns = self
            .columns
            .iter()
            .map(Mapped::from)
            .map(|c| MappedColumn { name: c.name, path: c.path, required: c.required })
            .collect();
        define.dead_letter_table = self.dead_letters.clone().unwrap_or_default();
        define.lfs = self.lfs.clone();
        define.format = self.format.as_str().to_string();
        define.validation = self.validation.clone();
        self.define = define;
    }

    /// Remembers a commit for status, keeping the last few.
    pub fn remember_commit(&mut self, commit: Commit) {
        const KEPT: usize = 20;
        if self.recent_commits.len() == KEPT {
            self.recent_commits.pop_front();
        }
        self.recent_commits.push_back(commit);
    }
}

/// The table as workers need it to write files.
pub fn define_table(name: &str, table: &Table, file_io_props: HashMap<String, String>) -> DefineTable {
    let metadata = table.metadata();
    DefineTable {
        table: name.to_string(),
        location: metadata.location().trim_end_matches('/').to_string(),
        file_io_props,
        schema_json: serde_json::to_string(metadata.current_schema().as_ref()).unwrap_or_default(),
        partition_spec_json: serde_json::to_string(metadata.default_partition_spec().as_ref()).unwrap_or_default(),
        format_version: metadata.format_version() as i32,
        columns: Vec::new(),
        dead_letter_table: String::new(),
        format: String::new(),
        lfs: None,
        validation: None,
    }
}

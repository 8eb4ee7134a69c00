//! The console's state and what keys do to it. Nothing here touches the
//! terminal or the network: keys come in as crossterm events, cluster states
//! as `ClusterStatus` messages, and what must be sent to the coordinator goes
//! out as a [`Command`]. That keeps it testable without either.

use std::cmp::Reverse;
use std::collections::{HashMap, VecDeque};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use floe_proto::admin::rewind_request::To;
use floe_proto::admin::table_snapshot::At;
use floe_proto::admin::{
    ClusterStatus, PartitionOffset, PartitionStatus, RewindRequest, SkipSegmentRequest, TableSnapshot, TableStatus,
    Target, WorkerStatus,
};

/// Updates of lag kept per table for its sparkline: a minute at the default
/// interval, more than the widest sparkline shows.
pub const HISTORY: usize = 60;

/// Recorded with a rewind in the snapshot summary and the log.
const REWIND_REASON: &str = "rewound from floe console";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Tables,
    Partitions,
    Workers,
}

/// How tables and partitions are ordered; `s` cycles through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Most records behind first: where attention is needed.
    Lag,
    Name,
    /// Failed first, then waiting, unassigned, paused, reading, idle.
    State,
}

impl Sort {
    pub fn label(self) -> &'static str {
        match self {
            Sort::Lag => "lag",
            Sort::Name => "name",
            Sort::State => "state",
        }
    }
}

/// Whether the status stream is flowing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    Live,
    Reconnecting(String),
}

/// What keys currently do.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Normal,
    /// Typing the filter; it applies as it is typed.
    Filter,
    /// Typing the offset or snapshot id to rewind to.
    Prompt(Prompt),
    /// Waiting for y/n before sending.
    Confirm(Mutation),
    Help,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub rewind: RewindOf,
    pub input: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RewindOf {
    /// Forward to an offset; shows where the partition stands to help pick one.
    Partition { table: String, topic: String, partition: i32, committed: Option<i64>, storage_end: Option<i64> },
    /// Back to a snapshot.
    Table { table: String },
}

impl Prompt {
    pub fn question(&self) -> String {
        match &self.rewind {
            RewindOf::Partition { table, topic, partition, committed, storage_end } => format!(
                "Skip {topic}/{partition} of {table} forward to offset (committed {}, storage end {}):",
                optional(*committed),
                optional(*storage_end)
            ),
            RewindOf::Table { table } => format!("Rewind table {table} to snapshot id:"),
        }
    }

    fn request(&self) -> Result<RewindRequest, String> {
        let number: i64 = self.input.trim().parse().map_err(|_| format!("not a number: {:?}", self.input.trim()))?;
        let to = match &self.rewind {
            RewindOf::Partition { table, topic, partition, .. } => To::Partition(PartitionOffset {
                topic: topic.clone(),
                partition: *partition,
                offset: number,
                table: table.clone(),
            }),
            RewindOf::Table { table } => {
                To::Table(TableSnapshot { table: table.clone(), at: Some(At::SnapshotId(number)) })
            }
        };
        Ok(RewindRequest { to: Some(to), reason: REWIND_REASON.to_string() })
    }
}

fn optional(value: Option<i64>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}

/// A change to ask the coordinator for.
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    Pause(Target),
    Resume(Target),
    Rewind(RewindRequest),
    /// Go on after a failed partition's damaged segment.
    SkipSegment(SkipSegmentRequest),
}

impl Mutation {
    /// The confirmation question.
    pub fn question(&self) -> String {
        match self {
            Mutation::Pause(target) => format!("Pause {target}? Staged rows are still committed."),
            Mutation::Resume(target) => format!("Resume {target}?"),
            Mutation::Rewind(request) => match &request.to {
                Some(To::Partition(p)) => format!(
                    "Skip {}/{}{} forward to offset {}? Records below it not yet committed are lost.",
                    p.topic,
                    p.partition,
                    if p.table.is_empty() { String::new() } else { format!(" of {}", p.table) },
                    p.offset
                ),
                Some(To::Table(TableSnapshot { table, at: Some(At::SnapshotId(id)) })) => {
                    format!("Rewind table {table} to snapshot {id}?")
                }
                Some(To::Table(TableSnapshot { table, at: Some(At::TimestampMs(ms)) })) => {
                    format!("Rewind table {table} to its snapshot at {ms} ms?")
                }
                Some(To::Table(TableSnapshot { table, at: None })) => format!("Rewind table {table}?"),
                None => "Rewind?".to_string(),
            },
            Mutation::SkipSegment(request) => format!(
                "Skip segment {}? Its records are not read; the skip is recorded in the next snapshot.",
                request.object
            ),
        }
    }

    /// Shown while the coordinator works on it.
    fn progress(&self) -> String {
        match self {
            Mutation::Pause(target) => format!("pausing {target}…"),
            Mutation::Resume(target) => format!("resuming {target}…"),
            Mutation::Rewind(_) => "rewinding…".to_string(),
            Mutation::SkipSegment(_) => "skipping the segment…".to_string(),
        }
    }
}

/// What the event loop must do after a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Quit,
    Send(Mutation),
}

/// The line at the bottom: what the last mutation did, or why it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

pub struct App {
    /// The last state received; kept while reconnecting.
    pub status: Option<ClusterStatus>,
    /// The coordinator address in use.
    pub endpoint: String,
    pub connection: Connection,
    pub focus: Panel,
    pub sort: Sort,
    pub filter: String,
    pub mode: Mode,
    pub notice: Option<Notice>,
    /// Total lag records per table, oldest first, at most `HISTORY`.
    lag: HashMap<String, VecDeque<i64>>,
    // Selections are kept by name, not by row, so that they stay on the same
    // table or partition when rows move on an update or a sort.
    selected_table: Option<String>,
    selected_partition: Option<(String, i32)>,
    selected_worker: Option<String>,
}

impl App {
    pub fn new(endpoint: impl Into<String>) -> Self {
        App {
            status: None,
            endpoint: endpoint.into(),
            connection: Connection::Live,
            focus: Panel::Tables,
            sort: Sort::Lag,
            filter: String::new(),
            mode: Mode::Normal,
            notice: None,
            lag: HashMap::new(),
            selected_table: None,
            selected_partition: None,
            selected_worker: None,
        }
    }

    /// A new state from the stream: shown, and its lag added to the history.
    pub fn on_status(&mut self, status: ClusterStatus) {
        let mut totals: HashMap<&str, i64> = status.tables.iter().map(|t| (t.table.as_str(), 0)).collect();
        for partition in &status.partitions {
            if let Some(total) = totals.get_mut(partition.table.as_str()) {
                *total += partition.lag_records.max(0);
            }
        }
        self.lag.retain(|table, _| totals.contains_key(table.as_str()));
        for (table, total) in totals {
            let history = self.lag.entry(table.to_string()).or_default();
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(total);
        }
        self.connection = Connection::Live;
        self.status = Some(status);
    }

    /// Connected to a (possibly new) leader.
    pub fn on_connected(&mut self, endpoint: impl Into<String>) {
        self.endpoint = endpoint.into();
    }

    /// The stream broke; the last state stays on screen, marked stale.
    pub fn on_disconnected(&mut self, reason: impl Into<String>) {
        self.connection = Connection::Reconnecting(reason.into());
    }

    /// The coordinator's answer to a mutation: its `Changed.message`, or the error.
    pub fn on_changed(&mut self, result: Result<String, String>) {
        self.notice = Some(match result {
            Ok(text) => Notice { text, error: false },
            Err(text) => Notice { text, error: true },
        });
    }

    /// A table's total lag over the last updates, oldest first.
    pub fn lag_history(&self, table: &str) -> impl Iterator<Item = i64> + '_ {
        self.lag.get(table).into_iter().flatten().copied()
    }

    /// The total lag of a table's partitions in the current state.
    pub fn table_lag(&self, table: &str) -> i64 {
        self.lag.get(table).and_then(|h| h.back().copied()).unwrap_or(0)
    }

    /// Tables matching the filter, in sort order.
    pub fn tables(&self) -> Vec<&TableStatus> {
        let Some(status) = &self.status else { return Vec::new() };
        let mut tables: Vec<_> =
            status.tables.iter().filter(|t| self.matches(&t.table) || self.matches(&t.topic)).collect();
        match self.sort {
            Sort::Lag => tables.sort_by_key(|t| (Reverse(self.table_lag(&t.table)), t.table.clone())),
            Sort::Name => tables.sort_by(|a, b| a.table.cmp(&b.table)),
            Sort::State => tables.sort_by_key(|t| (table_rank(t), t.table.clone())),
        }
        tables
    }

    /// Partitions matching the filter, in sort order.
    pub fn partitions(&self) -> Vec<&PartitionStatus> {
        let Some(status) = &self.status else { return Vec::new() };
        let mut partitions: Vec<_> =
            status.partitions.iter().filter(|p| self.matches(&p.topic) || self.matches(&p.table)).collect();
        let by_name = |p: &&PartitionStatus| (p.topic.clone(), p.partition);
        match self.sort {
            Sort::Lag => partitions.sort_by_key(|p| (Reverse(p.lag_records), by_name(p))),
            Sort::Name => partitions.sort_by_key(by_name),
            Sort::State => partitions.sort_by_key(|p| (state_rank(&p.state), by_name(p))),
        }
        partitions
    }

    pub fn workers(&self) -> Vec<&WorkerStatus> {
        let Some(status) = &self.status else { return Vec::new() };
        let mut workers: Vec<_> = status.workers.iter().collect();
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        workers
    }

    /// The row selected in a panel, if it has rows: the remembered one, or
    /// the first when that is gone or filtered out.
    pub fn selected(&self, panel: Panel) -> Option<usize> {
        let (len, found) = match panel {
            Panel::Tables => {
                let tables = self.tables();
                (tables.len(), tables.iter().position(|t| Some(&t.table) == self.selected_table.as_ref()))
            }
            Panel::Partitions => {
                let partitions = self.partitions();
                let key = self.selected_partition.as_ref();
                (partitions.len(), partitions.iter().position(|p| Some(&(p.topic.clone(), p.partition)) == key))
            }
            Panel::Workers => {
                let workers = self.workers();
                (workers.len(), workers.iter().position(|w| Some(&w.worker_id) == self.selected_worker.as_ref()))
            }
        };
        if len == 0 { None } else { Some(found.unwrap_or(0)) }
    }

    pub fn selected_table(&self) -> Option<&TableStatus> {
        self.selected(Panel::Tables).map(|i| self.tables()[i])
    }

    pub fn selected_partition(&self) -> Option<&PartitionStatus> {
        self.selected(Panel::Partitions).map(|i| self.partitions()[i])
    }

    /// The table whose commits are shown: the selected partition's while
    /// partitions have the focus, else the selected table.
    pub fn commits_table(&self) -> Option<&TableStatus> {
        if self.focus == Panel::Partitions
            && let Some(partition) = self.selected_partition()
        {
            return self.status.as_ref()?.tables.iter().find(|t| t.table == partition.table);
        }
        self.selected_table()
    }

    /// Handles one key press; returns what the event loop must do, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Command::Quit);
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => return self.on_normal_key(key),
            Mode::Help => {}
            Mode::Filter => self.on_filter_key(key),
            Mode::Prompt(prompt) => self.on_prompt_key(prompt, key),
            Mode::Confirm(mutation) => return self.on_confirm_key(mutation, key),
        }
        None
    }

    fn on_normal_key(&mut self, key: KeyEvent) -> Option<Command> {
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Some(Command::Quit),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Tab => self.focus = next_panel(self.focus, 1),
            KeyCode::BackTab => self.focus = next_panel(self.focus, 2),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Char('s') => {
                self.sort = match self.sort {
                    Sort::Lag => Sort::Name,
                    Sort::Name => Sort::State,
                    Sort::State => Sort::Lag,
                }
            }
            KeyCode::Char('p') => self.confirm_with(Mutation::Pause),
            KeyCode::Char('r') => self.confirm_with(Mutation::Resume),
            KeyCode::Char('w') => self.start_rewind(),
            KeyCode::Char('x') => self.start_skip(),
            _ => {}
        }
        None
    }

    fn on_filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => {}
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Backspace => {
                self.filter.pop();
                self.mode = Mode::Filter;
            }
            KeyCode::Char(c) => {
                self.filter.push(c);
                self.mode = Mode::Filter;
            }
            _ => self.mode = Mode::Filter,
        }
    }

    fn on_prompt_key(&mut self, mut prompt: Prompt, key: KeyEvent) {
        match key.code {
            KeyCode::Esc => {}
            KeyCode::Enter => match prompt.request() {
                Ok(request) => self.mode = Mode::Confirm(Mutation::Rewind(request)),
                Err(text) => {
                    self.notice = Some(Notice { text, error: true });
                    self.mode = Mode::Prompt(prompt);
                }
            },
            KeyCode::Backspace => {
                prompt.input.pop();
                self.mode = Mode::Prompt(prompt);
            }
            KeyCode::Char(c) if c.is_ascii_digit() || c == '-' => {
                prompt.input.push(c);
                self.mode = Mode::Prompt(prompt);
            }
            _ => self.mode = Mode::Prompt(prompt),
        }
    }

    fn on_confirm_key(&mut self, mutation: Mutation, key: KeyEvent) -> Option<Command> {
        match key.code {
            KeyCode::Char('y' | 'Y') => {
                self.notice = Some(Notice { text: mutation.progress(), error: false });
                Some(Command::Send(mutation))
            }
            KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                self.notice = Some(Notice { text: "cancelled".to_string(), error: false });
                None
            }
            _ => {
                self.mode = Mode::Confirm(mutation);
                None
            }
        }
    }

    /// The selected table or partition as a pause/resume target.
    fn target(&self) -> Option<Target> {
        match self.focus {
            Panel::Tables => self.selected_table().map(|t| Target { table: t.table.clone(), ..Default::default() }),
            Panel::Partitions => self.selected_partition().map(|p| Target {
                topic: p.topic.clone(),
                partition: Some(p.partition),
                ..Default::default()
            }),
            Panel::Workers => None,
        }
    }

    fn confirm_with(&mut self, mutation: impl FnOnce(Target) -> Mutation) {
        match self.target() {
            Some(target) => self.mode = Mode::Confirm(mutation(target)),
            None => self.notice_nothing_selected(),
        }
    }

    fn start_rewind(&mut self) {
        let rewind = match self.focus {
            Panel::Tables => self.selected_table().map(|t| RewindOf::Table { table: t.table.clone() }),
            Panel::Partitions => self.selected_partition().map(|p| RewindOf::Partition {
                table: p.table.clone(),
                topic: p.topic.clone(),
                partition: p.partition,
                committed: p.committed,
                storage_end: p.storage_end,
            }),
            Panel::Workers => None,
        };
        match rewind {
            Some(rewind) => self.mode = Mode::Prompt(Prompt { rewind, input: String::new() }),
            None => self.notice_nothing_selected(),
        }
    }

    /// Skipping needs a partition stopped at a named object.
    fn start_skip(&mut self) {
        let object = match self.focus {
            Panel::Partitions => self.selected_partition().map(|p| p.object.clone()).filter(|o| !o.is_empty()),
            _ => None,
        };
        match object {
            Some(object) => {
                let request = SkipSegmentRequest { object, reason: "skipped from floe console".into() };
                self.mode = Mode::Confirm(Mutation::SkipSegment(request));
            }
            None => {
                let text = "select a failed partition whose segment is named: x skips that segment".to_string();
                self.notice = Some(Notice { text, error: true });
            }
        }
    }

    fn notice_nothing_selected(&mut self) {
        let text = "select a table or a partition first (Tab switches panels)".to_string();
        self.notice = Some(Notice { text, error: true });
    }

    fn move_selection(&mut self, delta: isize) {
        let Some(current) = self.selected(self.focus) else { return };
        let step = |len: usize| current.saturating_add_signed(delta).min(len - 1);
        match self.focus {
            Panel::Tables => {
                let tables = self.tables();
                self.selected_table = Some(tables[step(tables.len())].table.clone());
            }
            Panel::Partitions => {
                let partitions = self.partitions();
                let partition = partitions[step(partitions.len())];
                self.selected_partition = Some((partition.topic.clone(), partition.partition));
            }
            Panel::Workers => {
                let workers = self.workers();
                self.selected_worker = Some(workers[step(workers.len())].worker_id.clone());
            }
        }
    }

    /// Case-insensitive substring; everything matches an empty filter.
    fn matches(&self, text: &str) -> bool {
        self.filter.is_empty() || text.to_lowercase().contains(&self.filter.to_lowercase())
    }
}

fn next_panel(panel: Panel, steps: usize) -> Panel {
    const ORDER: [Panel; 3] = [Panel::Tables, Panel::Partitions, Panel::Workers];
    let index = ORDER.iter().position(|p| *p == panel).unwrap_or(0);
    ORDER[(index + steps) % ORDER.len()]
}

/// Most in need of attention first.
fn state_rank(state: &str) -> u8 {
    match state {
        "failed" => 0,
        "waiting" => 1,
        "unassigned" => 2,
        "paused" => 3,
        "reading" => 4,
        "idle" => 5,
        _ => 6,
    }
}

fn table_rank(table: &TableStatus) -> u8 {
    match (table.error.is_empty(), table.paused) {
        (false, _) => 0,
        (true, true) => 1,
        (true, false) => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn press(app: &mut App, keys: &str) -> Vec<Command> {
        keys.chars().filter_map(|c| app.on_key(key(KeyCode::Char(c)))).collect()
    }

    fn partition(topic: &str, partition: i32, lag: i64, state: &str) -> PartitionStatus {
        PartitionStatus {
            topic: topic.into(),
            partition,
            table: topic.into(),
            committed: Some(100),
            storage_end: Some(100 + lag),
            lag_records: lag,
            state: state.into(),
            ..Default::default()
        }
    }

    fn table(name: &str) -> TableStatus {
        TableStatus { table: name.into(), topic: name.into(), ..Default::default() }
    }

    fn cluster(partitions: Vec<PartitionStatus>) -> ClusterStatus {
        ClusterStatus {
            coordinator: "c1".into(),
            tables: vec![table("orders"), table("payments")],
            partitions,
            workers: vec![
                WorkerStatus { worker_id: "w2".into(), ..Default::default() },
                WorkerStatus { worker_id: "w1".into(), ..Default::default() },
            ],
            ..Default::default()
        }
    }

    fn app() -> App {
        let mut app = App::new("http://a:7601");
        app.on_status(cluster(vec![
            partition("orders", 0, 10, "reading"),
            partition("orders", 3, 500, "reading"),
            partition("orders", 1, 0, "failed"),
            partition("payments", 0, 20, "idle"),
        ]));
        app
    }

    fn names(app: &App) -> Vec<String> {
        app.partitions().iter().map(|p| format!("{}/{}", p.topic, p.partition)).collect()
    }

    #[test]
    fn sort_cycles_through_lag_name_and_state() {
        let mut app = app();
        assert_eq!(names(&app), ["orders/3", "payments/0", "orders/0", "orders/1"]);
        assert_eq!(app.tables().iter().map(|t| t.table.as_str()).collect::<Vec<_>>(), ["orders", "payments"]);
        press(&mut app, "s");
        assert_eq!(app.sort, Sort::Name);
        assert_eq!(names(&app), ["orders/0", "orders/1", "orders/3", "payments/0"]);
        press(&mut app, "s");
        assert_eq!(names(&app), ["orders/1", "orders/0", "orders/3", "payments/0"]);
        press(&mut app, "s");
        assert_eq!(app.sort, Sort::Lag);
    }

    #[test]
    fn filter_matches_topic_or_table_as_typed_and_esc_clears_it() {
        let mut app = app();
        press(&mut app, "/PAY");
        assert_eq!(app.mode, Mode::Filter);
        assert_eq!(names(&app), ["payments/0"]);
        assert_eq!(app.tables().len(), 1);
        // While typing, letters are text, not commands.
        assert_eq!(press(&mut app, "q"), []);
        app.on_key(key(KeyCode::Backspace));
        app.on_key(key(KeyCode::Enter));
        assert_eq!((app.mode.clone(), app.filter.as_str()), (Mode::Normal, "PAY"));
        press(&mut app, "/");
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.filter, "");
        assert_eq!(names(&app).len(), 4);
    }

    #[test]
    fn selection_moves_within_the_focused_panel_and_sticks_to_its_row() {
        let mut app = app();
        assert_eq!(app.selected(Panel::Partitions), Some(0));
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.focus, Panel::Partitions);
        app.on_key(key(KeyCode::Down));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.selected_partition().map(|p| p.partition), Some(0));
        // Past the end stays on the last row.
        for _ in 0..5 {
            app.on_key(key(KeyCode::Down));
        }
        assert_eq!(app.selected(Panel::Partitions), Some(3));
        app.on_key(key(KeyCode::Up));
        let selected = app.selected_partition().map(|p| (p.topic.clone(), p.partition));
        // Resorting moves the row, not the selection.
        press(&mut app, "s");
        assert_eq!(app.selected_partition().map(|p| (p.topic.clone(), p.partition)), selected);
        assert_eq!(app.selected(Panel::Tables), Some(0));
        app.on_key(key(KeyCode::Tab));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.selected(Panel::Workers), Some(1));
        assert_eq!(app.focus, Panel::Workers);
        app.on_key(key(KeyCode::BackTab));
        assert_eq!(app.focus, Panel::Partitions);
    }

    #[test]
    fn pausing_a_partition_asks_first_and_sends_its_target() {
        let mut app = app();
        press(&mut app, "s"); // by name: orders/0, orders/1, orders/3
        app.on_key(key(KeyCode::Tab));
        app.on_key(key(KeyCode::Down));
        app.on_key(key(KeyCode::Down));
        assert_eq!(press(&mut app, "p"), []);
        let Mode::Confirm(mutation) = &app.mode else { panic!("no confirmation: {:?}", app.mode) };
        assert_eq!(mutation.question(), "Pause partition orders/3? Staged rows are still committed.");
        let commands = press(&mut app, "y");
        let target = Target { topic: "orders".into(), partition: Some(3), ..Default::default() };
        assert_eq!(commands, [Command::Send(Mutation::Pause(target))]);
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(app.notice.as_ref().map(|n| n.text.as_str()), Some("pausing partition orders/3…"));
        app.on_changed(Ok("paused partition orders/3".into()));
        assert_eq!(app.notice, Some(Notice { text: "paused partition orders/3".into(), error: false }));
    }

    #[test]
    fn resuming_a_table_can_be_declined() {
        let mut app = app();
        app.on_key(key(KeyCode::Down));
        press(&mut app, "r");
        let target = Target { table: "payments".into(), ..Default::default() };
        assert_eq!(app.mode, Mode::Confirm(Mutation::Resume(target.clone())));
        assert_eq!(press(&mut app, "x"), []); // anything else keeps asking
        assert_eq!(press(&mut app, "n"), []);
        assert_eq!(app.mode, Mode::Normal);
        press(&mut app, "r");
        assert_eq!(press(&mut app, "y"), [Command::Send(Mutation::Resume(target))]);
        app.on_changed(Err("no table named payments".into()));
        assert_eq!(app.notice, Some(Notice { text: "no table named payments".into(), error: true }));
    }

    #[test]
    fn rewinding_a_partition_prompts_for_an_offset() {
        let mut app = app();
        app.on_key(key(KeyCode::Tab)); // orders/3 first by lag
        press(&mut app, "w");
        let Mode::Prompt(prompt) = &app.mode else { panic!("no prompt: {:?}", app.mode) };
        assert_eq!(prompt.question(), "Skip orders/3 of orders forward to offset (committed 100, storage end 600):");
        press(&mut app, "4x5");
        app.on_key(key(KeyCode::Backspace));
        press(&mut app, "50");
        app.on_key(key(KeyCode::Enter));
        let request = RewindRequest {
            to: Some(To::Partition(PartitionOffset {
                topic: "orders".into(),
                partition: 3,
                offset: 450,
                table: "orders".into(),
            })),
            reason: REWIND_REASON.into(),
        };
        assert_eq!(app.mode, Mode::Confirm(Mutation::Rewind(request.clone())));
        assert_eq!(press(&mut app, "y"), [Command::Send(Mutation::Rewind(request))]);
    }

    #[test]
    fn rewinding_a_table_prompts_for_a_snapshot_and_rejects_garbage() {
        let mut app = app();
        press(&mut app, "w");
        app.on_key(key(KeyCode::Enter));
        assert!(matches!(app.mode, Mode::Prompt(_)), "an empty answer keeps asking");
        assert_eq!(app.notice.as_ref().map(|n| n.error), Some(true));
        press(&mut app, "-");
        app.on_key(key(KeyCode::Enter));
        assert!(matches!(app.mode, Mode::Prompt(_)));
        app.on_key(key(KeyCode::Backspace));
        press(&mut app, "8812");
        app.on_key(key(KeyCode::Enter));
        let Mode::Confirm(mutation) = app.mode.clone() else { panic!("no confirmation: {:?}", app.mode) };
        assert_eq!(mutation.question(), "Rewind table orders to snapshot 8812?");
        let Mutation::Rewind(RewindRequest { to: Some(To::Table(snapshot)), .. }) = mutation else { panic!() };
        assert_eq!(snapshot, TableSnapshot { table: "orders".into(), at: Some(At::SnapshotId(8812)) });
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn mutations_need_a_table_or_partition() {
        let mut app = app();
        app.on_key(key(KeyCode::BackTab));
        assert_eq!(app.focus, Panel::Workers);
        assert_eq!(press(&mut app, "pw"), []);
        assert_eq!(app.mode, Mode::Normal);
        assert!(app.notice.as_ref().is_some_and(|n| n.error));
    }

    #[test]
    fn quit_keys_and_help() {
        let mut app = app();
        assert_eq!(press(&mut app, "q"), [Command::Quit]);
        assert_eq!(app.on_key(key(KeyCode::Esc)), Some(Command::Quit));
        press(&mut app, "?");
        assert_eq!(app.mode, Mode::Help);
        assert_eq!(press(&mut app, "q"), [], "a key closes help");
        assert_eq!(app.mode, Mode::Normal);
        press(&mut app, "/");
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(ctrl_c), Some(Command::Quit), "ctrl-c quits from any mode");
    }

    #[test]
    fn lag_history_sums_partitions_per_table_and_is_bounded() {
        let mut app = app();
        assert_eq!(app.lag_history("orders").collect::<Vec<_>>(), [510]);
        assert_eq!(app.lag_history("payments").collect::<Vec<_>>(), [20]);
        app.on_disconnected("stream ended");
        assert_eq!(app.connection, Connection::Reconnecting("stream ended".into()));
        for lag in 0..HISTORY as i64 + 5 {
            app.on_status(cluster(vec![partition("orders", 0, lag, "reading"), partition("orders", 1, 1, "idle")]));
        }
        assert_eq!(app.connection, Connection::Live);
        let history: Vec<_> = app.lag_history("orders").collect();
        assert_eq!(history.len(), HISTORY);
        assert_eq!((history[0], history[HISTORY - 1]), (6, HISTORY as i64 + 5));
        assert_eq!(app.table_lag("payments"), 0);
        // A table that is gone loses its history.
        let mut gone = cluster(vec![]);
        gone.tables.retain(|t| t.table == "orders");
        app.on_status(gone);
        assert_eq!(app.lag_history("payments").count(), 0);
    }

    #[test]
    fn commits_follow_the_selected_partitions_table() {
        let mut app = app();
        assert_eq!(app.commits_table().map(|t| t.table.as_str()), Some("orders"));
        app.on_key(key(KeyCode::Tab));
        app.on_key(key(KeyCode::Down)); // payments/0
        assert_eq!(app.commits_table().map(|t| t.table.as_str()), Some("payments"));
    }

    #[test]
    fn x_skips_the_segment_a_failed_partition_names_after_asking() {
        let mut app = App::new("http://a:7601");
        let mut failed = partition("orders", 1, 0, "failed");
        failed.object = "production/orders/1/segment-00000000000000000100.kfs".into();
        app.on_status(cluster(vec![partition("orders", 0, 10, "reading"), failed]));
        app.on_key(key(KeyCode::Tab));
        // orders/0 (most lag) is selected first: nothing to skip there.
        assert_eq!(press(&mut app, "x"), []);
        assert!(app.notice.as_ref().is_some_and(|n| n.error && n.text.contains("x skips")));
        app.on_key(key(KeyCode::Down));
        assert_eq!(press(&mut app, "x"), []);
        let request = SkipSegmentRequest {
            object: "production/orders/1/segment-00000000000000000100.kfs".into(),
            reason: "skipped from floe console".into(),
        };
        let Mode::Confirm(mutation) = &app.mode else { panic!("no confirmation: {:?}", app.mode) };
        assert!(mutation.question().starts_with("Skip segment production/orders/1/"), "{}", mutation.question());
        assert_eq!(press(&mut app, "y"), [Command::Send(Mutation::SkipSegment(request))]);
    }
}

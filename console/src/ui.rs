//! Drawing: a pure function of the [`App`] state, so that a test can render
//! into a `TestBackend` and read the screen.
//!
//! Panels are lists of lines laid out in columns by hand rather than
//! `Table`s, for two reasons: a failed partition gets extra lines under its
//! row with the message and the object at fault, and narrow terminals drop
//! the least important columns first (see [`plan`]).

use chrono::DateTime;
use floe_proto::admin::{ClusterStatus, Commit, PartitionStatus, TableStatus, WorkerStatus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::bar;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, List, ListItem, ListState, Paragraph, Wrap};

use crate::app::{App, Connection, Mode, Panel};

const FAILED: Style = Style::new().fg(Color::Red);
const WARNING: Style = Style::new().fg(Color::Yellow);
const DIM: Style = Style::new().add_modifier(Modifier::DIM);

/// Draws the whole screen: header, tables, partitions, workers and commits,
/// the status line, and the popup of the current mode on top.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let header = header(app, area.width);
    let status = status_lines(app, area.width);
    let tables_lines = app.tables().iter().map(|t| 1 + usize::from(!t.error.is_empty())).sum::<usize>() as u16;
    let [header_area, tables_area, partitions_area, bottom_area, status_area] = Layout::vertical([
        Constraint::Length(header.len() as u16),
        // Borders and column titles take 3 lines; tables rarely need more than a third.
        Constraint::Length((tables_lines + 3).clamp(4, (area.height / 3).max(4))),
        Constraint::Min(4),
        // Workers and commits give way first on a short terminal: partitions matter more.
        Constraint::Length(if area.height < 20 { 0 } else { (area.height / 4).clamp(5, 12) }),
        Constraint::Length(status.len() as u16),
    ])
    .areas(area);
    let [workers_area, commits_area] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(bottom_area);

    frame.render_widget(Paragraph::new(header), header_area);
    draw_tables(frame, app, tables_area);
    draw_partitions(frame, app, partitions_area);
    draw_workers(frame, app, workers_area);
    draw_commits(frame, app, commits_area);
    frame.render_widget(Paragraph::new(status), status_area);
    match &app.mode {
        Mode::Confirm(mutation) => popup(frame, "Confirm", &mutation.question(), "y: yes   n: no"),
        Mode::Prompt(prompt) => {
            let text = format!("{}\n> {}▏", prompt.question(), prompt.input);
            popup(frame, "Rewind", &text, "Enter: next   Esc: cancel")
        }
        Mode::Help => popup(frame, "Keys", HELP, "any key closes"),
        Mode::Normal | Mode::Filter => {}
    }
}

const HELP: &str = "\
Tab, Shift-Tab  switch panel: tables, partitions, workers
↑ ↓ k j         select; PageUp, PageDown by ten
/               filter by topic or table name
s               sort by lag, name or state
p  r            pause, resume the selected table or partition
w               rewind: a partition forward to an offset,
                a table back to a snapshot
x               skip the damaged segment a partition failed at
q  Esc  Ctrl-C  quit

red: failed   yellow: paused, waiting or unassigned";

/// The top lines: who answers and when, then how things stand, then what
/// is wrong with the cluster as a whole, wrapped so that the reason shows.
fn header(app: &App, width: u16) -> Vec<Line<'static>> {
    let width = width as usize;
    let Some(status) = &app.status else {
        let text = match &app.connection {
            Connection::Live => format!("floe │ waiting for the first update from {}", app.endpoint),
            Connection::Reconnecting(reason) => format!("floe │ reconnecting: {reason}"),
        };
        return wrap(&text, width, 3).into_iter().map(Line::raw).collect();
    };
    let separator = || Span::styled(" │ ", DIM);
    let mut first = Line::from(vec![
        "floe".bold(),
        separator(),
        status.coordinator.clone().into(),
        separator(),
        utc(status.time_ms, "%Y-%m-%d %H:%M:%S UTC").into(),
        separator(),
        format!("{} workers", status.workers.len()).into(),
    ]);
    // The address in use only when it fits whole: half of one is no help.
    if first.width() + 3 + app.endpoint.chars().count() <= width {
        first.spans.extend([separator(), Span::styled(app.endpoint.clone(), DIM)]);
    }
    let mut lines = vec![first];
    let wrapped = |text: String, style: Style| wrap(&text, width, 2).into_iter().map(move |l| Line::styled(l, style));
    match &app.connection {
        Connection::Reconnecting(reason) => lines.extend(wrapped(format!("reconnecting: {reason}"), WARNING.bold())),
        Connection::Live => lines.push(summary(status)),
    }
    if !status.halted.is_empty() {
        lines.extend(wrapped(format!("halted: {}", status.halted), FAILED.bold()));
    }
    if !status.list_failures.is_empty() {
        lines.extend(wrapped(format!("cannot list: {}", status.list_failures.join("; ")), WARNING));
    }
    lines
}

/// `text` in lines of at most `width` characters, broken between words,
/// and at most `max` of them (the last cut with an ellipsis).
fn wrap(text: &str, width: usize, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    lines.push(current);
    if lines.len() > max {
        let rest = lines.split_off(max - 1).join(" ");
        lines.push(rest);
    }
    lines.into_iter().map(|line| fit(&line, width)).collect()
}

fn summary(status: &ClusterStatus) -> Line<'static> {
    let lag: i64 = status.partitions.iter().map(|p| p.lag_records.max(0)).sum();
    let lag_bytes: u64 = status.partitions.iter().map(|p| p.lag_bytes).sum();
    let failed = status.partitions.iter().filter(|p| p.state == "failed").count();
    let paused = status.tables.iter().filter(|t| t.paused).count();
    let mut spans = vec![Span::raw(format!(
        "{} tables · {} partitions · lag {} records, {}",
        status.tables.len(),
        status.partitions.len(),
        count(lag),
        bytes(lag_bytes)
    ))];
    if failed > 0 {
        spans.push(Span::styled(format!(" · {failed} failed"), FAILED.bold()));
    }
    if paused > 0 {
        spans.push(Span::styled(format!(" · {paused} paused"), WARNING));
    }
    Line::from(spans)
}

/// The bottom line: the filter being typed, what the last change did (on
/// two lines if need be: it is the coordinator's answer), or the keys.
fn status_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    if app.mode == Mode::Filter {
        return vec![Line::from(vec![
            format!("filter: {}▏", app.filter).bold(),
            Span::styled("  Enter: keep  Esc: clear", DIM),
        ])];
    }
    match &app.notice {
        Some(notice) => {
            let style = if notice.error { FAILED.bold() } else { Style::new() };
            wrap(&notice.text, width as usize, 2).into_iter().map(|line| Line::styled(line, style)).collect()
        }
        None => {
            let keys = [("Tab", "panel"), ("↑↓", "select"), ("/", "filter"), ("s", "sort"), ("p", "pause")];
            let keys = keys.into_iter().chain([("r", "resume"), ("w", "rewind"), ("?", "help"), ("q", "quit")]);
            let spans = keys.flat_map(|(key, what)| [key.bold(), Span::styled(format!(" {what} "), DIM)]);
            vec![Line::from(spans.collect::<Vec<_>>())]
        }
    }
}

/// A column of a panel: its minimum width, and how readily it is dropped
/// when the panel is narrow (higher goes first).
#[derive(Clone, Copy)]
struct Column {
    title: &'static str,
    width: u16,
    drop: u8,
    right: bool,
    /// Too long a value is cut in the middle, not at the end: names that
    /// differ only at the end (`host-run-worker-0`, `-1`) stay apart.
    middle: bool,
}

const fn left(title: &'static str, width: u16, drop: u8) -> Column {
    Column { title, width, drop, right: false, middle: false }
}

const fn right(title: &'static str, width: u16, drop: u8) -> Column {
    Column { title, width, drop, right: true, middle: false }
}

/// A left-aligned name, cut in the middle.
const fn name(title: &'static str, width: u16, drop: u8) -> Column {
    Column { middle: true, ..left(title, width, drop) }
}

/// Which columns fit in `width` (one space between two), and how wide each
/// is: the most droppable go first, and a left-aligned first column (a name)
/// takes what is left over, up to twice its width.
fn plan(columns: &[Column], width: u16) -> Vec<(usize, u16)> {
    let mut kept: Vec<usize> = (0..columns.len()).collect();
    let total = |kept: &[usize]| kept.iter().map(|&i| columns[i].width + 1).sum::<u16>().saturating_sub(1);
    while total(&kept) > width && kept.len() > 1 {
        let (position, _) = kept.iter().enumerate().skip(1).max_by_key(|(_, i)| columns[**i].drop).unwrap_or((0, &0));
        kept.remove(position);
    }
    let spare = width.saturating_sub(total(&kept));
    kept.into_iter()
        .map(|i| match i {
            0 if !columns[0].right => (0, (columns[0].width + spare.min(columns[0].width)).min(width)),
            0 => (0, columns[0].width.min(width)),
            _ => (i, columns[i].width),
        })
        .collect()
}

/// Cells cut or padded to their column's width.
fn layout_line(columns: &[Column], plan: &[(usize, u16)], cells: &[String]) -> String {
    let mut line = String::new();
    for (n, &(i, width)) in plan.iter().enumerate() {
        if n > 0 {
            line.push(' ');
        }
        let cell =
            if columns[i].middle { fit_middle(&cells[i], width as usize) } else { fit(&cells[i], width as usize) };
        let pad = " ".repeat(width as usize - cell.chars().count());
        if columns[i].right {
            line.push_str(&pad);
            line.push_str(&cell);
        } else {
            line.push_str(&cell);
            line.push_str(&pad);
        }
    }
    line
}

/// `text` in at most `width` characters, cut with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let kept: String = text.chars().take(width - 1).collect();
        format!("{}…", kept.trim_end())
    }
}

/// `text` in at most `width` characters, its middle cut out: a third of
/// the room for the start, the rest for the end.
fn fit_middle(text: &str, width: usize) -> String {
    let length = text.chars().count();
    if length <= width || width < 3 {
        return fit(text, width);
    }
    let head = (width - 1) / 3;
    let tail = width - 1 - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(length - tail).collect();
    format!("{start}…{end}")
}

/// One entry of a panel: its row, and lines under it saying what is wrong.
struct Row {
    cells: Vec<String>,
    style: Style,
    details: Vec<String>,
}

/// A bordered panel of rows in columns.
struct Listing<'a> {
    title: String,
    columns: &'a [Column],
    rows: Vec<Row>,
    /// Shown in place of rows when there are none.
    empty: &'a str,
    /// With the focus, the selected row is highlighted.
    focused: bool,
    selected: Option<usize>,
}

fn draw_listing(frame: &mut Frame, area: Rect, listing: Listing) {
    let Listing { title, columns, rows, empty, focused, selected } = listing;
    let border = if focused { Style::new().fg(Color::Cyan) } else { DIM };
    let block = Block::bordered().border_style(border).title(Span::styled(title, Style::new().bold()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [titles_area, rows_area] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    let plan = plan(columns, inner.width);
    let titles: Vec<String> = columns.iter().map(|c| c.title.to_string()).collect();
    frame.render_widget(Paragraph::new(layout_line(columns, &plan, &titles)).style(DIM.bold()), titles_area);
    if rows.is_empty() {
        frame.render_widget(Paragraph::new(Span::styled(empty.to_string(), DIM)), rows_area);
        return;
    }
    let detail_width = (inner.width as usize).saturating_sub(4);
    let items: Vec<ListItem> = rows
        .iter()
        .map(|row| {
            let mut lines = vec![Line::raw(layout_line(columns, &plan, &row.cells))];
            lines.extend(row.details.iter().map(|d| Line::raw(format!("  ↳ {}", fit(d, detail_width)))));
            ListItem::new(Text::from(lines)).style(row.style)
        })
        .collect();
    let highlight = if focused { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() };
    let mut state = ListState::default().with_selected(selected);
    frame.render_stateful_widget(List::new(items).highlight_style(highlight), rows_area, &mut state);
}

/// The width the planner gave a column, if it was kept.
fn width_of(plan: &[(usize, u16)], column: usize) -> Option<u16> {
    plan.iter().find(|(i, _)| *i == column).map(|(_, w)| *w)
}

const TABLE_COLUMNS: [Column; 11] = [
    name("table", 12, 0),
    left("state", 6, 0),
    right("lag", 7, 0),
    left("lag trend", 12, 1),
    right("wm age", 6, 1),
    left("wm UTC", 8, 4),
    right("staged", 10, 3),
    right("snapshot", 19, 5),
    right("commit", 6, 2),
    right("files", 5, 4),
    right("rows", 7, 2),
];
const TREND: usize = 3;

fn draw_tables(frame: &mut Frame, app: &App, area: Rect) {
    let tables = app.tables();
    let now = app.status.as_ref().map_or(0, |s| s.time_ms);
    // Known before the rows are made: the sparkline is as wide as its column.
    let trend_width = width_of(&plan(&TABLE_COLUMNS, area.width.saturating_sub(2)), TREND).unwrap_or(0);
    let rows = tables.iter().map(|table| table_row(app, table, now, trend_width as usize)).collect();
    draw_listing(
        frame,
        area,
        Listing {
            title: format!("Tables ({}){}", tables.len(), filter_label(app)),
            columns: &TABLE_COLUMNS,
            rows,
            empty: nothing(app, "no table"),
            focused: app.focus == Panel::Tables,
            selected: app.selected(Panel::Tables),
        },
    );
}

fn table_row(app: &App, table: &TableStatus, now: i64, trend_width: usize) -> Row {
    let last = newest(&table.recent_commits);
    let (state, style) = match (table.error.is_empty(), table.paused) {
        (false, _) => ("error", FAILED),
        (true, true) => ("paused", WARNING),
        (true, false) => ("ok", Style::new()),
    };
    let history: Vec<i64> = app.lag_history(&table.table).collect();
    let cells = vec![
        table.table.clone(),
        state.to_string(),
        count(app.table_lag(&table.table)),
        sparkline(&history[history.len().saturating_sub(trend_width)..]),
        table.watermark_ms.map_or_else(dash, |ms| age_ms(now - ms)),
        table.watermark_ms.map_or_else(dash, |ms| utc(ms, "%H:%M:%S")),
        format!("{}f {}", table.staged_files, bytes(table.staged_bytes)),
        last.map(|c| c.snapshot_id).or(table.snapshot_id).map_or_else(dash, |id| id.to_string()),
        last.map_or_else(dash, |c| age_ms(now - c.time_ms)),
        last.map_or_else(dash, |c| c.files.to_string()),
        last.map_or_else(dash, |c| count(c.records as i64)),
    ];
    let details = if table.error.is_empty() { vec![] } else { vec![table.error.clone()] };
    Row { cells, style, details }
}

const PARTITION_COLUMNS: [Column; 10] = [
    name("partition", 11, 0),
    name("table", 12, 3),
    right("committed", 10, 2),
    right("end", 10, 4),
    right("lag", 7, 0),
    right("bytes", 8, 3),
    right("behind", 6, 1),
    right("wm age", 6, 2),
    name("worker#epoch", 12, 1),
    left("state", 10, 0),
];

fn draw_partitions(frame: &mut Frame, app: &App, area: Rect) {
    let partitions = app.partitions();
    let now = app.status.as_ref().map_or(0, |s| s.time_ms);
    let rows = partitions.iter().map(|p| partition_row(p, now)).collect();
    draw_listing(
        frame,
        area,
        Listing {
            title: format!("Partitions ({}) · sort: {}{}", partitions.len(), app.sort.label(), filter_label(app)),
            columns: &PARTITION_COLUMNS,
            rows,
            empty: nothing(app, "no partition found in storage yet"),
            focused: app.focus == Panel::Partitions,
            selected: app.selected(Panel::Partitions),
        },
    );
}

fn partition_row(partition: &PartitionStatus, now: i64) -> Row {
    let style = match partition.state.as_str() {
        "failed" => FAILED,
        "waiting" | "paused" | "unassigned" => WARNING,
        _ => Style::new(),
    };
    let worker = match partition.worker.as_str() {
        "" => dash(),
        worker => format!("{worker}#{}", partition.epoch),
    };
    let cells = vec![
        format!("{}/{}", partition.topic, partition.partition),
        partition.table.clone(),
        partition.committed.map_or_else(dash, |o| o.to_string()),
        partition.storage_end.map_or_else(dash, |o| o.to_string()),
        count(partition.lag_records),
        bytes(partition.lag_bytes),
        age_ms((partition.lag_seconds * 1000.0) as i64),
        partition.watermark_ms.map_or_else(dash, |ms| age_ms(now - ms)),
        worker,
        partition.state.clone(),
    ];
    // The message says what is wrong; the object is what to skip if it is damaged.
    let mut details = Vec::new();
    if !partition.message.is_empty() {
        details.push(partition.message.clone());
    }
    if !partition.object.is_empty() && !partition.message.contains(&partition.object) {
        details.push(format!("object {}", partition.object));
    }
    Row { cells, style, details }
}

const WORKER_COLUMNS: [Column; 4] =
    [name("worker", 8, 0), right("leases", 6, 0), right("silent", 6, 1), left("session", 10, 2)];

fn draw_workers(frame: &mut Frame, app: &App, area: Rect) {
    let workers = app.workers();
    let rows = workers.iter().map(|w| worker_row(w)).collect();
    draw_listing(
        frame,
        area,
        Listing {
            title: format!("Workers ({})", workers.len()),
            columns: &WORKER_COLUMNS,
            rows,
            empty: nothing(app, "no worker connected"),
            focused: app.focus == Panel::Workers,
            selected: app.selected(Panel::Workers),
        },
    );
}

fn worker_row(worker: &WorkerStatus) -> Row {
    let cells =
        vec![worker.worker_id.clone(), worker.leases.to_string(), millis(worker.silent_ms), worker.session.clone()];
    // Workers send at least every few seconds; a long silence is a worker about to lose its leases.
    let style = if worker.silent_ms >= 10_000 { WARNING } else { Style::new() };
    Row { cells, style, details: vec![] }
}

const COMMIT_COLUMNS: [Column; 6] = [
    right("snapshot", 19, 1),
    right("age", 6, 0),
    right("files", 5, 0),
    right("rows", 7, 0),
    right("bytes", 8, 2),
    right("took", 6, 3),
];

fn draw_commits(frame: &mut Frame, app: &App, area: Rect) {
    let now = app.status.as_ref().map_or(0, |s| s.time_ms);
    let table = app.commits_table();
    let mut commits: Vec<&Commit> = table.map(|t| t.recent_commits.iter().collect()).unwrap_or_default();
    commits.sort_by_key(|c| std::cmp::Reverse(c.time_ms));
    let rows = commits
        .iter()
        .map(|c| Row {
            cells: vec![
                c.snapshot_id.to_string(),
                age_ms(now - c.time_ms),
                c.files.to_string(),
                count(c.records as i64),
                bytes(c.bytes),
                millis(c.duration_ms),
            ],
            style: Style::new(),
            details: vec![],
        })
        .collect();
    let title = match table {
        Some(t) => format!("Commits of {} ({} since start)", t.table, t.commits),
        None => "Commits".to_string(),
    };
    draw_listing(
        frame,
        area,
        Listing {
            title,
            columns: &COMMIT_COLUMNS,
            rows,
            empty: nothing(app, "no commit since this coordinator started"),
            focused: false,
            selected: None,
        },
    );
}

/// What an empty panel says: why it is empty.
fn nothing<'a>(app: &App, otherwise: &'a str) -> &'a str {
    match (&app.status, app.filter.is_empty()) {
        (None, _) => "waiting for the first update",
        (Some(_), false) => "nothing matches the filter",
        (Some(_), true) => otherwise,
    }
}

fn filter_label(app: &App) -> String {
    if app.filter.is_empty() { String::new() } else { format!(" · filter: {}", app.filter) }
}

/// A box in the middle of the screen, over everything else.
fn popup(frame: &mut Frame, title: &str, text: &str, keys: &str) {
    let area = frame.area();
    let width = area.width.saturating_sub(4).min(64);
    let inner_width = width.saturating_sub(2).max(1) as usize;
    // Lines once wrapped, roughly: enough to size the box.
    let lines: u16 = text.lines().map(|l| l.chars().count().div_ceil(inner_width).max(1) as u16).sum();
    let height = (lines + 2).min(area.height);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    let block = Block::bordered()
        .title(Span::styled(format!(" {title} "), Style::new().bold()))
        .title_bottom(Line::styled(format!(" {keys} "), DIM).right_aligned());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(text.to_string()).wrap(Wrap { trim: false }).block(block), popup);
}

/// The newest of a table's recent commits.
fn newest(commits: &[Commit]) -> Option<&Commit> {
    commits.iter().max_by_key(|c| c.time_ms)
}

/// Bars scaled to the largest value shown: the lowest bar is zero, so a
/// table that has caught up reads as flat.
fn sparkline(values: &[i64]) -> String {
    const LEVELS: [&str; 8] = [
        bar::ONE_EIGHTH,
        bar::ONE_QUARTER,
        bar::THREE_EIGHTHS,
        bar::HALF,
        bar::FIVE_EIGHTHS,
        bar::THREE_QUARTERS,
        bar::SEVEN_EIGHTHS,
        bar::FULL,
    ];
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values.iter().map(|&v| LEVELS[if v <= 0 { 0 } else { (1 + v * 6 / max) as usize }]).collect()
}

fn dash() -> String {
    "-".to_string()
}

fn utc(ms: i64, format: &str) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(dash, |t| t.format(format).to_string())
}

/// A duration the way people say it: 12s, 4m05s, 3h20m, 2d04h, 335d.
fn age_ms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        86400..864_000 => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A short time precisely: 350ms, 2.5s, then as [`age_ms`].
fn millis(ms: u32) -> String {
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..10_000 => format!("{:.1}s", f64::from(ms) / 1000.0),
        _ => age_ms(i64::from(ms)),
    }
}

/// 987, 12.3k, 4.5M, 6.7G.
fn count(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n < 1e3 => format!("{n}"),
        n if n < 1e6 => format!("{:.1}k", n / 1e3),
        n if n < 1e9 => format!("{:.1}M", n / 1e6),
        n => format!("{:.1}G", n / 1e9),
    }
}

/// 512B, 1.2KiB, 3.4MiB, 5.6GiB.
fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n < 1024.0 => format!("{n}B"),
        n if n < 1024.0 * 1024.0 => format!("{:.1}KiB", n / 1024.0),
        n if n < 1024.0 * 1024.0 * 1024.0 => format!("{:.1}MiB", n / (1024.0 * 1024.0)),
        n => format!("{:.1}GiB", n / (1024.0 * 1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_panels_drop_the_most_droppable_columns_and_names_take_the_rest() {
        let columns = [left("name", 6, 0), right("a", 4, 2), right("b", 4, 1), right("c", 4, 2)];
        assert_eq!(plan(&columns, 40), [(0, 12), (1, 4), (2, 4), (3, 4)]);
        assert_eq!(plan(&columns, 21), [(0, 6), (1, 4), (2, 4), (3, 4)]);
        assert_eq!(plan(&columns, 20), [(0, 10), (1, 4), (2, 4)]);
        assert_eq!(plan(&columns, 11), [(0, 6), (2, 4)]);
        assert_eq!(plan(&columns, 4), [(0, 4)]);
        let line = layout_line(
            &columns,
            &plan(&columns, 20),
            &["orders-with-a-long-name".into(), "1".into(), "22".into(), "x".into()],
        );
        assert_eq!(line, "orders-wi…    1   22");
    }

    #[test]
    fn numbers_and_durations_are_short() {
        assert_eq!(
            [
                age_ms(-5),
                age_ms(12_400),
                age_ms(245_000),
                age_ms(12_000_000),
                age_ms(190_000_000),
                age_ms(28_944_000_000)
            ],
            ["0s", "12s", "4m05s", "3h20m", "2d04h", "335d"]
        );
        assert_eq!(
            [count(987), count(12_345), count(4_500_000), count(6_700_000_000)],
            ["987", "12.3k", "4.5M", "6.7G"]
        );
        assert_eq!([bytes(512), bytes(1300), bytes(3 << 20), bytes(5 << 30)], ["512B", "1.3KiB", "3.0MiB", "5.0GiB"]);
        assert_eq!([millis(350), millis(2_500), millis(75_000)], ["350ms", "2.5s", "1m15s"]);
        assert_eq!(utc(1_764_661_901_000, "%Y-%m-%d %H:%M:%S"), "2025-12-02 07:51:41");
    }

    #[test]
    fn names_are_cut_in_the_middle_to_keep_what_tells_them_apart() {
        assert_eq!(fit_middle("local-25333-run-worker-1#2", 12), "loc…rker-1#2");
        assert_eq!(fit_middle("orders/3", 12), "orders/3");
        assert_eq!(fit_middle("orders/3", 2), "o…");
    }

    #[test]
    fn long_reasons_wrap_between_words_up_to_a_limit() {
        assert_eq!(wrap("halted: etcd is unreachable", 14, 2), ["halted: etcd", "is unreachable"]);
        assert_eq!(wrap("a b c d e f", 3, 2), ["a b", "c…"]);
        assert_eq!(wrap("averyveryverylongword x", 8, 2), ["averyve…", "x"]);
        assert_eq!(wrap("", 8, 2), [""]);
    }

    #[test]
    fn sparklines_scale_to_the_largest_value_and_zero_is_flat() {
        assert_eq!(sparkline(&[0, 0, 0]), "▁▁▁");
        assert_eq!(sparkline(&[0, 1, 50, 100]), "▁▂▅█");
        assert_eq!(sparkline(&[]), "");
    }
}

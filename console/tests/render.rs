//! The console drawn into a test terminal from realistic cluster states, and
//! compared with the screens in `tests/snapshots/*.txt`. After a deliberate
//! change to the layout, rewrite them with `UPDATE_SNAPSHOTS=1 cargo test -p
//! floe-console` and read the diff before committing it.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use floe_console::app::App;
use floe_console::ui;
use floe_proto::admin::{ClusterStatus, Commit, PartitionStatus, TableStatus, WorkerStatus};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

/// 2026-12-02 07:51:41 UTC, the coordinator's clock in every state here.
const NOW: i64 = 1_796_197_901_000;
const SECOND: i64 = 1000;

fn commit(snapshot_id: i64, seconds_ago: i64, files: u64, records: u64) -> Commit {
    Commit {
        snapshot_id,
        time_ms: NOW - seconds_ago * SECOND,
        files,
        records,
        bytes: records * 120,
        duration_ms: 180 + files as u32 * 40,
    }
}

fn table(name: &str, snapshot_id: i64, commits: Vec<Commit>) -> TableStatus {
    TableStatus {
        table: name.into(),
        topic: name.into(),
        watermark_ms: Some(NOW - 12 * SECOND),
        staged_files: 3,
        staged_bytes: 5_400_000,
        commits: 42,
        records: 1_250_000,
        files: 96,
        snapshot_id: Some(snapshot_id),
        recent_commits: commits,
        ..Default::default()
    }
}

fn partition(topic: &str, partition: i32, committed: i64, lag: i64, worker: &str) -> PartitionStatus {
    PartitionStatus {
        topic: topic.into(),
        partition,
        table: topic.into(),
        committed: Some(committed),
        storage_end: Some(committed + lag),
        lag_records: lag,
        lag_bytes: lag as u64 * 180,
        lag_seconds: if lag > 0 { 4.2 } else { 0.0 },
        watermark_ms: Some(NOW - (12 + i64::from(partition)) * SECOND),
        worker: worker.into(),
        epoch: 7,
        state: if lag > 0 { "reading" } else { "idle" }.into(),
        ..Default::default()
    }
}

/// Two tables fed by eight partitions over three workers, all well.
fn healthy(lag_scale: i64) -> ClusterStatus {
    let workers = ["worker-0", "worker-1", "worker-2"];
    let mut partitions: Vec<_> = (0..6)
        .map(|p| {
            partition(
                "orders",
                p,
                120_000 + i64::from(p) * 1000,
                (i64::from(p) % 3) * 400 * lag_scale,
                workers[p as usize % 3],
            )
        })
        .collect();
    partitions.extend((0..2).map(|p| partition("payments", p, 51_000, 25 * lag_scale, workers[2 - p as usize])));
    ClusterStatus {
        coordinator: "floe-coordinator-0-4711-leader".into(),
        time_ms: NOW,
        halted: String::new(),
        workers: vec![
            WorkerStatus { worker_id: "worker-0".into(), session: "s-8f3a".into(), leases: 2, silent_ms: 300 },
            WorkerStatus { worker_id: "worker-1".into(), session: "s-19bc".into(), leases: 2, silent_ms: 800 },
            WorkerStatus { worker_id: "worker-2".into(), session: "s-77d0".into(), leases: 4, silent_ms: 150 },
        ],
        tables: vec![
            table(
                "orders",
                6_410_552_017_234_001_993,
                vec![
                    commit(6_410_552_017_234_001_991, 75, 6, 48_000),
                    commit(6_410_552_017_234_001_992, 45, 6, 51_200),
                    commit(6_410_552_017_234_001_993, 15, 5, 47_350),
                ],
            ),
            table("payments", 2_077_310_482_990_115_407, vec![commit(2_077_310_482_990_115_407, 20, 2, 3_100)]),
        ],
        partitions,
        list_failures: vec![],
    }
}

/// The same cluster in trouble: etcd gone, a damaged segment, a paused table.
fn troubled() -> ClusterStatus {
    let mut status = healthy(3);
    status.halted = "etcd unreachable: no commit starts and no lease is granted".into();
    status.list_failures = vec!["s3://kafscale/segments/inventory/: AccessDenied".into()];
    let failed = status.partitions.iter_mut().find(|p| p.topic == "orders" && p.partition == 3).unwrap();
    failed.state = "failed".into();
    failed.worker = String::new();
    failed.storage_end = Some(125_400);
    failed.lag_records = 2_400;
    failed.lag_bytes = 432_000;
    failed.lag_seconds = 754.0;
    failed.message = "CRC mismatch in record batch at byte 40960".into();
    failed.object = "segments/orders/3/00000000000000121500.kfs".into();
    let orders = &mut status.tables[0];
    orders.error = "partition orders/3 failed: skip the damaged segment to go on".into();
    let payments = &mut status.tables[1];
    payments.paused = true;
    for p in status.partitions.iter_mut().filter(|p| p.topic == "payments") {
        p.state = "paused".into();
        p.worker = String::new();
    }
    status
}

/// A console that has seen `updates` states, lag growing then shrinking,
/// so that the sparklines have a shape.
fn app_after(last: ClusterStatus) -> App {
    let mut app = App::new("http://coordinator-0.floe:7601");
    for scale in [1, 2, 4, 6, 8, 6, 4, 3, 2, 1, 1, 2] {
        app.on_status(healthy(scale));
    }
    app.on_status(last);
    app
}

fn render(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| ui::draw(frame, app)).unwrap();
    terminal.backend().buffer().clone()
}

fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut text = String::new();
    for y in 0..area.height {
        let line: String = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Compares the screen with `tests/snapshots/<name>.txt`, or rewrites that
/// file when `UPDATE_SNAPSHOTS=1`.
fn assert_snapshot(name: &str, buffer: &Buffer) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"));
    let actual = text(buffer);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    if actual != expected {
        let differing: Vec<String> = actual
            .lines()
            .zip(expected.lines())
            .enumerate()
            .filter(|(_, (a, e))| a != e)
            .map(|(n, (a, e))| format!("line {}:\n  expected: {e}\n  actual:   {a}", n + 1))
            .collect();
        panic!(
            "{name} differs from {} (UPDATE_SNAPSHOTS=1 rewrites it)\n{}\nwhole screen:\n{actual}",
            path.display(),
            differing.join("\n")
        );
    }
}

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

/// The line of the screen containing `needle`, and its row.
fn find(buffer: &Buffer, needle: &str) -> (u16, String) {
    let text = text(buffer);
    let (row, line) = text.lines().enumerate().find(|(_, line)| line.contains(needle)).unwrap_or_else(|| {
        panic!("no line contains {needle:?}:\n{text}");
    });
    (row as u16, line.to_string())
}

fn color_at(buffer: &Buffer, row: u16, line: &str, needle: &str) -> Option<Color> {
    let column = line.find(needle).map(|byte| line[..byte].chars().count())?;
    Some(buffer[(column as u16, row)].fg)
}

#[test]
fn healthy_cluster_at_80x24() {
    let buffer = render(&app_after(healthy(1)), 80, 24);
    assert_snapshot("healthy_80x24", &buffer);
    let (_, header) = find(&buffer, "floe │");
    assert!(
        header.contains("floe-coordinator-0-4711-leader") && header.contains("2026-12-02 07:51:41 UTC"),
        "{header}"
    );
    assert!(find(&buffer, "Tables (2)").1.contains("Tables (2)"));
}

#[test]
fn healthy_cluster_at_160x48() {
    let buffer = render(&app_after(healthy(1)), 160, 48);
    assert_snapshot("healthy_160x48", &buffer);
    // Wide enough for every column: offsets at both ends, and snapshot ids in full.
    let (_, row) = find(&buffer, "orders/2");
    assert!(row.contains("122000") && row.contains("122800"), "{row}");
    assert!(find(&buffer, "6410552017234001993").1.contains("orders"));
}

#[test]
fn troubled_cluster_at_80x24() {
    let mut app = app_after(troubled());
    // Failed first, so that it shows even on a small screen.
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    let buffer = render(&app, 80, 24);
    assert_snapshot("troubled_80x24", &buffer);
    let (row, line) = find(&buffer, "halted: etcd unreachable");
    assert_eq!(color_at(&buffer, row, &line, "halted"), Some(Color::Red));
    let (row, line) = find(&buffer, "orders/3");
    assert!(line.contains("failed"), "{line}");
    assert_eq!(color_at(&buffer, row, &line, "orders/3"), Some(Color::Red));
    assert!(find(&buffer, "CRC mismatch").1.contains("↳"));
    assert!(find(&buffer, "object segments/orders/3/").1.contains("↳"));
}

#[test]
fn troubled_cluster_at_160x48() {
    let buffer = render(&app_after(troubled()), 160, 48);
    assert_snapshot("troubled_160x48", &buffer);
    let (row, line) = find(&buffer, "payments   ");
    assert!(line.contains("paused"), "{line}");
    assert_eq!(color_at(&buffer, row, &line, "paused"), Some(Color::Yellow));
    assert!(find(&buffer, "cannot list: s3://kafscale/segments/inventory/").1.contains("AccessDenied"));
}

#[test]
fn pausing_asks_in_a_popup_and_shows_the_answer() {
    let mut app = app_after(healthy(1));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('p'));
    let buffer = render(&app, 80, 24);
    assert_snapshot("confirm_pause_80x24", &buffer);
    key(&mut app, KeyCode::Char('y'));
    app.on_changed(Ok("paused partition orders/2: leases are taken back once staged".into()));
    let buffer = render(&app, 80, 24);
    let (row, _) = find(&buffer, "paused partition orders/2: leases are taken back once staged");
    assert_eq!(row, 23);
    // A long answer takes two lines rather than losing its end.
    app.on_changed(Err("partition orders/2 has read up to offset 122800 already: a partition only moves forward, \
                        to an offset above what it has read"
        .into()));
    let buffer = render(&app, 80, 24);
    assert_eq!(find(&buffer, "partition orders/2 has read up to offset 122800").0, 22);
    assert_eq!(find(&buffer, "to an offset above what it has read").0, 23);
}

#[test]
fn rewinding_a_partition_prompts_with_where_it_stands() {
    let mut app = app_after(healthy(1));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('w'));
    for digit in "122500".chars() {
        key(&mut app, KeyCode::Char(digit));
    }
    let buffer = render(&app, 80, 24);
    assert!(find(&buffer, "Skip orders/2 of orders forward to offset (committed 122000,").1.contains("│"));
    assert!(find(&buffer, "> 122500▏").1.contains("│"));
    key(&mut app, KeyCode::Enter);
    let buffer = render(&app, 80, 24);
    assert!(find(&buffer, "Skip orders/2 of orders forward to offset 122500? Records").1.contains("│"));
}

#[test]
fn reconnecting_keeps_the_last_state_on_screen() {
    let mut app = app_after(healthy(1));
    app.on_disconnected("no coordinator at http://a:7601, http://b:7601 is leading: a:7601: standby; b:7601: standby");
    let buffer = render(&app, 80, 24);
    assert_snapshot("reconnecting_80x24", &buffer);
    let (row, line) = find(&buffer, "reconnecting: no coordinator");
    assert_eq!(color_at(&buffer, row, &line, "reconnecting"), Some(Color::Yellow));
    assert!(find(&buffer, "orders/2").1.contains("800"));
}

#[test]
fn help_lists_the_keys() {
    let mut app = app_after(healthy(1));
    key(&mut app, KeyCode::Char('?'));
    let buffer = render(&app, 80, 24);
    assert_snapshot("help_80x24", &buffer);
}

#[test]
fn tiny_terminals_do_not_break_the_drawing() {
    let mut app = app_after(troubled());
    for (width, height) in [(1, 1), (10, 3), (40, 10), (79, 23)] {
        render(&app, width, height);
    }
    // Short: partitions keep their room, workers and commits go.
    let buffer = render(&app_after(healthy(1)), 60, 18);
    assert!(!text(&buffer).contains("Workers"));
    assert!(find(&buffer, "payments/1").1.contains("reading"));
    key(&mut app, KeyCode::Char('?'));
    render(&app, 20, 6);
}

#[test]
fn before_the_first_update() {
    let buffer = render(&App::new("http://coordinator-0.floe:7601"), 80, 24);
    assert_eq!(find(&buffer, "waiting for the first update from http://coordinator-0.floe:7601").0, 0);
    // Every panel says why it is empty.
    assert_eq!(text(&buffer).matches("│waiting for the first update").count(), 4);
}

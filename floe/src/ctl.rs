//! `floe ctl`: status, pause, resume, rewind and skip through the admin
//! API of the leading coordinator, readable by default, `--json` for
//! scripts.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use floe_console::{Admin, ClientOptions};
use floe_proto::admin::rewind_request::To;
use floe_proto::admin::table_snapshot::At;
use floe_proto::admin::{
    ClusterStatus, PartitionOffset, PartitionStatus, RewindRequest, SkipSegmentRequest, StatusRequest, TableSnapshot,
    TableStatus, Target,
};

/// How to reach the coordinators' admin API.
#[derive(Args, Clone)]
#[command(next_help_heading = "Admin API")]
pub struct AdminArgs {
    // Global: `floe ctl` takes them after its subcommand too (`floe ctl
    // status --coordinator A,B`), where the docs show them.
    /// Admin URLs of every coordinator, comma-separated (the leading one is used).
    #[arg(long, global = true, env = "FLOE_ADMIN", value_delimiter = ',', default_value = "http://127.0.0.1:7601")]
    coordinator: Vec<String>,
    /// The admin token (admin.token), when the coordinator requires one.
    #[arg(long, global = true, env = "FLOE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of the CA that signed the coordinators' certificates (https URLs).
    #[arg(long, global = true, env = "FLOE_ADMIN_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// This client's certificate (PEM), when the admin endpoint requires one.
    #[arg(long, global = true, env = "FLOE_ADMIN_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, global = true, env = "FLOE_ADMIN_TLS_KEY")]
    tls_key: Option<PathBuf>,
}

impl AdminArgs {
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn options(&self) -> anyhow::Result<ClientOptions> {
        // Paired here rather than by clap, which cannot see one given before
        // the subcommand and the other after it.
        let tls_identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together: give both or neither"),
        };
        Ok(ClientOptions {
            endpoints: self.coordinator.clone(),
            token: self.token.clone(),
            tls_ca: self.tls_ca.clone(),
            tls_identity,
        })
    }
}

#[derive(Subcommand)]
pub enum CtlCommand {
    /// Tables and partitions: offsets, lag, watermarks, leases, errors.
    Status {
        /// Only this table's partitions.
        #[arg(long)]
        table: Option<String>,
        /// Only this topic's partitions.
        #[arg(long)]
        topic: Option<String>,
        /// The status as JSON (one object; one per line with --watch).
        #[arg(long)]
        json: bool,
        /// Print again every second until stopped.
        #[arg(long)]
        watch: bool,
    },
    /// Stop reading a table, a topic or a partition (kept across failovers).
    Pause(TargetArgs),
    /// Read it again.
    Resume(TargetArgs),
    /// Move a partition forward to an offset, skipping what lies between
    /// (recorded in the next snapshot's summary as floe.skipped).
    Rewind {
        /// TOPIC/PARTITION, e.g. orders/3.
        #[arg(long, requires = "offset")]
        partition: Option<String>,
        /// The offset to go on from.
        #[arg(long)]
        offset: Option<i64>,
        /// A table to roll back to an earlier snapshot; with --partition,
        /// the table whose partition moves (needed when its topic feeds
        /// several tables).
        #[arg(long)]
        table: Option<String>,
        /// The snapshot to roll the table back to, by id (one of its history).
        #[arg(long, requires = "table", conflicts_with = "partition")]
        snapshot: Option<i64>,
        /// The newest snapshot at or before this time (RFC 3339).
        #[arg(long, requires = "table", conflicts_with_all = ["snapshot", "partition"])]
        timestamp: Option<String>,
        /// Why; recorded with the skip.
        #[arg(long, default_value = "")]
        reason: String,
        /// The answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Go on after a damaged segment: its partition continues at the next segment.
    Skip {
        /// The `.kfs` object key, as status shows it.
        #[arg(long)]
        segment: String,
        /// Why; recorded with the skip.
        #[arg(long, default_value = "")]
        reason: String,
        /// The answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A table, a topic, or a topic's partition.
#[derive(Args)]
pub struct TargetArgs {
    /// A table: every partition it reads.
    #[arg(long, conflicts_with = "topic")]
    table: Option<String>,
    /// A topic: its partitions, in every table it feeds.
    #[arg(long)]
    topic: Option<String>,
    /// Only this partition of the topic.
    #[arg(long, requires = "topic")]
    partition: Option<i32>,
    /// The answer as JSON.
    #[arg(long)]
    json: bool,
}

impl TargetArgs {
    fn target(&self) -> anyhow::Result<Target> {
        if self.table.is_none() && self.topic.is_none() {
            anyhow::bail!("name what to act on: --table NAME, --topic NAME, or --topic NAME --partition N");
        }
        Ok(Target {
            table: self.table.clone().unwrap_or_default(),
            topic: self.topic.clone().unwrap_or_default(),
            partition: self.partition,
        })
    }
}

pub async fn run(args: &AdminArgs, command: CtlCommand) -> anyhow::Result<()> {
    let mut admin = Admin::connect(args.options()?).await?;
    let (message, json) = match command {
        CtlCommand::Status { table, topic, json, watch } => {
            let request = StatusRequest {
                interval_ms: 1000,
                once: !watch,
                table: table.unwrap_or_default(),
                topic: topic.unwrap_or_default(),
            };
            if !watch {
                let status = admin.status_once(request).await?;
                print_status(&status, json)?;
                return Ok(());
            }
            let mut stream = admin.status_stream(request).await?;
            while let Some(status) = stream.message().await? {
                if !json {
                    print!("\x1b[2J\x1b[H"); // clear the screen between updates
                }
                print_status(&status, json)?;
            }
            return Ok(());
        }
        CtlCommand::Pause(target) => (admin.pause(target.target()?).await?, target.json),
        CtlCommand::Resume(target) => (admin.resume(target.target()?).await?, target.json),
        CtlCommand::Rewind { partition, offset, table, snapshot, timestamp, reason, json } => {
            let to = match (partition, offset, table) {
                (Some(partition), Some(offset), table) => {
                    let (topic, partition) = parse_partition(&partition)?;
                    To::Partition(PartitionOffset { topic, partition, offset, table: table.unwrap_or_default() })
                }
                (None, _, Some(table)) => {
                    let at = match (snapshot, timestamp) {
                        (Some(id), None) => At::SnapshotId(id),
                        (None, Some(time)) => At::TimestampMs(
                            DateTime::parse_from_rfc3339(&time)
                                .with_context(|| {
                                    format!("--timestamp {time}: expected RFC 3339, e.g. 2026-01-02T03:04:05Z")
                                })?
                                .timestamp_millis(),
                        ),
                        _ => anyhow::bail!("give --snapshot ID or --timestamp TIME with --table"),
                    };
                    To::Table(TableSnapshot { table, at: Some(at) })
                }
                _ => anyhow::bail!("give --partition TOPIC/N --offset N, or --table NAME --snapshot ID"),
            };
            (admin.rewind(RewindRequest { to: Some(to), reason }).await?, json)
        }
        CtlCommand::Skip { segment, reason, json } => {
            (admin.skip_segment(SkipSegmentRequest { object: segment, reason }).await?, json)
        }
    };
    match json {
        true => println!("{}", serde_json::to_string(&message)?),
        false => println!("{}", message.message),
    }
    Ok(())
}

fn parse_partition(text: &str) -> anyhow::Result<(String, i32)> {
    let parsed = text.rsplit_once('/').and_then(|(topic, p)| Some((topic.to_string(), p.parse().ok()?)));
    parsed.with_context(|| format!("--partition {text}: expected TOPIC/N, e.g. orders/3"))
}

fn print_status(status: &ClusterStatus, json: bool) -> anyhow::Result<()> {
    match json {
        true => println!("{}", serde_json::to_string(status)?),
        false => print!("{}", render_status(status)),
    }
    Ok(())
}

/// The status as text: a header, then tables, then partitions.
pub fn render_status(status: &ClusterStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "coordinator {}  at {}  workers {}",
        status.coordinator,
        time(status.time_ms),
        status.workers.len()
    );
    if !status.halted.is_empty() {
        let _ = writeln!(out, "HALTED: {}", status.halted);
    }
    for failure in &status.list_failures {
        let _ = writeln!(out, "cannot list {failure}");
    }
    let _ = writeln!(out);
    let mut rows = vec![row(["TABLE", "TOPIC", "STATE", "WATERMARK", "LAST COMMIT", "STAGED"])];
    rows.extend(status.tables.iter().map(|t| table_row(t, status.time_ms)));
    out.push_str(&columns(&rows));
    let _ = writeln!(out);
    let mut rows =
        vec![row(["PARTITION", "TABLE", "COMMITTED", "END", "LAG", "LAG AGE", "WATERMARK", "WORKER", "STATE"])];
    rows.extend(status.partitions.iter().map(|p| partition_row(p, status.time_ms)));
    out.push_str(&columns(&rows));
    for p in status.partitions.iter().filter(|p| !p.message.is_empty()) {
        let object = match p.object.is_empty() {
            true => String::new(),
            false => format!(" [{}]", p.object),
        };
        // Named with its table when the topic feeds several.
        let shared = status.partitions.iter().any(|o| o.topic == p.topic && o.table != p.table);
        let table = if shared { format!(" ({})", p.table) } else { String::new() };
        let _ = writeln!(out, "{}/{}{table} {}: {}{object}", p.topic, p.partition, p.state, p.message);
    }
    for t in status.tables.iter().filter(|t| !t.error.is_empty()) {
        let _ = writeln!(out, "table {}: {}", t.table, t.error);
    }
    out
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn table_row(t: &TableStatus, now: i64) -> Vec<String> {
    let state = match (t.paused, t.error.is_empty()) {
        (true, _) => "paused",
        (false, false) => "error",
        (false, true) => "ok",
    };
    let topic = match (t.topic.is_empty(), t.dead_letters_of.is_empty()) {
        (true, false) => format!("(dead letters of {})", t.dead_letters_of),
        _ => t.topic.clone(),
    };
    let last = t
        .recent_commits
        .last()
        .map_or("-".to_string(), |c| format!("{} ago, {} rows, {} files", age(now - c.time_ms), c.records, c.files));
    vec![
        t.table.clone(),
        topic,
        state.to_string(),
        t.watermark_ms.map_or("-".into(), |ms| format!("{} ago", age(now - ms))),
        last,
        format!("{} files, {}", t.staged_files, bytes(t.staged_bytes)),
    ]
}

fn partition_row(p: &PartitionStatus, now: i64) -> Vec<String> {
    let offset = |o: Option<i64>| o.map_or("-".to_string(), |o| o.to_string());
    let worker = match p.worker.is_empty() {
        true => "-".to_string(),
        false => format!("{} (epoch {})", p.worker, p.epoch),
    };
    vec![
        format!("{}/{}", p.topic, p.partition),
        p.table.clone(),
        offset(p.committed),
        offset(p.storage_end),
        format!("{} ({})", p.lag_records, bytes(p.lag_bytes)),
        match p.lag_seconds {
            0.0 => "-".to_string(),
            s => age((s * 1000.0) as i64),
        },
        p.watermark_ms.map_or("-".into(), |ms| format!("{} ago", age(now - ms))),
        worker,
        p.state.clone(),
    ]
}

/// Left-aligned columns two spaces apart.
fn columns(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
}

/// A duration in ms as `850ms`, `12s`, `4m05s`, `3h10m` or `2d04h`.
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        _ if ms < 1000 => format!("{}ms", ms.max(0)),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.1} GiB", n as f64 / 1_073_741_824.0),
    }
}

#[cfg(test)]
mod tests {
    use floe_proto::admin::Commit;

    use super::*;

    #[test]
    fn status_reads_as_aligned_tables_with_problems_spelled_out() {
        let now = 1_767_225_600_000;
        let status = ClusterStatus {
            coordinator: "host-1-run".into(),
            time_ms: now,
            tables: vec![TableStatus {
                table: "prod.orders".into(),
                topic: "orders".into(),
                watermark_ms: Some(now - 12_000),
                recent_commits: vec![Commit { time_ms: now - 3_000, files: 2, records: 5000, ..Default::default() }],
                ..Default::default()
            }],
            partitions: vec![
                PartitionStatus {
                    topic: "orders".into(),
                    partition: 0,
                    table: "prod.orders".into(),
                    committed: Some(100),
                    storage_end: Some(150),
                    lag_records: 50,
                    lag_bytes: 2048,
                    lag_seconds: 65.0,
                    worker: "w1".into(),
                    epoch: 3,
                    state: "reading".into(),
                    ..Default::default()
                },
                PartitionStatus {
                    topic: "orders".into(),
                    partition: 1,
                    table: "prod.orders".into(),
                    state: "failed".into(),
                    message: "bad batch CRC at offset 7".into(),
                    object: "orders/1/segment-00000000000000000000.kfs".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let text = render_status(&status);
        let expected = "\
coordinator host-1-run  at 2026-01-01 00:00:00Z  workers 0

TABLE        TOPIC   STATE  WATERMARK  LAST COMMIT                 STAGED
prod.orders  orders  ok     12s ago    3s ago, 5000 rows, 2 files  0 files, 0 B

PARTITION  TABLE        COMMITTED  END  LAG           LAG AGE  WATERMARK  WORKER        STATE
orders/0   prod.orders  100        150  50 (2.0 KiB)  1m05s    -          w1 (epoch 3)  reading
orders/1   prod.orders  -          -    0 (0 B)       -        -          -             failed
orders/1 failed: bad batch CRC at offset 7 [orders/1/segment-00000000000000000000.kfs]
";
        assert_eq!(text, expected);

        // A topic feeding a second table: its problems name their table.
        let mut shared = status.clone();
        let mut audit = shared.partitions[1].clone();
        audit.table = "audit.orders".into();
        shared.partitions.push(audit);
        let text = render_status(&shared);
        assert!(text.contains("orders/1 (prod.orders) failed: bad batch CRC"), "{text}");
        assert!(text.contains("orders/1 (audit.orders) failed: bad batch CRC"), "{text}");
    }

    #[test]
    fn partitions_are_topic_slash_number() {
        assert_eq!(parse_partition("my/topic/3").unwrap(), ("my/topic".to_string(), 3));
        let error = parse_partition("orders").unwrap_err().to_string();
        assert_eq!(error, "--partition orders: expected TOPIC/N, e.g. orders/3");
    }
}

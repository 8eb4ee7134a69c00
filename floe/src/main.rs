//! The `floe` command: turns KafScale segments into Apache Iceberg tables.

mod ctl;
mod demo;
mod generate;
mod logging;
mod metrics;
mod run;
mod tail;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use floe_config::TlsFiles;
use floe_coordinator::RunSummary;

use crate::ctl::{AdminArgs, CtlCommand};
use crate::generate::{DataSpec, TopicSpec, parse_codec, write_data_set};
use crate::logging::LogFormat;

#[derive(Parser)]
#[command(name = "floe", version, about = "Kafka data at rest (KafScale segments) into Apache Iceberg tables")]
struct Cli {
    /// Log format on stderr, for the commands that log (run, coordinator,
    /// worker, demo), which also take it after the command.
    #[arg(long, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Also taken before the command, as earlier releases did, and from the
    /// seed processor's KAFSCALE_METRICS_ADDR; listed by the commands it
    /// applies to (run, coordinator, worker).
    #[arg(long, env = "KAFSCALE_METRICS_ADDR", hide = true)]
    metrics_addr: Option<String>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Given after the command, else before it (as the chart gives it),
    /// else text.
    fn log_format(&self) -> LogFormat {
        let after = self.command.log_args().and_then(|log| log.log_format);
        after.or(self.log_format).unwrap_or(LogFormat::Text)
    }

    /// Given after the command, else before it, else KAFSCALE_METRICS_ADDR
    /// (the seed processor's variable); `None` for the config's.
    fn metrics_addr(&self) -> Option<String> {
        let after = self.command.serve_args().and_then(|serve| serve.metrics_addr.clone());
        after.or_else(|| self.metrics_addr.clone())
    }
}

/// How a command that logs does it.
#[derive(Args)]
struct LogArgs {
    /// Log format on stderr (default: text).
    #[arg(long, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
}

/// The options of the long-running commands.
#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Where to serve /metrics, /healthz and /readyz: HOST:PORT, :PORT for
    /// every interface, or `off` (default: KAFSCALE_METRICS_ADDR, else the
    /// config's metrics.listen, else :9093).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a coordinator and its workers in this process until stopped.
    Run {
        /// The YAML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Process every complete segment present now, commit, print a
        /// summary and exit (non-zero if a partition is stuck).
        #[arg(long)]
        once: bool,
        /// Workers to run beside the coordinator.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Run the coordinator alone; workers connect to it (`coordinator.listen`).
    /// With etcd, several may run: one leads, the others stand by.
    Coordinator {
        /// The YAML config file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Run a worker for the coordinator(s) at URL (the one leading is used;
    /// the lease, table and storage settings come from it).
    Worker {
        /// Coordinator URLs, comma-separated, e.g. http://floe-coordinator:7600.
        #[arg(long, env = "FLOE_COORDINATOR", value_delimiter = ',', required = true)]
        coordinator: Vec<String>,
        /// PEM file of the CA that signed the coordinator's certificate (https:// URLs).
        #[arg(long, env = "FLOE_TLS_CA")]
        tls_ca: Option<PathBuf>,
        /// This worker's certificate (PEM), when the coordinator requires one.
        #[arg(long, env = "FLOE_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, env = "FLOE_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Steer a running cluster through the leading coordinator's admin API.
    Ctl {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        command: CtlCommand,
    },
    /// A live terminal view of a running cluster: lag, watermarks, commits, errors.
    Console {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Print what a table would receive from a partition (JSON lines),
    /// decoded from storage by the leading coordinator; nothing is committed.
    Tail {
        /// The topic to read.
        topic: String,
        /// The partition's number.
        #[arg(long, default_value_t = 0)]
        partition: i32,
        /// From this offset (the first in storage when absent).
        #[arg(long)]
        from: Option<i64>,
        /// At most this many rows; 0 for all.
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// The records that would be dead letters, with why, instead of the rows.
        #[arg(long)]
        dead_letters: bool,
        // Last: the admin options' heading applies to every argument after it.
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Write sample segments, run the pipeline on them, show how to query the tables.
    Demo {
        /// Where to put segments, catalog and warehouse.
        #[arg(long, default_value = "floe-demo")]
        dir: PathBuf,
        /// Records per partition.
        #[arg(long, default_value_t = 5000)]
        records: u64,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Write synthetic KafScale segments (JSON orders) to try floe or measure it.
    Generate {
        /// Root directory: segments go to DIR/BUCKET/NAMESPACE/TOPIC/PARTITION/.
        #[arg(long)]
        dir: PathBuf,
        /// The bucket: a folder under DIR, as `s3.endpoint: file://DIR` reads it.
        #[arg(long, default_value = "bucket")]
        bucket: String,
        /// The KafScale namespace (`s3.namespace`): a folder under the bucket.
        #[arg(long, default_value = "production")]
        namespace: String,
        /// Topic names (repeat the flag for several).
        #[arg(long = "topic", default_value = "orders")]
        topics: Vec<String>,
        /// Partitions per topic.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// Records per partition.
        #[arg(long, default_value_t = 10_000)]
        records: u64,
        /// Size of each JSON value in bytes.
        #[arg(long, default_value_t = 200)]
        value_bytes: usize,
        /// none, gzip, snappy, lz4, zstd, or mixed (each in turn).
        #[arg(long, default_value = "lz4")]
        codec: String,
        /// Records per batch, as a producer sends them.
        #[arg(long, default_value_t = 500)]
        batch_records: usize,
        /// Records per segment, as a broker flushes them.
        #[arg(long, default_value_t = 50_000)]
        segment_records: usize,
        /// Add committed and aborted transactions.
        #[arg(long)]
        transactions: bool,
    },
}

impl Command {
    fn serve_args(&self) -> Option<&ServeArgs> {
        match self {
            Command::Run { serve, .. } | Command::Coordinator { serve, .. } | Command::Worker { serve, .. } => {
                Some(serve)
            }
            _ => None,
        }
    }

    fn log_args(&self) -> Option<&LogArgs> {
        match self {
            Command::Demo { log, .. } => Some(log),
            other => other.serve_args().map(|serve| &serve.log),
        }
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    logging::init(cli.log_format());
    let metrics_addr = cli.metrics_addr();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(cli.command, metrics_addr.as_deref())) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

async fn execute(command: Command, metrics_addr: Option<&str>) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { config, once, workers, .. } => {
            let summary = run::run_pipeline(&config, once, workers, metrics_addr).await?;
            Ok(report(summary, once))
        }
        Command::Coordinator { config, .. } => {
            let summary = run::run_coordinator(&config, metrics_addr).await?;
            Ok(report(summary, false))
        }
        Command::Worker { coordinator, tls_ca, tls_cert, tls_key, .. } => {
            let tls = TlsFiles { ca_file: tls_ca, cert_file: tls_cert, key_file: tls_key };
            let health = metrics::start(metrics::address(metrics_addr, None)?).await?;
            health.set_check(floe_metrics::worker_readiness);
            run::run_worker(coordinator, tls).await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ctl { admin, command } => {
            ctl::run(&admin, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tail { admin, topic, partition, from, limit, dead_letters } => {
            tail::run(&admin, tail::TailRequest { topic, partition, from, limit, dead_letters }).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Console { admin } => {
            floe_console::run(admin.options()?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { dir, records, .. } => {
            let summary = demo::run_demo(&dir, records).await?;
            Ok(exit_code(summary.is_complete()))
        }
        Command::Generate {
            dir,
            bucket,
            namespace,
            topics,
            partitions,
            records,
            value_bytes,
            codec,
            batch_records,
            segment_records,
            transactions,
        } => {
            let codecs = parse_codec(&codec).map_err(anyhow::Error::msg)?;
            let spec = DataSpec {
                topics: topics
                    .into_iter()
                    .map(|name| TopicSpec { name, partitions, codecs: codecs.clone(), transactions })
                    .collect(),
                records_per_partition: records,
                value_bytes,
                batch_records,
                segment_records,
                start_ms: 1_767_225_600_000,
            };
            let root = dir.join(bucket).join(namespace);
            let written = tokio::task::spawn_blocking(move || write_data_set(&root, &spec)).await??;
            let records: u64 = written.iter().map(|p| p.committed_records).sum();
            let bytes: u64 = written.iter().map(|p| p.bytes).sum();
            let segments: usize = written.iter().map(|p| p.segments).sum();
            println!("wrote {records} records in {segments} segments ({} MiB)", bytes >> 20);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The error and its causes, each said once: a start-up error names what
/// failed and repeats its cause's text, which `{:#}` would print again.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1).map(ToString::to_string) {
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

/// glibc gives every thread that allocates heavily an arena of its own (up
/// to 8 per core) and each keeps its high-water mark: with decoding and
/// Parquet encoding spread over threads, resident memory grew to several row
/// groups per thread. Four arenas keep it near the configured buffers at no
/// measurable throughput cost (BENCHMARKS.md). `MALLOC_ARENA_MAX` still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 4);
        }
    }
}

/// Prints what a coordinator did; `None` when it never got to lead.
fn report(summary: Option<RunSummary>, once: bool) -> ExitCode {
    let Some(summary) = summary else {
        println!("stopped before leading: nothing was read or committed");
        // `--once` succeeds only once everything present is committed.
        return exit_code(!once);
    };
    print!("{summary}");
    exit_code(summary.is_complete())
}

fn exit_code(complete: bool) -> ExitCode {
    if complete { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_each_cause_once() {
        let denied = std::io::Error::other("list s3://bucket/: AccessDenied");
        // What `#[error("segment source: {0}")] Source(#[from] StorageError)` gives.
        let error = anyhow::Error::new(denied).context("segment source: list s3://bucket/: AccessDenied");
        assert_eq!(error_text(&error), "segment source: list s3://bucket/: AccessDenied");
        let error = error.context("starting");
        assert_eq!(error_text(&error), "starting: segment source: list s3://bucket/: AccessDenied");
        let missing = anyhow::Error::new(std::io::Error::other("no such file")).context("reading floe.yaml");
        assert_eq!(error_text(&missing), "reading floe.yaml: no such file");
    }
}

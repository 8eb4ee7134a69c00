//! Helpers for the end-to-end tests: run the real `floe` binary, read the
//! tables it writes back with PyIceberg and DuckDB, compare with what a
//! user expects.
//!
//! `scripts/test.sh` builds the binary and the Python environment first;
//! `FLOE_BIN` and `FLOE_PYTHON` point elsewhere when set.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod http_files;
pub mod running;
pub mod segments;
pub mod services;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

/// The conformance corpus, read in place beside the repository.
pub fn corpus_dir() -> PathBuf {
    repo_root().join("../shared/corpus")
}

/// The `floe` binary under test.
pub fn floe_bin() -> PathBuf {
    let path = std::env::var_os("FLOE_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from);
        target.join("debug/floe")
    });
    assert!(path.exists(), "{} is missing: build it with `cargo build -p floe` (scripts/test.sh does)", path.display());
    path
}

/// The Python that has PyIceberg and DuckDB.
pub fn python() -> PathBuf {
    let path =
        std::env::var_os("FLOE_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(path.exists(), "{} is missing: run scripts/python-env.sh (scripts/test.sh does)", path.display());
    path
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    PyIceberg,
    DuckDb,
}

impl Engine {
    pub const ALL: [Engine; 2] = [Engine::PyIceberg, Engine::DuckDb];

    fn name(self) -> &'static str {
        match self {
            Engine::PyIceberg => "pyiceberg",
            Engine::DuckDb => "duckdb",
        }
    }
}

/// A catalog (SQLite) and a warehouse (local directory) in a temporary
/// folder, and the config that points floe at them.
pub struct Lakehouse {
    pub dir: tempfile::TempDir,
}

impl Default for Lakehouse {
    fn default() -> Self {
        Self::new()
    }
}

impl Lakehouse {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temporary directory") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn catalog_file(&self) -> PathBuf {
        self.path().join("catalog.db")
    }

    fn warehouse(&self) -> String {
        format!("file://{}/warehouse", self.path().display())
    }

    /// Writes a config reading segments from `source` (the directory that
    /// holds the bucket folder) into tables named by `mappings` (topic,
    /// table). `extra` is appended as more YAML.
    pub fn write_config(
        &self,
        source: &Path,
        bucket: &str,
        namespace: &str,
        mappings: &[(&str, &str)],
        extra: &str,
    ) -> PathBuf {
        let mut yaml = format!(
            "s3:\n  bucket: {bucket}\n  namespace: {namespace}\n  endpoint: file://{source}\n\
             iceberg:\n  catalog:\n    type: sql\n    uri: sqlite://{catalog}\n  warehouse: {warehouse}\n\
             mappings:\n",
            source = source.canonicalize().expect("source directory").display(),
            catalog = self.catalog_file().display(),
            warehouse = self.warehouse(),
        );
        for (topic, table) in mappings {
            yaml.push_str(&format!("  - topic: {topic}\n    table: {table}\n"));
        }
        yaml.push_str(extra);
        let path = self.path().join("floe.yaml");
        std::fs::write(&path, yaml).expect("writing the config");
        path
    }

    /// How the Python readers reach this lakehouse's catalog.
    pub fn catalog(&self) -> CatalogAccess {
        CatalogAccess {
            uri: format!("sqlite:///{}", self.catalog_file().display()),
            name: "floe".into(),
            warehouse: self.warehouse(),
            s3_endpoint: None,
            token: None,
        }
    }

    pub fn rows(&self, engine: Engine, table: &str) -> Vec<Value> {
        self.catalog().rows(engine, table)
    }

    pub fn all_columns(&self, engine: Engine, table: &str) -> Vec<Value> {
        self.catalog().all_columns(engine, table)
    }

    pub fn snapshots(&self, table: &str) -> Vec<Value> {
        self.catalog().snapshots(table)
    }

    pub fn data_files(&self, table: &str) -> Vec<String> {
        self.catalog().data_files(table)
    }

    pub fn schema(&self, table: &str) -> Vec<Value> {
        self.catalog().schema(table)
    }

    /// Every Parquet file under the warehouse, as `file://` URLs.
    pub fn parquet_files(&self) -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "parquet") {
                    out.push(format!("file://{}", path.display()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path().join("warehouse"), &mut out);
        out.sort();
        out
    }
}

/// A catalog as the Python readers reach it: SQLite, PostgreSQL or REST,
/// with an S3 endpoint for s3:// warehouses.
#[derive(Debug, Clone)]
pub struct CatalogAccess {
    pub uri: String,
    pub name: String,
    pub warehouse: String,
    pub s3_endpoint: Option<String>,
    /// A REST catalog's bearer token.
    pub token: Option<String>,
}

impl CatalogAccess {
    /// Every row of a table as one JSON object each, ordered by
    /// (topic, partition, offset), in the corpus' expected.jsonl shape.
    pub fn rows(&self, engine: Engine, table: &str) -> Vec<Value> {
        self.read_table(engine, table, &[])
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON row"))
            .collect()
    }

    /// Every row of a table with every column (dates as days and timestamps
    /// as microseconds since the epoch), ordered by (topic, partition, offset).
    pub fn all_columns(&self, engine: Engine, table: &str) -> Vec<Value> {
        self.read_table(engine, table, &["--columns", "all"])
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON row"))
            .collect()
    }

    /// The table's snapshots, oldest first, with their summaries (PyIceberg).
    pub fn snapshots(&self, table: &str) -> Vec<Value> {
        self.read_table(Engine::PyIceberg, table, &["--snapshots"])
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON snapshot"))
            .collect()
    }

    /// The current schema's top-level fields, in order, as
    /// `{"name", "type", "required"}` (PyIceberg's type names).
    pub fn schema(&self, table: &str) -> Vec<Value> {
        self.read_table(Engine::PyIceberg, table, &["--schema"])
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON field"))
            .collect()
    }

    /// Paths of the data files the table's current snapshot references.
    pub fn data_files(&self, table: &str) -> Vec<String> {
        self.read_table(Engine::PyIceberg, table, &["--data-files"])
            .lines()
            .map(|line| {
                let file: Value = serde_json::from_str(line).expect("a JSON data file");
                file["path"].as_str().expect("a path").to_string()
            })
            .collect()
    }

    fn read_table(&self, engine: Engine, table: &str, extra: &[&str]) -> String {
        let mut command = Command::new(python());
        command
            .arg(repo_root().join("tests/py/read_table.py"))
            .args(["--engine", engine.name(), "--catalog-name", &self.name, "--table", table])
            .args(["--catalog-uri", &self.uri, "--warehouse", &self.warehouse])
            .args(extra);
        if let Some(endpoint) = &self.s3_endpoint {
            command.args(["--s3-endpoint", endpoint]);
        }
        if let Some(token) = &self.token {
            command.args(["--token", token]);
        }
        let output = command.output().expect("running read_table.py");
        assert!(
            output.status.success(),
            "{} could not read {table}: {}",
            engine.name(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }
}

/// A finished `floe` process.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `floe run --once --config CONFIG` and waits for it (at most
/// `timeout`).
pub fn run_once(config: &Path, timeout: Duration) -> Finished {
    let child = floe(&["run", "--once", "--config"], config);
    wait(child, timeout)
}

/// `floe` with test logging, and its admin and metrics endpoints on ports
/// of their own (tests run side by side).
pub fn floe_command() -> Command {
    let mut command = Command::new(floe_bin());
    command
        .env("RUST_LOG", "warn,floe=info,floe_coordinator=info,floe_worker=info")
        .env("FLOE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("KAFSCALE_METRICS_ADDR", "127.0.0.1:0");
    command
}

/// Starts `floe ARGS CONFIG` with piped output.
pub fn floe(args: &[&str], config: &Path) -> Child {
    floe_command().args(args).arg(config).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting floe")
}

/// Waits for a child, killing it after `timeout`.
pub fn wait(mut child: Child, timeout: Duration) -> Finished {
    let deadline = Instant::now() + timeout;
    // Drain the pipes as the process runs so it never blocks on a full one.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for floe") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let stderr = stderr.join().unwrap_or_default();
            panic!("floe did not finish within {timeout:?}; its log:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs a command to completion and returns its output, failing the test
/// with its stderr when it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("starting a command");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Runs `floe generate --dir DIR --topic orders` with `partitions` of
/// `records` each and the `more` flags; returns the topic's folder,
/// DIR/bucket/production/orders.
pub fn generate_orders(dir: &Path, partitions: u32, records: u32, more: &[&str]) -> PathBuf {
    run_ok(
        Command::new(floe_bin())
            .args(["generate", "--dir"])
            .arg(dir)
            .args(["--topic", "orders", "--partitions", &partitions.to_string(), "--records", &records.to_string()])
            .args(more),
    );
    dir.join("bucket/production/orders")
}

/// A corpus case's expected records, as JSON values.
pub fn expected(case: &str) -> Vec<Value> {
    let path = corpus_dir().join(case).join("expected.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines().map(|line| serde_json::from_str(line).expect("expected.jsonl holds JSON lines")).collect()
}

/// The (partition, offset) of every row, in order.
pub fn positions(rows: &[Value]) -> Vec<(i64, i64)> {
    let mut positions: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r["partition"].as_i64().expect("a partition"), r["offset"].as_i64().expect("an offset")))
        .collect();
    positions.sort_unstable();
    positions
}

/// The records of one topic.
pub fn of_topic(rows: &[Value], topic: &str) -> Vec<Value> {
    rows.iter().filter(|r| r["topic"] == topic).cloned().collect()
}

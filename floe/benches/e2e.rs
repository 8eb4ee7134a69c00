//! End-to-end throughput of `floe run --once`: generates a data set of
//! KafScale segments, runs the floe binary on it into a fresh SQLite catalog
//! and local warehouse, and prints records/s, MB/s and the process's peak RSS.
//!
//!     cargo bench -p floe --bench e2e
//!
//! Settings (environment): FLOE_BENCH_RECORDS (total records, a comma list
//! runs several sizes; default 5000000), FLOE_BENCH_PARTITIONS (8),
//! FLOE_BENCH_VALUE_BYTES (200), FLOE_BENCH_CODEC (lz4), FLOE_BENCH_WORKERS (2),
//! FLOE_BENCH_DIR (where generated data is kept between runs; default
//! target/bench-data), FLOE_BENCH_COLUMNS (`raw`, the default: records as
//! they are; `typed`: ten typed columns read from the JSON values besides;
//! `avro`: the same values as Avro in the Confluent wire format, whose
//! schema gives the same ten columns, from a local static registry).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use apache_avro::Schema;
use floe_kfs::reader::{ReaderOptions, SegmentReader};
use floe_kfs::writer::{BatchBuilder, NewRecord, SegmentWriter};
use floe_kfs::{Compression, index_object_name, segment_object_name};
use floe_tests::http_files::HttpFiles;

#[path = "../../table/benches/common/avro_orders.rs"]
mod avro_orders;
use avro_orders::{AVRO_SCHEMA, avro_order};

/// Ten typed columns of the generated order values, of every kind of
/// conversion: exact longs and decimals, nested paths, epoch-millis
/// timestamps, numbers read as strings.
const TYPED_COLUMNS: &str = concat!(
    "    schema:\n      columns:\n",
    "        - {name: order_id, type: long, required: true}\n",
    "        - {name: status, type: string}\n",
    "        - {name: amount, type: \"decimal(10,2)\"}\n",
    "        - {name: amount_double, type: double, path: amount}\n",
    "        - {name: qty, type: int}\n",
    "        - {name: customer_id, type: long, path: customer.id}\n",
    "        - {name: country, type: string, path: customer.country}\n",
    "        - {name: created_at, type: timestamptz}\n",
    "        - {name: note, type: string}\n",
    "        - {name: order_ref, type: string, path: order_id}\n",
);

/// Rewrites every segment under `from` into `to` with Avro values, batch
/// for batch (same offsets and codecs: the generated set has no
/// transactions).
fn transcode_to_avro(from: &Path, to: &Path, schema: &Schema) {
    for entry in std::fs::read_dir(from).expect("listing the data set").flatten() {
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            std::fs::create_dir_all(&target).expect("creating a folder");
            transcode_to_avro(&source, &target, schema);
            continue;
        }
        if source.extension().is_none_or(|e| e != "kfs") {
            continue;
        }
        let len = std::fs::metadata(&source).expect("segment size").len();
        let file = BufReader::new(File::open(&source).expect("opening a segment"));
        let mut reader = SegmentReader::new(file, source.display().to_string(), len, ReaderOptions::default())
            .expect("a generated segment");
        let header = reader.header().copied().expect("a segment header");
        let mut segment = SegmentWriter::new(header.base_offset, header.created_ms, 100);
        while let Some(batch) = reader.next_batch().expect("a generated batch") {
            let mut builder = BatchBuilder::new(batch.header.compression().unwrap_or(Compression::None));
            for record in batch.records {
                builder.push(NewRecord {
                    timestamp_ms: record.timestamp_ms,
                    key: record.key.map(|k| k.to_vec()),
                    value: record.value.map(|v| avro_order(schema, &v)),
                    headers: record
                        .headers
                        .into_iter()
                        .map(|h| (String::from_utf8_lossy(&h.key).into_owned(), h.value.map(|v| v.to_vec())))
                        .collect(),
                });
            }
            segment.push_batch(&builder.encode(segment.next_offset()).expect("encoding")).expect("a batch");
        }
        let (kfs, index) = segment.finish();
        let parent = target.parent().expect("a partition folder");
        std::fs::write(parent.join(segment_object_name(header.base_offset)), kfs).expect("writing a segment");
        std::fs::write(parent.join(index_object_name(header.base_offset)), index).expect("writing an index");
    }
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() { dir_size(&path) } else { entry.metadata().map_or(0, |m| m.len()) }
        })
        .sum()
}

/// Waits for a child and returns whether it succeeded and its own peak RSS
/// (bytes).
fn wait_with_peak_rss(child: std::process::Child) -> (bool, u64) {
    let mut status = 0;
    // SAFETY: wait4 only writes into the values we pass; the pid is our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, usage.ru_maxrss as u64 * 1024)
}

fn main() {
    let floe = env!("CARGO_BIN_EXE_floe");
    let partitions: u64 = setting("FLOE_BENCH_PARTITIONS", "8").parse().expect("FLOE_BENCH_PARTITIONS");
    let value_bytes = setting("FLOE_BENCH_VALUE_BYTES", "200");
    let codec = setting("FLOE_BENCH_CODEC", "lz4");
    let workers = setting("FLOE_BENCH_WORKERS", "2");
    let kind = setting("FLOE_BENCH_COLUMNS", "raw");
    let registry_dir = tempfile::tempdir().expect("temporary directory");
    let avro_schema = Schema::parse_str(AVRO_SCHEMA).expect("the bench's Avro schema");
    let registry = HttpFiles::serve(registry_dir.path());
    let (columns, label) = match kind.as_str() {
        "raw" => (String::new(), "raw"),
        "typed" => (TYPED_COLUMNS.to_string(), "raw + 10 typed"),
        "avro" => {
            let answer = serde_json::json!({"schema": AVRO_SCHEMA, "id": 1, "version": 1, "subject": "orders-value"});
            for path in ["schemas/ids/1", "subjects/orders-value/versions/latest"] {
                let file = registry_dir.path().join(path);
                std::fs::create_dir_all(file.parent().expect("a folder")).expect("registry folder");
                std::fs::write(file, answer.to_string()).expect("a registry answer");
            }
            let mapping =
                format!("    format: avro\nschema:\n  confluent_registry:\n    url: {}\n", registry.base_url());
            (mapping, "raw + 10 Avro")
        }
        other => panic!("FLOE_BENCH_COLUMNS is `{other}`: raw, typed or avro"),
    };
    let root = PathBuf::from(setting("FLOE_BENCH_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data")));
    println!(
        "| records | columns | segment data | codec | partitions | workers | time | records/s | MB/s (segment bytes) | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for total in setting("FLOE_BENCH_RECORDS", "5000000").split(',') {
        let total: u64 = total.trim().parse().expect("FLOE_BENCH_RECORDS");
        let per_partition = total / partitions;
        let json_data = root.join(format!("{total}-{partitions}-{value_bytes}-{codec}"));
        if !json_data.join("done").exists() {
            let data = &json_data;
            let _ = std::fs::remove_dir_all(data);
            let status = Command::new(floe)
                .args(["generate", "--dir"])
                .arg(data)
                .args(["--topic", "orders", "--partitions", &partitions.to_string()])
                .args(["--records", &per_partition.to_string(), "--value-bytes", &value_bytes, "--codec", &codec])
                .args(["--segment-records", "50000"])
                .stdout(Stdio::null())
                .status()
                .expect("running floe generate");
            assert!(status.success(), "floe generate failed");
            std::fs::write(data.join("done"), b"").expect("marking the data set");
        }
        let data = match kind.as_str() {
            "avro" => {
                let avro_data = root.join(format!("{total}-{partitions}-{value_bytes}-{codec}-avro"));
                if !avro_data.join("done").exists() {
                    let _ = std::fs::remove_dir_all(&avro_data);
                    std::fs::create_dir_all(avro_data.join("bucket")).expect("creating the Avro data set");
                    transcode_to_avro(&json_data.join("bucket"), &avro_data.join("bucket"), &avro_schema);
                    std::fs::write(avro_data.join("done"), b"").expect("marking the data set");
                }
                avro_data
            }
            _ => json_data,
        };
        let segment_bytes = dir_size(&data.join("bucket"));

        let lake = tempfile::tempdir().expect("temporary directory");
        let config = lake.path().join("floe.yaml");
        std::fs::write(
            &config,
            format!(
                "s3:\n  bucket: bucket\n  namespace: production\n  endpoint: file://{}\n\
                 iceberg:\n  catalog:\n    type: sql\n    uri: sqlite://{}/catalog.db\n  warehouse: file://{}/warehouse\n\
                 mappings:\n  - topic: orders\n    table: bench.orders\n{columns}",
                data.display(),
                lake.path().display(),
                lake.path().display()
            ),
        )
        .expect("writing the config");
        let (stdout, stderr) = (lake.path().join("stdout"), lake.path().join("stderr"));
        let started = Instant::now();
        let child = Command::new(floe)
            .args(["run", "--once", "--workers", &workers, "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .env("FLOE_ADMIN_LISTEN", "127.0.0.1:0")
            .env("KAFSCALE_METRICS_ADDR", "off")
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("running floe");
        let (ok, peak_rss) = wait_with_peak_rss(child);
        let elapsed = started.elapsed().as_secs_f64();
        assert!(ok, "floe failed:\n{}", std::fs::read_to_string(&stderr).unwrap_or_default());
        let summary = std::fs::read_to_string(&stdout).expect("the summary");
        let rows: u64 = summary
            .lines()
            .find(|l| l.starts_with("bench.orders"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .expect("rows in the summary");
        assert_eq!(rows, per_partition * partitions, "every record committed");
        println!(
            "| {rows} | {} | {:.0} MiB | {codec} | {partitions} | {workers} | {elapsed:.1} s | {:.0} | {:.0} | {:.0} MiB |",
            label,
            segment_bytes as f64 / 1048576.0,
            rows as f64 / elapsed,
            segment_bytes as f64 / 1e6 / elapsed,
            peak_rss as f64 / 1048576.0,
        );
    }
}

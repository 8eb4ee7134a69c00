//! floe as a cluster through a real S3 server: `floe coordinator` and
//! `floe worker` processes, segments in S3, tables in an s3:// warehouse
//! with the SQL catalog on PostgreSQL, leases in etcd.
//!
//!     scripts/services/up.sh /tmp/svc && source /tmp/svc/env
//!     cargo build --release -p floe
//!     FLOE_BIN=target/release/floe cargo bench -p floe-tests --bench cluster
//!
//! Prints, for 1 and 3 workers, the throughput of a backlog already in S3,
//! then the freshness of a live feed: the time from a segment's upload to
//! its rows being committed (readable), at the default commit settings,
//! with segments uploaded at FLOE_BENCH_MBPS (default 50) MB/s.
//!
//! Settings (environment): FLOE_BENCH_RECORDS (backlog records, default
//! 2000000), FLOE_BENCH_PARTITIONS (8), FLOE_BENCH_MBPS (50),
//! FLOE_BENCH_FEED_SECONDS (20), FLOE_BENCH_FEED_RECORDS (records generated
//! for the feed, default 14000000: about 1 GB of segments).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use floe_tests::generate_orders;
use floe_tests::services::{FloeProcess, Services, free_port, services};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Segments of topic `orders` under DIR/bucket/production/orders.
fn generate(dir: &Path, partitions: u64, records: u64) -> PathBuf {
    if !dir.join("done").exists() {
        let _ = std::fs::remove_dir_all(dir);
        let more = ["--value-bytes", "200", "--codec", "lz4", "--segment-records", "20000"];
        generate_orders(dir, partitions as u32, (records / partitions) as u32, &more);
        std::fs::write(dir.join("done"), "").unwrap();
    }
    dir.join("bucket/production/orders")
}

/// Every segment as (partition, .kfs path, the offset reading it reaches),
/// in upload order; `ends` are the partitions' end offsets.
fn segments(topic_dir: &Path, ends: &[i64]) -> Vec<(u32, PathBuf, i64)> {
    let mut out = Vec::new();
    for partition in std::fs::read_dir(topic_dir).unwrap().flatten() {
        let p: u32 = partition.file_name().to_string_lossy().parse().unwrap();
        let mut kfs: Vec<PathBuf> = std::fs::read_dir(partition.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "kfs"))
            .collect();
        kfs.sort();
        for (i, path) in kfs.iter().enumerate() {
            let reaches = kfs.get(i + 1).map_or(ends[p as usize], |next| base_offset(next));
            out.push((p, path.clone(), reaches));
        }
    }
    // Interleave partitions the way brokers flush them.
    out.sort_by_key(|(p, path, _)| (base_offset(path), *p));
    out
}

fn base_offset(kfs: &Path) -> i64 {
    kfs.file_stem().unwrap().to_string_lossy().trim_start_matches("segment-").parse().unwrap()
}

struct Run {
    services: Services,
    bucket: String,
    prefix: String,
    dir: tempfile::TempDir,
}

impl Run {
    fn new(services: &Services, label: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let bucket = format!("bench-{label}-{nanos}");
        services.create_bucket(&bucket);
        services.create_bucket(&format!("{bucket}-wh"));
        Self {
            services: services.clone(),
            prefix: format!("floe-bench/{bucket}"),
            bucket,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn start(&self, workers: usize) -> Vec<FloeProcess> {
        let port = free_port();
        let namespace = self.bucket.replace('-', "_");
        let config = format!(
            "s3:\n  bucket: {bucket}\n  namespace: production\n  endpoint: {s3}\n  path_style: true\n\
             iceberg:\n  catalog:\n    type: sql\n    uri: {pg}\n    name: {namespace}\n  warehouse: s3://{bucket}-wh/wh\n\
             offsets:\n  key_prefix: {prefix}\netcd:\n  endpoints: [{etcd}]\n\
             coordinator:\n  listen: 127.0.0.1:{port}\n\
             mappings:\n  - topic: orders\n    table: {namespace}.orders\n",
            bucket = self.bucket,
            s3 = self.services.s3,
            pg = self.services.postgres,
            prefix = self.prefix,
            etcd = self.services.etcd,
        );
        let path = self.dir.path().join("floe.yaml");
        std::fs::write(&path, config).unwrap();
        let coordinator =
            FloeProcess::start(&["coordinator", "--config", path.to_str().unwrap()], self.dir.path().join("c.log"));
        coordinator.wait_for_log("coordinator serving workers", Duration::from_secs(120));
        let url = format!("http://127.0.0.1:{port}");
        let mut processes = vec![coordinator];
        for n in 0..workers {
            let log = self.dir.path().join(format!("w{n}.log"));
            processes.push(FloeProcess::start(&["worker", "--coordinator", &url], log));
        }
        processes
    }

    fn committed(&self, partition: u32) -> i64 {
        self.services
            .etcd_get(&format!("{}/offsets/{}.orders/orders/{partition}", self.prefix, self.bucket.replace('-', "_")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn main() {
    let Some(services) = services("cluster bench") else { return };
    let partitions = setting("FLOE_BENCH_PARTITIONS", 8);
    let records = setting("FLOE_BENCH_RECORDS", 2_000_000);
    let mbps = setting("FLOE_BENCH_MBPS", 50);
    let feed_seconds = setting("FLOE_BENCH_FEED_SECONDS", 20);
    let data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data"));
    let topic_dir = generate(&data.join(format!("cluster-{records}-{partitions}")), partitions, records);
    let ends: Vec<i64> = (0..partitions as u32)
        .map(|p| floe_tests::segments::committed_offsets(&topic_dir.join(p.to_string())).last().map_or(0, |o| o + 1))
        .collect();
    let all = segments(&topic_dir, &ends);
    let bytes: u64 = all.iter().map(|(_, p, _)| std::fs::metadata(p).unwrap().len()).sum();

    println!("## backlog: {records} records, {} MiB of lz4 segments, {partitions} partitions", bytes >> 20);
    println!("| workers | seconds | records/s | MB/s (segments) |");
    println!("|---|---|---|---|");
    for workers in [1, 3] {
        let run = Run::new(&services, &format!("w{workers}"));
        services.upload_dir(&run.bucket, &topic_dir, "production/orders/");
        let started = Instant::now();
        let _processes = run.start(workers);
        while (0..partitions as u32).any(|p| run.committed(p) < ends[p as usize]) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "| {workers} | {seconds:.1} | {:.0} | {:.1} |",
            records as f64 / seconds,
            bytes as f64 / seconds / 1e6
        );
    }

    // The live feed needs its own, larger data set: MB/s x seconds of segments.
    let feed_records = setting("FLOE_BENCH_FEED_RECORDS", 14_000_000);
    let feed_dir = generate(&data.join(format!("cluster-{feed_records}-{partitions}")), partitions, feed_records);
    let feed_ends: Vec<i64> = (0..partitions as u32)
        .map(|p| floe_tests::segments::committed_offsets(&feed_dir.join(p.to_string())).last().map_or(0, |o| o + 1))
        .collect();
    let feed = segments(&feed_dir, &feed_ends);
    println!(
        "\n## freshness: segments uploaded at {mbps} MB/s for up to {feed_seconds} s, 3 workers, default commit settings"
    );
    let run = Run::new(&services, "fresh");
    let _processes = run.start(3);
    let (uploads_tx, uploads_rx) = std::sync::mpsc::channel::<(u32, i64, Instant)>();
    // One uploader per pair of partitions: a single PUT stream cannot reach
    // the rate on this S3 server. Each keeps its partitions in order.
    const UPLOADERS: u32 = 4;
    let start = Instant::now();
    let feeders: Vec<_> = (0..UPLOADERS)
        .map(|n| {
            let mine: Vec<_> = feed.iter().filter(|(p, _, _)| p % UPLOADERS == n).cloned().collect();
            let (run_services, bucket, uploads_tx) = (run.services.clone(), run.bucket.clone(), uploads_tx.clone());
            let rate = mbps as f64 * 1e6 / f64::from(UPLOADERS);
            std::thread::spawn(move || {
                let s3 = run_services.s3();
                let mut sent = 0u64;
                for (p, kfs, reaches) in mine {
                    if start.elapsed() > Duration::from_secs(feed_seconds) {
                        break;
                    }
                    let key =
                        |path: &Path| format!("production/orders/{p}/{}", path.file_name().unwrap().to_string_lossy());
                    s3.put(&bucket, &key(&kfs), &kfs);
                    s3.put(&bucket, &key(&kfs.with_extension("index")), &kfs.with_extension("index"));
                    sent += std::fs::metadata(&kfs).unwrap().len();
                    let _ = uploads_tx.send((p, reaches, Instant::now()));
                    let due = start + Duration::from_secs_f64(sent as f64 / rate);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                (sent, start.elapsed())
            })
        })
        .collect();
    drop(uploads_tx);
    let mut pending: Vec<(u32, i64, Instant)> = Vec::new();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut feeding = true;
    while feeding || !pending.is_empty() {
        loop {
            match uploads_rx.try_recv() {
                Ok(upload) => pending.push(upload),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    feeding = false;
                    break;
                }
            }
        }
        let committed: Vec<i64> = (0..partitions as u32).map(|p| run.committed(p)).collect();
        let now = Instant::now();
        pending.retain(|(p, reaches, uploaded)| {
            let done = committed[*p as usize] >= *reaches;
            if done {
                latencies.push(now - *uploaded);
            }
            !done
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    let fed: Vec<(u64, Duration)> = feeders.into_iter().map(|f| f.join().unwrap()).collect();
    let sent: u64 = fed.iter().map(|(sent, _)| sent).sum();
    let took = fed.iter().map(|(_, took)| *took).max().unwrap_or_default();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!("| segments | fed MB/s | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {:.1} | {:.2} s | {:.2} s | {:.2} s |",
        latencies.len(),
        sent as f64 / took.as_secs_f64() / 1e6,
        at(0.5).as_secs_f64(),
        at(0.99).as_secs_f64(),
        latencies.last().unwrap().as_secs_f64()
    );
}

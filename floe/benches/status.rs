//! The admin API and metrics at scale: a coordinator (its own process, with
//! two worker processes) over FLOE_BENCH_PARTITIONS partitions (default
//! 10,000) that are all caught up, then, for FLOE_BENCH_SECONDS (30):
//! - the coordinator's CPU (share of one core) and resident memory;
//! - `Status` streams: how old each update is when it arrives (the time in
//!   the update against the clock on receipt), their size and spacing;
//! - one-shot `Status` calls (`floe ctl status`) round trips;
//! - `/metrics` scrapes: time and size.
//!
//!     cargo bench -p floe --bench status
//!
//! FLOE_BENCH_DIR keeps the generated segments between runs (default
//! target/bench-data).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floe_console::{Admin, ClientOptions};
use floe_proto::admin::StatusRequest;
use prost::Message;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th.
    let rest = stat.rsplit_once(')').expect("a stat line").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf only reads a system setting.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn spawn(floe: &str, args: &[&str], env: &[(&str, &str)], log: &Path) -> Child {
    let mut command = Command::new(floe);
    command.args(args).env("RUST_LOG", "warn").stdout(Stdio::null());
    command.stderr(std::fs::File::create(log).expect("log file"));
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("starting floe")
}

fn scrape(address: &str) -> (Duration, usize) {
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(address).expect("metrics endpoint");
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: floe\r\nConnection: close\r\n\r\n").unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).unwrap();
    (started.elapsed(), body.len())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::main]
async fn main() {
    let floe = env!("CARGO_BIN_EXE_floe");
    let partitions: usize = setting("FLOE_BENCH_PARTITIONS", "10000").parse().expect("FLOE_BENCH_PARTITIONS");
    let seconds: u64 = setting("FLOE_BENCH_SECONDS", "30").parse().expect("FLOE_BENCH_SECONDS");
    let root = PathBuf::from(setting("FLOE_BENCH_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data")));
    let data = root.join(format!("status-{partitions}"));
    if !data.join("done").exists() {
        let _ = std::fs::remove_dir_all(&data);
        let status = Command::new(floe)
            .args(["generate", "--dir"])
            .arg(&data)
            .args(["--topic", "events", "--partitions", &partitions.to_string(), "--records", "20"])
            .stdout(Stdio::null())
            .status()
            .expect("running floe generate");
        assert!(status.success(), "floe generate failed");
        std::fs::write(data.join("done"), b"").unwrap();
    }

    let lake = tempfile::tempdir().unwrap();
    let (worker_port, admin_port, metrics_port) = (free_port(), free_port(), free_port());
    let config = lake.path().join("floe.yaml");
    std::fs::write(
        &config,
        format!(
            "s3:\n  bucket: bucket\n  namespace: production\n  endpoint: file://{data}\n\
             iceberg:\n  catalog:\n    type: sql\n    uri: sqlite://{lake}/catalog.db\n  warehouse: file://{lake}/warehouse\n\
             mappings:\n  - topic: events\n    table: bench.events\n\
             coordinator:\n  listen: 127.0.0.1:{worker_port}\nadmin:\n  listen: 127.0.0.1:{admin_port}\n",
            data = data.display(),
            lake = lake.path().display(),
        ),
    )
    .unwrap();
    let metrics = format!("127.0.0.1:{metrics_port}");
    let mut coordinator = spawn(
        floe,
        &["coordinator", "--config", config.to_str().unwrap()],
        &[("KAFSCALE_METRICS_ADDR", &metrics)],
        &lake.path().join("coordinator.log"),
    );
    let endpoint = format!("http://127.0.0.1:{worker_port}");
    let mut workers: Vec<Child> = (0..2)
        .map(|i| {
            let log = lake.path().join(format!("worker-{i}.log"));
            spawn(floe, &["worker", "--coordinator", &endpoint], &[("KAFSCALE_METRICS_ADDR", "off")], &log)
        })
        .collect();

    // Caught up: every partition committed.
    let options = ClientOptions { endpoints: vec![format!("http://127.0.0.1:{admin_port}")], ..Default::default() };
    let started = Instant::now();
    let mut admin = loop {
        match Admin::connect(options.clone()).await {
            Ok(admin) => break admin,
            Err(e) if started.elapsed() < Duration::from_secs(120) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("no admin API: {e}"),
        }
    };
    loop {
        let status = admin.status_once(StatusRequest { once: true, ..Default::default() }).await.expect("status");
        let done = status.partitions.iter().filter(|p| p.committed == Some(20)).count();
        if done == partitions {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1800), "only {done} of {partitions} partitions committed");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let caught_up = started.elapsed();

    // Measure: two streams, one-shot calls and scrapes while idle.
    let pid = coordinator.id();
    let (cpu_before, wall) = (cpu_seconds(pid), Instant::now());
    let mut stream = admin.status_stream(StatusRequest { interval_ms: 1000, ..Default::default() }).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut ages, mut gaps, mut sizes, mut round_trips, mut scrapes) = (vec![], vec![], vec![], vec![], vec![]);
    let mut scrape_bytes = 0;
    let mut last: Option<Instant> = None;
    let mut peak_rss = rss_mib(pid);
    while Instant::now() < deadline {
        let update = stream.message().await.expect("a status update").expect("the stream goes on");
        let now = Instant::now();
        ages.push((now_ms() - update.time_ms) as f64);
        sizes.push(update.encoded_len() as f64);
        if let Some(previous) = last {
            gaps.push(now.duration_since(previous).as_secs_f64() * 1000.0);
        }
        last = Some(now);
        let call = Instant::now();
        admin.status_once(StatusRequest { once: true, ..Default::default() }).await.unwrap();
        round_trips.push(call.elapsed().as_secs_f64() * 1000.0);
        let (took, bytes) = scrape(&metrics);
        scrapes.push(took.as_secs_f64() * 1000.0);
        scrape_bytes = bytes;
        peak_rss = peak_rss.max(rss_mib(pid));
    }
    let cpu = (cpu_seconds(pid) - cpu_before) / wall.elapsed().as_secs_f64();

    println!(
        "| partitions | caught up after | coordinator CPU (idle, serving) | coordinator RSS (peak) | status update age p50 / p99 | update spacing p50 / max | one-shot Status p50 / p99 | update size | /metrics scrape p50 / p99 | /metrics size |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {partitions} | {:.0} s | {:.1}% of a core | {:.0} MiB | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.2} MB | {:.0} / {:.0} ms | {:.1} MB |",
        caught_up.as_secs_f64(),
        cpu * 100.0,
        peak_rss,
        percentile(&mut ages, 0.5),
        percentile(&mut ages, 0.99),
        percentile(&mut gaps, 0.5),
        percentile(&mut gaps, 1.0),
        percentile(&mut round_trips, 0.5),
        percentile(&mut round_trips, 0.99),
        percentile(&mut sizes, 0.5) / 1e6,
        percentile(&mut scrapes, 0.5),
        percentile(&mut scrapes, 0.99),
        scrape_bytes as f64 / 1e6,
    );
    for child in workers.iter_mut().chain([&mut coordinator]) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

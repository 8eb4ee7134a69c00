//! floe as it runs in production, against real services on 127.0.0.1: an
//! S3 server for segments and table data, etcd for leases and leader
//! election, an Iceberg REST catalog and a SQL catalog on PostgreSQL. Every
//! test checks the table's rows exactly: each source offset once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use floe_tests::segments::{committed_offsets, write_json_segment};
use floe_tests::services::{FloeProcess, Services, free_port, services};
use floe_tests::{CatalogAccess, Engine, corpus_dir, expected, generate_orders, of_topic, run_once};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(240);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatalogChoice {
    Rest,
    Postgres,
}

/// Tests that stop a service hold this exclusively; the others share it.
static SERVICE_USE: RwLock<()> = RwLock::new(());

/// One test's share of the services: its own bucket, etcd prefix, catalog
/// name and namespace, so tests never see each other's state.
struct Cluster {
    services: Services,
    dir: tempfile::TempDir,
    name: String,
    catalog: CatalogChoice,
    /// The read or write guard of `SERVICE_USE`, held for the test.
    _service_use: Box<dyn std::any::Any>,
}

impl Cluster {
    fn new(services: Services, test: &str, catalog: CatalogChoice) -> Self {
        let shared = SERVICE_USE.read().unwrap_or_else(PoisonError::into_inner);
        Self::with(services, test, catalog, Box::new(shared))
    }

    /// For a test that stops and starts services: no other test runs meanwhile.
    fn exclusive(services: Services, test: &str, catalog: CatalogChoice) -> Self {
        let exclusive = SERVICE_USE.write().unwrap_or_else(PoisonError::into_inner);
        Self::with(services, test, catalog, Box::new(exclusive))
    }

    fn with(services: Services, test: &str, catalog: CatalogChoice, service_use: Box<dyn std::any::Any>) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("{}-{}-{nanos}", test.replace('_', "-"), std::process::id());
        services.create_bucket(&name);
        if catalog == CatalogChoice::Postgres {
            services.create_bucket(&format!("{name}-warehouse"));
        }
        Self { services, dir: tempfile::tempdir().unwrap(), name, catalog, _service_use: service_use }
    }

    /// The namespace of this test's tables.
    fn namespace(&self) -> String {
        self.name.replace('-', "_")
    }

    fn table(&self, topic: &str) -> String {
        format!("{}.{topic}", self.namespace())
    }

    fn key_prefix(&self) -> String {
        format!("floe-test/{}", self.name)
    }

    fn warehouse(&self) -> String {
        match self.catalog {
            CatalogChoice::Rest => self.services.rest_warehouse.clone(),
            CatalogChoice::Postgres => format!("s3://{}-warehouse/wh", self.name),
        }
    }

    fn access(&self) -> CatalogAccess {
        let (uri, name) = match self.catalog {
            CatalogChoice::Rest => (self.services.rest.clone(), "floe".to_string()),
            CatalogChoice::Postgres => (self.services.postgres.clone(), self.namespace()),
        };
        let token = (self.catalog == CatalogChoice::Rest).then(|| self.services.rest_token.clone());
        CatalogAccess { uri, name, warehouse: self.warehouse(), s3_endpoint: Some(self.services.s3.clone()), token }
    }

    /// A config for this cluster; `extra` is appended as more YAML.
    fn config(&self, topics: &[&str], listen: u16, extra: &str) -> PathBuf {
        let s = &self.services;
        let catalog = match self.catalog {
            CatalogChoice::Rest => format!("    type: rest\n    uri: {}\n    token: {}\n", s.rest, s.rest_token),
            CatalogChoice::Postgres => {
                format!("    type: sql\n    uri: {}\n    name: {}\n", s.postgres, self.namespace())
            }
        };
        let mut yaml = format!(
            "s3:\n  bucket: {bucket}\n  namespace: production\n  endpoint: {s3}\n  region: us-east-1\n  path_style: true\n\
             iceberg:\n  catalog:\n{catalog}  warehouse: {warehouse}\n\
             offsets:\n  backend: etcd\n  lease_ttl_seconds: 6\n  key_prefix: {prefix}\n\
             etcd:\n  endpoints: [{etcd}]\n\
             coordinator:\n  listen: 127.0.0.1:{listen}\n  worker_heartbeat_seconds: 1\n\
             commit:\n  interval_seconds: 1\n  orphan_grace_seconds: 30\n\
             {extra}mappings:\n",
            bucket = self.name,
            s3 = s.s3,
            warehouse = self.warehouse(),
            prefix = self.key_prefix(),
            etcd = s.etcd,
        );
        for topic in topics {
            yaml.push_str(&format!("  - topic: {topic}\n    table: {}\n", self.table(topic)));
        }
        let path = self.dir.path().join(format!("floe-{listen}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn coordinator(&self, config: &Path, n: usize) -> FloeProcess {
        let config = config.to_str().unwrap();
        FloeProcess::start(&["coordinator", "--config", config], self.dir.path().join(format!("coordinator-{n}.log")))
    }

    /// A coordinator serving workers, and `workers` workers connected to it.
    fn start(&self, workers: usize) -> (FloeProcess, Vec<FloeProcess>) {
        let port = free_port();
        let coordinator = self.coordinator(&self.config(&["orders"], port, ""), 0);
        coordinator.wait_for_log("coordinator serving workers", TIMEOUT);
        (coordinator, (0..workers).map(|n| self.worker(&[port], n)).collect())
    }

    /// Uploads the generated segments of `topic_dir` one at a time.
    fn feed(&self, topic_dir: &Path, pause: Duration) -> std::thread::JoinHandle<()> {
        feed(self.services.clone(), self.name.clone(), topic_dir.to_path_buf(), pause)
    }

    fn worker(&self, ports: &[u16], n: usize) -> FloeProcess {
        let urls: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
        FloeProcess::start(
            &["worker", "--coordinator", &urls.join(",")],
            self.dir.path().join(format!("worker-{n}.log")),
        )
    }

    /// Where etcd keeps the discovery cursors of a topic's partitions in
    /// `table`.
    fn cursor_prefix(&self, table: &str, topic: &str) -> String {
        format!("{}/cursors/{table}/{topic}", self.key_prefix())
    }

    /// The offset etcd mirrors as committed for a partition of `table`.
    fn mirrored_offset(&self, table: &str, topic: &str, partition: u32) -> Option<i64> {
        self.services
            .etcd_get(&format!("{}/offsets/{table}/{topic}/{partition}", self.key_prefix()))
            .and_then(|v| v.parse().ok())
    }

    /// Waits until every partition's mirrored offset reaches its end.
    fn wait_committed(&self, topic: &str, ends: &[i64], logs: &[&FloeProcess]) {
        self.wait_committed_in(&self.table(topic), topic, ends, logs)
    }

    /// Waits until every partition's mirrored offset in `table` reaches its end.
    fn wait_committed_in(&self, table: &str, topic: &str, ends: &[i64], logs: &[&FloeProcess]) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let done =
                ends.iter().enumerate().all(|(p, end)| self.mirrored_offset(table, topic, p as u32) >= Some(*end));
            if done {
                return;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = logs.iter().map(|p| format!("{}:\n{}", p.log.display(), p.log())).collect();
                panic!("offsets did not reach {ends:?} within {TIMEOUT:?}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Asserts the table holds every committed offset of the generated
    /// partitions exactly once, and nothing else.
    fn assert_exactly_once(&self, topic: &str, generated: &Path, partitions: u32, extra_rows: usize) {
        self.assert_exactly_once_in(&self.table(topic), topic, generated, partitions, extra_rows)
    }

    /// [`Cluster::assert_exactly_once`] for `table`.
    fn assert_exactly_once_in(&self, table: &str, topic: &str, generated: &Path, partitions: u32, extra_rows: usize) {
        let rows = self.access().rows(Engine::PyIceberg, table);
        let ours: Vec<&Value> = rows.iter().filter(|r| r["topic"] == topic).collect();
        let mut total = 0;
        for partition in 0..partitions {
            let want = committed_offsets(&generated.join(partition.to_string()));
            let got: Vec<i64> = ours
                .iter()
                .filter(|r| r["partition"] == partition)
                .map(|r| r["offset"].as_i64().expect("offset"))
                .collect();
            assert_eq!(got.len(), want.len(), "partition {partition}: row count");
            assert_eq!(got, want, "partition {partition}: offsets");
            total += want.len();
        }
        let ids: HashSet<String> =
            ours.iter().map(|r| format!("{}:{}:{}", r["topic"], r["partition"], r["offset"])).collect();
        assert_eq!(ids.len(), total, "duplicate record ids");
        assert_eq!(rows.len(), total + extra_rows, "rows that are not ours");
    }
}

/// Generates `partitions` x `records` of topic `orders` in DIR; returns the
/// topic's folder.
fn generate(dir: &Path, partitions: u32, records: u32) -> PathBuf {
    let more = ["--value-bytes", "120", "--codec", "mixed", "--batch-records", "100", "--segment-records", "1000"];
    generate_orders(dir, partitions, records, &more)
}

/// The end offset (next offset) of each generated partition.
fn ends(topic_dir: &Path, partitions: u32) -> Vec<i64> {
    (0..partitions).map(|p| committed_offsets(&topic_dir.join(p.to_string())).last().map_or(0, |o| o + 1)).collect()
}

/// Uploads generated segments one at a time, `.kfs` then `.index`, with a
/// pause after each: the way brokers keep adding segments.
fn feed(services: Services, bucket: String, topic_dir: PathBuf, pause: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut segments: Vec<(String, PathBuf)> = Vec::new();
        for partition in std::fs::read_dir(&topic_dir).unwrap().flatten() {
            for file in std::fs::read_dir(partition.path()).unwrap().flatten() {
                let path = file.path();
                if path.extension().is_some_and(|e| e == "kfs") {
                    segments.push((path.file_name().unwrap().to_string_lossy().to_string(), path));
                }
            }
        }
        segments.sort();
        for (_, kfs) in segments {
            let partition = kfs.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
            let key =
                |path: &Path| format!("production/orders/{partition}/{}", path.file_name().unwrap().to_string_lossy());
            services.put(&bucket, &key(&kfs), &kfs);
            let index = kfs.with_extension("index");
            services.put(&bucket, &key(&index), &index);
            std::thread::sleep(pause);
        }
    })
}

fn corpus_case(catalog: CatalogChoice, case: &str, topics: &[&str]) {
    let Some(services) = services("corpus through S3, etcd and a catalog service") else { return };
    let cluster = Cluster::new(services, &format!("{case}-{catalog:?}").to_lowercase(), catalog);
    cluster.services.upload_dir(&cluster.name, &corpus_dir().join(case).join("bucket"), "");
    let config = cluster.config(topics, free_port(), "");
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{case} via {catalog:?}:\n{}\n{}", run.stdout, run.stderr);
    let expected = expected(case);
    for topic in topics {
        let want = of_topic(&expected, topic);
        let got = cluster.access().rows(Engine::PyIceberg, &cluster.table(topic));
        assert_eq!(got.len(), want.len(), "{case} via {catalog:?}: rows of {topic}\n{}", run.stderr);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{case} via {catalog:?}: a row of {topic} differs");
        }
    }
    if case == "txn_and_time" {
        assert_eq!(cluster.mirrored_offset(&cluster.table("audit"), "audit", 0), Some(39), "offsets mirrored in etcd");
    }
}

#[test]
fn corpus_through_s3_etcd_and_the_rest_catalog() {
    corpus_case(CatalogChoice::Rest, "plain", &["orders", "clicks"]);
    corpus_case(CatalogChoice::Rest, "codecs", &["events"]);
    corpus_case(CatalogChoice::Rest, "txn_and_time", &["audit"]);
}

#[test]
fn corpus_through_s3_etcd_and_the_postgres_catalog() {
    corpus_case(CatalogChoice::Postgres, "plain", &["orders", "clicks"]);
    corpus_case(CatalogChoice::Postgres, "codecs", &["events"]);
    corpus_case(CatalogChoice::Postgres, "txn_and_time", &["audit"]);
}

#[test]
fn a_killed_worker_s_partitions_move_and_finish() {
    const PARTITIONS: u32 = 6;
    let Some(services) = services("a killed worker") else { return };
    let cluster = Cluster::new(services, "killed-worker", CatalogChoice::Postgres);
    let topic_dir = generate(&cluster.dir.path().join("data"), PARTITIONS, 12_000);
    let (coordinator, mut workers) = cluster.start(3);
    let feeder = cluster.feed(&topic_dir, Duration::from_millis(60));

    // Kill a worker once it is busy with its share.
    workers[1].wait_for_log("registered with the coordinator", TIMEOUT);
    std::thread::sleep(Duration::from_secs(4));
    workers[1].kill();
    feeder.join().unwrap();
    let logs: Vec<&FloeProcess> = std::iter::once(&coordinator).chain(&workers).collect();
    cluster.wait_committed("orders", &ends(&topic_dir, PARTITIONS), &logs);
    assert!(coordinator.log().contains("worker dropped"), "the coordinator noticed the lost worker");
    cluster.assert_exactly_once("orders", &topic_dir, PARTITIONS, 0);
}

/// The topic feeds two tables: the standby lists each partition after the
/// lower of their discovery cursors, and both get every offset once.
#[test]
fn the_standby_coordinator_takes_over_when_the_leader_is_killed() {
    const PARTITIONS: u32 = 4;
    let Some(services) = services("coordinator failover") else { return };
    let cluster = Cluster::new(services, "failover", CatalogChoice::Rest);
    let topic_dir = generate(&cluster.dir.path().join("data"), PARTITIONS, 15_000);
    let ports = [free_port(), free_port()];
    let (orders, audit) = (cluster.table("orders"), format!("{}.orders_audit", cluster.namespace()));
    let configs: Vec<PathBuf> = ports.iter().map(|p| cluster.config(&["orders"], *p, "")).collect();
    for config in &configs {
        let mut yaml = std::fs::read_to_string(config).unwrap();
        yaml.push_str(&format!("  - topic: orders\n    table: {audit}\n"));
        std::fs::write(config, yaml).unwrap();
    }
    let first = cluster.coordinator(&configs[0], 0);
    first.wait_for_log("coordinator serving workers", TIMEOUT);
    let second = cluster.coordinator(&configs[1], 1);
    second.wait_for_log("campaigning to lead", TIMEOUT);
    let workers: Vec<FloeProcess> = (0..2).map(|n| cluster.worker(&ports, n)).collect();
    let feeder = cluster.feed(&topic_dir, Duration::from_millis(80));

    // Kill the leader once commits are happening and a segment is wholly
    // committed in both tables (their discovery cursors recorded): the
    // standby must list after them. A first commit can end inside every
    // partition's first segment, so "committed" alone is not enough.
    let cursor_of =
        |table: &str, p: u32| cluster.services.etcd_get(&format!("{}/{p}", cluster.cursor_prefix(table, "orders")));
    let cursor_recorded = || (0..PARTITIONS).any(|p| cursor_of(&orders, p).is_some() && cursor_of(&audit, p).is_some());
    let deadline = Instant::now() + TIMEOUT;
    while !cursor_recorded() {
        assert!(Instant::now() < deadline, "no segment wholly committed in time:\n{}", first.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut first = first;
    first.kill();
    second.wait_for_log("coordinator serving workers", TIMEOUT);
    // It lists only what is not wholly committed yet.
    assert!(second.log().contains("listing after production/orders/"), "{}", second.log());
    feeder.join().unwrap();
    let logs: Vec<&FloeProcess> = [&first, &second].into_iter().chain(&workers).collect();
    for table in [&orders, &audit] {
        cluster.wait_committed_in(table, "orders", &ends(&topic_dir, PARTITIONS), &logs);
        cluster.assert_exactly_once_in(table, "orders", &topic_dir, PARTITIONS, 0);
    }
}

/// SIGTERM to a coordinator that never led: one line saying so, not an
/// empty summary table.
#[test]
fn a_standby_stopped_says_it_never_led() {
    let Some(services) = services("a standby stopped") else { return };
    let cluster = Cluster::new(services, "standby-stopped", CatalogChoice::Postgres);
    let leader = cluster.coordinator(&cluster.config(&["orders"], free_port(), ""), 0);
    leader.wait_for_log("coordinator serving workers", TIMEOUT);
    let mut standby = cluster.coordinator(&cluster.config(&["orders"], free_port(), ""), 1);
    standby.wait_for_log("campaigning to lead", TIMEOUT);
    // Past the moment it starts listening for signals.
    std::thread::sleep(Duration::from_millis(500));
    let term = Command::new("kill").args(["-TERM", &standby.child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = standby.child.wait().unwrap();
    let log = standby.log();
    assert!(status.success(), "{log}");
    assert!(log.contains("stopped before leading: nothing was read or committed"), "{log}");
    assert!(!log.contains("rows added"), "no summary table:\n{log}");
}

/// A coordinator that comes to lead while S3 does not answer waits for it,
/// then goes on, instead of exiting.
#[test]
fn a_coordinator_starting_during_an_s3_outage_waits_for_it() {
    const PARTITIONS: u32 = 2;
    let Some(services) = services("S3 outage at start") else { return };
    let cluster = Cluster::exclusive(services, "s3-outage-at-start", CatalogChoice::Postgres);
    let topic_dir = generate(&cluster.dir.path().join("data"), PARTITIONS, 2_000);
    cluster.services.upload_dir(&cluster.name, &topic_dir, "production/orders/");
    cluster.services.ctl("stop", "s3");
    let port = free_port();
    let coordinator = cluster.coordinator(&cluster.config(&["orders"], port, ""), 0);
    coordinator.wait_for_log("segment storage does not answer, trying again", TIMEOUT);
    std::thread::sleep(Duration::from_secs(3));
    cluster.services.ctl("start", "s3");
    coordinator.wait_for_log("coordinator serving workers", TIMEOUT);
    let worker = cluster.worker(&[port], 0);
    cluster.wait_committed("orders", &ends(&topic_dir, PARTITIONS), &[&coordinator, &worker]);
    cluster.assert_exactly_once("orders", &topic_dir, PARTITIONS, 0);
}

#[test]
fn an_etcd_outage_pauses_processing_which_then_resumes() {
    const PARTITIONS: u32 = 3;
    let Some(services) = services("etcd outage") else { return };
    let cluster = Cluster::exclusive(services, "etcd-outage", CatalogChoice::Postgres);
    let topic_dir = generate(&cluster.dir.path().join("data"), PARTITIONS, 9_000);
    let (coordinator, workers) = cluster.start(1);
    let feeder = cluster.feed(&topic_dir, Duration::from_millis(100));
    coordinator.wait_for_log("committed", TIMEOUT);

    cluster.services.ctl("stop", "etcd");
    coordinator.wait_for_log("commits and lease grants paused: etcd unreachable", TIMEOUT);
    std::thread::sleep(Duration::from_secs(3));
    cluster.services.ctl("start", "etcd");
    coordinator.wait_for_log("commits and lease grants resumed", TIMEOUT);

    feeder.join().unwrap();
    cluster.wait_committed("orders", &ends(&topic_dir, PARTITIONS), &[&coordinator, &workers[0]]);
    cluster.assert_exactly_once("orders", &topic_dir, PARTITIONS, 0);
}

#[test]
fn an_s3_outage_is_retried_then_processing_goes_on() {
    const PARTITIONS: u32 = 3;
    let Some(services) = services("S3 outage") else { return };
    let cluster = Cluster::exclusive(services, "s3-outage", CatalogChoice::Postgres);
    let topic_dir = generate(&cluster.dir.path().join("data"), PARTITIONS, 6_000);
    let (coordinator, workers) = cluster.start(1);
    // Everything uploaded, then the S3 server goes away while it is read.
    let all = ends(&topic_dir, PARTITIONS);
    cluster.services.upload_dir(&cluster.name, &topic_dir, "production/orders/");
    coordinator.wait_for_log("committed", TIMEOUT);

    cluster.services.ctl("stop", "s3");
    std::thread::sleep(Duration::from_secs(5));
    cluster.services.ctl("start", "s3");
    cluster.wait_committed("orders", &all, &[&coordinator, &workers[0]]);
    cluster.assert_exactly_once("orders", &topic_dir, PARTITIONS, 0);
}

#[test]
fn another_writer_between_our_commits_does_not_change_what_we_land() {
    const PARTITIONS: u32 = 2;
    let Some(services) = services("another writer") else { return };
    let cluster = Cluster::new(services, "other-writer", CatalogChoice::Rest);
    let topic_dir = generate(&cluster.dir.path().join("data"), PARTITIONS, 8_000);
    let (coordinator, workers) = cluster.start(1);
    let feeder = cluster.feed(&topic_dir, Duration::from_millis(150));
    coordinator.wait_for_log("committed", TIMEOUT);

    // Another engine appends its own rows while floe keeps committing.
    let access = cluster.access();
    let mut appended = 0;
    for round in 0..3 {
        let output = Command::new(floe_tests::python())
            .arg(floe_tests::repo_root().join("tests/py/append_rows.py"))
            .args(["--catalog-uri", &access.uri, "--catalog-name", &access.name, "--warehouse", &access.warehouse])
            .args(["--s3-endpoint", access.s3_endpoint.as_deref().unwrap()])
            .args(["--token", access.token.as_deref().unwrap()])
            .args(["--table", &cluster.table("orders"), "--topic", &format!("external-{round}"), "--rows", "5"])
            .output()
            .expect("running append_rows.py");
        assert!(output.status.success(), "append_rows.py: {}", String::from_utf8_lossy(&output.stderr));
        appended += 5;
        std::thread::sleep(Duration::from_millis(700));
    }
    feeder.join().unwrap();
    cluster.wait_committed("orders", &ends(&topic_dir, PARTITIONS), &[&coordinator, &workers[0]]);
    cluster.assert_exactly_once("orders", &topic_dir, PARTITIONS, appended);
}

#[test]
fn unreachable_services_are_one_clear_error_at_start() {
    let Some(services) = services("unreachable services") else { return };
    let cluster = Cluster::new(services, "unreachable", CatalogChoice::Postgres);
    let config = cluster.config(&["orders"], free_port(), "");
    let closed = format!("http://127.0.0.1:{}", free_port());
    let cases =
        [(cluster.services.etcd.as_str(), "etcd http://127.0.0.1"), (cluster.services.s3.as_str(), "segment source")];
    for (real, expected_start) in cases {
        let text = std::fs::read_to_string(&config).unwrap().replace(real, &closed);
        let broken = cluster.dir.path().join("broken.yaml");
        std::fs::write(&broken, text).unwrap();
        let run = run_once(&broken, Duration::from_secs(120));
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        let error = run.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{}", run.stderr));
        assert!(error.contains(expected_start) && error.contains(&closed[7..]), "{error}");
    }
}

#[test]
fn partitions_come_from_kafscale_metadata_in_etcd() {
    const SNAPSHOT: &str = "/kafscale/metadata/snapshot";
    let Some(services) = services("KafScale metadata") else { return };
    // The snapshot key is the cluster's, not this test's: nobody else runs meanwhile.
    let cluster = Cluster::exclusive(services, "metadata", CatalogChoice::Postgres);
    let topic_dir = generate(&cluster.dir.path().join("data"), 3, 2_000);
    cluster.services.upload_dir(&cluster.name, &topic_dir, "production/orders/");
    // The operator's view: partition 2 is in error, so it is not read.
    let snapshot = r#"{"ClusterID":"test","Topics":[{"Name":"orders","ErrorCode":0,"Partitions":[
        {"PartitionIndex":0,"ErrorCode":0},{"PartitionIndex":1,"ErrorCode":0},{"PartitionIndex":2,"ErrorCode":5}]}]}"#;
    cluster.services.etcd_set(SNAPSHOT, Some(snapshot));
    let run = run_once(&cluster.config(&["orders"], free_port(), ""), TIMEOUT);
    cluster.services.etcd_set(SNAPSHOT, None);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let rows = cluster.access().rows(Engine::PyIceberg, &cluster.table("orders"));
    let partitions: HashSet<i64> = rows.iter().map(|r| r["partition"].as_i64().unwrap()).collect();
    assert_eq!(partitions, HashSet::from([0, 1]));
    assert_eq!(rows.len(), 4_000);

    // discovery.mode etcd with no snapshot: nothing can be listed, and a
    // run ends saying so instead of waiting forever.
    let strict = cluster.config(&["orders"], free_port(), "discovery:\n  mode: etcd\n");
    let run = run_once(&strict, TIMEOUT);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("STUCK /kafscale/metadata/snapshot: could not be listed: no KafScale metadata snapshot"),
        "{}",
        run.stdout
    );
}

/// A topic pattern in production: topics are found by listing the bucket,
/// and through KafScale's metadata snapshot in etcd when it is there, which
/// then says which topics exist.
#[test]
fn a_topic_pattern_finds_topics_in_the_bucket_and_in_kafscale_metadata() {
    const SNAPSHOT: &str = "/kafscale/metadata/snapshot";
    let Some(services) = services("routing by topic pattern") else { return };
    // The snapshot key is the cluster's, not this test's: nobody else runs meanwhile.
    let cluster = Cluster::exclusive(services, "routing", CatalogChoice::Postgres);
    let source = cluster.dir.path().join("topics");
    let upload = |topics: &[(&str, u32, usize)]| {
        for (topic, partitions, records) in topics {
            for partition in 0..*partitions {
                let values: Vec<String> = (0..*records).map(|n| format!(r#"{{"topic":"{topic}","n":{n}}}"#)).collect();
                let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
                let dir = source.join(format!("{topic}/{partition}"));
                std::fs::create_dir_all(&dir).unwrap();
                write_json_segment(&dir, 0, &values, 4);
            }
            let topic_dir = source.join(topic);
            cluster.services.upload_dir(&cluster.name, &topic_dir, &format!("production/{topic}/"));
        }
    };
    upload(&[("orders.eu", 2, 9), ("orders.us", 1, 5), ("audit", 1, 3)]);
    let config = cluster.config(&[], free_port(), "");
    let pattern = format!("  - topic: 'orders\\..*'\n    table: {}.{{topic}}\n", cluster.namespace());
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap() + &pattern).unwrap();
    let positions =
        |topic: &str| floe_tests::positions(&cluster.access().rows(Engine::PyIceberg, &cluster.table(topic)));
    let every = |partitions: u32, records: i64| -> Vec<(i64, i64)> {
        (0..i64::from(partitions)).flat_map(|p| (0..records).map(move |o| (p, o))).collect()
    };

    // No snapshot: the topics are the bucket's folders.
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(positions("orders_eu"), every(2, 9));
    assert_eq!(positions("orders_us"), every(1, 5));
    assert!(!run.stdout.contains("audit"), "no mapping matches audit:\n{}", run.stdout);

    // With a snapshot, the topics are those it lists: orders.apac is there,
    // orders.latam is in the bucket only, so it is not followed.
    upload(&[("orders.apac", 1, 4), ("orders.latam", 1, 6)]);
    let listed = |name: &str| {
        format!(r#"{{"Name":"{name}","ErrorCode":0,"Partitions":[{{"PartitionIndex":0,"ErrorCode":0}}]}}"#)
    };
    let topics: Vec<String> = ["orders.eu", "orders.us", "orders.apac", "audit"].into_iter().map(listed).collect();
    let snapshot = format!(r#"{{"ClusterID":"test","Topics":[{}]}}"#, topics.join(","));
    cluster.services.etcd_set(SNAPSHOT, Some(&snapshot));
    let run = run_once(&config, TIMEOUT);
    cluster.services.etcd_set(SNAPSHOT, None);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(positions("orders_apac"), every(1, 4));
    assert!(run.stdout.contains(&cluster.table("orders_apac")), "{}", run.stdout);
    assert!(
        !run.stdout.contains("orders_latam") && !run.stderr.contains("orders.latam"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(positions("orders_eu"), every(2, 9), "nothing read twice");
}

#[test]
fn segments_are_read_from_the_replica_bucket_first_and_the_primary_on_a_miss() {
    let Some(services) = services("read replica") else { return };
    let cluster = Cluster::new(services, "replica", CatalogChoice::Postgres);
    let replica = format!("{}-replica", cluster.name);
    cluster.services.create_bucket(&replica);
    let source = corpus_dir().join("plain/bucket");
    cluster.services.upload_dir(&cluster.name, &source, "");
    // The replica has caught up with `orders` only.
    cluster.services.upload_dir(&replica, &source.join("production/orders"), "production/orders/");
    let config = cluster.config(&["orders", "clicks"], free_port(), "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("  path_style: true\n", &format!("  path_style: true\n  read_bucket: {replica}\n"));
    std::fs::write(&config, text).unwrap();
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let expected = expected("plain");
    for topic in ["orders", "clicks"] {
        assert_eq!(
            cluster.access().rows(Engine::PyIceberg, &cluster.table(topic)),
            of_topic(&expected, topic),
            "{topic}"
        );
    }
    // Segments of `orders` came from the replica; those of `clicks` from the primary.
    let requests = cluster.services.s3_requests();
    let gets = |bucket: &str, topic: &str| {
        let prefix = format!("GET /{bucket}/production/{topic}/");
        requests.lines().filter(|l| l.contains(&prefix) && l.contains(".kfs?x-id=GetObject")).count()
    };
    assert!(gets(&replica, "orders") > 0, "no segment of orders was read from {replica}");
    assert_eq!(gets(&cluster.name, "orders"), 0, "orders was read from the primary");
    assert!(gets(&cluster.name, "clicks") > 0, "clicks was not read from the primary");
}

/// Operators' commands against the production set-up: a table rewound
/// through the REST catalog, and a pause kept in etcd that the standby
/// coordinator honours after the leader is killed.
#[test]
fn a_rewind_through_the_rest_catalog_and_a_pause_survive_failover() {
    const PARTITIONS: u32 = 2;
    let Some(services) = services("operator commands across a failover") else { return };
    let cluster = Cluster::new(services, "admin-failover", CatalogChoice::Rest);
    let topic_dir = generate(&cluster.dir.path().join("data"), PARTITIONS, 4000);
    let ends = ends(&topic_dir, PARTITIONS);
    let (ports, admin_ports) = ([free_port(), free_port()], [free_port(), free_port()]);
    let coordinators: Vec<FloeProcess> = (0..2)
        .map(|n| {
            let config = cluster.config(&["orders"], ports[n], "");
            let mut command = floe_tests::floe_command();
            command.env("FLOE_ADMIN_LISTEN", format!("127.0.0.1:{}", admin_ports[n]));
            let args = ["coordinator", "--config", config.to_str().unwrap()];
            FloeProcess::run(command, &args, cluster.dir.path().join(format!("coordinator-{n}.log")))
        })
        .collect();
    // Either may lead.
    let deadline = Instant::now() + TIMEOUT;
    let leader = loop {
        if let Some(n) = coordinators.iter().position(|c| c.log().contains("coordinator serving workers")) {
            break n;
        }
        assert!(Instant::now() < deadline, "no coordinator leads");
        std::thread::sleep(Duration::from_millis(100));
    };
    let workers: Vec<FloeProcess> = (0..2).map(|n| cluster.worker(&ports, n)).collect();
    // Slowly enough for several commits, so that early snapshots lack the last segments.
    cluster.feed(&topic_dir, Duration::from_millis(500)).join().unwrap();
    let admin = admin_ports.map(|p| format!("http://127.0.0.1:{p}")).join(",");
    let ctl = |args: &[&str]| {
        let output = floe_tests::floe_command().args(["ctl", "--coordinator", &admin]).args(args).output().unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (output.status.success(), text(&output.stdout), text(&output.stderr))
    };
    let committed = |partition: u32| -> (Option<i64>, String) {
        let (ok, out, _) = ctl(&["status", "--json"]);
        let status: Value = if ok { serde_json::from_str(&out).unwrap_or_default() } else { Value::Null };
        let found = status["partitions"].as_array().into_iter().flatten().find(|p| p["partition"] == partition);
        found.map_or((None, String::new()), |p| (p["committed"].as_i64(), p["state"].as_str().unwrap_or("").into()))
    };
    let log_files: Vec<PathBuf> = coordinators.iter().map(|c| c.log.clone()).collect();
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + TIMEOUT;
        while !done() {
            let logs: Vec<String> = log_files.iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect();
            assert!(Instant::now() < deadline, "{what} did not happen in time:\n{}", logs.join("\n"));
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    wait("every segment committed", &|| (0..PARTITIONS).all(|p| committed(p).0 == Some(ends[p as usize])));

    // orders/1 paused, then the table back to a snapshot that lacks the
    // end of orders/1, through the REST catalog.
    let (ok, said, error) = ctl(&["pause", "--topic", "orders", "--partition", "1"]);
    assert!(ok, "{said}{error}");
    let key = format!("{}/paused/partition/orders/1", cluster.key_prefix());
    assert!(cluster.services.etcd_get(&key).is_some(), "the pause is kept in etcd under {key}");
    let table = cluster.table("orders");
    let snapshots = cluster.access().snapshots(&table);
    let offset_of_1 = |s: &Value| -> Option<i64> {
        let offsets: Value = serde_json::from_str(s["summary"]["floe.offsets"].as_str()?).ok()?;
        offsets["orders"]["1"].as_i64()
    };
    let early = snapshots.iter().find(|s| offset_of_1(s).is_some_and(|o| o < ends[1])).expect("an early snapshot");
    let id = early["snapshot_id"].as_i64().unwrap().to_string();
    let (ok, said, error) = ctl(&["rewind", "--table", &table, "--snapshot", &id, "--reason", "test"]);
    assert!(ok && said.contains(&format!("rewound to snapshot {id}")), "{said}{error}");
    assert_eq!(committed(1).0, offset_of_1(early), "orders/1 is back at the snapshot's offset");
    wait("orders/0 read again", &|| committed(0).0 == Some(ends[0]));

    // The leader dies; the standby leads, with the pause.
    let mut coordinators = coordinators;
    coordinators[leader].kill();
    coordinators[1 - leader].wait_for_log("coordinator serving workers", TIMEOUT);
    wait("the standby shows orders/1 paused", &|| committed(1).1 == "paused");
    // orders/0 was committed to its end: the new leader lists it after its
    // last segment and finds nothing newer, yet shows where storage ends.
    // The admin options after the subcommand, as the chart's notes give them.
    assert!(coordinators[1 - leader].log().contains("listing after production/orders/0/"));
    let storage_end = || -> Option<i64> {
        let args = ["ctl", "status", "--json", "--topic", "orders", "--coordinator", admin.as_str()];
        let output = floe_tests::floe_command().args(args).output().unwrap();
        let status: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let found = status["partitions"].as_array().into_iter().flatten().find(|p| p["partition"] == 0);
        found.and_then(|p| p["storage_end"].as_i64())
    };
    wait("the new leader shows orders/0's storage end", &|| storage_end() == Some(ends[0]));
    assert!(committed(1).0 < Some(ends[1]), "a paused partition reads nothing");
    let (ok, said, error) = ctl(&["resume", "--topic", "orders", "--partition", "1"]);
    assert!(ok && said.contains("resumed partition orders/1"), "{said}{error}");
    wait("orders/1 read again", &|| committed(1).0 == Some(ends[1]));
    drop(workers);
    cluster.assert_exactly_once("orders", &topic_dir, PARTITIONS, 0);
}

//! The real services the cluster tests run against, started on 127.0.0.1
//! by `scripts/services/up.sh` (which `scripts/test.sh` runs): an S3 server,
//! etcd, PostgreSQL and an Iceberg REST catalog. Their addresses come from
//! the environment it writes.
//!
//! Without them a cluster test says so and passes only when
//! `FLOE_REQUIRE_SERVICES` is unset: `scripts/test.sh` sets it, so in CI a
//! missing service is a failure, never a silent skip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use crate::{floe_command, repo_root};

/// Addresses of the running services.
#[derive(Debug, Clone)]
pub struct Services {
    pub s3: String,
    pub etcd: String,
    pub postgres: String,
    pub rest: String,
    /// The bearer token the REST catalog wants.
    pub rest_token: String,
    /// The warehouse the REST catalog serves tables from.
    pub rest_warehouse: String,
    /// The directory of the services' state, for `ctl.sh`.
    pub state_dir: PathBuf,
}

/// The services, or `None` (after saying why) when they are not running
/// and not required.
pub fn services(test: &str) -> Option<Services> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let found = (|| {
        Some(Services {
            s3: var("FLOE_TEST_S3")?,
            etcd: var("FLOE_TEST_ETCD")?,
            postgres: var("FLOE_TEST_PG")?,
            rest: var("FLOE_TEST_REST")?,
            rest_token: var("FLOE_TEST_REST_TOKEN")?,
            rest_warehouse: var("FLOE_TEST_REST_WAREHOUSE")?,
            state_dir: PathBuf::from(var("FLOE_TEST_SERVICES")?),
        })
    })();
    if found.is_none() {
        let why = "the test services are not running: start them with scripts/services/up.sh DIR and source DIR/env";
        assert!(std::env::var_os("FLOE_REQUIRE_SERVICES").is_none(), "{test}: {why}");
        eprintln!("{test}: SKIPPED: {why}");
    }
    found
}

impl Services {
    /// Stops or starts one service (`s3`, `etcd`, `pg`, `rest`) in place.
    pub fn ctl(&self, action: &str, service: &str) {
        let status = Command::new(repo_root().join("scripts/services/ctl.sh"))
            .arg(&self.state_dir)
            .args([action, service])
            .status()
            .expect("running scripts/services/ctl.sh");
        assert!(status.success(), "ctl.sh {action} {service} failed");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
    }

    /// An S3 client for synchronous test code; keep one per thread for
    /// many requests.
    pub fn s3(&self) -> S3Session {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.s3)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
                std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
                None,
                None,
                "test",
            ))
            .build();
        S3Session { runtime: Self::runtime(), client: aws_sdk_s3::Client::from_conf(config) }
    }

    /// Creates a bucket (a fresh name per test keeps tests apart).
    pub fn create_bucket(&self, bucket: &str) {
        self.s3().create_bucket(bucket);
    }

    /// Uploads every file under `dir` to `bucket`, keyed by `prefix` and its
    /// path relative to `dir`, in path order (`.index` after its `.kfs`, as
    /// brokers do).
    pub fn upload_dir(&self, bucket: &str, dir: &Path, prefix: &str) {
        let mut files = Vec::new();
        walk_files(dir, &mut files);
        files.sort_by_key(|path| upload_order(path));
        let s3 = self.s3();
        for file in files {
            let key = format!("{prefix}{}", file.strip_prefix(dir).unwrap().to_string_lossy());
            s3.put(bucket, &key, &file);
        }
    }

    /// The S3 server's request log: one line per request.
    pub fn s3_requests(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("s3.log")).expect("the S3 server's log")
    }

    /// Uploads one file.
    pub fn put(&self, bucket: &str, key: &str, file: &Path) {
        self.s3().put(bucket, key, file);
    }

    /// The value of an etcd key, if any.
    pub fn etcd_get(&self, key: &str) -> Option<String> {
        Self::runtime().block_on(async {
            let mut client =
                etcd_client::Client::connect([self.etcd.as_str()], None).await.expect("connecting to etcd");
            let response = client.get(key, None).await.expect("etcd get");
            response.kvs().first().map(|kv| kv.value_str().expect("UTF-8 value").to_string())
        })
    }

    /// Writes an etcd key, or deletes it (`None`).
    pub fn etcd_set(&self, key: &str, value: Option<&str>) {
        Self::runtime().block_on(async {
            let mut client =
                etcd_client::Client::connect([self.etcd.as_str()], None).await.expect("connecting to etcd");
            match value {
                Some(value) => drop(client.put(key, value, None).await.expect("etcd put")),
                None => drop(client.delete(key, None).await.expect("etcd delete")),
            }
        });
    }
}

/// A blocking S3 client (its own runtime and connections).
pub struct S3Session {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
}

impl S3Session {
    pub fn create_bucket(&self, bucket: &str) {
        let created = self.runtime.block_on(self.client.create_bucket().bucket(bucket).send());
        created.unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    }

    pub fn put(&self, bucket: &str, key: &str, file: &Path) {
        let body = std::fs::read(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        self.put_bytes(bucket, key, body);
    }

    pub fn put_bytes(&self, bucket: &str, key: &str, body: Vec<u8>) {
        let put = self.client.put_object().bucket(bucket).key(key).body(ByteStream::from(body)).send();
        self.runtime.block_on(put).unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
    }
}

fn walk_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// `.kfs` before `.index` of the same segment.
fn upload_order(path: &Path) -> (PathBuf, bool) {
    (path.with_extension(""), path.extension().is_some_and(|e| e == "index"))
}

/// A process (a floe coordinator or worker, or a server) whose output goes
/// to a log file, killed when dropped.
pub struct FloeProcess {
    pub child: Child,
    pub log: PathBuf,
}

impl FloeProcess {
    pub fn start(args: &[&str], log: PathBuf) -> Self {
        Self::run(floe_command(), args, log)
    }

    /// Any program, e.g. a server a test needs of its own.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(program: impl AsRef<std::ffi::OsStr>, args: &[S], log: PathBuf) -> Self {
        let mut command = Command::new(program);
        command.env("RUST_LOG", "warn,floe=info,floe_coordinator=info,floe_worker=info");
        Self::run(command, args, log)
    }

    /// `command ARGS` with its output in `log`.
    pub fn run<S: AsRef<std::ffi::OsStr>>(mut command: Command, args: &[S], log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("creating a log file");
        let child = command
            .args(args)
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting a process");
        Self { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the log contains `text`.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no `{text}` within {timeout:?} in {}:\n{}",
                self.log.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for FloeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on 127.0.0.1, never the same twice in one test binary.
///
/// It is picked below the kernel's ephemeral range: a port from that range
/// can be taken by any outgoing connection before the process it is meant
/// for binds it, and a standby coordinator binds only when it comes to lead,
/// many seconds later.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let port = rand::random_range(10_000..ephemeral_start.max(10_001));
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
}

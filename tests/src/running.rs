//! A long-running `floe run` with its admin and metrics endpoints on known
//! ports, steered with `floe ctl` as an operator would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::floe_command;
use crate::services::free_port;

const TIMEOUT: Duration = Duration::from_secs(120);

pub struct RunningFloe {
    child: Child,
    /// The admin API's URL.
    pub admin: String,
    /// The metrics endpoint's HOST:PORT.
    pub metrics: String,
    log: PathBuf,
}

impl RunningFloe {
    /// `floe run --config CONFIG`, logging to `log`.
    pub fn start(config: &Path, log: &Path) -> Self {
        let (admin, metrics) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
        let child = floe_command()
            .args(["run", "--config"])
            .arg(config)
            .env("FLOE_ADMIN_LISTEN", &admin)
            .env("KAFSCALE_METRICS_ADDR", &metrics)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("a log file"))
            .spawn()
            .expect("starting floe run");
        Self { child, admin: format!("http://{admin}"), metrics, log: log.to_path_buf() }
    }

    /// `floe ctl ARGS` against this floe.
    pub fn ctl(&self, args: &[&str]) -> Output {
        floe_command().args(["ctl", "--coordinator", &self.admin]).args(args).output().expect("running floe ctl")
    }

    /// `floe ctl ARGS`, which must succeed; its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let output = self.ctl(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "floe ctl {args:?} failed: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `floe ctl status --json`, once it answers.
    pub fn status(&self) -> Option<Value> {
        let output = self.ctl(&["status", "--json"]);
        output.status.success().then(|| serde_json::from_slice(&output.stdout).expect("status as JSON"))
    }

    /// Waits until `check` holds for the status of `topic`/`partition`;
    /// returns the whole status.
    pub fn wait_for(&self, topic: &str, partition: i64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        let mut last = None;
        loop {
            if let Some(status) = self.status() {
                if check(partition_of(&status, topic, partition)) {
                    return status;
                }
                last = Some(status);
            }
            assert!(Instant::now() < deadline, "{topic}/{partition} never {what}; last status: {last:#?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// GET `path` from the metrics endpoint: status code and body.
    pub fn http(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.metrics).expect("the metrics endpoint");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: floe\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let code = response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
        (code, body)
    }

    /// Ctrl-C: drains, commits and exits.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + TIMEOUT;
        while self.child.try_wait().expect("waiting for floe").is_none() {
            assert!(Instant::now() < deadline, "floe run did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RunningFloe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("floe run's log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}

/// `topic`/`partition` in a status (null when absent).
pub fn partition_of<'a>(status: &'a Value, topic: &str, partition: i64) -> &'a Value {
    status["partitions"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["topic"] == topic && p["partition"] == partition))
        .unwrap_or(&Value::Null)
}

//! `floe console` as an operator uses it: in a real terminal (tmux) against a
//! running `floe run`, it shows the cluster as `floe ctl status` reports it,
//! pauses and resumes a partition after asking, shows the coordinator's
//! answer and the new state, and gives the terminal back when it quits.

use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use floe_tests::running::{RunningFloe as Running, partition_of};
use floe_tests::{Lakehouse, floe_bin, generate_orders};

const TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);
/// Records per partition.
const RECORDS: i64 = 2000;

/// A tmux server of its own (its socket in a temporary directory, no user
/// config) with one 80x24 session running a program; killed when dropped.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    fn start(program: &[&OsStr]) -> Self {
        let tmux = Self { dir: tempfile::tempdir().unwrap() };
        // The pane stays once the program exits, to read its exit status.
        let output = tmux
            .command()
            .args(["-f", "/dev/null", "start-server", ";"])
            .args(["set-option", "-g", "remain-on-exit", "on", ";"])
            .args(["set-option", "-g", "default-terminal", "xterm-256color", ";"])
            .args(["new-session", "-d", "-s", "console", "-x", "80", "-y", "24"])
            .args(program)
            .output()
            .expect("running tmux");
        assert!(output.status.success(), "tmux new-session failed: {}", String::from_utf8_lossy(&output.stderr));
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(self.dir.path().join("tmux")).env("TERM", "xterm-256color").env_remove("TMUX");
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.command().args(args).output().expect("running tmux");
        assert!(output.status.success(), "tmux {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What the terminal shows, line by line.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "console"])
    }

    /// Types keys, in tmux's names (`Tab`, `Down`, `p`).
    fn keys(&self, keys: &[&str]) {
        self.run(&[&["send-keys", "-t", "console"][..], keys].concat());
    }

    /// Whether the program in the pane has exited.
    fn exited(&self) -> bool {
        self.run(&["list-panes", "-t", "console", "-F", "#{pane_dead}"]).trim() == "1"
    }

    /// Waits until the screen satisfies `check`; the screen then.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(!self.exited(), "the console exited before showing {what}; its screen:\n{screen}");
            assert!(Instant::now() < deadline, "the console never showed {what}; its screen:\n{screen}");
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").stderr(Stdio::null()).status();
    }
}

/// The cells of the table row whose first cell is `name`.
fn row<'a>(screen: &'a str, name: &str) -> Option<Vec<&'a str>> {
    screen
        .lines()
        .map(|line| line.trim_matches('│').split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
}

/// A partition's row as (committed, worker, state).
fn partition_row<'a>(screen: &'a str, name: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let cells = row(screen, name)?;
    Some((cells.get(1)?, cells.get(cells.len().checked_sub(2)?)?, cells.last()?))
}

/// The line(s) below the panels: the keys, or the answer to the last change.
fn status_line(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let below = lines.iter().rposition(|l| l.starts_with('└')).map_or(0, |i| i + 1);
    lines[below..].iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
}

fn tmux_installed() -> bool {
    let found = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !found {
        let why = "tmux is not installed: scripts/system-deps.sh installs it";
        assert!(std::env::var_os("FLOE_REQUIRE_SERVICES").is_none(), "{why}");
        eprintln!("console: SKIPPED: {why}");
    }
    found
}

#[test]
fn an_operator_pauses_and_resumes_a_partition_from_the_console() {
    if !tmux_installed() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    generate_orders(data.path(), 2, RECORDS as u32, &["--segment-records", "500"]);
    let lake = Lakehouse::new();
    let extra = "commit:\n  interval_seconds: 1\ndiscovery:\n  poll_interval_seconds: 1\n";
    let config = lake.write_config(data.path(), "bucket", "production", &[("orders", "prod.orders")], extra);
    let floe = Running::start(&config, &lake.path().join("run.log"));
    for partition in [0, 1] {
        floe.wait_for("orders", partition, "committed to the end", |p| {
            p["committed"] == RECORDS && p["lag_records"] == 0
        });
    }
    let status = floe.status().expect("status");
    let coordinator = status["coordinator"].as_str().expect("the coordinator's name").to_string();
    let workers = status["workers"].as_array().expect("workers").len();
    assert!(workers >= 1, "{status:#}");

    let bin = floe_bin();
    // Through a shell that writes the console's exit status to a file: tmux
    // 3.3 does not always fill `pane_dead_status` in.
    let exit_file = lake.path().join("console-exit");
    let script = r#""$0" console --coordinator "$1"; echo $? > "$2""#;
    let tmux = Tmux::start(&[
        "sh".as_ref(),
        "-c".as_ref(),
        script.as_ref(),
        bin.as_os_str(),
        floe.admin.as_ref(),
        exit_file.as_os_str(),
    ]);

    // What the cluster looks like: the coordinator, the table, both
    // partitions committed to the end, the workers.
    let committed = RECORDS.to_string();
    let screen = tmux.wait_for("both partitions committed", |s| {
        ["orders/0", "orders/1"].iter().all(|p| partition_row(s, p).is_some_and(|r| r.0 == committed))
    });
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.starts_with(&format!("floe │ {coordinator} │ ")), "{screen}");
    assert!(header.ends_with(&format!("│ {workers} workers")), "{screen}");
    assert!(screen.contains("1 tables · 2 partitions · lag 0 records"), "{screen}");
    let table = row(&screen, "prod.orders").unwrap_or_else(|| panic!("no prod.orders row:\n{screen}"));
    assert_eq!((table[1], table[2], table.last()), ("ok", "0", Some(&"4.0k")), "{screen}");
    assert!(screen.contains("Partitions (2)") && screen.contains(&format!("Workers ({workers})")), "{screen}");
    assert!(screen.contains("Commits of prod.orders ("), "{screen}");
    for partition in ["orders/0", "orders/1"] {
        let (_, worker, state) = partition_row(&screen, partition).unwrap();
        assert!(worker != "-" && state == "idle", "{partition} is not idle on a worker:\n{screen}");
    }

    // Partitions by name, the second one selected: asked first, declined.
    tmux.keys(&["Tab", "s"]);
    tmux.wait_for("partitions sorted by name", |s| s.contains("Partitions (2) · sort: name"));
    tmux.keys(&["Down", "p"]);
    let question = "Pause partition orders/1? Staged rows are still committed.";
    let screen = tmux.wait_for("the pause confirmation", |s| s.contains(question));
    assert!(screen.contains("y: yes   n: no"), "{screen}");
    tmux.keys(&["n"]);
    tmux.wait_for("the pause cancelled", |s| status_line(s) == "cancelled" && !s.contains(question));

    // Confirmed: the coordinator's answer, then the partition paused in
    // `floe ctl` and on screen.
    tmux.keys(&["p"]);
    tmux.wait_for("the pause confirmation again", |s| s.contains(question));
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("the coordinator's answer", |s| status_line(s).starts_with("paused partition orders/1"));
    assert!(!screen.contains(question), "{screen}");
    let status = floe.wait_for("orders", 1, "paused", |p| p["state"] == "paused" && p["worker"] == "");
    assert_eq!(partition_of(&status, "orders", 0)["state"], "idle", "only orders/1 is paused: {status:#}");
    let screen = tmux.wait_for("orders/1 paused", |s| partition_row(s, "orders/1").is_some_and(|r| r.2 == "paused"));
    assert_eq!(partition_row(&screen, "orders/1"), Some((committed.as_str(), "-", "paused")), "{screen}");
    assert_eq!(partition_row(&screen, "orders/0").map(|r| r.2), Some("idle"), "{screen}");

    // Resumed: read again, on a worker.
    tmux.keys(&["r"]);
    tmux.wait_for("the resume confirmation", |s| s.contains("Resume partition orders/1?"));
    tmux.keys(&["y"]);
    tmux.wait_for("the coordinator's answer", |s| status_line(s).starts_with("resumed partition orders/1"));
    floe.wait_for("orders", 1, "read again", |p| p["state"] != "paused" && p["worker"] != "");
    tmux.wait_for("orders/1 read again", |s| {
        partition_row(s, "orders/1").is_some_and(|(_, worker, state)| worker != "-" && state != "paused")
    });

    // `q` quits cleanly and gives the terminal back.
    tmux.keys(&["q"]);
    let deadline = Instant::now() + TIMEOUT;
    while !exit_file.exists() {
        assert!(Instant::now() < deadline, "the console did not quit on q; its screen:\n{}", tmux.screen());
        std::thread::sleep(POLL);
    }
    let screen = tmux.screen();
    let status = std::fs::read_to_string(&exit_file).unwrap_or_default();
    assert_eq!(status.trim(), "0", "the console did not exit with 0; its screen:\n{screen}");
    assert!(!screen.contains("prod.orders") && !screen.contains("│"), "the console's screen stayed:\n{screen}");
    drop(tmux);
    floe.stop();
}

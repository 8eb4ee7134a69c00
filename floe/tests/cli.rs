//! The `floe` command line as an operator meets it: what each command's
//! help lists, where options are taken, and what logs look like when they
//! go to a file or a pipe.

use std::process::{Command, Output};

use serde_json::Value;

/// `floe`, with nothing from the environment choosing for the test.
fn floe() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_floe"));
    for name in ["KAFSCALE_METRICS_ADDR", "FLOE_ADMIN", "FLOE_ADMIN_TOKEN", "FLOE_COORDINATOR", "NO_COLOR", "RUST_LOG"]
    {
        command.env_remove(name);
    }
    // Tests run side by side: no fixed admin port.
    command.env("FLOE_ADMIN_LISTEN", "127.0.0.1:0");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `floe PATH... --help`.
fn help(path: &[&str]) -> String {
    let output = floe().args(path).arg("--help").output().expect("running floe");
    assert!(output.status.success(), "floe {path:?} --help: {}", stderr(&output));
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// An entry of a help section: what it lists (`--config <CONFIG>`, `run`)
/// and its help text, without clap's `[default: ...]`-style notes.
struct Entry {
    name: String,
    text: String,
}

/// The sections of a help ("Commands:", "Arguments:", "Options:", a
/// heading of its own) with their entries, in either layout clap uses:
/// help beside the name, or on the lines below it.
fn sections(help: &str) -> Vec<(String, Vec<Entry>)> {
    let mut sections: Vec<(String, Vec<Entry>)> = Vec::new();
    for line in help.lines().filter(|l| !l.is_empty()) {
        let indent = line.len() - line.trim_start().len();
        match (indent, sections.last_mut()) {
            (0, _) => {
                if let Some(title) = line.strip_suffix(':') {
                    sections.push((title.to_string(), Vec::new()));
                }
            }
            (1..=6, Some((_, entries))) => {
                let line = line.trim_start();
                let (name, text) = line.split_once("  ").unwrap_or((line, ""));
                entries.push(Entry { name: name.to_string(), text: text.trim().to_string() });
            }
            (_, Some((_, entries))) => {
                let entry = entries.last_mut().expect("a continuation follows an entry");
                entry.text = format!("{} {}", entry.text, line.trim());
            }
            (_, None) => {} // the description before the first section
        }
    }
    for (_, entries) in &mut sections {
        for entry in entries {
            entry.text = without_notes(&entry.text);
        }
    }
    sections
}

fn without_notes(text: &str) -> String {
    let mut text = text.to_string();
    for note in ["[default: ", "[env: ", "[possible values: ", "[aliases: "] {
        while let Some(start) = text.find(note) {
            let end = text[start..].find(']').map_or(text.len(), |end| start + end + 1);
            text.replace_range(start..end, "");
        }
    }
    text.trim().to_string()
}

fn entries<'a>(sections: &'a [(String, Vec<Entry>)], title: &str) -> impl Iterator<Item = &'a Entry> {
    sections.iter().filter(move |(t, _)| t == title).flat_map(|(_, entries)| entries)
}

/// The options a command's help lists, under any heading, by long name.
fn options(sections: &[(String, Vec<Entry>)]) -> Vec<String> {
    sections
        .iter()
        .filter(|(title, _)| title != "Commands" && title != "Arguments")
        .flat_map(|(_, entries)| entries)
        .filter_map(|o| o.name.split(", ").find(|n| n.starts_with("--")))
        .map(|n| n.split(' ').next().unwrap_or(n).to_string())
        .collect()
}

/// Every command and subcommand, as its path of names.
fn commands(path: &[String]) -> Vec<Vec<String>> {
    let path_args: Vec<&str> = path.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for command in entries(&sections(&help(&path_args)), "Commands") {
        if command.name == "help" {
            continue;
        }
        let mut sub = path.to_vec();
        sub.push(command.name.clone());
        found.extend(commands(&sub));
        found.push(sub);
    }
    found
}

#[test]
fn every_command_lists_its_own_options_each_with_a_help_line() {
    let all = commands(&[]);
    for name in ["run", "coordinator", "worker", "ctl", "console", "tail", "demo", "generate"] {
        assert!(all.contains(&vec![name.to_string()]), "{name} is missing from {all:?}");
    }
    assert!(all.contains(&vec!["ctl".to_string(), "status".to_string()]), "{all:?}");
    for path in std::iter::once(Vec::new()).chain(all) {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&path);
        let sections = sections(&text);
        assert!(sections.iter().any(|(title, _)| title == "Options"), "floe {path:?} --help:\n{text}");
        for entry in sections.iter().flat_map(|(_, entries)| entries) {
            assert!(!entry.text.is_empty(), "floe {path:?} --help: {} has no help line:\n{text}", entry.name);
        }
        let listed = options(&sections);
        let has = |option: &str| listed.iter().any(|o| o == option);
        match path.first().copied() {
            Some("run" | "coordinator" | "worker") => {
                assert!(has("--metrics-addr") && has("--log-format"), "floe {path:?}: {listed:?}");
            }
            Some("demo") => assert!(has("--log-format") && !has("--metrics-addr"), "floe {path:?}: {listed:?}"),
            // The top level takes --log-format for the commands that log.
            None => assert!(has("--log-format") && !has("--metrics-addr"), "floe: {listed:?}"),
            Some(_) => assert!(!has("--metrics-addr") && !has("--log-format"), "floe {path:?}: {listed:?}"),
        }
        if path.first() == Some(&"ctl") {
            assert!(has("--coordinator") && has("--token"), "floe {path:?}: {listed:?}");
        }
        // The admin heading holds the admin options and nothing of the
        // command's own.
        let admin: Vec<&str> = entries(&sections, "Admin API").map(|e| e.name.as_str()).collect();
        for name in &admin {
            let admin_option = ["--coordinator", "--token", "--tls-ca", "--tls-cert", "--tls-key"]
                .iter()
                .any(|option| name.starts_with(option));
            assert!(admin_option, "floe {path:?} --help lists {name} under Admin API:\n{text}");
        }
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn ctl_takes_the_admin_options_before_and_after_its_subcommand() {
    let admin = format!("http://127.0.0.1:{}", closed_port());
    let tried = format!("no coordinator at {admin} is leading");
    let cases: [&[&str]; 4] = [
        &["ctl", "--coordinator", &admin, "status", "--json"],
        &["ctl", "status", "--json", "--coordinator", &admin],
        &["ctl", "--token", "t", "pause", "--topic", "orders", "--coordinator", &admin],
        &["tail", "orders", "--coordinator", &admin, "--partition", "1"],
    ];
    for args in cases {
        let output = floe().args(args).output().unwrap();
        let said = stderr(&output);
        assert!(!output.status.success() && said.contains(&tried), "floe {args:?}: {said}");
    }
    // A certificate needs its key, wherever each is given.
    let output = floe().args(["ctl", "--tls-cert", "/nonexistent/c.pem", "status", "--coordinator", &admin]).output();
    let said = stderr(&output.unwrap());
    assert!(said.contains("--tls-cert and --tls-key go together"), "{said}");
    let args = ["ctl", "--tls-cert", "/nonexistent/c.pem", "status", "--tls-key", "/nonexistent/k.pem"];
    let said = stderr(&floe().args(args).args(["--coordinator", &admin]).output().unwrap());
    assert!(said.contains("cannot read the TLS file /nonexistent/c.pem"), "{said}");
}

/// `floe ARGS` must succeed; its stderr (the logs).
fn logs_of(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = floe().args(args).envs(env.iter().copied()).output().expect("running floe");
    let said = stderr(&output);
    assert!(output.status.success(), "floe {args:?} {env:?}: {said}");
    said
}

fn assert_json_lines(logs: &str, what: &str) {
    assert!(!logs.trim().is_empty(), "{what}: no logs");
    for line in logs.lines().filter(|l| !l.is_empty()) {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: {e}: {line}"));
        assert!(parsed["level"].is_string(), "{what}: {line}");
    }
}

#[test]
fn logs_in_a_pipe_are_plain_and_the_options_of_long_running_commands_go_either_side() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let demo = ["demo", "--records", "20", "--dir", demo_dir.to_str().unwrap()];
    let logs = logs_of(&demo, &[]);
    assert!(logs.contains("floe is running"), "{logs}");
    assert!(!logs.contains('\x1b'), "colour codes in a pipe:\n{logs}");

    // The demo wrote a config: every `run` below finds it all committed.
    let config = demo_dir.join("floe.yaml");
    let config = config.to_str().unwrap();
    let run = |before: &[&str], after: &[&str], env: &[(&str, &str)]| {
        let args: Vec<&str> =
            before.iter().chain(&["run", "--once", "--config", config]).chain(after).copied().collect();
        logs_of(&args, env)
    };
    let json = ["--log-format", "json"];
    let no_metrics = [("KAFSCALE_METRICS_ADDR", "off")];
    assert_json_lines(&run(&json, &[], &no_metrics), "--log-format before run");
    assert_json_lines(&run(&[], &json, &no_metrics), "--log-format after run");
    assert_json_lines(&logs_of(&[&demo[..], &json[..]].concat(), &[]), "--log-format after demo");

    let serving = |logs: &str| logs.contains("serving /metrics");
    let any_port = "127.0.0.1:0";
    assert!(serving(&run(&[], &[], &[("KAFSCALE_METRICS_ADDR", any_port)])), "KAFSCALE_METRICS_ADDR is used");
    assert!(!serving(&run(&[], &["--metrics-addr", "off"], &[("KAFSCALE_METRICS_ADDR", any_port)])));
    assert!(serving(&run(&["--metrics-addr", any_port], &[], &[("KAFSCALE_METRICS_ADDR", "off")])));
    assert!(serving(&run(&["--metrics-addr", "off"], &["--metrics-addr", any_port], &[])), "after wins");
}

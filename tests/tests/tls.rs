//! Mutual TLS between workers and the coordinator, with certificates this
//! test makes (rcgen): a worker with a certificate the CA signed works; one
//! without is refused, with a clear error on both sides; certificate files
//! replaced on disk are served to the next connection without a restart.
//! And etcd over mutual TLS.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use floe_tests::services::{FloeProcess, free_port};
use floe_tests::{Engine, Lakehouse, generate_orders, run_once};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

const TIMEOUT: Duration = Duration::from_secs(120);

/// A CA with a server certificate (for 127.0.0.1) and a client one, as PEM
/// files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn make_pki(dir: &Path, name: &str) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, format!("{name} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issue = |names: Vec<String>, file: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
        let (cert_path, key_path) = (dir.join(format!("{file}.crt")), dir.join(format!("{file}.key")));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    };
    let (server_cert, server_key) = issue(vec!["127.0.0.1".into(), "localhost".into()], "server");
    let (client_cert, client_key) = issue(vec!["floe-worker".into()], "client");
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    Pki { ca: ca_path, server_cert, server_key, client_cert, client_key }
}

fn worker(port: u16, ca: &Path, client: Option<(&Path, &Path)>, log: PathBuf) -> FloeProcess {
    let url = format!("https://127.0.0.1:{port}");
    let mut args = vec!["worker".to_string(), "--coordinator".into(), url, "--tls-ca".into(), path(ca)];
    if let Some((cert, key)) = client {
        args.extend(["--tls-cert".into(), path(cert), "--tls-key".into(), path(key)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    FloeProcess::start(&args, log)
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

#[test]
fn workers_need_a_certificate_the_ca_signed_and_rotated_files_are_served() {
    let dir = tempfile::tempdir().unwrap();
    generate_orders(&dir.path().join("source"), 2, 2000, &[]);
    // The server reads these paths; rotation overwrites them.
    let live = dir.path().join("live");
    let first = make_pki(&live, "first");
    let lake = Lakehouse::new();
    let port = free_port();
    let tls = format!(
        "coordinator:\n  listen: 127.0.0.1:{port}\n  tls:\n    cert_file: {}\n    key_file: {}\n    ca_file: {}\n\
         commit:\n  interval_seconds: 0.5\n",
        first.server_cert.display(),
        first.server_key.display(),
        first.ca.display()
    );
    let config =
        lake.write_config(&dir.path().join("source"), "bucket", "production", &[("orders", "prod.orders")], &tls);
    let coordinator =
        FloeProcess::start(&["coordinator", "--config", config.to_str().unwrap()], dir.path().join("c.log"));
    coordinator.wait_for_log("coordinator serving workers", TIMEOUT);

    // No client certificate: refused, and both sides say why.
    let anonymous = worker(port, &first.ca, None, dir.path().join("anonymous.log"));
    coordinator.wait_for_log("refused a connection: TLS handshake failed", TIMEOUT);
    anonymous.wait_for_log("may require a client certificate: give --tls-cert and --tls-key", TIMEOUT);
    coordinator.wait_for_log("peer sent no certificates", TIMEOUT);
    assert!(!anonymous.log().contains("registered with the coordinator"), "{}", anonymous.log());
    drop(anonymous);

    // A signed certificate: the data lands.
    let good = worker(port, &first.ca, Some((&first.client_cert, &first.client_key)), dir.path().join("good.log"));
    good.wait_for_log("registered with the coordinator", TIMEOUT);
    let deadline = Instant::now() + TIMEOUT;
    while lake.snapshots("prod.orders").is_empty() || lake.rows(Engine::PyIceberg, "prod.orders").len() < 4000 {
        assert!(Instant::now() < deadline, "rows did not land:\n{}\n{}", coordinator.log(), good.log());
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(lake.rows(Engine::PyIceberg, "prod.orders").len(), 4000);
    drop(good);

    // Rotate everything to a new CA, in place: the running coordinator
    // serves the new files to the next connection.
    let second = make_pki(&dir.path().join("second"), "second");
    for (from, to) in
        [(&second.server_cert, &first.server_cert), (&second.server_key, &first.server_key), (&second.ca, &first.ca)]
    {
        std::fs::copy(from, to).unwrap();
    }
    let rotated =
        worker(port, &second.ca, Some((&second.client_cert, &second.client_key)), dir.path().join("rotated.log"));
    rotated.wait_for_log("registered with the coordinator", TIMEOUT);
    coordinator.wait_for_log("TLS certificate files changed: serving the new ones", TIMEOUT);
}

#[test]
fn leases_in_an_etcd_that_requires_client_certificates() {
    if std::process::Command::new("etcd").arg("--version").output().is_err() {
        assert!(std::env::var_os("FLOE_REQUIRE_SERVICES").is_none(), "etcd is not installed");
        eprintln!("SKIPPED: etcd is not installed (scripts/services/up.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(&dir.path().join("pki"), "etcd");
    let (client_port, peer_port) = (free_port(), free_port());
    let client_url = format!("https://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let etcd = FloeProcess::spawn(
        "etcd",
        &[
            "--name=tls".to_string(),
            format!("--data-dir={}", dir.path().join("etcd").display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=tls={peer_url}"),
            format!("--cert-file={}", pki.server_cert.display()),
            format!("--key-file={}", pki.server_key.display()),
            format!("--trusted-ca-file={}", pki.ca.display()),
            "--client-cert-auth".to_string(),
        ],
        dir.path().join("etcd.log"),
    );
    etcd.wait_for_log("ready to serve client requests", TIMEOUT);

    generate_orders(&dir.path().join("source"), 2, 1000, &[]);
    let lake = Lakehouse::new();
    let etcd_config = |tls: &str| {
        format!("offsets:\n  backend: etcd\n  key_prefix: tls-test\netcd:\n  endpoints: [{client_url}]\n  tls:\n{tls}")
    };
    let ca = format!("    ca_file: {}\n", pki.ca.display());
    let identity =
        format!("    cert_file: {}\n    key_file: {}\n", pki.client_cert.display(), pki.client_key.display());
    let mappings = [("orders", "prod.orders")];

    // Without a client certificate: one clear error at start.
    let config = lake.write_config(&dir.path().join("source"), "bucket", "production", &mappings, &etcd_config(&ca));
    let refused = run_once(&config, TIMEOUT);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains(&format!("etcd {client_url}")), "{}", refused.stderr);
    assert!(refused.stderr.contains("check etcd.endpoints and etcd.tls"), "{}", refused.stderr);

    let tls = format!("{ca}{identity}");
    let config = lake.write_config(&dir.path().join("source"), "bucket", "production", &mappings, &etcd_config(&tls));
    let run = run_once(&config, TIMEOUT);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, etcd.log());
    assert_eq!(lake.rows(Engine::PyIceberg, "prod.orders").len(), 2000);
}

/// The admin endpoint with mutual TLS and a token: `floe ctl` with the CA,
/// a client certificate and the token gets the status; without the token,
/// or without a certificate, it is refused with a message that says what to
/// give.
#[test]
fn the_admin_api_over_mutual_tls_needs_a_certificate_and_the_token() {
    let lake = Lakehouse::new();
    let pki = make_pki(&lake.path().join("pki"), "admin");
    let data = tempfile::tempdir().unwrap();
    generate_orders(data.path(), 1, 100, &[]);
    let admin_port = free_port();
    let extra = format!(
        "admin:\n  listen: 127.0.0.1:{admin_port}\n  token: ${{FLOE_TEST_ADMIN_TOKEN}}\n  tls:\n    cert_file: {}\n    key_file: {}\n    ca_file: {}\n",
        path(&pki.server_cert),
        path(&pki.server_key),
        path(&pki.ca)
    );
    let config = lake.write_config(data.path(), "bucket", "production", &[("orders", "prod.orders")], &extra);
    let mut command = floe_tests::floe_command();
    command.env_remove("FLOE_ADMIN_LISTEN").env("FLOE_TEST_ADMIN_TOKEN", "s3cr3t-token");
    let run = FloeProcess::run(command, &["run", "--config", &path(&config)], lake.path().join("run.log"));
    run.wait_for_log("admin API listening", TIMEOUT);

    let url = format!("https://127.0.0.1:{admin_port}");
    let ctl = |extra: &[&str]| {
        let mut args = vec!["ctl", "--coordinator", &url, "--tls-ca"];
        let ca = path(&pki.ca);
        args.push(&ca);
        let output = floe_tests::floe_command().args(&args).args(extra).arg("status").output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (cert, key) = (path(&pki.client_cert), path(&pki.client_key));
    let identity = ["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (ok, out) = ctl(&[&identity[..], &["--token", "s3cr3t-token"]].concat());
        if ok && out.contains("orders/0") {
            break;
        }
        assert!(Instant::now() < deadline, "ctl over mutual TLS never worked: {out}\n{}", run.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ok, out) = ctl(&identity);
    assert!(!ok && out.contains("requires an admin token"), "{out}");
    let (ok, out) = ctl(&[&identity[..], &["--token", "guess"]].concat());
    assert!(!ok && out.contains("refused the admin token"), "{out}");
    let (ok, out) = ctl(&["--token", "s3cr3t-token"]);
    assert!(!ok, "no client certificate, no admin API: {out}");
}

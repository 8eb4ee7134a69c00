//! TLS to the coordinator: the CA that signed its certificate, and this
//! worker's own certificate when the coordinator requires one (mutual TLS).
//! Files are read at every connection, so rotated Secrets are picked up on
//! the next reconnect.

use std::path::PathBuf;

use floe_config::TlsFiles;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// What to check when the coordinator drops a TLS session at once.
pub(crate) fn refusal_hint(files: &TlsFiles) -> &'static str {
    if files.cert_file.is_none() {
        " (the coordinator may require a client certificate: give --tls-cert and --tls-key)"
    } else {
        " (the coordinator may not trust this worker's certificate: it must be signed by coordinator.tls.ca_file)"
    }
}

/// The client side of `files`, read now (`--tls-ca`, `--tls-cert`, `--tls-key`).
/// The error says which file or flag is wrong.
pub(crate) fn client_config(files: &TlsFiles) -> Result<ClientTlsConfig, String> {
    let read = |flag: &str, path: &PathBuf| std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()));
    let mut config = ClientTlsConfig::new();
    if let Some(ca) = &files.ca_file {
        config = config.ca_certificate(Certificate::from_pem(read("--tls-ca", ca)?));
    }
    match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            config = config.identity(Identity::from_pem(read("--tls-cert", cert)?, read("--tls-key", key)?));
        }
        (None, None) => {}
        _ => return Err("--tls-cert and --tls-key go together: give both or neither".into()),
    }
    Ok(config)
}
/// An error with its causes, `a: b: c`: transport errors hide the useful
/// part (a refused certificate, a reset connection) in their sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

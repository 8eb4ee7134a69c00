//! TLS on the coordinator's gRPC endpoint, with certificates read from
//! files (mounted Secrets) and picked up again when they change: every new
//! connection checks the files' modification times, so a rotated
//! certificate is served without a restart. With a CA file, clients must
//! present a certificate it signed (mutual TLS).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use floe_config::TlsFiles;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

#[derive(Debug, thiserror::Error)]
#[error("{key} {path}: {message}")]
pub struct TlsError {
    /// The config key naming the file.
    pub key: String,
    pub path: PathBuf,
    pub message: String,
}

/// The server's TLS files, resolved: certificate and key are required.
#[derive(Debug, Clone)]
pub struct ServerTlsFiles {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    /// The config section, e.g. `coordinator.tls`, for error messages.
    section: String,
}

impl ServerTlsFiles {
    /// `None` when the section sets no file (plain-text endpoint).
    pub fn from_config(files: &TlsFiles, section: &str) -> Option<Self> {
        Some(Self {
            cert: files.cert_file.clone()?,
            key: files.key_file.clone()?,
            client_ca: files.ca_file.clone(),
            section: section.to_string(),
        })
    }

    fn paths(&self) -> Vec<&Path> {
        [Some(self.cert.as_path()), Some(self.key.as_path()), self.client_ca.as_deref()].into_iter().flatten().collect()
    }

    fn error(&self, key: &str, path: &Path, message: impl std::fmt::Display) -> TlsError {
        TlsError { key: format!("{}.{key}", self.section), path: path.to_path_buf(), message: message.to_string() }
    }

    fn build(&self) -> Result<ServerConfig, TlsError> {
        let provider = Arc::new(crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect())
            .map_err(|e| self.error("cert_file", &self.cert, e))?;
        if certs.is_empty() {
            return Err(self.error("cert_file", &self.cert, "holds no PEM certificate"));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| self.error("key_file", &self.key, e))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| self.error("cert_file", &self.cert, e))?;
        let builder = match &self.client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca).map_err(|e| self.error("ca_file", ca, e))? {
                    roots
                        .add(cert.map_err(|e| self.error("ca_file", ca, e))?)
                        .map_err(|e| self.error("ca_file", ca, e))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| self.error("ca_file", ca, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| self.error("key_file", &self.key, e))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }

    fn modified(&self) -> Vec<Option<SystemTime>> {
        self.paths().into_iter().map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).collect()
    }
}

/// The current server config, rebuilt when the files change. A rebuild
/// that fails (a half-written Secret) keeps serving the previous one.
pub struct TlsReloader {
    files: ServerTlsFiles,
    current: Mutex<(Vec<Option<SystemTime>>, Arc<ServerConfig>)>,
}

impl TlsReloader {
    pub fn load(files: ServerTlsFiles) -> Result<Self, TlsError> {
        let modified = files.modified();
        let config = Arc::new(files.build()?);
        Ok(Self { files, current: Mutex::new((modified, config)) })
    }

    pub fn config(&self) -> Arc<ServerConfig> {
        let modified = self.files.modified();
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.0 != modified {
            match self.files.build() {
                Ok(config) => {
                    tracing::info!("TLS certificate files changed: serving the new ones");
                    *current = (modified, Arc::new(config));
                }
                Err(e) => tracing::warn!("TLS certificate files changed but cannot be used yet, keeping the old: {e}"),
            }
        }
        current.1.clone()
    }
}

/// Accepts connections on `listener` and completes TLS handshakes off the
/// accept loop; failed handshakes are logged with the peer and the reason.
pub fn incoming(
    listener: TcpListener,
    reloader: Arc<TlsReloader>,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (streams, incoming) = mpsc::channel(64);
    tokio::spawn(async move {
        while !streams.is_closed() {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    continue;
                }
            };
            let acceptor = TlsAcceptor::from(reloader.config());
            let handshaken = streams.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = handshaken.send(Ok(tls)).await;
                    }
                    Err(e) => tracing::warn!(%peer, "refused a connection: TLS handshake failed: {e}"),
                }
            });
        }
    });
    ReceiverStream::new(incoming)
}

//! TLS material read from files (mounted Secrets): etcd's client
//! certificates, the coordinator's gRPC endpoint, and a worker's side of it.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::Problem;

/// PEM files. A CA alone verifies the server; a certificate and key prove
/// who we are (mutual TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFiles {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl TlsFiles {
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// A server's files: as [`TlsFiles::validate`], and a CA (to check
    /// clients) only with the server's own certificate.
    pub(crate) fn validate_server(&self, section: &str) -> Result<(), Problem> {
        self.validate(section)?;
        if self.ca_file.is_some() && self.cert_file.is_none() {
            return Err(Problem::invalid(
                format!("{section}.cert_file"),
                "is missing while ca_file is set",
                "give the coordinator's certificate and key (cert_file, key_file) to serve TLS",
            ));
        }
        Ok(())
    }

    /// `section` is the key path of this block, e.g. `etcd.tls`.
    pub(crate) fn validate(&self, section: &str) -> Result<(), Problem> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => Err(Problem::invalid(
                format!("{section}.key_file"),
                "is missing while cert_file is set",
                "give the private key of the certificate, or remove cert_file",
            )),
            (None, Some(_)) => Err(Problem::invalid(
                format!("{section}.cert_file"),
                "is missing while key_file is set",
                "give the certificate of the key, or remove key_file",
            )),
            _ => Ok(()),
        }
    }
}

//! The coordinator's endpoint for workers (`coordinator`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

use crate::error::Problem;
use crate::tls::TlsFiles;
use crate::value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinatorConfig {
    /// Where the coordinator serves workers' gRPC streams when they run as
    /// separate processes.
    #[serde(deserialize_with = "listen_address")]
    pub listen: SocketAddr,
    /// How often a worker reports in; it must be well under
    /// `offsets.lease_ttl_seconds`.
    #[serde(rename = "worker_heartbeat_seconds", deserialize_with = "value::seconds")]
    pub worker_heartbeat: Duration,
    /// TLS on the worker endpoint: `cert_file` and `key_file` turn it on;
    /// `ca_file` also requires workers to present a certificate it signed.
    /// The files are read again when they change.
    pub tls: TlsFiles,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7600)),
            worker_heartbeat: Duration::from_secs(2),
            tls: TlsFiles::default(),
        }
    }
}

impl CoordinatorConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        self.tls.validate_server("coordinator.tls")
    }
}

pub(crate) fn listen_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    deserializer.deserialize_str(ListenAddressVisitor)
}

struct ListenAddressVisitor;

impl Visitor<'_> for ListenAddressVisitor {
    type Value = SocketAddr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an IP address and port such as 127.0.0.1:7600, 0.0.0.0:7600 or [::]:7600")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<SocketAddr, E> {
        text.parse().map_err(|_| E::invalid_value(Unexpected::Str(text), &self))
    }
}

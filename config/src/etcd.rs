//! The etcd cluster used for leases and, in `auto`/`etcd` discovery, topic
//! lists (`etcd`).

use serde::Deserialize;

use crate::error::Problem;
use crate::secret::Secret;
use crate::tls::TlsFiles;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdConfig {
    /// `http(s)://host:port` or `host:port`; empty means no etcd.
    pub endpoints: Vec<String>,
    pub username: String,
    pub password: Secret,
    /// Client TLS: the CA that signed etcd's certificate, and a client
    /// certificate when etcd asks for one.
    pub tls: TlsFiles,
}

impl EtcdConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        self.tls.validate("etcd.tls")?;
        match self.endpoints.iter().position(String::is_empty) {
            Some(index) => Err(Problem::invalid(
                format!("etcd.endpoints[{index}]"),
                "is empty",
                "give each endpoint as http(s)://host:port, or remove the entry",
            )),
            None => Ok(()),
        }
    }
}

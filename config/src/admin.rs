//! The admin API's endpoint (`admin`): status, pause, resume, rewind and
//! skip, for `floe ctl` and `floe console`.

use std::net::SocketAddr;

use serde::Deserialize;

use crate::coordinator::listen_address;
use crate::error::Problem;
use crate::secret::Secret;
use crate::tls::TlsFiles;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where the leading coordinator serves the admin API. The
    /// `FLOE_ADMIN_LISTEN` environment variable, when set, wins.
    #[serde(deserialize_with = "listen_address")]
    pub listen: SocketAddr,
    /// When set, every call must carry `authorization: Bearer <token>`.
    /// Write `${FLOE_ADMIN_TOKEN}` to take it from the environment.
    pub token: Secret,
    /// TLS on the admin endpoint (`cert_file`, `key_file`; `ca_file` also
    /// requires clients to present a certificate it signed).
    pub tls: TlsFiles,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 7601)), token: Secret::default(), tls: TlsFiles::default() }
    }
}

impl AdminConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        self.tls.validate_server("admin.tls")
    }
}

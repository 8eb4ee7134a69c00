//! Where leases, epochs and pause state live (`offsets`). Committed offsets
//! themselves are read from the tables; this store is the lease registry.

use std::time::Duration;

use serde::Deserialize;

use crate::Config;
use crate::catalog::CatalogType;
use crate::error::Problem;
use crate::keyword::keyword_enum;
use crate::value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OffsetsConfig {
    pub backend: OffsetsBackend,
    /// A partition whose worker has not renewed its lease for this long is
    /// reassigned.
    #[serde(rename = "lease_ttl_seconds", deserialize_with = "value::seconds")]
    pub lease_ttl: Duration,
    /// Prefix of every key floe writes to etcd.
    pub key_prefix: String,
}

impl Default for OffsetsConfig {
    fn default() -> Self {
        Self { backend: OffsetsBackend::Auto, lease_ttl: Duration::from_secs(30), key_prefix: "processors".to_owned() }
    }
}

keyword_enum! {
    #[derive(Default)]
    pub enum OffsetsBackend {
        /// etcd when `etcd.endpoints` is set, else the SQL catalog's database
        /// when the catalog is `sql`, else memory.
        #[default]
        Auto => "auto",
        Etcd => "etcd",
        /// The SQL catalog's own database.
        Sql => "sql",
        /// In-process: leases do not survive a restart (single process only).
        Memory => "memory",
    }
}

/// The state store an `OffsetsBackend` resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateStore {
    Etcd,
    Sql,
    Memory,
}

impl OffsetsBackend {
    /// Applies the `auto` rule to `config.offsets.backend`.
    pub fn resolve(config: &Config) -> StateStore {
        match config.offsets.backend {
            Self::Etcd => StateStore::Etcd,
            Self::Sql => StateStore::Sql,
            Self::Memory => StateStore::Memory,
            Self::Auto if !config.etcd.endpoints.is_empty() => StateStore::Etcd,
            Self::Auto if config.iceberg.catalog.kind == CatalogType::Sql => StateStore::Sql,
            Self::Auto => StateStore::Memory,
        }
    }
}

impl OffsetsConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        if self.key_prefix.is_empty() {
            return Err(Problem::invalid(
                "offsets.key_prefix",
                "is empty",
                "set a prefix or remove the key for the default, processors",
            ));
        }
        Ok(())
    }
}

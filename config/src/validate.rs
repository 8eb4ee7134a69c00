//! Rules that span sections. Each section checks its own keys.

use crate::Config;
use crate::catalog::CatalogType;
use crate::discovery::DiscoveryMode;
use crate::error::Problem;
use crate::mapping::{ColumnSource, validate_mappings};
use crate::offsets::OffsetsBackend;

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        self.s3.validate()?;
        self.iceberg.validate()?;
        self.offsets.validate()?;
        self.etcd.validate()?;
        self.schema.validate()?;
        validate_mappings(&self.mappings)?;
        self.commit.validate()?;
        self.writer.validate()?;
        self.worker.validate()?;
        self.coordinator.validate()?;
        self.admin.validate()?;
        self.lfs.validate(&self.s3, self.mappings.iter().map(|m| m.lfs.mode).enumerate())?;
        self.check_etcd_is_there()?;
        self.check_sql_backend_has_sql_catalog()?;
        self.check_registry_is_there()?;
        self.check_confluent_registry_is_there()?;
        self.check_heartbeat_fits_lease()?;
        self.check_row_group_fits_memory()
    }

    fn check_etcd_is_there(&self) -> Result<(), Problem> {
        if !self.etcd.endpoints.is_empty() {
            return Ok(());
        }
        if self.offsets.backend == OffsetsBackend::Etcd {
            return Err(Problem::invalid(
                "offsets.backend",
                "is etcd but etcd.endpoints is empty",
                "list the etcd endpoints under etcd.endpoints, or set offsets.backend to auto",
            ));
        }
        if self.discovery.mode == DiscoveryMode::Etcd {
            return Err(Problem::invalid(
                "discovery.mode",
                "is etcd but etcd.endpoints is empty",
                "list the etcd endpoints under etcd.endpoints, or set discovery.mode to auto",
            ));
        }
        Ok(())
    }

    fn check_sql_backend_has_sql_catalog(&self) -> Result<(), Problem> {
        if self.offsets.backend == OffsetsBackend::Sql && self.iceberg.catalog.kind != CatalogType::Sql {
            return Err(Problem::invalid(
                "offsets.backend",
                format!(
                    "is sql, which keeps leases in the SQL catalog's database, but iceberg.catalog.type is {}",
                    self.iceberg.catalog.kind
                ),
                "set offsets.backend to etcd (with etcd.endpoints), memory or auto",
            ));
        }
        Ok(())
    }

    fn check_registry_is_there(&self) -> Result<(), Problem> {
        if !self.schema.registry.base_url.is_empty() {
            return Ok(());
        }
        let registry_mapping = self.mappings.iter().position(|mapping| mapping.schema.source == ColumnSource::Registry);
        match registry_mapping {
            Some(index) => Err(Problem::invalid(
                format!("mappings[{index}].schema.source"),
                "is registry but schema.registry.base_url is empty",
                "set schema.registry.base_url, or list the columns and set source to mapping",
            )),
            None => Ok(()),
        }
    }

    fn check_confluent_registry_is_there(&self) -> Result<(), Problem> {
        if !self.schema.confluent_registry.url.is_empty() {
            return Ok(());
        }
        match self.mappings.iter().position(|mapping| mapping.format.is_confluent()) {
            Some(index) => Err(Problem::invalid(
                format!("mappings[{index}].format"),
                format!(
                    "is {}, whose writer schemas are in a schema registry, but schema.confluent_registry.url is empty",
                    self.mappings[index].format
                ),
                "set schema.confluent_registry.url to the registry's base URL, or set format to json",
            )),
            None => Ok(()),
        }
    }

    fn check_heartbeat_fits_lease(&self) -> Result<(), Problem> {
        let heartbeat = self.coordinator.worker_heartbeat;
        let lease_ttl = self.offsets.lease_ttl;
        if heartbeat >= lease_ttl {
            return Err(Problem::invalid(
                "coordinator.worker_heartbeat_seconds",
                format!(
                    "({}) is not shorter than offsets.lease_ttl_seconds ({}), so workers would lose their leases between heartbeats",
                    heartbeat.as_secs_f64(),
                    lease_ttl.as_secs_f64()
                ),
                "make the heartbeat a fraction of the lease TTL, e.g. a third or less",
            ));
        }
        Ok(())
    }

    fn check_row_group_fits_memory(&self) -> Result<(), Problem> {
        if self.writer.row_group_bytes > self.worker.memory_limit_bytes {
            return Err(Problem::invalid(
                "writer.row_group_bytes",
                format!(
                    "({}) is larger than worker.memory_limit_bytes ({}), which must hold at least one row group",
                    self.writer.row_group_bytes, self.worker.memory_limit_bytes
                ),
                "lower row_group_bytes or raise memory_limit_bytes",
            ));
        }
        Ok(())
    }
}

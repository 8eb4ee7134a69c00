//! Schema registries (`schema`): JSON validation against the seed's, and
//! the Confluent registry of wire-format records.

use std::time::Duration;

use serde::Deserialize;

use crate::confluent::ConfluentRegistryConfig;
use crate::error::Problem;
use crate::keyword::keyword_enum;
use crate::source::is_http_url;
use crate::value;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaConfig {
    pub mode: ValidationMode,
    pub registry: RegistryConfig,
    /// Writer schemas of records in the Confluent wire format (mappings
    /// with `format: avro`...).
    pub confluent_registry: ConfluentRegistryConfig,
}

keyword_enum! {
    #[derive(Default)]
    pub enum ValidationMode {
        /// No validation. YAML 1.1 readers turn a bare `off` into `false`,
        /// so `false` is accepted too.
        #[default]
        Off => "off" | "false",
        /// Invalid records are dropped and processing continues.
        Lenient => "lenient",
        /// Processing stops at the first invalid record.
        Strict => "strict",
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Schemas are fetched from `<base_url>/<topic>.json`; empty means no
    /// registry.
    pub base_url: String,
    #[serde(rename = "timeout_seconds", deserialize_with = "value::seconds")]
    pub timeout: Duration,
    /// How long a fetched schema is reused before it is fetched again.
    #[serde(rename = "cache_seconds", deserialize_with = "value::seconds")]
    pub cache: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self { base_url: String::new(), timeout: Duration::from_secs(5), cache: Duration::from_secs(300) }
    }
}

impl SchemaConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        self.confluent_registry.validate()?;
        let base_url = &self.registry.base_url;
        if !base_url.is_empty() && !is_http_url(base_url) {
            return Err(Problem::invalid(
                "schema.registry.base_url",
                format!("is `{base_url}`, not an http(s) URL"),
                "set it to the registry's base URL, e.g. https://schemas.example.com",
            ));
        }
        if self.mode != ValidationMode::Off && base_url.is_empty() {
            return Err(Problem::invalid(
                "schema.mode",
                format!("is {} but schema.registry.base_url is empty", self.mode),
                "set schema.registry.base_url, or set schema.mode to off",
            ));
        }
        Ok(())
    }
}

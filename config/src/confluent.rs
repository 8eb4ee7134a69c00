//! A Confluent-compatible schema registry (`schema.confluent_registry`),
//! holding the writer schemas of records in the Confluent wire format.

use std::time::Duration;

use serde::Deserialize;

use crate::error::Problem;
use crate::secret::Secret;
use crate::source::is_http_url;
use crate::value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfluentRegistryConfig {
    /// The registry's base URL; empty means none.
    pub url: String,
    #[serde(rename = "timeout_seconds", deserialize_with = "value::seconds")]
    pub timeout: Duration,
    /// How long a subject's latest version is reused before it is asked
    /// again. A schema id always names the same schema: those are kept.
    #[serde(rename = "cache_seconds", deserialize_with = "value::seconds")]
    pub cache: Duration,
    /// HTTP basic credentials (Confluent Cloud: the API key and secret).
    pub username: String,
    pub password: Secret,
}

impl Default for ConfluentRegistryConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            timeout: Duration::from_secs(5),
            cache: Duration::from_secs(300),
            username: String::new(),
            password: Secret::default(),
        }
    }
}

impl ConfluentRegistryConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        const KEY: &str = "schema.confluent_registry";
        if !self.url.is_empty() && !is_http_url(&self.url) {
            return Err(Problem::invalid(
                format!("{KEY}.url"),
                format!("is `{}`, not an http(s) URL", self.url),
                "set it to the registry's base URL, e.g. http://schema-registry:8081",
            ));
        }
        if self.username.is_empty() != self.password.is_empty() {
            let (set, unset) =
                if self.username.is_empty() { ("password", "username") } else { ("username", "password") };
            return Err(Problem::invalid(
                format!("{KEY}.{unset}"),
                format!("is empty but {KEY}.{set} is set"),
                "set both for HTTP basic authentication, or neither",
            ));
        }
        Ok(())
    }
}

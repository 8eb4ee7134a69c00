//! When the coordinator commits staged files to a table (`commit`).

use std::time::Duration;

use serde::Deserialize;

use crate::error::Problem;
use crate::value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommitConfig {
    /// A table with staged data is committed at least this often.
    #[serde(rename = "interval_seconds", deserialize_with = "value::seconds")]
    pub interval: Duration,
    /// ... or as soon as this many bytes are staged for it.
    #[serde(deserialize_with = "value::positive")]
    pub max_staged_bytes: u64,
    /// Staged files never committed are deleted after this long.
    #[serde(rename = "orphan_grace_seconds", deserialize_with = "value::seconds")]
    pub orphan_grace: Duration,
}

impl Default for CommitConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            max_staged_bytes: 512 * 1024 * 1024,
            orphan_grace: Duration::from_secs(3600),
        }
    }
}

impl CommitConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        // A file must outlive the commit that would pick it up.
        if self.orphan_grace <= self.interval {
            return Err(Problem::invalid(
                "commit.orphan_grace_seconds",
                format!(
                    "({}) is not longer than commit.interval_seconds ({}), so staged files could be deleted before their commit",
                    self.orphan_grace.as_secs_f64(),
                    self.interval.as_secs_f64()
                ),
                "raise orphan_grace_seconds well above interval_seconds",
            ));
        }
        Ok(())
    }
}

//! How new topics, partitions and segments are found (`discovery`).

use std::time::Duration;

use serde::Deserialize;

use crate::error::Problem;
use crate::keyword::keyword_enum;
use crate::value;

#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryConfig {
    pub mode: DiscoveryMode,
    /// How often the bucket is listed for new segments.
    pub poll_interval: Duration,
    /// The longest a partition that stays quiet goes unlisted: each quiet
    /// listing doubles its interval, up to this; new objects reset it.
    pub idle_poll_interval: Duration,
}

keyword_enum! {
    #[derive(Default)]
    pub enum DiscoveryMode {
        /// Topic and partition lists from etcd when `etcd.endpoints` is set,
        /// segments always from S3 listings.
        #[default]
        Auto => "auto",
        /// Topic and partition lists from etcd only (needs `etcd.endpoints`).
        Etcd => "etcd",
        /// S3 listings only; etcd is ignored.
        S3 => "s3",
    }
}

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_IDLE_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// The `discovery` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DiscoverySection {
    mode: DiscoveryMode,
    #[serde(rename = "poll_interval_seconds", deserialize_with = "value::some_seconds")]
    poll_interval: Option<Duration>,
    #[serde(rename = "idle_poll_interval_seconds", deserialize_with = "value::some_seconds")]
    idle_poll_interval: Option<Duration>,
}

/// The seed processor's `processor` section, which held the poll interval
/// before it moved under `discovery`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ProcessorSection {
    #[serde(rename = "poll_interval_seconds", deserialize_with = "value::some_seconds")]
    poll_interval: Option<Duration>,
}

impl DiscoverySection {
    pub(crate) fn resolve(self, processor: ProcessorSection) -> Result<DiscoveryConfig, Problem> {
        let poll_interval = match (self.poll_interval, processor.poll_interval) {
            (Some(_), Some(_)) => {
                return Err(Problem::invalid(
                    "processor.poll_interval_seconds",
                    "is set together with discovery.poll_interval_seconds",
                    "keep only discovery.poll_interval_seconds",
                ));
            }
            (Some(interval), None) | (None, Some(interval)) => interval,
            (None, None) => DEFAULT_POLL_INTERVAL,
        };
        let idle_poll_interval = self.idle_poll_interval.unwrap_or(DEFAULT_IDLE_POLL_INTERVAL.max(poll_interval));
        if idle_poll_interval < poll_interval {
            return Err(Problem::invalid(
                "discovery.idle_poll_interval_seconds",
                format!(
                    "({}) is shorter than the poll interval ({})",
                    idle_poll_interval.as_secs(),
                    poll_interval.as_secs()
                ),
                "make it at least the poll interval (equal turns the idle back-off off)",
            ));
        }
        Ok(DiscoveryConfig { mode: self.mode, poll_interval, idle_poll_interval })
    }
}

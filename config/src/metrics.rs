//! Where `/metrics`, `/healthz` and `/readyz` are served (`metrics`). The
//! seed processor's `KAFSCALE_METRICS_ADDR` environment variable, when set,
//! wins over the file.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: MetricsAddress,
}

/// `HOST:PORT`, `:PORT` (every interface, as the seed wrote it) or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAddress {
    Off,
    At(SocketAddr),
}

impl Default for MetricsAddress {
    fn default() -> Self {
        Self::At(SocketAddr::from(([0, 0, 0, 0], 9093)))
    }
}

impl FromStr for MetricsAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = match (text, text.strip_prefix(':')) {
            ("off", _) => return Ok(Self::Off),
            (_, Some(port)) => format!("0.0.0.0:{port}").parse(),
            (_, None) => text.parse(),
        };
        parsed.map(Self::At).map_err(|_| format!("`{text}` is not HOST:PORT, :PORT or off"))
    }
}

impl fmt::Display for MetricsAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::At(address) => address.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for MetricsAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_the_seed_writes_them() {
        assert_eq!(":9093".parse(), Ok(MetricsAddress::At(SocketAddr::from(([0, 0, 0, 0], 9093)))));
        assert_eq!("127.0.0.1:0".parse(), Ok(MetricsAddress::At(SocketAddr::from(([127, 0, 0, 1], 0)))));
        assert_eq!("off".parse(), Ok(MetricsAddress::Off));
        assert_eq!("9093".parse::<MetricsAddress>(), Err("`9093` is not HOST:PORT, :PORT or off".to_string()));
    }
}

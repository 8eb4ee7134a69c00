//! Credentials read from the config file.

use std::fmt;

use serde::Deserialize;

/// A token or password. Its `Debug` output is redacted so that logging a
/// config never prints a credential. Empty means "not set".
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.is_empty() {
            true => f.write_str("Secret(\"\")"),
            false => f.write_str("Secret(<redacted>)"),
        }
    }
}

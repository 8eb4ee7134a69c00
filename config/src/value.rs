//! Value shapes shared by several sections: durations written as seconds and
//! sizes or counts that must be positive.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// `*_seconds` keys: a positive number of seconds, integer or fractional.
pub(crate) fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    // `any` keeps integers as integers, so `0` is reported as `integer `0``.
    deserializer.deserialize_any(SecondsVisitor)
}

/// A `*_seconds` key whose absence means something to its section.
pub(crate) fn some_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    seconds(deserializer).map(Some)
}

struct SecondsVisitor;

impl Visitor<'_> for SecondsVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a positive number of seconds")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
        match value {
            0 => Err(E::invalid_value(Unexpected::Unsigned(0), &self)),
            secs => Ok(Duration::from_secs(secs)),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
        match u64::try_from(value) {
            Ok(secs) => self.visit_u64(secs),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(value), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
        match Duration::try_from_secs_f64(value) {
            Ok(duration) if !duration.is_zero() => Ok(duration),
            _ => Err(E::invalid_value(Unexpected::Float(value), &self)),
        }
    }
}

/// Sizes in bytes and counts: a positive integer.
pub(crate) fn positive<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    // `any` lets a negative number reach `visit_i64` as a value error.
    let value = deserializer.deserialize_any(PositiveVisitor)?;
    T::try_from(value).map_err(|_| de::Error::invalid_value(Unexpected::Unsigned(value), &"a smaller positive integer"))
}

struct PositiveVisitor;

impl Visitor<'_> for PositiveVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a positive integer")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        match value {
            0 => Err(E::invalid_value(Unexpected::Unsigned(0), &self)),
            value => Ok(value),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(value), &self)),
        }
    }
}

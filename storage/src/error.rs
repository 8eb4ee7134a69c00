use std::fmt;

/// What kind of failure, so callers can decide between retrying and stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The object or directory does not exist.
    NotFound,
    /// Worth retrying: throttling, 5xx, connection reset, timeouts.
    Transient,
    /// Retrying will not help: bad configuration, permissions, invalid request.
    Permanent,
}

/// A storage operation that failed, naming the object and the operation.
#[derive(Debug, thiserror::Error)]
#[error("{op} {location}: {message}")]
pub struct StorageError {
    pub kind: StorageErrorKind,
    pub op: &'static str,
    pub location: String,
    pub message: String,
}

impl StorageError {
    pub fn new(
        kind: StorageErrorKind,
        op: &'static str,
        location: impl fmt::Display,
        message: impl fmt::Display,
    ) -> Self {
        Self { kind, op, location: location.to_string(), message: message.to_string() }
    }

    pub(crate) fn from_io(op: &'static str, location: impl fmt::Display, err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::NotFound => StorageErrorKind::NotFound,
            Io::Interrupted | Io::TimedOut | Io::WouldBlock => StorageErrorKind::Transient,
            _ => StorageErrorKind::Permanent,
        };
        Self::new(kind, op, location, err)
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == StorageErrorKind::NotFound
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

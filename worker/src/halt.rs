//! Why a batch's rows could not be built. Shared by the decode loop and by
//! what answers its lookups (writer schemas, LFS blobs), so both sides speak
//! of a stop the same way.

/// Why a batch's rows could not be built: what they need from elsewhere
/// (a writer schema, an LFS blob) did not come, or a record was refused.
#[derive(Debug)]
pub enum Halt {
    /// The lease stopped while waiting for it.
    Stopped,
    /// Retrying will not help: the message says what to change.
    Failed(String),
    /// Strict validation refused a record: the message names it.
    Invalid(String),
}

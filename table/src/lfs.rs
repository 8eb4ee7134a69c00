//! KafScale LFS envelopes: telling them from ordinary values, reading them,
//! deciding what a table's LFS mode does with each, and checking a fetched
//! blob against its envelope. Fetching is the worker's; this is pure.

use floe_config::{LfsConfig, LfsMode};
use serde::Deserialize;
use sha2::Digest as _;

use crate::columns::SourceColumn;
use crate::dead_letters::{Rejection, RejectionCode};

/// How far into a value KafScale's clients look for the marker key.
const DETECT_PREFIX: usize = 50;
const MARKER: &[u8] = b"\"kfs_lfs\"";

/// What an envelope says about its blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub bucket: String,
    pub key: String,
    /// The blob's length in bytes, when the envelope gives it.
    pub size: Option<u64>,
    /// Lowercase hex.
    pub sha256: String,
    pub content_type: Option<String>,
}

/// The envelope as written; required fields are checked after parsing so a
/// missing one is named.
#[derive(Deserialize)]
struct RawEnvelope {
    kfs_lfs: Option<serde_json::Value>,
    bucket: Option<String>,
    key: Option<String>,
    size: Option<u64>,
    sha256: Option<String>,
    content_type: Option<String>,
}

/// KafScale's own detection: the value starts with `{` and its first 50
/// bytes hold `"kfs_lfs"`. Cheap; [`Envelope::parse`] decides.
pub fn looks_like_envelope(value: &[u8]) -> bool {
    value.first() == Some(&b'{') && value[..value.len().min(DETECT_PREFIX)].windows(MARKER.len()).any(|w| w == MARKER)
}

impl Envelope {
    /// Reads a value that [`looks_like_envelope`]. `Ok(None)`: a JSON object
    /// without a `kfs_lfs` key (the marker was text inside another value), so
    /// an ordinary value. An error is a damaged envelope (a dead letter).
    pub fn parse(value: &[u8]) -> Result<Option<Self>, Rejection> {
        let invalid = |what: String| Rejection::new(RejectionCode::LfsEnvelope, format!("LFS envelope {what}"));
        let raw: RawEnvelope = match serde_json::from_slice::<serde_json::Value>(value) {
            Ok(serde_json::Value::Object(object)) if !object.contains_key("kfs_lfs") => return Ok(None),
            Ok(json) => {
                serde_json::from_value(json).map_err(|e| invalid(format!("has a field of the wrong type: {e}")))?
            }
            Err(e) => return Err(invalid(format!("is not valid JSON: {e}"))),
        };
        match raw.kfs_lfs {
            Some(serde_json::Value::Number(version)) if version.as_u64().is_some_and(|v| v > 0) => {}
            other => return Err(invalid(format!("has kfs_lfs {}, not a positive version number", shown(other)))),
        }
        let required = |field: Option<String>, name: &str| {
            field.filter(|text| !text.is_empty()).ok_or_else(|| invalid(format!("lacks `{name}`")))
        };
        let bucket = required(raw.bucket, "bucket")?;
        let key = required(raw.key, "key")?;
        let sha256 = required(raw.sha256, "sha256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!("for s3://{bucket}/{key} has sha256 `{sha256}`, not 64 hex digits")));
        }
        Ok(Some(Self { bucket, key, size: raw.size, sha256, content_type: raw.content_type }))
    }

    /// `s3://bucket/key`, for messages.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The value of one of the `lfs_*` text columns.
    pub fn text(&self, column: SourceColumn) -> Option<&str> {
        match column {
            SourceColumn::LfsBucket => Some(&self.bucket),
            SourceColumn::LfsKey => Some(&self.key),
            SourceColumn::LfsSha256 => Some(&self.sha256),
            SourceColumn::LfsContentType => self.content_type.as_deref(),
            _ => None,
        }
    }

    /// Checks a fetched blob against the envelope's size and sha256.
    pub fn verify(&self, blob: &[u8]) -> Result<(), Rejection> {
        self.check_size(blob.len() as u64)?;
        let digest = sha2::Sha256::digest(blob);
        let actual: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        if actual != self.sha256 {
            let message = format!("{}: the blob's sha256 is {actual}, the envelope says {}", self.url(), self.sha256);
            return Err(Rejection::new(RejectionCode::LfsChecksum, message));
        }
        Ok(())
    }

    /// Checks a blob's length against the envelope's `size`, when it has one.
    pub fn check_size(&self, actual: u64) -> Result<(), Rejection> {
        match self.size {
            Some(size) if size != actual => {
                let message = format!("{}: the blob is {actual} bytes, the envelope says {size}", self.url());
                Err(Rejection::new(RejectionCode::LfsSize, message))
            }
            _ => Ok(()),
        }
    }

    /// The rejection of a blob that is not there.
    pub fn missing(&self, detail: &str) -> Rejection {
        Rejection::new(RejectionCode::LfsMissing, format!("{}: the blob does not exist ({detail})", self.url()))
    }

    /// The rejection of a blob over `lfs.max_blob_bytes`.
    pub fn too_large(&self, size: u64, limit: u64) -> Rejection {
        let message = format!(
            "{}: the blob is {size} bytes, over the mapping's lfs.max_blob_bytes ({limit}): raise it, or use \
             mode hybrid or reference",
            self.url()
        );
        Rejection::new(RejectionCode::LfsTooLarge, message)
    }
}

fn shown(value: Option<serde_json::Value>) -> String {
    value.map_or_else(|| "missing".to_string(), |v| format!("`{v}`"))
}

/// What to do with one envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LfsAction {
    /// Fetch the blob (at most this many bytes) and make it the value.
    Resolve {
        limit: u64,
    },
    Reference,
    Skip,
    /// Declared larger than `lfs.max_blob_bytes`: a dead letter, unfetched.
    TooLarge {
        size: u64,
    },
}

/// The mode's decision for one envelope. `off` never gets here: its values
/// are not looked at.
pub fn decide(config: &LfsConfig, envelope: &Envelope) -> LfsAction {
    match (config.mode, envelope.size) {
        (LfsMode::Off | LfsMode::Reference, _) => LfsAction::Reference,
        (LfsMode::Skip, _) => LfsAction::Skip,
        (LfsMode::Resolve, Some(size)) if size > config.max_blob_bytes => LfsAction::TooLarge { size },
        (LfsMode::Resolve, _) => LfsAction::Resolve { limit: config.max_blob_bytes },
        (LfsMode::Hybrid, Some(size)) if size <= config.max_inline_bytes => {
            LfsAction::Resolve { limit: config.max_inline_bytes }
        }
        // Without a size, a hybrid table cannot know the blob is small.
        (LfsMode::Hybrid, _) => LfsAction::Reference,
    }
}

/// What became of one record of a batch on its way to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LfsRecord {
    /// Not an envelope (or the table's mode is off).
    Plain,
    /// The record's value was replaced by the envelope's blob.
    Resolved(Envelope),
    /// The value stays the envelope; its fields fill the `lfs_*` columns.
    Referenced(Envelope),
    /// No row (mode skip).
    Skipped,
    Rejected(Rejection),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; // "hello"

    fn envelope_json(extra: &str) -> String {
        format!(r#"{{"kfs_lfs":1,"bucket":"b","key":"ns/t/lfs/abc","size":5,"sha256":"{SHA}"{extra}}}"#)
    }

    #[test]
    fn detects_like_kafscale_clients() {
        assert!(looks_like_envelope(envelope_json("").as_bytes()));
        assert!(!looks_like_envelope(br#" {"kfs_lfs":1}"#), "must start with {{");
        assert!(!looks_like_envelope(br#"["kfs_lfs"]"#));
        assert!(!looks_like_envelope(b""));
        // The marker past the first 50 bytes does not count.
        let late = format!(r#"{{"padding":"{}","kfs_lfs":1}}"#, "x".repeat(50));
        assert!(!looks_like_envelope(late.as_bytes()));
    }

    #[test]
    fn parses_an_envelope_and_ignores_extra_fields() {
        let json = envelope_json(r#","content_type":"application/xml","original_headers":{"a":"b"},"proxy_id":"p""#);
        let envelope = Envelope::parse(json.as_bytes()).unwrap().unwrap();
        assert_eq!(
            envelope,
            Envelope {
                bucket: "b".into(),
                key: "ns/t/lfs/abc".into(),
                size: Some(5),
                sha256: SHA.into(),
                content_type: Some("application/xml".into()),
            }
        );
        assert_eq!(envelope.text(SourceColumn::LfsKey), Some("ns/t/lfs/abc"));
        assert_eq!(envelope.url(), "s3://b/ns/t/lfs/abc");
    }

    #[test]
    fn look_alikes_are_ordinary_values() {
        // The marker as a value, not a key.
        assert_eq!(Envelope::parse(br#"{"note":"kfs_lfs","bucket":"b"}"#).unwrap(), None);
        assert_eq!(Envelope::parse(br#"{"a":{"kfs_lfs":1}}"#).unwrap(), None);
    }

    #[test]
    fn damaged_envelopes_name_what_is_wrong() {
        let message = |json: &str| {
            let rejection = Envelope::parse(json.as_bytes()).unwrap_err();
            assert_eq!(rejection.code, RejectionCode::LfsEnvelope);
            rejection.message
        };
        assert!(message(r#"{"kfs_lfs":1,"bucket":"b""#).starts_with("LFS envelope is not valid JSON: "));
        assert_eq!(message(&format!(r#"{{"kfs_lfs":1,"key":"k","sha256":"{SHA}"}}"#)), "LFS envelope lacks `bucket`");
        assert_eq!(message(r#"{"kfs_lfs":1,"bucket":"b","key":"k"}"#), "LFS envelope lacks `sha256`");
        assert_eq!(
            message(r#"{"kfs_lfs":1,"bucket":"b","key":"k","sha256":"abc"}"#),
            "LFS envelope for s3://b/k has sha256 `abc`, not 64 hex digits"
        );
        assert_eq!(
            message(&format!(r#"{{"kfs_lfs":"yes","bucket":"b","key":"k","sha256":"{SHA}"}}"#)),
            "LFS envelope has kfs_lfs `\"yes\"`, not a positive version number"
        );
        assert!(message(&envelope_json(r#","size":"big""#)).starts_with("LFS envelope has a field of the wrong type"));
    }

    #[test]
    fn verifies_size_and_checksum() {
        let envelope = Envelope::parse(envelope_json("").as_bytes()).unwrap().unwrap();
        assert_eq!(envelope.verify(b"hello"), Ok(()));
        let short = envelope.verify(b"hell").unwrap_err();
        assert_eq!(
            (short.code, short.message.as_str()),
            (RejectionCode::LfsSize, "s3://b/ns/t/lfs/abc: the blob is 4 bytes, the envelope says 5")
        );
        let wrong = envelope.verify(b"HELLO").unwrap_err();
        assert_eq!(wrong.code, RejectionCode::LfsChecksum);
        assert!(wrong.message.ends_with(&format!("the envelope says {SHA}")), "{}", wrong.message);
    }

    #[test]
    fn each_mode_decides() {
        let envelope = |size| Envelope { size, ..Envelope::parse(envelope_json("").as_bytes()).unwrap().unwrap() };
        let config = |mode| LfsConfig { mode, max_inline_bytes: 10, max_blob_bytes: 100 };
        assert_eq!(decide(&config(LfsMode::Resolve), &envelope(Some(50))), LfsAction::Resolve { limit: 100 });
        assert_eq!(decide(&config(LfsMode::Resolve), &envelope(None)), LfsAction::Resolve { limit: 100 });
        assert_eq!(decide(&config(LfsMode::Resolve), &envelope(Some(101))), LfsAction::TooLarge { size: 101 });
        assert_eq!(decide(&config(LfsMode::Hybrid), &envelope(Some(10))), LfsAction::Resolve { limit: 10 });
        assert_eq!(decide(&config(LfsMode::Hybrid), &envelope(Some(11))), LfsAction::Reference);
        assert_eq!(decide(&config(LfsMode::Hybrid), &envelope(None)), LfsAction::Reference);
        assert_eq!(decide(&config(LfsMode::Reference), &envelope(Some(1))), LfsAction::Reference);
        assert_eq!(decide(&config(LfsMode::Skip), &envelope(Some(1))), LfsAction::Skip);
    }
}

//! What went wrong with a config file, worded for the person who has to fix it.

use std::fmt;

use serde_path_to_error::Segment;

/// A config file that cannot be used. Displays as one line:
/// `config error in FILE: PROBLEM`.
#[derive(Debug, thiserror::Error)]
#[error("config error in {file}: {problem}")]
pub struct ConfigError {
    file: String,
    problem: Box<Problem>,
}

impl ConfigError {
    pub(crate) fn new(file: &str, problem: Problem) -> Self {
        Self { file: file.to_owned(), problem: Box::new(problem) }
    }

    /// The file, or the source name given to `from_yaml_str`.
    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

/// Where in the file a problem is, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Key paths are written the way they appear in YAML: `s3.bucket`,
/// `mappings[0].schema.columns[2].type`; the empty path is the whole document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    #[error("cannot read the file: {0}")]
    Unreadable(std::io::Error),

    #[error("invalid YAML{}: {message}", at(.location))]
    Syntax { message: String, location: Option<Location> },

    #[error(
        "unknown key `{key}`{}; accepted keys {}: {}",
        at(.location),
        section(key),
        accepted.join(", ")
    )]
    UnknownKey { key: String, location: Option<Location>, accepted: Vec<String> },

    /// `location` is where the mapping that lacks the key starts.
    #[error("missing required key `{key}`{}", in_mapping(.location))]
    MissingKey { key: String, location: Option<Location> },

    /// `location` is where the mapping that repeats the key starts.
    #[error("key `{key}` is given twice{}; keep one", in_mapping(.location))]
    DuplicateKey { key: String, location: Option<Location> },

    #[error("wrong type for {}{}: found {found}, expected {expected}", subject(key), at(.location))]
    WrongType { key: String, location: Option<Location>, found: String, expected: String },

    #[error("invalid value for {}{}: found {found}, expected {expected}", subject(key), at(.location))]
    InvalidValue { key: String, location: Option<Location>, found: String, expected: String },

    #[error("environment variable {name} ({location}) is not set: set it, or write the value in the file")]
    UnsetVariable { name: String, location: Location },

    /// A value that parses but cannot work, alone or with other settings.
    #[error("`{key}` {problem}; {fix}")]
    Invalid { key: String, problem: String, fix: String },
}

impl Problem {
    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), problem: problem.into(), fix: fix.into() }
    }

    /// Turns a deserialization failure into a problem naming the key path.
    ///
    /// serde reports structural errors as fixed phrases (`unknown field`,
    /// `missing field`, `invalid type`, `invalid value`, `duplicate field`);
    /// everything else comes from the YAML parser itself.
    pub(crate) fn from_yaml(error: serde_path_to_error::Error<serde_yaml_ng::Error>) -> Self {
        let segments: Vec<Segment> = error.path().iter().cloned().collect();
        let key = render_path(&segments);
        let inner = error.into_inner();
        let location = inner.location().map(|l| Location { line: l.line(), column: l.column() });
        let message = bare_message(&inner.to_string(), &segments, location);

        if let Some(rest) = message.strip_prefix("unknown field `") {
            let accepted = match rest.split_once("expected ") {
                Some((_, list)) => backticked(list),
                None => Vec::new(),
            };
            return Self::UnknownKey { key, location, accepted };
        }
        // These two are reported at the start of the enclosing mapping, which
        // for a top-level key is the start of the file: no help there.
        let mapping_location = location.filter(|_| !key.is_empty());
        if let Some(field) = quoted_field(&message, "missing field `") {
            return Self::MissingKey { key: child(&key, field), location: mapping_location };
        }
        if let Some(field) = quoted_field(&message, "duplicate field `") {
            return Self::DuplicateKey { key: child(&key, field), location: mapping_location };
        }
        if let Some((found, expected)) = found_expected(&message, "invalid type: ") {
            return Self::WrongType { key, location, found, expected };
        }
        if let Some((found, expected)) = found_expected(&message, "invalid value: ") {
            return Self::InvalidValue { key, location, found, expected };
        }
        Self::Syntax { message, location }
    }
}

fn at(location: &Option<Location>) -> String {
    location.map(|l| format!(" ({l})")).unwrap_or_default()
}

fn in_mapping(location: &Option<Location>) -> String {
    location.map(|l| format!(" in the mapping at {l}")).unwrap_or_default()
}

fn subject(key: &str) -> String {
    if key.is_empty() { "the document".to_owned() } else { format!("`{key}`") }
}

/// "under `s3`" for a nested key, "at the top level" for a top-level one.
fn section(key: &str) -> String {
    match parent(key) {
        Some(parent) => format!("under `{parent}`"),
        None => "at the top level".to_owned(),
    }
}

fn parent(key: &str) -> Option<&str> {
    let cut = key.rfind(['.', '['])?;
    Some(&key[..cut]).filter(|parent| !parent.is_empty())
}

fn child(key: &str, field: &str) -> String {
    if key.is_empty() { field.to_owned() } else { format!("{key}.{field}") }
}

fn render_path(segments: &[Segment]) -> String {
    let mut path = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut path, key),
            Segment::Enum { variant } => push_key(&mut path, variant),
            Segment::Unknown => push_key(&mut path, "?"),
        }
    }
    path
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// The parser's message without the key path it prefixes and the position it
/// appends, both of which the problem carries separately.
fn bare_message(text: &str, segments: &[Segment], location: Option<Location>) -> String {
    let mut message = match location {
        Some(l) => text.replacen(&format!(" at line {} column {}", l.line, l.column), "", 1),
        None => text.to_owned(),
    };
    // The parser's prefix is the path where it failed, which is this path or
    // one of its ancestors (an unknown key is reported at its parent mapping).
    for len in (1..=segments.len()).rev() {
        let prefix = format!("{}: ", render_path(&segments[..len]));
        if let Some(rest) = message.strip_prefix(&prefix) {
            message = rest.to_owned();
            break;
        }
    }
    message
}

fn quoted_field<'a>(message: &'a str, phrase: &str) -> Option<&'a str> {
    message.strip_prefix(phrase)?.split('`').next()
}

fn backticked(list: &str) -> Vec<String> {
    list.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

fn found_expected(message: &str, phrase: &str) -> Option<(String, String)> {
    // The found value may itself be a string containing ", expected ".
    let (found, expected) = message.strip_prefix(phrase)?.rsplit_once(", expected ")?;
    Some((plain_found(found), plain_expected(expected)))
}

/// serde's names for YAML shapes, in YAML words.
fn plain_found(found: &str) -> String {
    match found {
        "map" => "a mapping".to_owned(),
        "sequence" => "a list".to_owned(),
        "unit value" | "Option value" => "an empty value".to_owned(),
        other => other.to_owned(),
    }
}

/// serde's names for Rust types, in YAML words.
fn plain_expected(expected: &str) -> String {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "a mapping".to_owned(),
        other if other.starts_with("struct ") => "a mapping".to_owned(),
        other => other.to_owned(),
    }
}

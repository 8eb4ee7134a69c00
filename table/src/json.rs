//! Values of typed columns read from a record's JSON value, exactly.
//!
//! Numbers are converted from their JSON text, never through a float, so a
//! long beyond 2^53 or a decimal keeps every digit. A field holding a
//! numeric string converts like the number it spells. Each conversion that
//! cannot be exact is refused with a reason that names the column and the
//! value, and the record becomes a dead letter.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use floe_config::ColumnType;
use serde::de;

use crate::dead_letters::{Rejection, RejectionCode};
use crate::json_scanner::{Invalid, Scanner, ShortNumber};

/// A converted value, ready for its column's builder.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Boolean(bool),
    /// int and date.
    Int(i32),
    /// long and timestamp.
    Long(i64),
    Float(f32),
    Double(f64),
    String(Cow<'a, str>),
    Binary(Vec<u8>),
    /// The unscaled value of a decimal.
    Decimal(i128),
}

impl Cell<'_> {
    /// The same cell, owning its text (tests keep cells past their input).
    #[cfg(test)]
    pub(crate) fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Boolean(v) => Cell::Boolean(v),
            Cell::Int(v) => Cell::Int(v),
            Cell::Long(v) => Cell::Long(v),
            Cell::Float(v) => Cell::Float(v),
            Cell::Double(v) => Cell::Double(v),
            Cell::String(s) => Cell::String(Cow::Owned(s.into_owned())),
            Cell::Binary(v) => Cell::Binary(v),
            Cell::Decimal(v) => Cell::Decimal(v),
        }
    }
}

/// Where the mapped columns' values sit in a record's JSON object: a tree
/// of keys built once per table. A record is read in one pass: each member
/// is skipped, or handed to the columns whose path leads through it; a
/// nested object on a path is read when its member is.
pub(crate) struct JsonColumns {
    root: KeyNode,
    columns: usize,
    /// The keys leading to each node, dotted, as errors name them.
    paths: Vec<String>,
}

/// Where a record holds one column's value: positions in the record's
/// text, so the list is refilled for every record without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// No member there, or a step on the way is null.
    Absent,
    /// The value's JSON text: `start..end` of the record's text.
    Text(usize, usize),
    /// A string token without escapes, quotes included: its content is
    /// used as it is, not searched for escapes again.
    PlainString(usize, usize),
    /// A number token and its value, read as it was scanned.
    Number(usize, usize, ShortNumber),
    /// A step on the way (the node numbered `node`, its value at
    /// `start..end`) is neither an object nor null: the record's shape
    /// differs from the mapping's.
    Shape { node: usize, start: usize, end: usize },
}

#[derive(Default)]
struct KeyNode {
    /// This node's number in [`JsonColumns::paths`].
    node: usize,
    /// The key leading here as a text spells it without escapes, quotes
    /// included; empty when the key has characters JSON must escape.
    quoted_key: Vec<u8>,
    /// Columns whose path ends here.
    ends: Vec<usize>,
    /// Columns whose path goes on below here.
    below: Vec<usize>,
    children: Vec<(String, KeyNode)>,
}

impl JsonColumns {
    /// The reader of columns at `paths` (keys of nested objects, outermost
    /// first), in the order of their cells. An empty path finds nothing.
    pub fn new<'p>(paths: impl IntoIterator<Item = &'p [String]>) -> Self {
        let mut root = KeyNode::default();
        let mut node_paths = vec![String::new()];
        let mut columns = 0;
        for (column, path) in paths.into_iter().enumerate() {
            columns += 1;
            let mut node = &mut root;
            for (depth, key) in path.iter().enumerate() {
                if depth > 0 {
                    node.below.push(column);
                }
                let at = match node.children.iter().position(|(name, _)| name == key) {
                    Some(at) => at,
                    None => {
                        node_paths.push(path[..=depth].join("."));
                        let needs_escape = key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
                        let quoted_key = if needs_escape { Vec::new() } else { format!("\"{key}\"").into_bytes() };
                        let child = KeyNode { node: node_paths.len() - 1, quoted_key, ..KeyNode::default() };
                        node.children.push((key.clone(), child));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at].1;
            }
            if !path.is_empty() {
                node.ends.push(column);
            }
        }
        Self { root, columns, paths: node_paths }
    }

    /// Reads a record value, setting `found` to one entry per column, and
    /// gives it as text. The rejection says what the value is instead of a
    /// JSON object.
    pub fn read<'a>(&self, bytes: &'a [u8], found: &mut Vec<Found>) -> Result<&'a str, Rejection> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Rejection::new(RejectionCode::NotJson, format!("value is not JSON: not UTF-8 text ({e})")))?;
        found.clear();
        found.resize(self.columns, Found::Absent);
        let mut scanner = Scanner::new(text);
        let read = match scanner.peek() {
            Some(b'{') => self.root.read_object(&mut scanner, found).and_then(|()| scanner.end()),
            _ => Err(Invalid),
        };
        read.map(|()| text).map_err(|Invalid| match serde_json::from_str::<de::IgnoredAny>(text) {
            // Valid JSON, just not an object.
            Ok(_) => {
                Rejection::new(RejectionCode::NotObject, format!("value is {}, not a JSON object", describe(text)))
            }
            Err(e) => Rejection::new(RejectionCode::NotJson, format!("value is not JSON: {e}")),
        })
    }

    /// Converts what [`JsonColumns::read`] found in `text` to `target`,
    /// into `cell`. The error is the reason without the column's name.
    ///
    /// The common cases are written straight into `cell`: a cell built
    /// elsewhere and moved here is stored piece by piece and read back
    /// whole, which stalls the processor on every move (profiles showed
    /// such moves at a fifth of the typed rows' time).
    pub fn fill<'a>(&self, text: &'a str, found: Found, target: ColumnType, cell: &mut Cell<'a>) -> Result<(), String> {
        match found {
            Found::Absent => *cell = Cell::Null,
            Found::PlainString(start, end) if target == ColumnType::String => {
                *cell = Cell::String(Cow::Borrowed(&text[start + 1..end - 1]));
            }
            Found::Number(_, _, number) if short_fill(number, target, cell) => {}
            Found::Text(start, end) | Found::Number(start, end, _) => *cell = convert(&text[start..end], target)?,
            Found::PlainString(start, end) => *cell = from_string(Cow::Borrowed(&text[start + 1..end - 1]), target)?,
            Found::Shape { node, start, end } => {
                return Err(format!("`{}` is {}, not an object", self.paths[node], describe(&text[start..end])));
            }
        }
        Ok(())
    }
}

impl KeyNode {
    /// Reads the object at the scanner: each member is skipped, or handed
    /// to the columns whose path leads through it.
    ///
    /// Producers write an object's keys in the same order record after
    /// record. So the child after the one found last (`next`) is tried
    /// first, by comparing the text with its key as written; only when
    /// that fails is the key read and looked up. This runs for every
    /// member of every record.
    fn read_object(&self, scanner: &mut Scanner<'_>, found: &mut [Found]) -> Result<(), Invalid> {
        let mut next = 0;
        let mut more = scanner.open_object()?;
        while more {
            let child = match self.children.get(next) {
                Some((_, expected))
                    if !expected.quoted_key.is_empty() && scanner.member_key_is(&expected.quoted_key)? =>
                {
                    next = self.after(next);
                    Some(expected)
                }
                _ => {
                    let key = scanner.member_key()?;
                    self.child(&key, &mut next)
                }
            };
            match child {
                Some(child) => child.take(scanner, found)?,
                None => scanner.skip_value()?,
            }
            more = scanner.more_members()?;
        }
        Ok(())
    }

    /// The child at `key`, searched from `next` on; `next` then follows it.
    fn child(&self, key: &str, next: &mut usize) -> Option<&KeyNode> {
        let count = self.children.len();
        for tried in 0..count {
            let at = if *next + tried < count { *next + tried } else { *next + tried - count };
            let (name, child) = &self.children[at];
            if name.len() == key.len() && name.as_bytes() == key.as_bytes() {
                *next = self.after(at);
                return Some(child);
            }
        }
        None
    }

    /// The index of the child after child `at`, around to the first.
    fn after(&self, at: usize) -> usize {
        if at + 1 < self.children.len() { at + 1 } else { 0 }
    }

    /// Hands the value at the scanner to the columns at or below this key.
    /// A later member of the same name replaces it, as most JSON readers
    /// keep the last of repeated keys.
    fn take(&self, scanner: &mut Scanner<'_>, found: &mut [Found]) -> Result<(), Invalid> {
        for &column in &self.below {
            found[column] = Found::Absent;
        }
        let first = scanner.peek();
        let start = scanner.position();
        let value = match first {
            Some(b'{') if !self.children.is_empty() => {
                self.read_object(scanner, found)?;
                Found::Text(start, scanner.position())
            }
            Some(b'"') if !scanner.string()? => Found::PlainString(start, scanner.position()),
            Some(b'"') => Found::Text(start, scanner.position()),
            Some(b'-' | b'0'..=b'9') => match scanner.number()? {
                Some(number) => Found::Number(start, scanner.position(), number),
                None => Found::Text(start, scanner.position()),
            },
            _ => {
                scanner.skip_value()?;
                Found::Text(start, scanner.position())
            }
        };
        for &column in &self.ends {
            found[column] = value;
        }
        if !self.children.is_empty() && !matches!(first, Some(b'{' | b'n')) {
            let shape = Found::Shape { node: self.node, start, end: scanner.position() };
            for &column in &self.below {
                found[column] = shape;
            }
        }
        Ok(())
    }
}

/// "a string", "a number"...: what a JSON text holds, for error messages.
fn describe(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Converts one JSON value's text to `target`. The error is the reason
/// without the column's name.
fn convert(text: &str, target: ColumnType) -> Result<Cell<'_>, String> {
    match text.as_bytes().first() {
        Some(b'n') => Ok(Cell::Null),
        Some(b'"') => from_string(unquote(text)?, target),
        Some(b't' | b'f') => match target {
            ColumnType::Boolean => Ok(Cell::Boolean(text == "true")),
            ColumnType::String => Ok(Cell::String(Cow::Borrowed(text))),
            _ => Err(format!("{text} (a boolean) does not convert to {target}")),
        },
        Some(b'{' | b'[') => match target {
            // Nested data kept as its JSON text, compact, so every row holds
            // the same text for the same value whatever the producer's layout.
            ColumnType::String => Ok(Cell::String(compact(text))),
            _ => Err(format!("{} ({}) does not convert to {target}", abbreviate(text), describe(text))),
        },
        _ if target == ColumnType::String => Ok(Cell::String(Cow::Borrowed(text))),
        _ => from_number(text, target).map_err(|e| e.reason_or(|| format!("{text} does not convert to {target}"))),
    }
}

/// The content of a JSON string token. serde_json checked the token, so
/// without a backslash its content is the text between the quotes:
/// borrowed, not unescaped into a new string.
fn unquote(text: &str) -> Result<Cow<'_, str>, String> {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(content) if !content.contains('\\') => Ok(Cow::Borrowed(content)),
        _ => serde_json::from_str::<String>(text).map(Cow::Owned).map_err(|e| format!("unreadable string: {e}")),
    }
}

/// JSON text without the whitespace between tokens; strings and numbers
/// are kept byte for byte (a parse would round long numbers).
fn compact(text: &str) -> Cow<'_, str> {
    let (mut in_string, mut escaped) = (false, false);
    let insignificant = |b: u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t');
    if !text.bytes().any(insignificant) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii() && insignificant(c as u8) {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn from_string(string: Cow<'_, str>, target: ColumnType) -> Result<Cell<'_>, String> {
    let quoted = || format!("\"{}\"", abbreviate(&string));
    match target {
        ColumnType::String => Ok(Cell::String(string)),
        ColumnType::Boolean => match string.trim() {
            t if t.eq_ignore_ascii_case("true") => Ok(Cell::Boolean(true)),
            f if f.eq_ignore_ascii_case("false") => Ok(Cell::Boolean(false)),
            _ => Err(format!("{} does not convert to boolean", quoted())),
        },
        ColumnType::Binary => base64::engine::general_purpose::STANDARD
            .decode(string.trim())
            .map(Cell::Binary)
            .map_err(|e| format!("{} is not base64 ({e})", quoted())),
        ColumnType::Timestamp | ColumnType::TimestampTz => match from_number(string.trim(), target) {
            Ok(cell) => Ok(cell),
            Err(NumberError::Unfit(reason)) => Err(reason),
            Err(NumberError::NotANumber) => parse_timestamp(string.trim())
                .map(Cell::Long)
                .ok_or_else(|| format!("{} is not an RFC 3339 timestamp or epoch milliseconds", quoted())),
        },
        ColumnType::Date => match from_number(string.trim(), target) {
            Ok(cell) => Ok(cell),
            Err(NumberError::Unfit(reason)) => Err(reason),
            Err(NumberError::NotANumber) => parse_date(string.trim())
                .map(Cell::Int)
                .ok_or_else(|| format!("{} is not a date (YYYY-MM-DD or days since the epoch)", quoted())),
        },
        ColumnType::Float | ColumnType::Double | ColumnType::Int | ColumnType::Long | ColumnType::Decimal { .. } => {
            from_number(string.trim(), target)
                .map_err(|e| e.reason_or(|| format!("{} does not convert to {target}", quoted())))
        }
    }
}

/// Why number text gave no cell. A text that is no number at all may still
/// be read another way (a timestamp, a date); one that does not fit says why.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NumberError {
    NotANumber,
    /// A number that does not fit the target exactly: the reason.
    Unfit(String),
}

impl NumberError {
    /// The reason, or `otherwise` for a text that is no number.
    fn reason_or(self, otherwise: impl FnOnce() -> String) -> String {
        match self {
            NumberError::NotANumber => otherwise(),
            NumberError::Unfit(reason) => reason,
        }
    }
}

/// Converts number text.
fn from_number(text: &str, target: ColumnType) -> Result<Cell<'static>, NumberError> {
    let mut cell = Cell::Null;
    match short_number(text) {
        Some(number) if short_fill(number, target, &mut cell) => Ok(cell),
        _ => from_any_number(text, target),
    }
}

/// [`from_number`] for every number text: exponents, 38 digits, and the
/// reasons for refusals.
fn from_any_number(text: &str, target: ColumnType) -> Result<Cell<'static>, NumberError> {
    match target {
        ColumnType::Double => match text.parse::<f64>() {
            Ok(v) if v.is_finite() || !looks_numeric(text) => Ok(Cell::Double(v)),
            Ok(_) => Err(NumberError::Unfit(format!("{text} is out of range for double"))),
            Err(_) => Err(NumberError::NotANumber),
        },
        ColumnType::Float => match text.parse::<f32>() {
            Ok(v) if v.is_finite() || !looks_numeric(text) => Ok(Cell::Float(v)),
            Ok(_) => Err(NumberError::Unfit(format!("{text} is out of range for float"))),
            Err(_) => Err(NumberError::NotANumber),
        },
        ColumnType::Boolean | ColumnType::String | ColumnType::Binary => Err(NumberError::NotANumber),
        ColumnType::Int
        | ColumnType::Long
        | ColumnType::Date
        | ColumnType::Timestamp
        | ColumnType::TimestampTz
        | ColumnType::Decimal { .. } => {
            let decimal = ExactDecimal::parse(text).ok_or(NumberError::NotANumber)?;
            let whole = |what: &str| {
                decimal.rescale(0).ok_or_else(|| NumberError::Unfit(format!("{text} is not a whole number of {what}")))
            };
            let fits = |value: i128, min: i128, max: i128| {
                (min..=max)
                    .contains(&value)
                    .then_some(value)
                    .ok_or_else(|| NumberError::Unfit(format!("{text} is out of range for {target}")))
            };
            match target {
                ColumnType::Int => Ok(Cell::Int(fits(whole("units")?, i32::MIN.into(), i32::MAX.into())? as i32)),
                ColumnType::Long => Ok(Cell::Long(fits(whole("units")?, i64::MIN.into(), i64::MAX.into())? as i64)),
                ColumnType::Date => Ok(Cell::Int(fits(whole("days")?, i32::MIN.into(), i32::MAX.into())? as i32)),
                // Epoch milliseconds, with up to three decimals of micros.
                ColumnType::Timestamp | ColumnType::TimestampTz => {
                    let micros = decimal.rescale(3).ok_or_else(|| {
                        NumberError::Unfit(format!(
                            "{text} has more precision than microseconds (epoch milliseconds expected)"
                        ))
                    })?;
                    Ok(Cell::Long(fits(micros, i64::MIN.into(), i64::MAX.into())? as i64))
                }
                ColumnType::Decimal { precision, scale } => {
                    decimal_cell(decimal, || text, precision, scale).map_err(NumberError::Unfit)
                }
                _ => unreachable!("handled above"),
            }
        }
    }
}

/// A decimal at a column's precision and scale, exactly; `text` is how the
/// value is named in the error.
fn decimal_cell<T: fmt::Display>(
    decimal: ExactDecimal,
    text: impl Fn() -> T,
    precision: u8,
    scale: u8,
) -> Result<Cell<'static>, String> {
    let out_of_range = || format!("{} is out of range for decimal({precision},{scale})", text());
    let Some(unscaled) = decimal.rescale(scale) else {
        // Scaling up can only fail by overflowing: the value is too large.
        return Err(match i64::from(decimal.exponent) + i64::from(scale) > 0 {
            true => out_of_range(),
            false => format!("{} has more than {scale} decimal places", text()),
        });
    };
    match within_precision(unscaled, precision) {
        true => Ok(Cell::Decimal(unscaled)),
        false => Err(out_of_range()),
    }
}

/// Whether an unscaled decimal has at most `precision` digits.
fn within_precision(unscaled: i128, precision: u8) -> bool {
    let limit = power_of_ten(u32::from(precision)).map_or(i128::MAX, |p| p - 1);
    (-limit..=limit).contains(&unscaled)
}

/// The decimal `unscaled * 10^-from_scale` at a column's precision and
/// scale, exactly.
pub(crate) fn rescale_decimal(
    unscaled: i128,
    from_scale: u32,
    precision: u8,
    scale: u8,
) -> Result<Cell<'static>, String> {
    let exponent = i32::try_from(from_scale).ok().map(|s| -s);
    let text = || {
        let (sign, digits) = (if unscaled < 0 { "-" } else { "" }, unscaled.unsigned_abs().to_string());
        match usize::try_from(from_scale) {
            Ok(0) => format!("{sign}{digits}"),
            // Written out while that stays short, like 12.50.
            Ok(scale) if scale <= 2 * usize::from(floe_config::MAX_DECIMAL_PRECISION) => {
                let padded = format!("{digits:0>width$}", width = scale + 1);
                let (whole, fraction) = padded.split_at(padded.len() - scale);
                format!("{sign}{whole}.{fraction}")
            }
            _ => format!("{unscaled}e-{from_scale}"),
        }
    };
    match exponent {
        Some(exponent) => decimal_cell(ExactDecimal { digits: unscaled, exponent }, text, precision, scale),
        None => Err(format!("{} has a scale beyond any column's", text())),
    }
}

/// Whether text is a plain number (so an infinite parse result means
/// overflow, not a spelled-out "inf").
fn looks_numeric(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// 10^0 to 10^22, every power of ten a double holds exactly.
const EXACT_DOUBLE_POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// `text` as a short number, when it is one JSON number token of that kind.
fn short_number(text: &str) -> Option<ShortNumber> {
    let mut scanner = Scanner::new(text);
    let number = scanner.number().ok()??;
    (scanner.position() == text.len()).then_some(number)
}

/// Writes the cell of a short number for `target` into `cell`, in 64-bit
/// arithmetic: how nearly all numbers convert. `false` leaves the number,
/// and every refusal, to the general path of [`ExactDecimal`], which gives
/// the same values.
fn short_fill(number: ShortNumber, target: ColumnType, cell: &mut Cell<'_>) -> bool {
    // At most 18 digits: the magnitude fits with room to spare.
    let signed = if number.negative { -(number.magnitude as i64) } else { number.magnitude as i64 };
    let whole = number.fraction == 0;
    match target {
        ColumnType::Int | ColumnType::Date if whole => match i32::try_from(signed) {
            Ok(value) => *cell = Cell::Int(value),
            Err(_) => return false,
        },
        ColumnType::Long if whole => *cell = Cell::Long(signed),
        // Epoch milliseconds, as micros.
        ColumnType::Timestamp | ColumnType::TimestampTz if whole => match signed.checked_mul(1000) {
            Some(micros) => *cell = Cell::Long(micros),
            None => return false,
        },
        ColumnType::Decimal { precision, scale } => {
            let shift = u32::from(scale).checked_sub(number.fraction);
            match shift.and_then(power_of_ten).and_then(|power| i128::from(signed).checked_mul(power)) {
                Some(unscaled) if within_precision(unscaled, precision) => *cell = Cell::Decimal(unscaled),
                _ => return false,
            }
        }
        // Both the magnitude and the power of ten are exact doubles, so the
        // one division rounds correctly, as parsing the text does; the
        // sign is applied after, so -0 stays negative.
        ColumnType::Double if number.magnitude < 1 << 53 => {
            let Some(power) = EXACT_DOUBLE_POWERS.get(number.fraction as usize) else { return false };
            let value = number.magnitude as f64 / power;
            *cell = Cell::Double(if number.negative { -value } else { value });
        }
        _ => return false,
    }
    true
}

/// A decimal number as digits and a power of ten: `digits * 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ExactDecimal {
    digits: i128,
    exponent: i32,
}

/// 10^0 to 10^38, every power of ten an i128 holds: looked up for every
/// numeric cell rather than computed.
const POWERS_OF_TEN: [i128; 39] = {
    let mut powers = [1i128; 39];
    let mut i = 1;
    while i < powers.len() {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

fn power_of_ten(exponent: u32) -> Option<i128> {
    POWERS_OF_TEN.get(usize::try_from(exponent).ok()?).copied()
}

impl ExactDecimal {
    /// Reads `-12.50`, `3e2`, `+7`; `None` for anything else or more than
    /// 38 significant digits. One pass over the bytes: it runs for every
    /// numeric cell.
    fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let (negative, unsigned) = match bytes.first()? {
            b'-' => (true, &bytes[1..]),
            b'+' => (false, &bytes[1..]),
            _ => (false, bytes),
        };
        let (mut digits, mut significant, mut any_digit) = (0i128, 0, false);
        // Digits after the point, once there is one.
        let mut fraction: Option<i32> = None;
        let mut exponent = 0i32;
        for (at, &b) in unsigned.iter().enumerate() {
            match b {
                b'0'..=b'9' => {
                    any_digit = true;
                    if digits != 0 || b != b'0' {
                        significant += 1;
                        if significant > 38 {
                            return None;
                        }
                    }
                    digits = digits * 10 + i128::from(b - b'0');
                    if let Some(places) = fraction.as_mut() {
                        *places += 1;
                    }
                }
                b'.' if fraction.is_none() => fraction = Some(0),
                b'e' | b'E' => {
                    exponent = std::str::from_utf8(&unsigned[at + 1..]).ok()?.parse().ok()?;
                    break;
                }
                _ => return None,
            }
        }
        if !any_digit {
            return None;
        }
        let exponent = exponent.checked_sub(fraction.unwrap_or(0))?;
        Some(Self { digits: if negative { -digits } else { digits }, exponent })
    }

    /// The unscaled value at `scale` decimal places, when exact.
    fn rescale(self, scale: u8) -> Option<i128> {
        let shift = self.exponent.checked_add(i32::from(scale))?;
        if self.digits == 0 || shift == 0 {
            return Some(self.digits);
        }
        if shift > 0 {
            power_of_ten(shift.unsigned_abs())?.checked_mul(self.digits)
        } else {
            let divisor = power_of_ten(shift.unsigned_abs())?;
            (self.digits % divisor == 0).then(|| self.digits / divisor)
        }
    }
}

/// RFC 3339 (`T` or space, any fraction, `Z` or an offset), or the same
/// without an offset, read as UTC. Microseconds since the epoch.
fn parse_timestamp(text: &str) -> Option<i64> {
    let utc = match DateTime::parse_from_rfc3339(text) {
        Ok(with_offset) => with_offset.naive_utc(),
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
            .ok()?,
    };
    Some(utc.and_utc().timestamp_micros())
}

fn parse_date(text: &str) -> Option<i32> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let days = date.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days();
    i32::try_from(days).ok()
}

/// Long values shortened for a reason string.
fn abbreviate(text: &str) -> Cow<'_, str> {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The cell a column of `target` gets from a record whose member `v`
    /// is `text`.
    fn cell(text: &str, target: ColumnType) -> Result<Cell<'static>, String> {
        let record = format!(r#"{{"v": {text}}}"#);
        let columns = JsonColumns::new([&["v".to_string()][..]]);
        let mut found = Vec::new();
        columns.read(record.as_bytes(), &mut found).expect("a JSON object");
        let mut cell = Cell::Boolean(false);
        columns.fill(&record, found[0], target, &mut cell).map(|()| cell.into_owned())
    }

    #[test]
    fn longs_keep_every_digit() {
        assert_eq!(cell("9007199254740993", ColumnType::Long), Ok(Cell::Long(9_007_199_254_740_993)));
        assert_eq!(cell("\"9223372036854775807\"", ColumnType::Long), Ok(Cell::Long(i64::MAX)));
        assert_eq!(cell("-9223372036854775808", ColumnType::Long), Ok(Cell::Long(i64::MIN)));
        assert_eq!(cell("3.0", ColumnType::Long), Ok(Cell::Long(3)));
        assert_eq!(cell("1e3", ColumnType::Long), Ok(Cell::Long(1000)));
        assert_eq!(
            cell("9223372036854775808", ColumnType::Long).unwrap_err(),
            "9223372036854775808 is out of range for long"
        );
        assert_eq!(cell("2.5", ColumnType::Long).unwrap_err(), "2.5 is not a whole number of units");
        assert_eq!(cell("2147483648", ColumnType::Int).unwrap_err(), "2147483648 is out of range for int");
        assert_eq!(cell("\"abc\"", ColumnType::Int).unwrap_err(), "\"abc\" does not convert to int");
        assert_eq!(cell("true", ColumnType::Long).unwrap_err(), "true (a boolean) does not convert to long");
    }

    #[test]
    fn floats_and_decimals() {
        assert_eq!(cell("7", ColumnType::Double), Ok(Cell::Double(7.0)));
        assert_eq!(cell("\"12.25\"", ColumnType::Double), Ok(Cell::Double(12.25)));
        assert_eq!(cell("1e400", ColumnType::Double).unwrap_err(), "1e400 is out of range for double");
        assert_eq!(cell("0.1", ColumnType::Float), Ok(Cell::Float(0.1)));
        let money = ColumnType::Decimal { precision: 10, scale: 2 };
        assert_eq!(cell("10.5", money), Ok(Cell::Decimal(1050)));
        assert_eq!(cell("\"-0.01\"", money), Ok(Cell::Decimal(-1)));
        assert_eq!(cell("12345678.99", money), Ok(Cell::Decimal(1_234_567_899)));
        assert_eq!(cell("123456789.00", money).unwrap_err(), "123456789.00 is out of range for decimal(10,2)");
        assert_eq!(cell("1.005", money).unwrap_err(), "1.005 has more than 2 decimal places");
        let wide = ColumnType::Decimal { precision: 38, scale: 0 };
        assert_eq!(cell("99999999999999999999999999999999999999", wide), Ok(Cell::Decimal(10i128.pow(38) - 1)));
        // Scaling a short number can overflow 128 bits: refused, not wrapped.
        let fraction_only = ColumnType::Decimal { precision: 38, scale: 38 };
        let refused = cell("123456789012345678", fraction_only).unwrap_err();
        assert_eq!(refused, "123456789012345678 is out of range for decimal(38,38)");
    }

    #[test]
    fn number_text_is_read_exactly_or_not_at_all() {
        let parse = |text: &str| ExactDecimal::parse(text).map(|d| (d.digits, d.exponent));
        assert_eq!(parse("-12.50"), Some((-1250, -2)));
        assert_eq!(parse("+7"), Some((7, 0)));
        assert_eq!(parse("3e2"), Some((3, 2)));
        assert_eq!(parse("1.5E-3"), Some((15, -4)));
        assert_eq!(parse(".5"), Some((5, -1)));
        assert_eq!(parse("5."), Some((5, 0)));
        for not_a_number in ["", "-", ".", "e5", "1e", "1.2.3", "1-2", "+-1", "12a", "1e5.0"] {
            assert_eq!(parse(not_a_number), None, "{not_a_number:?}");
        }
        assert_eq!(parse(&"9".repeat(39)), None, "more than 38 significant digits");
        assert_eq!(parse(&format!("0000{}", "9".repeat(38))), Some((10i128.pow(38) - 1, 0)));
        // Every length up to the limit, whole or with a point and exponent.
        for digits in [18, 19, 20, 21, 37, 38] {
            let text = "9876543210".repeat(4)[..digits].to_string();
            let expected: i128 = text.parse().unwrap();
            assert_eq!(parse(&format!("-{text}")), Some((-expected, 0)), "{digits} digits");
            let (whole, fraction) = text.split_at(digits / 2);
            assert_eq!(parse(&format!("{whole}.{fraction}e1")), Some((expected, 1 - fraction.len() as i32)));
        }
    }

    /// What serde_json finds at `path` of `value`, as [`Found`] describes it:
    /// `Ok(None)` absent, `Ok(Some(value))`, or `Err(())` for a step on the
    /// way that is neither an object nor null.
    fn serde_at<'v>(value: &'v serde_json::Value, path: &[String]) -> Result<Option<&'v serde_json::Value>, ()> {
        let mut at = value;
        for key in path {
            match at {
                serde_json::Value::Object(members) => match members.get(key) {
                    Some(member) => at = member,
                    None => return Ok(None),
                },
                serde_json::Value::Null => return Ok(None),
                _ => return Err(()),
            }
        }
        Ok(Some(at))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]
        /// Reading mapped members takes exactly the objects serde_json
        /// takes, and finds what serde_json finds there (the last of
        /// repeated keys).
        #[test]
        fn reads_members_as_serde_json_does(text in crate::json_scanner::tests::json_text()) {
            let paths: Vec<Vec<String>> = [&["a"][..], &["b"], &["a", "b"], &["ab", "a"], &[""], &["", "a"]]
                .iter()
                .map(|path| path.iter().map(|key| key.to_string()).collect())
                .collect();
            let columns = JsonColumns::new(paths.iter().map(Vec::as_slice));
            let mut found = Vec::new();
            let read = columns.read(text.as_bytes(), &mut found);
            let object = serde_json::from_str::<de::IgnoredAny>(&text).is_ok() && text.trim_start().starts_with('{');
            prop_assert_eq!(read.is_ok(), object, "{:?}", text);
            // A value serde_json cannot hold (a number beyond a double) is
            // checked for grammar only.
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else { return Ok(()) };
            if read.is_err() {
                return Ok(());
            }
            for (path, found) in paths.iter().zip(&found) {
                let ours = match *found {
                    Found::Absent => Ok(None),
                    Found::Text(start, end) | Found::PlainString(start, end) | Found::Number(start, end, _) => {
                        Ok(Some(serde_json::from_str::<serde_json::Value>(&text[start..end]).unwrap()))
                    }
                    Found::Shape { .. } => Err(()),
                };
                prop_assert_eq!(ours, serde_at(&value, path).map(Option::<&serde_json::Value>::cloned), "{:?} in {:?}", path, text);
                if let Found::PlainString(start, end) = *found {
                    prop_assert!(!text[start..end].contains('\\'), "{:?} in {:?}", path, text);
                }
            }
        }
    }

    proptest! {
        /// The 64-bit fast path gives exactly what the general path gives.
        #[test]
        fn small_numbers_convert_as_any_number(
            negative: bool,
            digits in "[0-9]{0,19}",
            point in proptest::option::of(0usize..20),
            target in prop_oneof![
                Just(ColumnType::Int),
                Just(ColumnType::Long),
                Just(ColumnType::Date),
                Just(ColumnType::Timestamp),
                Just(ColumnType::Double),
                Just(ColumnType::Float),
                (1u8..=38, 0u8..=38).prop_map(|(precision, scale)| ColumnType::Decimal { precision, scale: scale.min(precision) }),
            ],
        ) {
            let mut text = format!("{}{digits}", if negative { "-" } else { "" });
            if let Some(at) = point {
                text.insert(text.len() - digits.len() + at.min(digits.len()), '.');
            }
            let mut fast = Cell::Null;
            if short_number(&text).is_some_and(|number| short_fill(number, target, &mut fast)) {
                prop_assert_eq!(Ok(fast), from_any_number(&text, target), "{}", text);
            }
        }
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let text = r#"{"v": "plain text"}"#;
        let columns = JsonColumns::new([&["v".to_string()][..]]);
        let mut found = Vec::new();
        columns.read(text.as_bytes(), &mut found).unwrap();
        assert_eq!(found[0], Found::PlainString(6, 18));
        let mut plain = Cell::Null;
        columns.fill(text, found[0], ColumnType::String, &mut plain).unwrap();
        assert!(matches!(plain, Cell::String(Cow::Borrowed("plain text"))), "{plain:?}");
        assert_eq!(cell("\"tab\\there \\u00e9\"", ColumnType::String), Ok(Cell::String("tab\there é".into())));
    }

    #[test]
    fn timestamps_and_dates() {
        let ts = ColumnType::Timestamp;
        assert_eq!(cell("\"2026-01-01T10:00:00.123456Z\"", ts), Ok(Cell::Long(1_767_261_600_123_456)));
        assert_eq!(cell("\"2026-01-01T12:00:00+02:00\"", ts), Ok(Cell::Long(1_767_261_600_000_000)));
        assert_eq!(cell("\"2026-01-01 10:00:00\"", ts), Ok(Cell::Long(1_767_261_600_000_000)));
        assert_eq!(cell("1767261600123", ts), Ok(Cell::Long(1_767_261_600_123_000)));
        assert_eq!(cell("\"1767261600123\"", ts), Ok(Cell::Long(1_767_261_600_123_000)));
        assert_eq!(cell("1767261600123.5", ts), Ok(Cell::Long(1_767_261_600_123_500)));
        assert!(cell("\"yesterday\"", ts).unwrap_err().contains("is not an RFC 3339 timestamp"));
        assert_eq!(cell("\"2026-01-01\"", ColumnType::Date), Ok(Cell::Int(20454)));
        assert_eq!(cell("20454", ColumnType::Date), Ok(Cell::Int(20454)));
        assert_eq!(cell("\"1969-12-31\"", ColumnType::Date), Ok(Cell::Int(-1)));
        assert!(cell("\"2026-13-01\"", ColumnType::Date).unwrap_err().contains("is not a date"));
    }

    #[test]
    fn strings_booleans_binary_and_nulls() {
        assert_eq!(cell("\"a\\\"b\"", ColumnType::String), Ok(Cell::String("a\"b".into())));
        assert_eq!(cell("42", ColumnType::String), Ok(Cell::String("42".into())));
        assert_eq!(cell("{\"a\": [1]}", ColumnType::String), Ok(Cell::String("{\"a\":[1]}".into())));
        assert_eq!(
            cell("[ 12345678901234567890 , {\"k\" :\n \"a \\\" b\"} ]", ColumnType::String),
            Ok(Cell::String("[12345678901234567890,{\"k\":\"a \\\" b\"}]".into()))
        );
        assert_eq!(cell("\"TRUE\"", ColumnType::Boolean), Ok(Cell::Boolean(true)));
        assert_eq!(cell("1", ColumnType::Boolean).unwrap_err(), "1 does not convert to boolean");
        assert_eq!(cell("\"aGk=\"", ColumnType::Binary), Ok(Cell::Binary(b"hi".to_vec())));
        assert!(cell("\"not base64!\"", ColumnType::Binary).unwrap_err().contains("is not base64"));
        assert_eq!(cell("null", ColumnType::Long), Ok(Cell::Null));
        assert_eq!(cell("[1]", ColumnType::Long).unwrap_err(), "[1] (an array) does not convert to long");
    }

    #[test]
    fn objects_nested_paths_and_what_is_not_an_object() {
        let text = r#"{"a": 1, "customer": {"id": "c-1", "tier": null}, "note": "x", "a": 2, "k\"ey": 3}"#;
        let paths = ["a", "customer.id", "customer.tier.level", "missing.id", "k\"ey", "note.id", "customer", ""];
        let paths: Vec<Vec<String>> =
            paths.iter().map(|p| p.split('.').filter(|k| !k.is_empty()).map(str::to_string).collect()).collect();
        let columns = JsonColumns::new(paths.iter().map(Vec::as_slice));
        let mut found = Vec::new();
        columns.read(text.as_bytes(), &mut found).unwrap();
        let values: Vec<Option<&str>> = found
            .iter()
            .map(|f| match f {
                Found::Text(start, end) | Found::PlainString(start, end) | Found::Number(start, end, _) => {
                    Some(&text[*start..*end])
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            values,
            [Some("2"), Some("\"c-1\""), None, None, Some("3"), None, Some(r#"{"id": "c-1", "tier": null}"#), None],
            "the last `a` wins"
        );
        let shape = columns.fill(text, found[5], ColumnType::Long, &mut Cell::Null).unwrap_err();
        assert_eq!(shape, "`note` is a string, not an object");

        // A repeated object replaces what the earlier one gave.
        let again = r#"{"customer": {"id": 1}, "customer": {"name": "x"}}"#;
        columns.read(again.as_bytes(), &mut found).unwrap();
        assert_eq!(found[1], Found::Absent);

        let err = |bytes: &[u8]| columns.read(bytes, &mut Vec::new()).err().unwrap();
        assert_eq!(err(b"\"not an object\"").message, "value is a string, not a JSON object");
        assert_eq!(err(b"[1, 2]").message, "value is an array, not a JSON object");
        assert!(err(b"{not json").message.starts_with("value is not JSON: "), "{}", err(b"{not json").message);
        assert!(err(b"{\"a\": 1} trailing").message.starts_with("value is not JSON: "));
        assert!(
            err(b"{\"b\": [1,}").message.starts_with("value is not JSON: "),
            "a member no column reads is checked too"
        );
        assert!(err(&[0xff, 0xfe]).message.starts_with("value is not JSON: not UTF-8"));
        assert_eq!(err(b"7").code, RejectionCode::NotObject);
        assert_eq!(err(b"{").code, RejectionCode::NotJson);
    }
}

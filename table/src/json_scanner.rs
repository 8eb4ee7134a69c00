//! A single pass over a JSON text that checks it and finds where values are.
//!
//! Typed columns read a few members of every record's value. serde_json
//! would visit each member through its deserializer and then hand the
//! wanted ones over as raw text; profiles of the typed pipeline put that
//! scan at a fifth of its CPU time. This scanner accepts exactly the texts
//! serde_json accepts (a test compares the two on generated and damaged
//! texts), but only moves a cursor: it reports where a value starts and
//! ends, and the caller converts the few values it wants. When it refuses
//! a text, the caller asks serde_json why, for the error message.

use std::borrow::Cow;

/// The text is not JSON (the caller asks serde_json for the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

/// A number of at most [`ShortNumber::MAX_DIGITS`] digits and no exponent:
/// `magnitude / 10^fraction`, negated when `negative`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShortNumber {
    pub negative: bool,
    pub magnitude: u64,
    /// Digits after the point.
    pub fraction: u32,
}

impl ShortNumber {
    /// Any 18 digits fit a signed 64-bit integer.
    const MAX_DIGITS: usize = 18;
}

/// A cursor over a JSON text. The text is UTF-8 already: the scanner only
/// checks the JSON grammar.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    at: usize,
    /// The containers around the one being skipped (`[` or `{`), outermost
    /// first; only used for values nested two deep or more.
    enclosing: Vec<u8>,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Bytes of `word` that are `byte`, as their high bits (the lowest flagged
/// byte is exact; flags above it may be spurious).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let diff = word ^ (ONES * u64::from(byte));
    diff.wrapping_sub(ONES) & !diff & HIGH_BITS
}

/// Bytes of `word` below 0x20, as their high bits (same caveat).
fn control_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0, enclosing: Vec::new() }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte after whitespace, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&byte) = bytes.get(self.at) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.at += 1;
        }
        None
    }

    /// Where the cursor is: after a value, the end of its text.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    /// Only whitespace is left.
    pub(crate) fn end(&mut self) -> Result<(), Invalid> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Invalid),
        }
    }

    fn eat(&mut self, byte: u8) -> Result<(), Invalid> {
        if self.peek() != Some(byte) {
            return Err(Invalid);
        }
        self.at += 1;
        Ok(())
    }

    /// Opens the object at the cursor (whitespace first); says whether it
    /// has members. An object is read as: `open_object`, then for each
    /// member a key (`member_key` or `member_key_is`), its value, and
    /// `more_members`.
    pub(crate) fn open_object(&mut self) -> Result<bool, Invalid> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After a member's value: says whether another member follows, or
    /// closes the object.
    pub(crate) fn more_members(&mut self) -> Result<bool, Invalid> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(Invalid),
        }
    }

    /// A member's key and its colon. The key is borrowed, or unescaped as
    /// serde_json does (which also refuses escapes that are not
    /// characters, such as lone surrogates).
    pub(crate) fn member_key(&mut self) -> Result<Cow<'a, str>, Invalid> {
        if self.peek() != Some(b'"') {
            return Err(Invalid);
        }
        let start = self.at;
        let escaped = self.string()?;
        let token = &self.text[start..self.at];
        self.eat(b':')?;
        if escaped {
            return serde_json::from_str::<String>(token).map(Cow::Owned).map_err(|_| Invalid);
        }
        Ok(Cow::Borrowed(&token[1..token.len() - 1]))
    }

    /// Whether the next member's key is `quoted`: a key token as a text
    /// spells it without escapes, quotes included (`"name"`). If so, takes
    /// it and its colon, with one comparison instead of a scan.
    pub(crate) fn member_key_is(&mut self, quoted: &[u8]) -> Result<bool, Invalid> {
        self.peek();
        if !self.bytes()[self.at..].starts_with(quoted) {
            return Ok(false);
        }
        self.at += quoted.len();
        self.eat(b':')?;
        Ok(true)
    }

    /// A string token at the cursor (its opening quote); says whether it
    /// holds escapes. Escapes are checked for form only, as serde_json does
    /// for a value it does not decode.
    pub(crate) fn string(&mut self) -> Result<bool, Invalid> {
        let bytes = self.bytes();
        self.at += 1;
        let mut escaped = false;
        loop {
            // Eight bytes at a time up to the next quote, backslash or
            // control byte.
            while let Some(chunk) = bytes.get(self.at..self.at + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
                let word = u64::from_le_bytes(chunk);
                let stops = bytes_equal(word, b'"') | bytes_equal(word, b'\\') | control_bytes(word);
                if stops != 0 {
                    self.at += (stops.trailing_zeros() / 8) as usize;
                    break;
                }
                self.at += 8;
            }
            match bytes.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    match bytes.get(self.at + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.at += 2,
                        Some(b'u') => {
                            let hex = bytes.get(self.at + 2..self.at + 6).ok_or(Invalid)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(Invalid);
                            }
                            self.at += 6;
                        }
                        _ => return Err(Invalid),
                    }
                }
                Some(&byte) if byte < 0x20 => return Err(Invalid),
                Some(_) => self.at += 1,
                None => return Err(Invalid),
            }
        }
    }

    /// Digits at the cursor, appended to `value` (which wraps when they
    /// are too many); returns how many.
    fn digits(&mut self, value: &mut u64) -> usize {
        let start = self.at;
        while let Some(&byte) = self.bytes().get(self.at)
            && byte.is_ascii_digit()
        {
            *value = value.wrapping_mul(10).wrapping_add(u64::from(byte - b'0'));
            self.at += 1;
        }
        self.at - start
    }

    /// A number token at the cursor: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    /// Its value comes along when it is short, as nearly all are, so a
    /// column converts it without reading the text again.
    pub(crate) fn number(&mut self) -> Result<Option<ShortNumber>, Invalid> {
        let negative = self.bytes().get(self.at) == Some(&b'-');
        self.at += usize::from(negative);
        let mut magnitude = 0;
        let whole = match self.bytes().get(self.at) {
            Some(b'0') => {
                self.at += 1;
                1
            }
            Some(b'1'..=b'9') => self.digits(&mut magnitude),
            _ => return Err(Invalid),
        };
        let mut fraction = 0;
        if self.bytes().get(self.at) == Some(&b'.') {
            self.at += 1;
            fraction = self.digits(&mut magnitude);
            if fraction == 0 {
                return Err(Invalid);
            }
        }
        if matches!(self.bytes().get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes().get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits(&mut 0) == 0 {
                return Err(Invalid);
            }
            return Ok(None);
        }
        let short = whole + fraction <= ShortNumber::MAX_DIGITS;
        Ok(short.then_some(ShortNumber { negative, magnitude, fraction: fraction as u32 }))
    }

    fn literal(&mut self, word: &str) -> Result<(), Invalid> {
        if !self.text[self.at..].starts_with(word) {
            return Err(Invalid);
        }
        self.at += word.len();
        Ok(())
    }

    /// One scalar at the cursor, or the opening of a container (returned).
    fn scalar_or_open(&mut self) -> Result<Option<u8>, Invalid> {
        match self.peek().ok_or(Invalid)? {
            b'"' => self.string().map(|_| None),
            b't' => self.literal("true").map(|()| None),
            b'f' => self.literal("false").map(|()| None),
            b'n' => self.literal("null").map(|()| None),
            open @ (b'{' | b'[') => {
                self.at += 1;
                Ok(Some(open))
            }
            _ => self.number().map(|_| None),
        }
    }

    /// Passes over one value, checking it. Loops rather than recurses, so
    /// no nesting depth overflows the stack.
    pub(crate) fn skip_value(&mut self) -> Result<(), Invalid> {
        let Some(mut open) = self.scalar_or_open()? else { return Ok(()) };
        self.enclosing.clear();
        // Inside `open`, just after its opening or after a comma.
        let mut first = true;
        loop {
            let close = if open == b'{' { b'}' } else { b']' };
            if first && self.peek() == Some(close) {
                self.at += 1;
            } else {
                if open == b'{' {
                    // A key of a skipped object is checked for form only,
                    // as serde_json does.
                    if self.peek() != Some(b'"') {
                        return Err(Invalid);
                    }
                    self.string()?;
                    self.eat(b':')?;
                }
                if let Some(inner) = self.scalar_or_open()? {
                    self.enclosing.push(open);
                    open = inner;
                    first = true;
                    continue;
                }
                match self.peek() {
                    Some(b',') => {
                        self.at += 1;
                        first = false;
                        continue;
                    }
                    Some(byte) if byte == close => self.at += 1,
                    _ => return Err(Invalid),
                }
            }
            // `open` is closed: go on in the container around it.
            loop {
                let Some(outer) = self.enclosing.pop() else { return Ok(()) };
                let close = if outer == b'{' { b'}' } else { b']' };
                match self.peek() {
                    Some(b',') => {
                        self.at += 1;
                        open = outer;
                        first = false;
                        break;
                    }
                    Some(byte) if byte == close => self.at += 1,
                    _ => return Err(Invalid),
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Whether the scanner takes `text` as one value with only whitespace
    /// around it.
    fn scans(text: &str) -> bool {
        let mut scanner = Scanner::new(text);
        scanner.skip_value().and_then(|()| scanner.end()).is_ok()
    }

    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        let texts = [
            r#"{"a": [1, -2.5e+3, 0, -0, 1E9, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9"], "b": {}}"#,
            "[]",
            " [ [ ] , { } ] ",
            r#"["\ud800"]"#,
            r#"[{"\ud800": 1}]"#,
            r#"{"k\u0041": {"nested": [[[{"deep": "é"}]]]}}"#,
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "1e+",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1: 2}",
            "[1 2]",
            "tru",
            "nul",
            "\"unterminated",
            "\"tab\there\"",
            "\"bad \\x escape\"",
            "\"\\u12g4\"",
            "[1]]",
            "{\"a\": [}",
            "",
            "   ",
            "\"12345678\\\"12345678\"",
        ];
        for text in texts {
            assert_eq!(scans(text), serde_accepts(text), "{text:?}");
        }
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(scans(&deep), "no stack overflow, and serde_json skips such values too");
    }

    #[test]
    fn ends_of_values() {
        let text = r#"{"a" : "x" , "b":[1,{"c":2}] }"#;
        let mut scanner = Scanner::new(text);
        let mut seen = Vec::new();
        let mut more = scanner.open_object().unwrap();
        while more {
            let key = scanner.member_key().unwrap();
            scanner.peek();
            let start = scanner.position();
            scanner.skip_value().unwrap();
            seen.push((key.into_owned(), text[start..scanner.position()].to_string()));
            more = scanner.more_members().unwrap();
        }
        scanner.end().unwrap();
        assert_eq!(seen, [("a".into(), "\"x\"".into()), ("b".into(), r#"[1,{"c":2}]"#.into())]);
    }

    /// JSON-ish texts: valid values, then damaged by a byte replaced,
    /// inserted or removed.
    pub(crate) fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string()),
            "[a-z\\\\\"\u{e9}\u{1}\t ]{0,12}".prop_map(|s| format!("\"{s}\"")),
        ];
        let value = leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-z]{0,3}", inner), 0..5).prop_map(|members| {
                    let members: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
                    format!("{{ {} }}", members.join(", "))
                }),
            ]
        });
        let damage = prop_oneof![Just(None), (any::<usize>(), 0..3u8, "[\\[\\]{}\",:0-9a-z \\\\.eE+-]").prop_map(Some)];
        (value, damage).prop_map(|(text, damage)| {
            let Some((at, how, with)) = damage else { return text };
            let mut chars: Vec<char> = text.chars().collect();
            let at = at % (chars.len() + 1);
            let with = with.chars().next().unwrap_or(' ');
            match how {
                0 if at < chars.len() => chars[at] = with,
                1 => chars.insert(at, with),
                _ if at < chars.len() => {
                    chars.remove(at);
                }
                _ => {}
            }
            chars.into_iter().collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn agrees_with_serde_json(text in json_text()) {
            prop_assert_eq!(scans(&text), serde_accepts(&text), "{:?}", text);
        }
    }
}

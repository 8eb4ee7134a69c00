//! Enums spelled as lowercase keywords in YAML.
//!
//! Written by hand rather than with serde's enum derive so that a wrong value
//! reads "found string "upsert", expected `append`, the only supported value"
//! and a wrong type (a list, a number) gets an equally plain message.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// Declares a keyword enum: `Variant => "keyword" | "alias"`. Aliases are
/// accepted but not advertised in error messages.
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident => $keyword:literal $(| $alias:literal)*,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// The accepted spellings, in documentation order.
            pub const KEYWORDS: &'static [&'static str] = &[$($keyword),+];

            /// The YAML spelling of this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $keyword, )+
                }
            }

            /// The value spelled `text` (as written in YAML, or sent to workers).
            pub fn from_keyword(text: &str) -> Option<Self> {
                match text {
                    $( $keyword $(| $alias)* => Some(Self::$variant), )+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::keyword::deserialize(deserializer, Self::KEYWORDS, Self::from_keyword)
            }
        }
    };
}

pub(crate) use keyword_enum;

pub(crate) fn deserialize<'de, D, T>(
    deserializer: D,
    keywords: &'static [&'static str],
    parse: fn(&str) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    // `any`, not `str`: a YAML boolean must reach `visit_bool` so that a
    // keyword can alias it (`schema.mode: false` means off).
    deserializer.deserialize_any(KeywordVisitor { keywords, parse, value: PhantomData })
}

struct KeywordVisitor<T> {
    keywords: &'static [&'static str],
    parse: fn(&str) -> Option<T>,
    value: PhantomData<T>,
}

impl<T> Visitor<'_> for KeywordVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.keywords {
            [only] => write!(f, "`{only}`, the only supported value"),
            all => write!(f, "one of {}", all.join(", ")),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<T, E> {
        let text = if value { "true" } else { "false" };
        (self.parse)(text).ok_or_else(|| E::invalid_value(Unexpected::Bool(value), &self))
    }
}

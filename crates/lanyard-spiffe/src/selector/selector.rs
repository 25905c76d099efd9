//! A single selector, `type:value`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SelectorError;

/// Longest selector type accepted, in bytes.
pub const MAX_SELECTOR_TYPE_LEN: usize = 255;

/// Longest selector value accepted, in bytes.
pub const MAX_SELECTOR_VALUE_LEN: usize = 1024;

/// A workload or node selector such as `unix:uid:1000`: a type (`unix`) and a
/// value (`uid:1000`), which may itself contain `:`.
///
/// The type is non-empty, at most 255 bytes and has no `:`; the value is
/// non-empty and at most 1024 bytes; neither holds a control character.
/// Selectors order by type, then value. `Display`, `FromStr` and serde use
/// `type:value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    kind: String,
    value: String,
}

impl Selector {
    /// Builds a selector from its type and value.
    pub fn new(kind: &str, value: &str) -> Result<Self, SelectorError> {
        check_kind(kind)?;
        check_value(value)?;
        Ok(Self {
            kind: kind.to_owned(),
            value: value.to_owned(),
        })
    }

    /// Parses `type:value`, splitting at the first `:`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let Some((kind, value)) = s.split_once(':') else {
            return Err(SelectorError::MissingSeparator);
        };
        Self::new(kind, value)
    }

    /// The type, e.g. `unix`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The value, e.g. `uid:1000`.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Selector {
    type Error = SelectorError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn check_kind(kind: &str) -> Result<(), SelectorError> {
    if kind.is_empty() {
        return Err(SelectorError::EmptyType);
    }
    if kind.contains(':') {
        return Err(SelectorError::TypeContainsColon);
    }
    if kind.len() > MAX_SELECTOR_TYPE_LEN {
        return Err(SelectorError::TypeTooLong {
            len: kind.len(),
            max: MAX_SELECTOR_TYPE_LEN,
        });
    }
    check_no_control(kind)
}

fn check_value(value: &str) -> Result<(), SelectorError> {
    if value.is_empty() {
        return Err(SelectorError::EmptyValue);
    }
    if value.len() > MAX_SELECTOR_VALUE_LEN {
        return Err(SelectorError::ValueTooLong {
            len: value.len(),
            max: MAX_SELECTOR_VALUE_LEN,
        });
    }
    check_no_control(value)
}

fn check_no_control(s: &str) -> Result<(), SelectorError> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(SelectorError::ControlCharacter(c)),
        None => Ok(()),
    }
}

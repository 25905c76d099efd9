//! The administrator-assigned node type (`compute`, `management`, ...).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A node type: 1 to 32 bytes of `[a-z0-9_-]`, starting with a letter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeType(String);

/// Why a string is not a node type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node type must be 1 to 32 characters of [a-z0-9_-], starting with a letter")]
pub struct InvalidNodeType;

impl NodeType {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<Self, InvalidNodeType> {
        let valid = (1..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidNodeType)
        }
    }

    /// The type.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeType({})", self.0)
    }
}

impl Serialize for NodeType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NodeType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        for good in ["compute", "management", "uan", "ncn-w", "gpu_a100", "a"] {
            assert_eq!(NodeType::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "Compute", "1st", "a b", "x:y", &"a".repeat(33), "-a"] {
            assert!(NodeType::parse(bad).is_err(), "{bad:?}");
        }
    }
}

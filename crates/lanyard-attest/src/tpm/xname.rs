//! HPE Cray EX component names ("xnames") on the path from a cabinet to a
//! node: `x1000` (cabinet), `x1000c0` (chassis), `x1000c0s0` (slot, a
//! compute blade), `x1000c0s0b0` (node BMC), `x1000c0s0b0n0` (node), and
//! the BMCs and router blades beside them. Only canonical spellings parse
//! (no leading zeros), so each component has exactly one name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What an xname names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XnameKind {
    /// `xX`: a cabinet (X in 0..=9999).
    Cabinet,
    /// `xXbB`: the cabinet controller (B = 0).
    CabinetBmc,
    /// `xXcC`: a chassis (C in 0..=7).
    Chassis,
    /// `xXcCbB`: the chassis controller (B = 0).
    ChassisBmc,
    /// `xXcCsS`: a compute blade slot.
    ComputeModule,
    /// `xXcCsSbB`: a node controller on a blade.
    NodeBmc,
    /// `xXcCsSbBnN`: a node, where the operating system runs.
    Node,
    /// `xXcCrR`: a router (switch) blade.
    RouterModule,
    /// `xXcCrRbB`: a router blade's controller.
    RouterBmc,
}

/// A validated, canonical xname.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Xname(String);

/// Why a string is not an xname. Messages never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XnameError {
    /// Not a cabinet-rooted xname of a supported component type.
    #[error("not an xname of a supported form (e.g. x1000c0s0b0n0)")]
    Form,
    /// A number has a leading zero, or is out of its range.
    #[error("xname {0} index is out of range or not canonical")]
    Index(&'static str),
}

const MAX_LEN: usize = 48;

impl Xname {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<Self, XnameError> {
        if s.len() > MAX_LEN {
            return Err(XnameError::Form);
        }
        let parts = split(s)?;
        kind_of(&parts)?;
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What it names.
    pub fn kind(&self) -> XnameKind {
        // Parsing validated the form, so the kind is always known.
        split(&self.0)
            .ok()
            .and_then(|parts| kind_of(&parts).ok())
            .unwrap_or(XnameKind::Cabinet)
    }

    /// The cabinet this component is in, e.g. `x1000`.
    pub fn cabinet(&self) -> Self {
        self.prefix(1)
    }

    /// The chassis this component is in, e.g. `x1000c0`; `None` for cabinet-level names.
    pub fn chassis(&self) -> Option<Self> {
        self.prefix_with(2, b'c')
    }

    /// The blade slot this component is in, e.g. `x1000c0s0`.
    pub fn slot(&self) -> Option<Self> {
        self.prefix_with(3, b's')
    }

    /// The node controller of a node, e.g. `x1000c0s0b0`.
    pub fn node_bmc(&self) -> Option<Self> {
        if self.kind() == XnameKind::Node {
            self.prefix_with(4, b'b')
        } else {
            None
        }
    }

    fn prefix_with(&self, parts: usize, letter: u8) -> Option<Self> {
        let split = split(&self.0).ok()?;
        let (last, _) = split.get(parts - 1)?;
        (*last == letter).then(|| self.prefix(parts))
    }

    /// The name made of the first `parts` letter-number pairs.
    fn prefix(&self, parts: usize) -> Self {
        let mut seen = 0;
        for (i, b) in self.0.bytes().enumerate() {
            if b.is_ascii_lowercase() {
                seen += 1;
                if seen > parts {
                    return Self(self.0[..i].to_owned());
                }
            }
        }
        self.clone()
    }
}

/// `(letter, number)` pairs; every number canonical and at most 9 digits.
fn split(s: &str) -> Result<Vec<(u8, u32)>, XnameError> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let letter = bytes[i];
        if !letter.is_ascii_lowercase() {
            return Err(XnameError::Form);
        }
        let start = i + 1;
        let mut end = start;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let digits = &s[start..end];
        if digits.is_empty() || digits.len() > 9 {
            return Err(XnameError::Form);
        }
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(XnameError::Index("leading zero"));
        }
        let number = digits.parse().map_err(|_| XnameError::Form)?;
        parts.push((letter, number));
        i = end;
    }
    Ok(parts)
}

fn kind_of(parts: &[(u8, u32)]) -> Result<XnameKind, XnameError> {
    let letters: Vec<u8> = parts.iter().map(|(l, _)| *l).collect();
    let kind = match letters.as_slice() {
        b"x" => XnameKind::Cabinet,
        b"xb" => XnameKind::CabinetBmc,
        b"xc" => XnameKind::Chassis,
        b"xcb" => XnameKind::ChassisBmc,
        b"xcs" => XnameKind::ComputeModule,
        b"xcsb" => XnameKind::NodeBmc,
        b"xcsbn" => XnameKind::Node,
        b"xcr" => XnameKind::RouterModule,
        b"xcrb" => XnameKind::RouterBmc,
        _ => return Err(XnameError::Form),
    };
    for (i, (letter, number)) in parts.iter().enumerate() {
        let bounded = match (i, letter) {
            (0, b'x') => *number <= 9999,
            (1, b'c') => *number <= 7,
            (1, b'b') | (2, b'b') => *number == 0,
            _ => true,
        };
        if !bounded {
            return Err(XnameError::Index(match letter {
                b'x' => "cabinet",
                b'c' => "chassis",
                _ => "controller",
            }));
        }
    }
    Ok(kind)
}

impl fmt::Display for Xname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Xname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Xname({})", self.0)
    }
}

impl FromStr for Xname {
    type Err = XnameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Xname {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Xname {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(s: &str) -> Xname {
        Xname::parse(s).unwrap()
    }

    #[test]
    fn node_and_its_parents() {
        let node = x("x1000c0s0b0n0");
        assert_eq!(node.kind(), XnameKind::Node);
        assert_eq!(node.cabinet(), x("x1000"));
        assert_eq!(node.chassis(), Some(x("x1000c0")));
        assert_eq!(node.slot(), Some(x("x1000c0s0")));
        assert_eq!(node.node_bmc(), Some(x("x1000c0s0b0")));
        assert_eq!(x("x3000c7s17b3n1").slot(), Some(x("x3000c7s17")));
    }

    #[test]
    fn other_components() {
        assert_eq!(x("x9999").kind(), XnameKind::Cabinet);
        assert_eq!(x("x9999").chassis(), None);
        assert_eq!(x("x1b0").kind(), XnameKind::CabinetBmc);
        assert_eq!(x("x1b0").chassis(), None);
        assert_eq!(x("x1c7b0").kind(), XnameKind::ChassisBmc);
        assert_eq!(x("x1c7b0").slot(), None);
        assert_eq!(x("x1c1r3").kind(), XnameKind::RouterModule);
        assert_eq!(x("x1c1r3").slot(), None);
        assert_eq!(x("x1c1r3b0").kind(), XnameKind::RouterBmc);
        assert_eq!(x("x1c1s2b1").node_bmc(), None);
        assert_eq!(x("x0c0s0b0n0").cabinet(), x("x0"));
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "x",
            "x10000",
            "x1000c8",
            "x1000c0s0b0n",
            "X1000",
            "x1000c0s0n0",
            "x01000",
            "x1000c0s00b0n0",
            "x1000c0s0b0n0 ",
            "x1000c0s0b0n0x",
            "x1b1",
            "x1c0b1",
            "s0",
            "x1000c0s1234567890b0n0",
            "x1000c0s0b0n0v0",
            "p0",
            "x1000c0s-1",
        ] {
            assert!(Xname::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(
            Xname::parse("x1000c0s00b0n0").unwrap_err(),
            XnameError::Index("leading zero")
        );
        assert_eq!(
            Xname::parse("x1000c8").unwrap_err(),
            XnameError::Index("chassis")
        );
    }

    #[test]
    fn serde_validates() {
        let node: Xname = serde_json::from_str("\"x1000c0s0b0n0\"").unwrap();
        assert_eq!(serde_json::to_string(&node).unwrap(), "\"x1000c0s0b0n0\"");
        assert!(serde_json::from_str::<Xname>("\"x1000c9\"").is_err());
    }
}

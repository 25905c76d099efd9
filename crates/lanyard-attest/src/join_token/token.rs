//! The join token value: validated, redacted in `Debug`, wiped on drop.

use std::fmt;

use subtle::ConstantTimeEq as _;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::rng::{RngError, random_array};

/// Longest join token accepted, in bytes.
pub const MAX_JOIN_TOKEN_LEN: usize = 256;

/// A join token: 1 to [`MAX_JOIN_TOKEN_LEN`] bytes of `[A-Za-z0-9._-]`, not
/// `.` or `..`, so that it is a valid segment of the agent ID it attests to.
/// Generated tokens are lower-case UUIDv4 strings, as SPIRE issues them.
///
/// `Debug` does not show the value, there is no `Display`, equality runs in
/// time independent of the contents, and the memory is wiped on drop.
#[derive(Clone)]
pub struct JoinToken {
    value: Zeroizing<String>,
}

/// Why a string is not a join token. No variant holds the rejected value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InvalidJoinToken {
    /// The token is empty.
    #[error("join token is empty")]
    Empty,

    /// The token is longer than [`MAX_JOIN_TOKEN_LEN`].
    #[error("join token is {len} bytes long, the limit is {max}")]
    TooLong {
        /// Length of the rejected token in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The token has a byte outside `[A-Za-z0-9._-]` (or is not UTF-8).
    #[error("join token may only hold letters, digits, '.', '_' and '-'")]
    BadCharacter,

    /// The token is `.` or `..`, which cannot be an ID path segment.
    #[error("join token must not be '.' or '..'")]
    DotSegment,
}

impl JoinToken {
    /// Validates `token`.
    pub fn new(token: &str) -> Result<Self, InvalidJoinToken> {
        Self::from_payload(token.as_bytes())
    }

    /// Validates the payload of `join_token` attestation data (the token as
    /// UTF-8 bytes, nothing else).
    pub fn from_payload(payload: &[u8]) -> Result<Self, InvalidJoinToken> {
        if payload.is_empty() {
            return Err(InvalidJoinToken::Empty);
        }
        if payload.len() > MAX_JOIN_TOKEN_LEN {
            return Err(InvalidJoinToken::TooLong {
                len: payload.len(),
                max: MAX_JOIN_TOKEN_LEN,
            });
        }
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if !payload.iter().all(allowed) {
            return Err(InvalidJoinToken::BadCharacter);
        }
        if payload == b"." || payload == b".." {
            return Err(InvalidJoinToken::DotSegment);
        }

        // Every byte is ASCII, so this cannot fail; mapping keeps it panic-free.
        let value = std::str::from_utf8(payload).map_err(|_| InvalidJoinToken::BadCharacter)?;
        Ok(Self {
            value: Zeroizing::new(value.to_owned()),
        })
    }

    /// A new random token: a lower-case UUIDv4 string (122 random bits from
    /// the system CSPRNG), the form SPIRE issues.
    pub fn generate() -> Result<Self, RngError> {
        let bytes = Zeroizing::new(random_array::<16>()?);
        let uuid = uuid::Builder::from_random_bytes(*bytes).into_uuid();
        Ok(Self {
            value: Zeroizing::new(uuid.hyphenated().to_string()),
        })
    }

    /// The token. Treat it as a secret until it is redeemed: do not log it.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The token as attestation data payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.value.as_bytes()
    }

    /// Compares with `other` in time that depends only on the lengths.
    pub fn ct_eq(&self, other: &str) -> bool {
        self.value.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl PartialEq for JoinToken {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other.as_str())
    }
}

impl Eq for JoinToken {}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_uuid_v4_strings() {
        let token = JoinToken::generate().expect("rng");
        let parsed = uuid::Uuid::parse_str(token.as_str()).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(token.as_str(), parsed.hyphenated().to_string());
        assert_eq!(token.as_str().len(), 36);
        assert_ne!(token, JoinToken::generate().expect("rng"));
    }

    #[test]
    fn debug_hides_the_value() {
        let token = JoinToken::new("abc123").expect("valid");
        let shown = format!("{token:?}");
        assert!(!shown.contains("abc123"), "{shown}");
    }

    #[test]
    fn validation() {
        assert!(JoinToken::new("2f1c1d3e-6c2b-4e8a-9d7f-0a1b2c3d4e5f").is_ok());
        assert!(JoinToken::new("Mixed_Case.token-1").is_ok());
        assert_eq!(JoinToken::new("").unwrap_err(), InvalidJoinToken::Empty);
        assert_eq!(
            JoinToken::new(".").unwrap_err(),
            InvalidJoinToken::DotSegment
        );
        assert_eq!(
            JoinToken::new("..").unwrap_err(),
            InvalidJoinToken::DotSegment
        );
        for bad in ["a/b", "a b", "tok\n", "é", "a%2f", "x:y"] {
            assert_eq!(
                JoinToken::new(bad).unwrap_err(),
                InvalidJoinToken::BadCharacter,
                "{bad:?}"
            );
        }
        assert_eq!(
            JoinToken::from_payload(&[0xff, 0xfe]).unwrap_err(),
            InvalidJoinToken::BadCharacter
        );
        let long = "a".repeat(MAX_JOIN_TOKEN_LEN + 1);
        assert!(matches!(
            JoinToken::new(&long).unwrap_err(),
            InvalidJoinToken::TooLong { len: 257, max: 256 }
        ));
        assert!(JoinToken::new(&long[1..]).is_ok());
    }

    #[test]
    fn equality_compares_contents() {
        let a = JoinToken::new("token-a").expect("valid");
        assert_eq!(a, JoinToken::new("token-a").expect("valid"));
        assert_ne!(a, JoinToken::new("token-b").expect("valid"));
        assert!(a.ct_eq("token-a"));
        assert!(!a.ct_eq("token-a-longer"));
    }
}

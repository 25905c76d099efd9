//! Errors for SPIFFE IDs and trust domain names.

use thiserror::Error;

/// Why a string is not a valid SPIFFE ID or trust domain name.
///
/// Each variant names the rule of the SPIFFE-ID specification that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpiffeIdError {
    /// The input is the empty string.
    #[error("spiffe id is empty")]
    Empty,

    /// The ID does not start with the `spiffe://` scheme and authority marker.
    #[error("spiffe id must start with the scheme \"spiffe://\"")]
    WrongScheme,

    /// The authority (trust domain) is empty.
    #[error("trust domain is empty")]
    MissingTrustDomain,

    /// The authority holds userinfo (`user@`).
    #[error("trust domain must not contain userinfo ('@')")]
    UserInfo,

    /// The authority holds a port (`:8443`).
    #[error("trust domain must not contain a port (':')")]
    Port,

    /// The ID holds a query component.
    #[error("spiffe id must not contain a query ('?')")]
    Query,

    /// The ID holds a fragment component.
    #[error("spiffe id must not contain a fragment ('#')")]
    Fragment,

    /// The ID holds a percent-encoded octet.
    #[error("spiffe id must not contain percent-encoding ('%')")]
    PercentEncoding,

    /// The trust domain holds an upper-case letter.
    #[error("trust domain must be lower case, found {0:?}")]
    TrustDomainUppercase(char),

    /// The trust domain holds a character outside `[a-z0-9.-_]`.
    #[error("trust domain may contain only [a-z0-9.-_], found {0:?}")]
    TrustDomainCharacter(char),

    /// The trust domain is longer than 255 bytes.
    #[error("trust domain is {len} bytes long, the limit is {max}")]
    TrustDomainTooLong {
        /// Length of the rejected trust domain in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// A trust-domain ID given where a bare name or root ID was expected has a path.
    #[error("a trust domain id must not have a path")]
    TrustDomainWithPath,

    /// The path does not start with `/`.
    #[error("path must be empty or start with '/'")]
    PathNotAbsolute,

    /// The path has an empty segment (`//`).
    #[error("path must not contain empty segments")]
    EmptySegment,

    /// The path has a `.` or `..` segment.
    #[error("path must not contain '.' or '..' segments")]
    DotSegment,

    /// The path ends with `/`.
    #[error("path must not end with '/'")]
    TrailingSlash,

    /// A path segment holds a character outside `[a-zA-Z0-9.-_]`.
    #[error("path segments may contain only [a-zA-Z0-9.-_], found {0:?}")]
    PathCharacter(char),

    /// The whole ID is longer than 2048 bytes.
    #[error("spiffe id is {len} bytes long, the limit is {max}")]
    TooLong {
        /// Length of the rejected ID in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

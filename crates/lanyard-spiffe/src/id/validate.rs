//! The character and structure rules of the SPIFFE-ID specification.

use super::SpiffeIdError;

/// The URI scheme plus the authority marker every SPIFFE ID starts with.
pub(crate) const SCHEME_PREFIX: &str = "spiffe://";

/// Longest trust domain name accepted, in bytes (the RFC 3986 host limit).
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;

/// Longest SPIFFE ID accepted or produced, in bytes.
///
/// The specification requires accepting IDs up to 2048 bytes and advises against
/// producing longer ones; this crate rejects longer ones everywhere.
pub const MAX_SPIFFE_ID_LEN: usize = 2048;

/// Checks a bare trust domain name (the authority of a SPIFFE ID).
pub(crate) fn check_trust_domain(name: &str) -> Result<(), SpiffeIdError> {
    if name.is_empty() {
        return Err(SpiffeIdError::MissingTrustDomain);
    }

    // Structural characters first, so the error names the URI component at fault.
    for (marker, error) in [
        ('@', SpiffeIdError::UserInfo),
        (':', SpiffeIdError::Port),
        ('%', SpiffeIdError::PercentEncoding),
        ('?', SpiffeIdError::Query),
        ('#', SpiffeIdError::Fragment),
    ] {
        if name.contains(marker) {
            return Err(error);
        }
    }

    for c in name.chars() {
        if c.is_ascii_uppercase() {
            return Err(SpiffeIdError::TrustDomainUppercase(c));
        }
        if !is_trust_domain_char(c) {
            return Err(SpiffeIdError::TrustDomainCharacter(c));
        }
    }

    if name.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(SpiffeIdError::TrustDomainTooLong {
            len: name.len(),
            max: MAX_TRUST_DOMAIN_LEN,
        });
    }
    Ok(())
}

/// Checks a path: empty (root ID) or `/seg(/seg)*`.
pub(crate) fn check_path(path: &str) -> Result<(), SpiffeIdError> {
    if path.is_empty() {
        return Ok(());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(SpiffeIdError::PathNotAbsolute);
    };
    check_relative_path(rest)
}

/// Checks `seg(/seg)*`, the form [`crate::SpiffeId::join`] appends.
pub(crate) fn check_relative_path(path: &str) -> Result<(), SpiffeIdError> {
    for c in path.chars() {
        match c {
            '%' => return Err(SpiffeIdError::PercentEncoding),
            '?' => return Err(SpiffeIdError::Query),
            '#' => return Err(SpiffeIdError::Fragment),
            _ => {}
        }
    }

    let mut segments = path.split('/').peekable();
    while let Some(segment) = segments.next() {
        check_segment(segment, segments.peek().is_none())?;
    }
    Ok(())
}

fn check_segment(segment: &str, is_last: bool) -> Result<(), SpiffeIdError> {
    if segment.is_empty() {
        return Err(if is_last {
            SpiffeIdError::TrailingSlash
        } else {
            SpiffeIdError::EmptySegment
        });
    }
    if segment == "." || segment == ".." {
        return Err(SpiffeIdError::DotSegment);
    }
    match segment.chars().find(|&c| !is_path_char(c)) {
        Some(c) => Err(SpiffeIdError::PathCharacter(c)),
        None => Ok(()),
    }
}

pub(crate) fn check_total_len(len: usize) -> Result<(), SpiffeIdError> {
    if len > MAX_SPIFFE_ID_LEN {
        return Err(SpiffeIdError::TooLong {
            len,
            max: MAX_SPIFFE_ID_LEN,
        });
    }
    Ok(())
}

fn is_trust_domain_char(c: char) -> bool {
    matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_')
}

fn is_path_char(c: char) -> bool {
    matches!(c, 'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_')
}

//! Trust domains as configuration files and flags write them.
//!
//! SPIRE takes `trust_domain = "example.org"` and `trust_domain = "spiffe://example.org"`
//! alike. A URL with another scheme would otherwise reach the name check and be refused
//! for its `:` as if it held a port; [`check_trust_domain_scheme`] names the scheme instead.

/// Refuses a trust domain written as a URL whose scheme is not `spiffe`, with a message
/// that names the scheme. A bare name or a `spiffe://` ID passes, to be parsed by the
/// trust domain type.
pub fn check_trust_domain_scheme(value: &str) -> Result<(), String> {
    match value.split_once("://") {
        Some((scheme, _)) if scheme != "spiffe" => Err(format!(
            "a trust domain is a name (example.org) or a spiffe:// ID \
             (spiffe://example.org), not a {scheme}:// URL"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_spiffe_ids_pass() {
        for value in ["example.org", "spiffe://example.org", "spiffe://x.test/"] {
            assert_eq!(check_trust_domain_scheme(value), Ok(()), "{value}");
        }
    }

    #[test]
    fn other_schemes_are_named() {
        for (value, scheme) in [
            ("https://x.test", "https://"),
            ("SPIFFE://x.test", "SPIFFE://"),
            ("http://x.test:8080", "http://"),
        ] {
            let err = check_trust_domain_scheme(value).expect_err(value);
            assert!(err.contains(&format!("not a {scheme} URL")), "{err}");
            assert!(!err.contains("port"), "{err}");
        }
    }
}

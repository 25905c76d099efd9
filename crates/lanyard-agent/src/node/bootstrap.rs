//! The first trust bundle, before the agent has talked to the server: from the file
//! named by `trust_bundle_path` (PEM or SPIFFE JSON), or none with `insecure_bootstrap`.

use std::path::Path;

use lanyard_spiffe::{Bundle, BundleError, TrustDomain};

use crate::config::{BundleFormat, TrustBundleSource};

/// Why the bootstrap bundle could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// The bundle file could not be read.
    #[error("cannot read trust bundle {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bundle is not valid in its format.
    #[error("trust bundle is not a valid {format} bundle")]
    Invalid {
        /// `pem` or `spiffe`.
        format: &'static str,
        /// Why.
        #[source]
        source: BundleError,
    },
    /// The bundle holds no X.509 authority, so it cannot authenticate a server.
    #[error("trust bundle holds no x509 authority")]
    NoAuthorities,
    /// Fetching the bundle from a URL is not implemented yet.
    #[error("trust_bundle_url is not supported yet; use trust_bundle_path")]
    UrlUnsupported,
}

/// The bootstrap bundle of `trust_domain` from `source`; `None` for insecure bootstrap.
pub fn bootstrap_bundle(
    source: &TrustBundleSource,
    trust_domain: &TrustDomain,
) -> Result<Option<Bundle>, BootstrapError> {
    match source {
        TrustBundleSource::Path { path, format } => {
            read_bundle_file(path, *format, trust_domain).map(Some)
        }
        // TODO(#4): fetch over HTTPS with Web PKI roots (and HTTP over a Unix socket).
        TrustBundleSource::Url { .. } => Err(BootstrapError::UrlUnsupported),
        TrustBundleSource::InsecureBootstrap => Ok(None),
    }
}

/// Reads a bundle file in `format`.
pub fn read_bundle_file(
    path: &Path,
    format: BundleFormat,
    trust_domain: &TrustDomain,
) -> Result<Bundle, BootstrapError> {
    let bytes = std::fs::read(path).map_err(|source| BootstrapError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_bundle(&bytes, format, trust_domain)
}

/// Parses bundle bytes in `format`.
pub fn parse_bundle(
    bytes: &[u8],
    format: BundleFormat,
    trust_domain: &TrustDomain,
) -> Result<Bundle, BootstrapError> {
    let (bundle, name) = match format {
        BundleFormat::Pem => (Bundle::parse_x509_pem(trust_domain.clone(), bytes), "pem"),
        BundleFormat::Spiffe => (Bundle::parse_json(trust_domain.clone(), bytes), "spiffe"),
    };
    let bundle = bundle.map_err(|source| BootstrapError::Invalid {
        format: name,
        source,
    })?;
    if bundle.x509_authorities().is_empty() {
        return Err(BootstrapError::NoAuthorities);
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TestCa, td};

    #[test]
    fn pem_and_spiffe_files_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new("example.org");
        let bundle = ca.bundle();
        let pem = dir.path().join("bundle.pem");
        std::fs::write(&pem, bundle.x509_authorities_to_pem()).expect("write");
        let json = dir.path().join("bundle.json");
        std::fs::write(&json, bundle.to_json().expect("json")).expect("write");

        let source = TrustBundleSource::Path {
            path: pem,
            format: BundleFormat::Pem,
        };
        let loaded = bootstrap_bundle(&source, &td("example.org")).expect("pem");
        assert_eq!(loaded.expect("bundle").x509_authorities(), [ca.root()]);

        let loaded =
            read_bundle_file(&json, BundleFormat::Spiffe, &td("example.org")).expect("json");
        assert_eq!(loaded, bundle);
    }

    #[test]
    fn bad_bundles_are_refused() {
        let td = td("example.org");
        assert!(matches!(
            parse_bundle(b"not pem", BundleFormat::Pem, &td),
            Err(BootstrapError::Invalid { .. })
        ));
        assert!(matches!(
            parse_bundle(b"{\"keys\":[]}", BundleFormat::Spiffe, &td),
            Err(BootstrapError::NoAuthorities)
        ));
        assert!(matches!(
            read_bundle_file(Path::new("/nonexistent/bundle.pem"), BundleFormat::Pem, &td),
            Err(BootstrapError::Read { .. })
        ));
        assert!(
            bootstrap_bundle(&TrustBundleSource::InsecureBootstrap, &td)
                .expect("insecure")
                .is_none()
        );
    }
}

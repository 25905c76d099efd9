//! The first trust bundle, before the agent has talked to the server: from the file
//! named by `trust_bundle_path` or fetched from `trust_bundle_url` (PEM or SPIFFE
//! JSON), or none with `insecure_bootstrap`.

use std::path::Path;

use lanyard_spiffe::{Bundle, BundleError, TrustDomain};
use rustls::RootCertStore;

use super::bundle_url::{FetchError, fetch_bundle_bytes, web_pki_roots};

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
    /// The bundle could not be fetched from `trust_bundle_url`.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// The bootstrap bundle of `trust_domain` from `source`; `None` for insecure bootstrap.
/// A URL is fetched over HTTPS checked against the Web PKI roots.
pub async fn bootstrap_bundle(
    source: &TrustBundleSource,
    trust_domain: &TrustDomain,
) -> Result<Option<Bundle>, BootstrapError> {
    bootstrap_bundle_with_roots(source, trust_domain, web_pki_roots).await
}

/// As [`bootstrap_bundle`], with the roots that check `trust_bundle_url`'s server.
pub async fn bootstrap_bundle_with_roots(
    source: &TrustBundleSource,
    trust_domain: &TrustDomain,
    roots: impl FnOnce() -> RootCertStore,
) -> Result<Option<Bundle>, BootstrapError> {
    match source {
        TrustBundleSource::Path { path, format } => {
            read_bundle_file(path, *format, trust_domain).map(Some)
        }
        TrustBundleSource::Url {
            url,
            format,
            unix_socket,
        } => {
            let bytes = fetch_bundle_bytes(url, unix_socket.as_deref(), roots()).await?;
            tracing::info!(%url, "fetched the bootstrap trust bundle");
            parse_bundle(&bytes, *format, trust_domain).map(Some)
        }
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

    #[tokio::test]
    async fn pem_and_spiffe_files_load() {
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
        let loaded = bootstrap_bundle(&source, &td("example.org"))
            .await
            .expect("pem");
        assert_eq!(loaded.expect("bundle").x509_authorities(), [ca.root()]);

        let loaded =
            read_bundle_file(&json, BundleFormat::Spiffe, &td("example.org")).expect("json");
        assert_eq!(loaded, bundle);
    }

    #[tokio::test]
    async fn bad_bundles_are_refused() {
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
                .await
                .expect("insecure")
                .is_none()
        );
    }
}

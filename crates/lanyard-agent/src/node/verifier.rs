//! How the agent decides it is talking to its server: the rustls `ServerCertVerifier`
//! and the swappable trust anchors it checks against. All TLS server verification of
//! the agent lives in this module.
//!
//! The server must present an X.509-SVID for `spiffe://<td>/spire/server` that chains to
//! the agent's current bundle of its own trust domain. DNS names are not checked: the
//! SPIFFE ID is the server's name. Chain validation is delegated to
//! [`lanyard_spiffe::x509::verify_x509_svid_with_bundle`] (rustls-webpki underneath).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use lanyard_spiffe::{Bundle, SpiffeId, X509SvidError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// The X.509 authorities the agent trusts for its own trust domain, shared by every
/// connection and replaced as a whole when the bundle changes.
///
/// A replacement takes effect for the next handshake; handshakes in progress finish
/// with the bundle they started with.
#[derive(Clone)]
pub struct TrustAnchors {
    bundle: Arc<ArcSwap<Bundle>>,
}

impl TrustAnchors {
    /// Anchors holding `bundle`.
    pub fn new(bundle: Bundle) -> Self {
        Self {
            bundle: Arc::new(ArcSwap::from_pointee(bundle)),
        }
    }

    /// The bundle in force now.
    pub fn current(&self) -> Arc<Bundle> {
        self.bundle.load_full()
    }

    /// Replaces the bundle atomically; returns whether it differed from the old one.
    pub fn replace(&self, bundle: Bundle) -> bool {
        let new = Arc::new(bundle);
        let old = self.bundle.swap(Arc::clone(&new));
        *old != *new
    }
}

impl fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bundle = self.bundle.load();
        f.debug_struct("TrustAnchors")
            .field("trust_domain", bundle.trust_domain())
            .field("x509_authorities", &bundle.x509_authorities().len())
            .finish()
    }
}

/// Why a server certificate chain was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerCertError {
    /// The chain is not a valid X.509-SVID of the trust domain at this time (expired,
    /// untrusted root, wrong profile...).
    #[error("server certificate is not a valid x509-svid for the trust bundle")]
    Untrusted(#[source] X509SvidError),
    /// The chain is valid but names another identity than the server's.
    #[error("server presented spiffe id {presented}, expected {expected}")]
    WrongId {
        /// The ID the agent requires.
        expected: SpiffeId,
        /// The ID in the certificate.
        presented: SpiffeId,
    },
}

/// Checks a server's chain (leaf first) against `bundle` at `now` and requires the
/// leaf's SPIFFE ID to be `expected`.
pub fn verify_server_chain(
    chain: &[CertificateDer<'_>],
    bundle: &Bundle,
    expected: &SpiffeId,
    now: SystemTime,
) -> Result<(), ServerCertError> {
    let presented = lanyard_spiffe::x509::verify_x509_svid_with_bundle(chain, bundle, now)
        .map_err(ServerCertError::Untrusted)?;
    if presented != *expected {
        return Err(ServerCertError::WrongId {
            expected: expected.clone(),
            presented,
        });
    }
    Ok(())
}

/// Says in words why a connection to the server failed, for logs and health reports.
///
/// A refused server certificate reaches the caller as a rustls error inside I/O and
/// transport errors, and rustls prints it as a Debug dump
/// (`Other(OtherError(Untrusted(Chain(UnknownIssuer))))`); this finds it in the chain
/// and explains it. Other failures read as their error chain.
pub fn describe_connect_failure(err: &(dyn std::error::Error + 'static)) -> String {
    describe_tls_failure(err).unwrap_or_else(|| lanyard_daemon::output::error_chain(err))
}

/// Like [`describe_connect_failure`], but `None` when no TLS failure is in the chain.
pub fn describe_tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    find_rustls_error(err).map(describe_tls_error)
}

/// A refused server certificate in words.
pub fn describe_server_cert_error(err: &ServerCertError) -> String {
    match err {
        ServerCertError::Untrusted(X509SvidError::Chain(webpki::Error::UnknownIssuer)) => {
            "the server's certificate does not chain to the trust bundle (unknown issuer)"
                .to_owned()
        }
        ServerCertError::Untrusted(X509SvidError::Chain(
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. },
        )) => "the server's certificate is expired or not yet valid (check the clocks)".to_owned(),
        ServerCertError::Untrusted(X509SvidError::BundleTrustDomainMismatch { bundle, svid }) => {
            format!("the server's SVID belongs to trust domain {svid}, the bundle to {bundle}")
        }
        ServerCertError::Untrusted(other) => format!(
            "the server's certificate is not a valid X.509-SVID for the trust bundle: {}",
            lanyard_daemon::output::error_chain(other)
        ),
        ServerCertError::WrongId { .. } => err.to_string(),
    }
}

/// Verifies the server's certificate as a SPIFFE X.509-SVID with the expected ID.
pub struct SpiffeServerVerifier {
    anchors: TrustAnchors,
    expected: SpiffeId,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SpiffeServerVerifier {
    /// A verifier that requires `expected` (normally `spiffe://<td>/spire/server`)
    /// chaining to `anchors`.
    pub fn new(anchors: TrustAnchors, expected: SpiffeId, provider: &CryptoProvider) -> Self {
        Self {
            anchors,
            expected,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl fmt::Debug for SpiffeServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeServerVerifier")
            .field("expected", &self.expected)
            .field("anchors", &self.anchors)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());

        let bundle = self.anchors.current();
        verify_server_chain(&chain, &bundle, &self.expected, system_time(now))
            .map_err(to_rustls_error)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Accepts any server certificate: only for `insecure_bootstrap`, on the first contact
/// before the agent has a bundle. The handshake still proves the server holds the key
/// of the certificate it sent, and the leaf must carry the expected ID, but nothing
/// ties that certificate to the trust domain.
pub struct InsecureBootstrapVerifier {
    expected: SpiffeId,
    algorithms: WebPkiSupportedAlgorithms,
}

impl InsecureBootstrapVerifier {
    /// A verifier that only checks the leaf names `expected`.
    pub fn insecure_new(expected: SpiffeId, provider: &CryptoProvider) -> Self {
        Self {
            expected,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl fmt::Debug for InsecureBootstrapVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsecureBootstrapVerifier")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for InsecureBootstrapVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = lanyard_spiffe::x509::spiffe_id_from_certificate(end_entity)
            .map_err(|err| to_rustls_error(ServerCertError::Untrusted(err)))?;
        if presented != self.expected {
            return Err(to_rustls_error(ServerCertError::WrongId {
                expected: self.expected.clone(),
                presented,
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn to_rustls_error(err: ServerCertError) -> rustls::Error {
    let kind = match &err {
        ServerCertError::WrongId { .. } => CertificateError::NotValidForName,
        ServerCertError::Untrusted(_) => CertificateError::Other(OtherError(Arc::new(err))),
    };
    rustls::Error::InvalidCertificate(kind)
}

fn find_rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // io::Error::source skips the error it wraps; look inside it.
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && let Some(tls) = find_rustls_error(inner)
        {
            return Some(tls);
        }
        current = err.source();
    }
    None
}

fn describe_tls_error(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            match inner.downcast_ref::<ServerCertError>() {
                Some(cert) => describe_server_cert_error(cert),
                None => format!("the server's certificate was refused: {inner}"),
            }
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
            "the server's certificate does not carry the server's SPIFFE ID".to_owned()
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server did not answer with TLS (is server_port the server's agent port?)"
                .to_owned()
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

fn system_time(now: UnixTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(now.as_secs())
}

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;

//! The agent endpoint's TLS 1.3 configuration: the server presents its current
//! X509-SVID, and a client certificate, when one is offered, must be an X509-SVID
//! of the trust domain that chains to the current trust bundle. All TLS checks of
//! the agent endpoint live in this module.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};
use lanyard_spiffe::Bundle;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};

/// The trust bundle of the server's own trust domain as the endpoint checks
/// client certificates against it; replaced as a whole when the bundle changes.
#[derive(Clone)]
pub(super) struct TrustState {
    bundle: Arc<ArcSwap<Bundle>>,
}

impl TrustState {
    /// A state holding `bundle`.
    pub(super) fn new(bundle: Bundle) -> Self {
        Self {
            bundle: Arc::new(ArcSwap::from_pointee(bundle)),
        }
    }

    /// The bundle in force now.
    pub(super) fn current(&self) -> Arc<Bundle> {
        self.bundle.load_full()
    }

    /// Replaces the bundle if `bundle` differs from it; returns whether it did.
    /// An equal bundle keeps the one in force, since connections keep what they
    /// verified only while the bundle is the very same one.
    pub(super) fn replace(&self, bundle: Bundle) -> bool {
        if **self.bundle.load() == bundle {
            return false;
        }
        self.bundle.store(Arc::new(bundle));
        true
    }
}

impl fmt::Debug for TrustState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bundle = self.bundle.load();
        f.debug_struct("TrustState")
            .field("trust_domain", bundle.trust_domain())
            .field("x509_authorities", &bundle.x509_authorities().len())
            .finish()
    }
}

/// The server's own X509-SVID and key, swapped in place when renewed.
#[derive(Clone, Default)]
pub(super) struct ServerCertificate {
    current: Arc<ArcSwapOption<CertifiedKey>>,
}

impl ServerCertificate {
    /// No certificate yet: handshakes fail until [`Self::install`].
    pub(super) fn empty() -> Self {
        Self::default()
    }

    /// Serves `key` from the next handshake on.
    pub(super) fn install(&self, key: CertifiedKey) {
        self.current.store(Some(Arc::new(key)));
    }

    /// Whether a certificate is installed.
    pub(super) fn is_installed(&self) -> bool {
        self.current.load().is_some()
    }
}

impl fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("installed", &self.is_installed())
            .finish()
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }
}

/// The TLS 1.3 server configuration of the agent endpoint (ALPN `h2`).
pub(super) fn server_tls_config(
    certificate: ServerCertificate,
    trust: TrustState,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(AgentCertVerifier::new(trust, &provider));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(certificate));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Client certificates are optional (`AttestAgent` has none); one that is offered
/// must be an X509-SVID chaining to the current bundle. Who the caller is, and
/// whether it may call, is decided per request afterwards.
struct AgentCertVerifier {
    trust: TrustState,
    algorithms: WebPkiSupportedAlgorithms,
}

impl AgentCertVerifier {
    fn new(trust: TrustState, provider: &CryptoProvider) -> Self {
        Self {
            trust,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl fmt::Debug for AgentCertVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentCertVerifier")
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for AgentCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        let bundle = self.trust.current();
        match lanyard_spiffe::x509::verify_x509_svid_with_bundle(&chain, &bundle, system_time(now))
        {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(error) => {
                tracing::debug!(%error, "client certificate refused");
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(error)),
                )))
            }
        }
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

/// `SystemTime` of a certificate's `UnixTime` (seconds resolution).
fn system_time(now: UnixTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(now.as_secs())
}

#[cfg(test)]
mod tests {
    use lanyard_spiffe::TrustDomain;

    use super::*;

    fn bundle(sequence: u64) -> Bundle {
        let mut bundle = Bundle::new(TrustDomain::new("example.org").expect("td"));
        bundle.set_sequence_number(sequence);
        bundle
    }

    #[test]
    fn an_equal_bundle_keeps_the_one_in_force() {
        let trust = TrustState::new(bundle(1));
        let before = trust.current();

        assert!(!trust.replace(bundle(1)));
        assert!(Arc::ptr_eq(&before, &trust.current()));

        assert!(trust.replace(bundle(2)));
        assert_eq!(trust.current().sequence_number(), 2);
        assert!(!Arc::ptr_eq(&before, &trust.current()));
    }
}

//! Chain verification with rustls-webpki: the payload's leaf and
//! intermediates against the configured roots, any extended key usage
//! accepted (as SPIRE's `ExtKeyUsageAny`).

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, aws_lc_rs as algs};

use super::X509PopError;

/// Signature algorithms accepted on certificates of the chain.
static SIGNATURE_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    algs::ECDSA_P256_SHA256,
    algs::ECDSA_P256_SHA384,
    algs::ECDSA_P384_SHA256,
    algs::ECDSA_P384_SHA384,
    algs::ECDSA_P521_SHA256,
    algs::ECDSA_P521_SHA384,
    algs::ECDSA_P521_SHA512,
    algs::ED25519,
    algs::RSA_PKCS1_2048_8192_SHA256,
    algs::RSA_PKCS1_2048_8192_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA512,
    algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// Verifies `chain` (leaf first) to one of `roots` at `now` and returns the
/// DER of every CA certificate on the verified path, the root last.
pub(crate) fn verify_chain(
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<Vec<Vec<u8>>, X509PopError> {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Err(X509PopError::NoCertificates);
    };

    // Roots webpki cannot use as anchors can sign nothing; skip them.
    let anchored: Vec<(&CertificateDer<'static>, TrustAnchor<'_>)> = roots
        .iter()
        .filter_map(|root| Some((root, webpki::anchor_from_trusted_cert(root).ok()?)))
        .collect();
    if anchored.is_empty() {
        return Err(X509PopError::NoTrustAnchors);
    }
    let anchors: Vec<TrustAnchor<'_>> = anchored.iter().map(|(_, a)| a.clone()).collect();

    let leaf = EndEntityCert::try_from(leaf).map_err(X509PopError::ChainNotVerified)?;
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let path = leaf
        .verify_for_usage(
            SIGNATURE_ALGORITHMS,
            &anchors,
            intermediates,
            UnixTime::since_unix_epoch(since_epoch),
            AnyExtendedKeyUsage,
            None,
            None,
        )
        .map_err(X509PopError::ChainNotVerified)?;

    let mut cas: Vec<Vec<u8>> = path
        .intermediate_certificates()
        .map(|cert| cert.der().to_vec())
        .collect();
    let anchor = path.anchor();
    if let Some((root, _)) = anchored.iter().find(|(_, a)| {
        a.subject == anchor.subject && a.subject_public_key_info == anchor.subject_public_key_info
    }) {
        cas.push(root.to_vec());
    }
    Ok(cas)
}

/// Checks that `cert` can be a trust anchor.
pub(crate) fn check_anchor(cert: &CertificateDer<'_>) -> Result<(), webpki::Error> {
    webpki::anchor_from_trusted_cert(cert).map(|_| ())
}

/// Accepts any extended key usage (and none), but still rejects a malformed
/// extension.
struct AnyExtendedKeyUsage;

impl ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

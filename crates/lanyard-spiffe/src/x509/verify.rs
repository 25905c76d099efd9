//! X.509-SVID verification: the SPIFFE profile checks plus RFC 5280 path
//! validation by rustls-webpki against the SVID's own trust domain bundle.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage, aws_lc_rs as algs};

use super::profile::{check_leaf, check_signer, parse_certificate};
use super::{CaCertificate, X509SvidError};
use crate::{Bundle, BundleSet, SpiffeId};

/// Signature algorithms accepted on certificates.
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

/// Verifies an X.509-SVID chain (leaf first, then intermediates) for
/// authentication and returns its SPIFFE ID.
///
/// The leaf must satisfy every leaf rule of the X509-SVID specification (see
/// [`check_x509_svid_leaf`](super::check_x509_svid_leaf)); the chain is
/// validated by rustls-webpki against the X.509 authorities of the bundle of the
/// leaf's own trust domain, at `now`; every signing certificate on the verified
/// path must be a CA with `keyCertSign` and, if it has a SPIFFE ID, a path-less
/// one in the same trust domain.
///
/// rustls-webpki rejects chains whose CAs carry URI name constraints, so such
/// chains fail here.
pub fn verify_x509_svid(
    chain: &[CertificateDer<'_>],
    bundles: &BundleSet,
    now: SystemTime,
) -> Result<SpiffeId, X509SvidError> {
    let leaf = chain.first().ok_or(X509SvidError::EmptyChain)?;
    let id = check_leaf(&parse_certificate(leaf, 0)?)?;
    let bundle = bundles
        .get(id.trust_domain())
        .ok_or_else(|| X509SvidError::NoBundle(id.trust_domain().clone()))?;
    verify_path(chain, &id, bundle, now)?;
    Ok(id)
}

/// Like [`verify_x509_svid`] with a single bundle, which must be the bundle of
/// the SVID's trust domain.
pub fn verify_x509_svid_with_bundle(
    chain: &[CertificateDer<'_>],
    bundle: &Bundle,
    now: SystemTime,
) -> Result<SpiffeId, X509SvidError> {
    let leaf = chain.first().ok_or(X509SvidError::EmptyChain)?;
    let id = check_leaf(&parse_certificate(leaf, 0)?)?;
    if !id.is_member_of(bundle.trust_domain()) {
        return Err(X509SvidError::BundleTrustDomainMismatch {
            bundle: bundle.trust_domain().clone(),
            svid: id.trust_domain().clone(),
        });
    }
    verify_path(chain, &id, bundle, now)?;
    Ok(id)
}

fn verify_path(
    chain: &[CertificateDer<'_>],
    id: &SpiffeId,
    bundle: &Bundle,
    now: SystemTime,
) -> Result<(), X509SvidError> {
    // Certificates webpki cannot turn into anchors cannot sign anything; skip them.
    let authorities: Vec<(&CertificateDer<'static>, TrustAnchor<'_>)> = bundle
        .x509_authorities()
        .iter()
        .filter_map(|cert| Some((cert, webpki::anchor_from_trusted_cert(cert).ok()?)))
        .collect();
    if authorities.is_empty() {
        return Err(X509SvidError::NoX509Authorities(id.trust_domain().clone()));
    }
    let anchors: Vec<TrustAnchor<'_>> = authorities.iter().map(|(_, a)| a.clone()).collect();

    let leaf = EndEntityCert::try_from(&chain[0]).map_err(X509SvidError::Chain)?;
    let intermediates = &chain[1..];
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let path = leaf
        .verify_for_usage(
            SIGNATURE_ALGORITHMS,
            &anchors,
            intermediates,
            UnixTime::since_unix_epoch(since_epoch),
            KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(X509SvidError::Chain)?;

    for cert in path.intermediate_certificates() {
        let index = chain
            .iter()
            .position(|c| c.as_ref() == cert.der().as_ref())
            .unwrap_or_default();
        let which = CaCertificate::Intermediate(index);
        check_signer(&parse_certificate(cert.der().as_ref(), index)?, which, id)?;
    }

    let anchor = path.anchor();
    if let Some((cert, _)) = authorities.iter().find(|(_, a)| {
        a.subject == anchor.subject && a.subject_public_key_info == anchor.subject_public_key_info
    }) {
        check_signer(&parse_certificate(cert, 0)?, CaCertificate::Authority, id)?;
    }
    Ok(())
}

//! The certificate profile rules of the X509-SVID specification.

use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::{CaCertificate, X509SvidError};
use crate::SpiffeId;

/// Parses exactly one DER certificate (no trailing bytes).
pub(crate) fn parse_certificate(
    der: &[u8],
    index: usize,
) -> Result<X509Certificate<'_>, X509SvidError> {
    let malformed = |source| X509SvidError::Malformed { index, source };
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| malformed(x509_error(e)))?;
    if !rest.is_empty() {
        return Err(malformed(X509Error::InvalidCertificate));
    }
    Ok(cert)
}

/// The parser's error without the nom wrapper.
pub(crate) fn x509_error(e: x509_parser::nom::Err<X509Error>) -> X509Error {
    use x509_parser::nom::Err;

    match e {
        Err::Error(e) | Err::Failure(e) => e,
        Err::Incomplete(_) => X509Error::InvalidCertificate,
    }
}

/// The certificate's URI SANs. A malformed SAN extension is an error.
fn uri_sans<'a>(
    cert: &'a X509Certificate<'_>,
    index: usize,
) -> Result<Vec<&'a str>, X509SvidError> {
    let san = cert
        .subject_alternative_name()
        .map_err(|source| X509SvidError::Malformed { index, source })?;
    Ok(san
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some(*uri),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The SPIFFE ID of a certificate with exactly one URI SAN.
pub(crate) fn single_spiffe_id(cert: &X509Certificate<'_>) -> Result<SpiffeId, X509SvidError> {
    let uris = uri_sans(cert, 0)?;
    match uris.as_slice() {
        [] => Err(X509SvidError::NoUriSan),
        [uri] => SpiffeId::parse(uri).map_err(X509SvidError::InvalidSpiffeId),
        more => Err(X509SvidError::MultipleUriSans { count: more.len() }),
    }
}

/// Checks every leaf rule and returns the leaf's SPIFFE ID.
pub(crate) fn check_leaf(cert: &X509Certificate<'_>) -> Result<SpiffeId, X509SvidError> {
    let malformed = |source| X509SvidError::Malformed { index: 0, source };

    let id = single_spiffe_id(cert)?;
    if id.is_root() {
        return Err(X509SvidError::LeafIdWithoutPath);
    }
    check_san_critical_if_subject_empty(cert, 0)?;

    if let Some(bc) = cert.basic_constraints().map_err(malformed)?
        && bc.value.ca
    {
        return Err(X509SvidError::LeafIsCa);
    }

    let ku = cert
        .key_usage()
        .map_err(malformed)?
        .ok_or(X509SvidError::LeafMissingKeyUsage)?;
    if !ku.critical {
        return Err(X509SvidError::LeafKeyUsageNotCritical);
    }
    if !ku.value.digital_signature() {
        return Err(X509SvidError::LeafMissingDigitalSignature);
    }
    if ku.value.key_cert_sign() {
        return Err(X509SvidError::LeafHasKeyCertSign);
    }
    if ku.value.crl_sign() {
        return Err(X509SvidError::LeafHasCrlSign);
    }

    if let Some(eku) = cert.extended_key_usage().map_err(malformed)?
        && !(eku.value.server_auth && eku.value.client_auth)
    {
        return Err(X509SvidError::LeafEkuMissingTlsAuth);
    }
    Ok(id)
}

/// Checks the rules for signing certificates. Bundle authorities (trust anchors)
/// are held to `cA=true`, `keyCertSign` when a key usage is present and a
/// path-less SPIFFE ID; intermediates also need a critical key usage extension.
pub(crate) fn check_signer(
    cert: &X509Certificate<'_>,
    which: CaCertificate,
    leaf_id: &SpiffeId,
) -> Result<(), X509SvidError> {
    let index = match which {
        CaCertificate::Intermediate(index) => index,
        CaCertificate::Authority => 0,
    };
    let malformed = |source| X509SvidError::Malformed { index, source };

    let is_ca = cert
        .basic_constraints()
        .map_err(malformed)?
        .is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err(X509SvidError::SignerNotCa(which));
    }

    match cert.key_usage().map_err(malformed)? {
        None if which == CaCertificate::Authority => {}
        None => return Err(X509SvidError::SignerMissingKeyUsage(which)),
        Some(ku) => {
            if !ku.critical && which != CaCertificate::Authority {
                return Err(X509SvidError::SignerKeyUsageNotCritical(which));
            }
            if !ku.value.key_cert_sign() {
                return Err(X509SvidError::SignerMissingKeyCertSign(which));
            }
        }
    }

    for uri in uri_sans(cert, index)? {
        let is_spiffe = uri
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("spiffe:"));
        if !is_spiffe {
            continue;
        }
        let id = SpiffeId::parse(uri)
            .map_err(|source| X509SvidError::SignerInvalidSpiffeId { which, source })?;
        if !id.is_root() {
            return Err(X509SvidError::SignerIdWithPath(which));
        }
        if !leaf_id.is_member_of(id.trust_domain()) {
            return Err(X509SvidError::SignerIdInOtherTrustDomain(which));
        }
    }
    Ok(())
}

fn check_san_critical_if_subject_empty(
    cert: &X509Certificate<'_>,
    index: usize,
) -> Result<(), X509SvidError> {
    if cert.subject().iter().next().is_some() {
        return Ok(());
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|source| X509SvidError::Malformed { index, source })?;
    match san {
        Some(ext) if ext.critical => Ok(()),
        _ => Err(X509SvidError::SanNotCritical),
    }
}

//! What `MintX509SVID` takes from a CSR: the proven public key, the one SPIFFE ID
//! URI SAN and the DNS SANs. Everything else in the CSR is ignored; the
//! certificate is built from server policy.

use lanyard_ca::{CsrError, PublicKey, public_key_from_csr};
use lanyard_spiffe::{SpiffeId, TrustDomain};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;

use crate::api::ApiError;
use crate::api::types::check_dns_name;

/// A CSR's contents as minting uses them.
#[derive(Debug)]
pub(super) struct MintRequest {
    pub(super) public_key: PublicKey,
    pub(super) spiffe_id: SpiffeId,
    pub(super) dns_names: Vec<String>,
}

/// Reads and checks a DER CSR for trust domain `td`.
pub(super) fn parse_mint_csr(td: &TrustDomain, der: &[u8]) -> Result<MintRequest, ApiError> {
    if der.is_empty() {
        return Err(ApiError::invalid("invalid csr: missing"));
    }
    let public_key = public_key_from_csr(der).map_err(|e| match e {
        CsrError::Malformed => ApiError::invalid("invalid csr: not a DER PKCS#10 request"),
        other => ApiError::invalid(format!("invalid csr: {other}")),
    })?;
    let (_, csr) = X509CertificationRequest::from_der(der)
        .map_err(|_| ApiError::invalid("invalid csr: not a DER PKCS#10 request"))?;

    let mut uris = Vec::new();
    let mut dns_names = Vec::new();
    for extension in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = extension {
            for name in &san.general_names {
                match name {
                    GeneralName::URI(uri) => uris.push((*uri).to_owned()),
                    GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                    _ => {}
                }
            }
        }
    }

    let uri = match uris.as_slice() {
        [] => {
            return Err(ApiError::invalid(
                "invalid csr: a URI SAN with the SPIFFE ID is required",
            ));
        }
        [one] => one,
        _ => {
            return Err(ApiError::invalid(
                "invalid csr: exactly one URI SAN is allowed",
            ));
        }
    };
    let spiffe_id = SpiffeId::parse(uri)
        .map_err(|e| ApiError::invalid(format!("invalid csr: URI SAN is not a SPIFFE ID: {e}")))?;
    if !spiffe_id.is_member_of(td) {
        return Err(ApiError::invalid(format!(
            "invalid csr: URI SAN \"{spiffe_id}\" is not a member of trust domain \"{td}\""
        )));
    }
    if spiffe_id.is_root() {
        return Err(ApiError::invalid(format!(
            "invalid csr: URI SAN \"{spiffe_id}\" has no path"
        )));
    }
    for name in &dns_names {
        check_dns_name(name)
            .map_err(|why| ApiError::invalid(format!("invalid csr: DNS SAN {name:?}: {why}")))?;
    }
    Ok(MintRequest {
        public_key,
        spiffe_id,
        dns_names,
    })
}

//! Verifying an LDevID certificate chain presented at re-attestation.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use webpki::{EndEntityCert, KeyUsage, aws_lc_rs as algs};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::FromDer as _;

use super::OID_PERMANENT_IDENTIFIER;
use super::profile::permanent_identifier_value;
use crate::tpm::TpmError;
use crate::tpm::key::PublicKey;
use crate::tpm::node_type::NodeType;
use crate::tpm::xname::Xname;

/// Most certificates accepted in a presented LDevID chain.
const MAX_CHAIN: usize = 4;

static SIGNATURE_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    algs::ECDSA_P256_SHA256,
    algs::ECDSA_P384_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA256,
];

/// A verified LDevID leaf and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLdevid {
    /// The leaf, DER.
    pub leaf_der: Vec<u8>,
    /// Its serial number, lower-case hex.
    pub serial_hex: String,
    /// The xname (subject CN).
    pub xname: Xname,
    /// The node type (subject OU), when present.
    pub node_type: Option<NodeType>,
    /// The certified key (the TPM-resident LDevID key).
    pub key: PublicKey,
    permanent_identifiers: Vec<Vec<u8>>,
}

impl VerifiedLdevid {
    /// Whether the certificate's permanentIdentifier names this EK hash.
    pub fn binds_ek(&self, ek_sha256: &[u8; 32]) -> bool {
        let expected = permanent_identifier_value(ek_sha256);
        self.permanent_identifiers.contains(&expected)
    }
}

/// Verifies `chain` (leaf first) to the LDevID CA `anchor` at `now`, for
/// client authentication, and reads the leaf.
pub fn verify_ldevid_chain(
    chain: &[Vec<u8>],
    anchor: &CertificateDer<'_>,
    now: SystemTime,
) -> Result<VerifiedLdevid, TpmError> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(TpmError::Ldevid("no certificate presented"));
    };
    if chain.len() > MAX_CHAIN {
        return Err(TpmError::Ldevid("too many certificates presented"));
    }
    let anchors = [webpki::anchor_from_trusted_cert(anchor)
        .map_err(|_| TpmError::Ldevid("the ldevid ca certificate is not a usable trust anchor"))?];
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();

    let leaf_der = CertificateDer::from(leaf.as_slice());
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    EndEntityCert::try_from(&leaf_der)
        .and_then(|ee| {
            ee.verify_for_usage(
                SIGNATURE_ALGORITHMS,
                &anchors,
                &intermediates,
                UnixTime::since_unix_epoch(since_epoch),
                KeyUsage::client_auth(),
                None,
                None,
            )
            .map(|_| ())
        })
        .map_err(TpmError::LdevidChain)?;

    read_leaf(leaf)
}

fn read_leaf(der: &[u8]) -> Result<VerifiedLdevid, TpmError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|_| TpmError::Ldevid("certificate is malformed"))?;
    let xname = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .and_then(|cn| Xname::parse(cn).ok())
        .ok_or(TpmError::Ldevid("subject common name is not an xname"))?;
    let node_type = match cert.subject().iter_organizational_unit().next() {
        Some(ou) => Some(
            ou.as_str()
                .ok()
                .and_then(|ou| NodeType::parse(ou).ok())
                .ok_or(TpmError::Ldevid(
                    "subject organizational unit is not a node type",
                ))?,
        ),
        None => None,
    };
    let key = PublicKey::from_spki(cert.public_key())
        .map_err(|_| TpmError::Ldevid("certificate key type is not supported"))?;

    let permanent_identifier =
        Oid::from(OID_PERMANENT_IDENTIFIER).map_err(|_| TpmError::Ldevid("oid"))?;
    let mut permanent_identifiers = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::OtherName(oid, value) = name
                && *oid == permanent_identifier
            {
                permanent_identifiers.push(value.to_vec());
            }
        }
    }

    Ok(VerifiedLdevid {
        leaf_der: der.to_vec(),
        serial_hex: hex::encode(cert.raw_serial()),
        xname,
        node_type,
        key,
        permanent_identifiers,
    })
}

//! What x509pop reads from the leaf certificate: fingerprint, serial number,
//! subject CN, SANs, key usage and the public key.

use std::net::IpAddr;

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::{FromDer as _, X509Certificate};
use x509_parser::public_key::PublicKey as ParsedKey;

use super::X509PopError;

/// The facts about a leaf certificate that attestation uses.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    /// Lower-case hex SHA-1 of the DER certificate.
    pub(crate) fingerprint: String,
    /// Lower-case hex of the serial number's magnitude, without leading zero
    /// bytes (Go's `hex(serial.Bytes())`).
    pub(crate) serial_hex: String,
    /// The subject's last common name, as Go's `Subject.CommonName`.
    pub(crate) common_name: Option<String>,
    /// URI SANs as written in the certificate.
    pub(crate) uris: Vec<String>,
    /// IP address SANs.
    pub(crate) ips: Vec<IpAddr>,
    /// Whether key usage is present and has `digitalSignature`.
    pub(crate) digital_signature: bool,
    pub(crate) key: LeafKey,
}

/// The leaf's public key, in the forms aws-lc-rs verifies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeafKey {
    /// ECDSA: the curve and the uncompressed point.
    Ecdsa { curve: Curve, point: Vec<u8> },
    /// RSA: the DER `RSAPublicKey` and the modulus length in bits.
    Rsa { pkcs1: Vec<u8>, bits: usize },
}

/// NIST curves x509pop accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    /// Byte length of a scalar (and so of `r` and `s`).
    pub(crate) fn scalar_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

impl Leaf {
    /// Parses the leaf (certificate 0 of the payload).
    pub(crate) fn parse(der: &[u8]) -> Result<Self, X509PopError> {
        let cert = parse_certificate(der, 0)?;

        let common_name = match cert.subject().iter_common_name().last() {
            Some(attr) => Some(
                attr.as_str()
                    .map_err(|_| X509PopError::CommonNameNotText)?
                    .to_owned(),
            ),
            None => None,
        };

        let (uris, ips) = sans(&cert)?;
        let digital_signature = cert
            .key_usage()
            .map_err(|_| X509PopError::MalformedCertificate { index: 0 })?
            .is_some_and(|ku| ku.value.digital_signature());

        Ok(Self {
            fingerprint: fingerprint(der),
            serial_hex: serial_hex(cert.raw_serial()),
            common_name,
            uris,
            ips,
            digital_signature,
            key: leaf_key(&cert)?,
        })
    }
}

/// Lower-case hex SHA-1 of a DER certificate (SPIRE's x509pop fingerprint).
pub(crate) fn fingerprint(der: &[u8]) -> String {
    hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, der))
}

/// Parses one DER certificate of the payload, rejecting trailing bytes.
pub(crate) fn parse_certificate(
    der: &[u8],
    index: usize,
) -> Result<X509Certificate<'_>, X509PopError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(X509PopError::MalformedCertificate { index }),
    }
}

fn serial_hex(raw: &[u8]) -> String {
    let first = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    hex::encode(&raw[first..])
}

type Sans = (Vec<String>, Vec<IpAddr>);

fn sans(cert: &X509Certificate<'_>) -> Result<Sans, X509PopError> {
    let mut uris = Vec::new();
    let mut ips = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|_| X509PopError::MalformedCertificate { index: 0 })?;
    let Some(san) = san else {
        return Ok((uris, ips));
    };

    for name in &san.value.general_names {
        match name {
            GeneralName::URI(uri) => uris.push((*uri).to_owned()),
            GeneralName::IPAddress(bytes) => {
                if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                    ips.push(IpAddr::from(v4));
                } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                    ips.push(IpAddr::from(v6));
                }
            }
            _ => {}
        }
    }
    Ok((uris, ips))
}

fn leaf_key(cert: &X509Certificate<'_>) -> Result<LeafKey, X509PopError> {
    let spki = cert.public_key();
    let algorithm = &spki.algorithm.algorithm;
    let raw = spki.subject_public_key.data.to_vec();

    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve_oid = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|params| params.as_oid().ok())
            .ok_or(X509PopError::UnsupportedKey("ecdsa without a named curve"))?;
        let curve = match curve_oid {
            oid if oid == OID_EC_P256 => Curve::P256,
            oid if oid == OID_NIST_EC_P384 => Curve::P384,
            oid if oid == OID_NIST_EC_P521 => Curve::P521,
            _ => {
                return Err(X509PopError::UnsupportedKey(
                    "ecdsa curve other than P-256/384/521",
                ));
            }
        };
        return Ok(LeafKey::Ecdsa { curve, point: raw });
    }

    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let Ok(ParsedKey::RSA(rsa)) = spki.parsed() else {
            return Err(X509PopError::MalformedCertificate { index: 0 });
        };
        let bits = bit_length(rsa.modulus);
        return Ok(LeafKey::Rsa { pkcs1: raw, bits });
    }

    Err(X509PopError::UnsupportedKey("neither rsa nor ecdsa"))
}

fn bit_length(big_endian: &[u8]) -> usize {
    let Some(first) = big_endian.iter().position(|b| *b != 0) else {
        return 0;
    };
    let leading = big_endian[first].leading_zeros() as usize;
    (big_endian.len() - first) * 8 - leading
}

//! Public keys: SubjectPublicKeyInfo (DER) to and from JWK parameters.
//!
//! Supported: EC P-256, P-384 and P-521 (uncompressed points), RSA and Ed25519.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use thiserror::Error;
use x509_parser::prelude::FromDer as _;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Why a public key could not be read or converted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a DER SubjectPublicKeyInfo.
    #[error("public key is not a valid subjectPublicKeyInfo")]
    MalformedSpki,

    /// The key algorithm or curve is not one of EC P-256/P-384/P-521, RSA or Ed25519.
    #[error("unsupported public key type")]
    UnsupportedKeyType,

    /// The EC point is not an uncompressed point of the curve's size.
    #[error("ec public key must be an uncompressed point of the curve's size")]
    BadEcPoint,

    /// The key material was rejected by the crypto library.
    #[error("public key material is invalid")]
    InvalidKeyMaterial,

    /// A JWK parameter is missing or not a base64url string of the right size.
    #[error("jwk parameter {0:?} is missing or malformed")]
    BadJwkParameter(&'static str),

    /// The JWK `crv` names an unsupported curve.
    #[error("unsupported jwk curve {0:?}")]
    UnsupportedCurve(String),
}

/// The NIST curves of the JWT-SVID algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EcCurve {
    P256,
    P384,
    P521,
}

impl EcCurve {
    fn jwk_name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    fn oid_der(self) -> &'static [u8] {
        match self {
            Self::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            Self::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
            Self::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
        }
    }
}

/// The kind of a parsed public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Ec(EcCurve),
    Rsa,
    Ed25519,
}

/// A parsed SubjectPublicKeyInfo.
#[derive(Clone, Debug)]
pub(crate) struct ParsedKey {
    pub(crate) kind: KeyKind,
    /// The subjectPublicKey bits: the uncompressed point (EC), the PKCS#1
    /// RSAPublicKey (RSA) or the raw key (Ed25519).
    pub(crate) key: Vec<u8>,
    rsa: Option<(Vec<u8>, Vec<u8>)>,
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_RSA_ENCRYPTION: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const DER_NULL: &[u8] = &[0x05, 0x00];

/// Parses a DER SubjectPublicKeyInfo of a supported key type.
pub(crate) fn parse_spki(der: &[u8]) -> Result<ParsedKey, KeyError> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der).map_err(|_| KeyError::MalformedSpki)?;
    if !rest.is_empty() {
        return Err(KeyError::MalformedSpki);
    }

    let algorithm = spki.algorithm.algorithm.as_bytes();
    let bits = spki.subject_public_key.data.to_vec();
    if algorithm == &OID_EC_PUBLIC_KEY[2..] {
        let curve = ec_curve_of(&spki)?;
        if bits.len() != 1 + 2 * curve.coordinate_len() || bits.first() != Some(&0x04) {
            return Err(KeyError::BadEcPoint);
        }
        return Ok(ParsedKey {
            kind: KeyKind::Ec(curve),
            key: bits,
            rsa: None,
        });
    }
    if algorithm == &OID_RSA_ENCRYPTION[2..] {
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err(KeyError::MalformedSpki);
        };
        let n = strip_leading_zeros(rsa.modulus).to_vec();
        let e = strip_leading_zeros(rsa.exponent).to_vec();
        if n.is_empty() || e.is_empty() {
            return Err(KeyError::InvalidKeyMaterial);
        }
        return Ok(ParsedKey {
            kind: KeyKind::Rsa,
            key: bits,
            rsa: Some((n, e)),
        });
    }
    if algorithm == &OID_ED25519[2..] {
        if bits.len() != 32 || spki.algorithm.parameters.is_some() {
            return Err(KeyError::InvalidKeyMaterial);
        }
        return Ok(ParsedKey {
            kind: KeyKind::Ed25519,
            key: bits,
            rsa: None,
        });
    }
    Err(KeyError::UnsupportedKeyType)
}

/// The JWK key parameters (`kty`, `crv`, `x`, `y`, `n`, `e`) of a SubjectPublicKeyInfo.
pub(crate) fn jwk_params_from_spki(der: &[u8]) -> Result<Map<String, Value>, KeyError> {
    let parsed = parse_spki(der)?;
    let mut jwk = Map::new();
    match (parsed.kind, &parsed.rsa) {
        (KeyKind::Ec(curve), _) => {
            let (x, y) = parsed.key[1..].split_at(curve.coordinate_len());
            jwk.insert("kty".into(), "EC".into());
            jwk.insert("crv".into(), curve.jwk_name().into());
            jwk.insert("x".into(), URL_SAFE_NO_PAD.encode(x).into());
            jwk.insert("y".into(), URL_SAFE_NO_PAD.encode(y).into());
        }
        (KeyKind::Rsa, Some((n, e))) => {
            jwk.insert("kty".into(), "RSA".into());
            jwk.insert("n".into(), URL_SAFE_NO_PAD.encode(n).into());
            jwk.insert("e".into(), URL_SAFE_NO_PAD.encode(e).into());
        }
        (KeyKind::Ed25519, _) => {
            jwk.insert("kty".into(), "OKP".into());
            jwk.insert("crv".into(), "Ed25519".into());
            jwk.insert("x".into(), URL_SAFE_NO_PAD.encode(&parsed.key).into());
        }
        (KeyKind::Rsa, None) => return Err(KeyError::MalformedSpki),
    }
    Ok(jwk)
}

/// The DER SubjectPublicKeyInfo of a JWK, or `None` when its `kty` is not one this
/// crate knows (such JWKs are to be ignored). Symmetric (`oct`) keys count as
/// unknown: they are never usable for SVIDs.
pub(crate) fn spki_from_jwk(jwk: &Map<String, Value>) -> Result<Option<Vec<u8>>, KeyError> {
    let spki = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => {
            let curve = match jwk.get("crv").and_then(Value::as_str) {
                Some("P-256") => EcCurve::P256,
                Some("P-384") => EcCurve::P384,
                Some("P-521") => EcCurve::P521,
                Some(other) => return Err(KeyError::UnsupportedCurve(other.to_owned())),
                None => return Err(KeyError::BadJwkParameter("crv")),
            };
            let x = b64_param(jwk, "x", Some(curve.coordinate_len()))?;
            let y = b64_param(jwk, "y", Some(curve.coordinate_len()))?;
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let algorithm = der_tlv(0x30, &[OID_EC_PUBLIC_KEY, curve.oid_der()].concat());
            spki_der(&algorithm, &point)
        }
        Some("RSA") => {
            let n = b64_param(jwk, "n", None)?;
            let e = b64_param(jwk, "e", None)?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if n.is_empty() {
                return Err(KeyError::BadJwkParameter("n"));
            }
            if e.is_empty() {
                return Err(KeyError::BadJwkParameter("e"));
            }
            let rsa_key = der_tlv(0x30, &[der_uint(n), der_uint(e)].concat());
            let algorithm = der_tlv(0x30, &[OID_RSA_ENCRYPTION, DER_NULL].concat());
            spki_der(&algorithm, &rsa_key)
        }
        Some("OKP") => {
            match jwk.get("crv").and_then(Value::as_str) {
                Some("Ed25519") => {}
                Some(other) => return Err(KeyError::UnsupportedCurve(other.to_owned())),
                None => return Err(KeyError::BadJwkParameter("crv")),
            }
            let x = b64_param(jwk, "x", Some(32))?;
            spki_der(&der_tlv(0x30, OID_ED25519), &x)
        }
        _ => return Ok(None),
    };

    // Round-trip through the parser so only well-formed keys leave this function.
    check_key_material(&parse_spki(&spki)?)?;
    Ok(Some(spki))
}

/// Checks that the crypto library accepts the key (e.g. an EC point is on its curve).
pub(crate) fn check_key_material(parsed: &ParsedKey) -> Result<(), KeyError> {
    use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};

    let algorithm: &'static dyn VerificationAlgorithm = match parsed.kind {
        KeyKind::Ec(EcCurve::P256) => &sig::ECDSA_P256_SHA256_FIXED,
        KeyKind::Ec(EcCurve::P384) => &sig::ECDSA_P384_SHA384_FIXED,
        KeyKind::Ec(EcCurve::P521) => &sig::ECDSA_P521_SHA512_FIXED,
        KeyKind::Rsa => &sig::RSA_PKCS1_2048_8192_SHA256,
        KeyKind::Ed25519 => &sig::ED25519,
    };
    ParsedPublicKey::new(algorithm, &parsed.key)
        .map(drop)
        .map_err(|_| KeyError::InvalidKeyMaterial)
}

fn ec_curve_of(spki: &SubjectPublicKeyInfo<'_>) -> Result<EcCurve, KeyError> {
    let oid = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .ok_or(KeyError::MalformedSpki)?;
    [EcCurve::P256, EcCurve::P384, EcCurve::P521]
        .into_iter()
        .find(|c| oid.as_bytes() == &c.oid_der()[2..])
        .ok_or(KeyError::UnsupportedKeyType)
}

fn b64_param(
    jwk: &Map<String, Value>,
    name: &'static str,
    exact_len: Option<usize>,
) -> Result<Vec<u8>, KeyError> {
    let bytes = jwk
        .get(name)
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .ok_or(KeyError::BadJwkParameter(name))?;
    match exact_len {
        Some(len) if bytes.len() != len => Err(KeyError::BadJwkParameter(name)),
        _ => Ok(bytes),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn spki_der(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0x00);
    bits.extend_from_slice(key);
    der_tlv(0x30, &[algorithm, &der_tlv(0x03, &bits)].concat())
}

/// A DER INTEGER holding a non-negative big-endian number without leading zeros.
fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    if magnitude.first().is_some_and(|b| b & 0x80 != 0) {
        der_tlv(0x02, &[&[0x00], magnitude].concat())
    } else {
        der_tlv(0x02, magnitude)
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let significant = strip_leading_zeros(&bytes);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

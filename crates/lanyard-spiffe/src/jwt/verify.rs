//! Verifying and parsing JWT-SVIDs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::clip;
use super::{JwsPart, JwtAlgorithm, JwtSvid, JwtSvidError};
use crate::json::parse_object;
use crate::key::parse_spki;
use crate::{BundleSet, SpiffeId};

/// Longest token accepted, in bytes.
pub const MAX_JWT_SVID_LEN: usize = 64 * 1024;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const JWT_LEEWAY: Duration = Duration::from_secs(30);

/// Header parameters that carry a key or point at one; never honoured.
const KEY_HEADERS: [&str; 6] = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

/// Verifies a JWT-SVID and returns it.
///
/// In order: JWS compact serialization; `alg` in the allow-list (checked before
/// anything else in the header); only the `alg`, `kid` and `typ` header
/// parameters (`typ`, if present, `JWT` or `JOSE`); `sub` a SPIFFE ID; the
/// signature, with the key named by `kid` among the JWT authorities of the
/// bundle of `sub`'s trust domain; `exp` present and not past; `nbf` and `iat`,
/// if present, not in the future; `aud` present and containing
/// `expected_audience`. Time checks allow [`JWT_LEEWAY`].
pub fn verify_jwt_svid(
    token: &str,
    bundles: &BundleSet,
    expected_audience: &str,
    now: SystemTime,
) -> Result<JwtSvid, JwtSvidError> {
    let parsed = parse(token)?;
    let svid = &parsed.svid;

    let trust_domain = svid.spiffe_id.trust_domain();
    let bundle = bundles
        .get(trust_domain)
        .ok_or_else(|| JwtSvidError::NoBundle(trust_domain.clone()))?;
    let key_id = svid.key_id.as_deref().ok_or(JwtSvidError::MissingKeyId)?;
    let authority = bundle
        .jwt_authority(key_id)
        .ok_or_else(|| JwtSvidError::UnknownKeyId {
            key_id: clip(key_id),
            trust_domain: trust_domain.clone(),
        })?;

    let algorithm = svid.algorithm;
    let key = parse_spki(authority.public_key())
        .ok()
        .filter(|key| algorithm.fits(key.kind))
        .ok_or(JwtSvidError::KeyAlgorithmMismatch(algorithm.as_str()))?;
    ParsedPublicKey::new(algorithm.verification(), &key.key)
        .map_err(|_| JwtSvidError::KeyAlgorithmMismatch(algorithm.as_str()))?
        .verify_sig(parsed.signing_input.as_bytes(), &parsed.signature)
        .map_err(|_| JwtSvidError::BadSignature)?;

    check_times(svid, &parsed.claims, now)?;
    if !svid.audience.iter().any(|aud| aud == expected_audience) {
        return Err(JwtSvidError::AudienceMismatch(clip(expected_audience)));
    }
    Ok(parsed.svid)
}

/// Parses a JWT-SVID WITHOUT checking its signature, expiry or audience, for
/// display only (e.g. a CLI printing a token it just fetched). The structure,
/// algorithm allow-list, header parameters and claim types are still checked.
/// Never base an authorization decision on the result.
pub fn parse_jwt_svid_insecure(token: &str) -> Result<JwtSvid, JwtSvidError> {
    parse(token).map(|parsed| parsed.svid)
}

struct Parsed<'a> {
    svid: JwtSvid,
    claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn parse(token: &str) -> Result<Parsed<'_>, JwtSvidError> {
    if token.len() > MAX_JWT_SVID_LEN {
        return Err(JwtSvidError::TooLong {
            len: token.len(),
            max: MAX_JWT_SVID_LEN,
        });
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtSvidError::NotCompactSerialization);
    };

    let header = decode_object(header_b64, JwsPart::Header)?;
    let (algorithm, key_id) = check_header(&header)?;

    let claims = decode_object(claims_b64, JwsPart::Claims)?;
    let spiffe_id = match claims.get("sub") {
        Some(Value::String(sub)) => SpiffeId::parse(sub).map_err(JwtSvidError::InvalidSubject)?,
        _ => return Err(JwtSvidError::MissingSubject),
    };
    let audience = audience_of(&claims)?;
    let expires_at = time_claim(&claims, "exp")?.ok_or(JwtSvidError::MissingExpiry)?;
    let issued_at = time_claim(&claims, "iat")?;
    time_claim(&claims, "nbf")?;

    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwtSvidError::BadBase64(JwsPart::Signature))?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];

    Ok(Parsed {
        svid: JwtSvid {
            token: token.to_owned(),
            spiffe_id,
            audience,
            expires_at,
            issued_at,
            algorithm,
            key_id,
            claims: claims.clone(),
        },
        claims,
        signing_input,
        signature,
    })
}

/// Checks `alg` first, then that nothing but `alg`, `kid` and `typ` is present.
fn check_header(
    header: &Map<String, Value>,
) -> Result<(JwtAlgorithm, Option<String>), JwtSvidError> {
    let algorithm = match header.get("alg") {
        None => return Err(JwtSvidError::MissingAlgorithm),
        Some(Value::String(alg)) => alg.parse::<JwtAlgorithm>()?,
        Some(other) => return Err(JwtSvidError::UnsupportedAlgorithm(clip(&other.to_string()))),
    };

    for name in header.keys() {
        if KEY_HEADERS.contains(&name.as_str()) {
            return Err(JwtSvidError::KeyInHeader(clip(name)));
        }
        if !matches!(name.as_str(), "alg" | "kid" | "typ") {
            return Err(JwtSvidError::UnexpectedHeader(clip(name)));
        }
    }

    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ == "JWT" || typ == "JOSE" => {}
        Some(other) => return Err(JwtSvidError::BadType(clip(&other.to_string()))),
    }
    let key_id = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() => Some(kid.clone()),
        Some(_) => return Err(JwtSvidError::BadKeyIdHeader),
    };
    Ok((algorithm, key_id))
}

fn decode_object(b64: &str, part: JwsPart) -> Result<Map<String, Value>, JwtSvidError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| JwtSvidError::BadBase64(part))?;
    parse_object(&bytes).map_err(|source| JwtSvidError::BadJson { part, source })
}

fn audience_of(claims: &Map<String, Value>) -> Result<Vec<String>, JwtSvidError> {
    let audience = match claims.get("aud") {
        None => return Err(JwtSvidError::MissingAudience),
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(JwtSvidError::BadAudience)?,
        Some(_) => return Err(JwtSvidError::BadAudience),
    };
    if audience.is_empty() || audience.iter().all(String::is_empty) {
        return Err(JwtSvidError::MissingAudience);
    }
    Ok(audience)
}

/// A NumericDate claim in whole seconds (fractions are dropped).
fn time_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, JwtSvidError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let seconds = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e17)
            .map(|f| f.floor() as i64)
    });
    seconds.map(Some).ok_or(JwtSvidError::BadTimeClaim(name))
}

fn check_times(
    svid: &JwtSvid,
    claims: &Map<String, Value>,
    now: SystemTime,
) -> Result<(), JwtSvidError> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let leeway = i64::try_from(JWT_LEEWAY.as_secs()).unwrap_or(0);

    if svid.expires_at.saturating_add(leeway) < now {
        return Err(JwtSvidError::Expired {
            exp: svid.expires_at,
        });
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
        && nbf > now.saturating_add(leeway)
    {
        return Err(JwtSvidError::NotYetValid { nbf });
    }
    if let Some(iat) = svid.issued_at
        && iat > now.saturating_add(leeway)
    {
        return Err(JwtSvidError::IssuedInFuture { iat });
    }
    Ok(())
}

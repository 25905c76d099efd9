//! SPIFFE bundle JSON (a JWK Set with `spiffe_sequence` and `spiffe_refresh_hint`).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use serde_json::{Map, Value};

use super::{Bundle, BundleError, JwtAuthority};
use crate::TrustDomain;
use crate::json::parse_object;
use crate::key::{jwk_params_from_spki, spki_from_jwk};

const USE_X509_SVID: &str = "x509-svid";
const USE_JWT_SVID: &str = "jwt-svid";
const KNOWN_KTY: [&str; 3] = ["EC", "RSA", "OKP"];

impl Bundle {
    /// Parses a SPIFFE bundle (JSON) for `trust_domain`.
    ///
    /// `keys` is required. JWKs whose `use` or `kty` is missing or unknown are
    /// ignored, as are `x509-svid` entries without `x5c` (only the first `x5c`
    /// certificate is used). `jwt-svid` entries must have a unique `kid`.
    /// Duplicate JSON object keys are rejected.
    pub fn parse_json(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        let doc = parse_object(json)?;
        parse_bundle_object(trust_domain, &doc)
    }

    /// Parses a plain JWK Set of JWT authorities (the Workload API's JWT bundle
    /// format). A JWK without `use` counts as `jwt-svid`; other uses are ignored.
    pub fn parse_jwt_jwks(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        let doc = parse_object(json)?;
        let keys = keys_of(&doc)?;
        let mut bundle = Self::new(trust_domain);
        for (index, jwk) in keys.iter().enumerate() {
            let jwk = jwk.as_object().ok_or(BundleError::JwkNotObject { index })?;
            match jwk.get("use") {
                None => add_jwt_jwk(&mut bundle, index, jwk)?,
                Some(u) if u == USE_JWT_SVID => add_jwt_jwk(&mut bundle, index, jwk)?,
                Some(_) => {}
            }
        }
        Ok(bundle)
    }

    /// Writes the bundle as SPIFFE bundle JSON: every X.509 authority as an
    /// `x509-svid` JWK with exactly one `x5c` certificate and no `kid`, every JWT
    /// authority as a `jwt-svid` JWK with its `kid`, `spiffe_sequence`, and
    /// `spiffe_refresh_hint` (whole seconds) when set.
    pub fn to_json(&self) -> Result<String, BundleError> {
        Ok(Value::Object(self.to_json_object(true)?).to_string())
    }

    /// Writes only the JWT authorities as a JWK Set (`{"keys": [...]}`), the form
    /// the Workload API's `FetchJWTBundles` carries.
    pub fn to_jwt_jwks(&self) -> Result<String, BundleError> {
        let mut doc = Map::new();
        doc.insert("keys".into(), Value::Array(self.jwt_jwks()?));
        Ok(Value::Object(doc).to_string())
    }

    /// The bundle as a JSON object; the refresh hint is left out when
    /// `include_refresh_hint` is false (bundle maps).
    pub(crate) fn to_json_object(
        &self,
        include_refresh_hint: bool,
    ) -> Result<Map<String, Value>, BundleError> {
        let mut keys = Vec::new();
        for cert in self.x509_authorities() {
            let spki = super::bundle::certificate_spki(cert)?;
            let mut jwk = jwk_params_from_spki(&spki)?;
            jwk.insert("use".into(), USE_X509_SVID.into());
            jwk.insert(
                "x5c".into(),
                vec![Value::from(STANDARD.encode(cert))].into(),
            );
            keys.push(Value::Object(jwk));
        }
        keys.extend(self.jwt_jwks()?);

        let mut doc = Map::new();
        doc.insert("keys".into(), Value::Array(keys));
        doc.insert("spiffe_sequence".into(), self.sequence_number().into());
        if let Some(hint) = self.refresh_hint().filter(|_| include_refresh_hint) {
            doc.insert("spiffe_refresh_hint".into(), hint.as_secs().into());
        }
        Ok(doc)
    }

    fn jwt_jwks(&self) -> Result<Vec<Value>, BundleError> {
        let mut keys = Vec::new();
        for authority in self.jwt_authorities() {
            let mut jwk = jwk_params_from_spki(authority.public_key())?;
            jwk.insert("use".into(), USE_JWT_SVID.into());
            jwk.insert("kid".into(), authority.key_id().into());
            keys.push(Value::Object(jwk));
        }
        Ok(keys)
    }
}

/// Reads one bundle object (also used for the values of a bundle map).
pub(crate) fn parse_bundle_object(
    trust_domain: TrustDomain,
    doc: &Map<String, Value>,
) -> Result<Bundle, BundleError> {
    let keys = keys_of(doc)?;
    let mut bundle = Bundle::new(trust_domain);
    if let Some(sequence) = doc.get("spiffe_sequence") {
        bundle.set_sequence_number(sequence.as_u64().ok_or(BundleError::BadSequence)?);
    }
    if let Some(hint) = doc.get("spiffe_refresh_hint") {
        let seconds = hint.as_u64().ok_or(BundleError::BadRefreshHint)?;
        bundle.set_refresh_hint(Some(Duration::from_secs(seconds)));
    }

    for (index, jwk) in keys.iter().enumerate() {
        let jwk = jwk.as_object().ok_or(BundleError::JwkNotObject { index })?;
        match jwk.get("use").and_then(Value::as_str) {
            Some(USE_X509_SVID) => add_x509_jwk(&mut bundle, index, jwk)?,
            Some(USE_JWT_SVID) => add_jwt_jwk(&mut bundle, index, jwk)?,
            // Missing or unknown `use` (including the incubating `wit-svid`): ignored.
            _ => {}
        }
    }
    Ok(bundle)
}

fn keys_of(doc: &Map<String, Value>) -> Result<&Vec<Value>, BundleError> {
    match doc.get("keys") {
        None => Err(BundleError::MissingKeys),
        Some(Value::Array(keys)) => Ok(keys),
        Some(_) => Err(BundleError::KeysNotArray),
    }
}

fn has_known_kty(jwk: &Map<String, Value>) -> bool {
    jwk.get("kty")
        .and_then(Value::as_str)
        .is_some_and(|kty| KNOWN_KTY.contains(&kty))
}

fn add_x509_jwk(
    bundle: &mut Bundle,
    index: usize,
    jwk: &Map<String, Value>,
) -> Result<(), BundleError> {
    if !has_known_kty(jwk) {
        return Ok(());
    }
    let first = match jwk.get("x5c") {
        None => return Ok(()),
        Some(Value::Array(chain)) => match chain.first() {
            None => return Ok(()),
            Some(first) => first,
        },
        Some(_) => return Err(BundleError::BadX5c { index }),
    };

    let der = first
        .as_str()
        .and_then(|b64| STANDARD.decode(b64).ok())
        .ok_or(BundleError::BadX5c { index })?;
    bundle.add_x509_authority(CertificateDer::from(der))?;
    Ok(())
}

fn add_jwt_jwk(
    bundle: &mut Bundle,
    index: usize,
    jwk: &Map<String, Value>,
) -> Result<(), BundleError> {
    let Some(spki) = spki_from_jwk(jwk)? else {
        return Ok(());
    };
    let key_id = jwk
        .get("kid")
        .and_then(Value::as_str)
        .filter(|kid| !kid.is_empty())
        .ok_or(BundleError::MissingKeyId { index })?;

    if bundle.jwt_authority(key_id).is_some() {
        return Err(BundleError::DuplicateKeyId(key_id.to_owned()));
    }
    bundle.add_jwt_authority(JwtAuthority::new(key_id, spki, None)?)
}

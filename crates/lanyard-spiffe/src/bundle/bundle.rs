//! A trust domain's bundle: its X.509 and JWT signing authorities.

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use x509_parser::error::X509Error;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::BundleError;
use crate::TrustDomain;
use crate::key::{self, KeyKind};

/// How often to refresh a bundle that carries no refresh hint (the Trust Domain
/// and Bundle specification suggests a low value, about five minutes).
pub const DEFAULT_REFRESH_HINT: Duration = Duration::from_secs(300);

/// Longest JWT authority key ID accepted, in bytes.
pub const MAX_KEY_ID_LEN: usize = 256;

/// A JWT signing authority: key ID, public key and optional expiry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JwtAuthority {
    key_id: String,
    public_key: Vec<u8>,
    expires_at: Option<i64>,
}

impl JwtAuthority {
    /// Builds an authority from its key ID, its public key as DER
    /// SubjectPublicKeyInfo (EC P-256/P-384/P-521 or RSA, as SPIRE's API carries
    /// it) and its expiry in Unix seconds, if known.
    pub fn new(
        key_id: &str,
        public_key_spki_der: Vec<u8>,
        expires_at: Option<i64>,
    ) -> Result<Self, BundleError> {
        check_key_id(key_id)?;
        let parsed = key::parse_spki(&public_key_spki_der)?;
        if !matches!(parsed.kind, KeyKind::Ec(_) | KeyKind::Rsa) {
            return Err(BundleError::UnsupportedJwtKey);
        }
        key::check_key_material(&parsed)?;
        Ok(Self {
            key_id: key_id.to_owned(),
            public_key: public_key_spki_der,
            expires_at,
        })
    }

    /// The key ID (`kid`).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public key, DER SubjectPublicKeyInfo.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// When the key expires, in Unix seconds, if known. Bundle JSON carries no
    /// expiry, so authorities read from JSON have none.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }
}

/// The bundle of one trust domain: X.509 authorities (DER certificates), JWT
/// authorities, a sequence number and a refresh hint.
///
/// An empty bundle (no authorities) means every SVID of the trust domain is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    trust_domain: TrustDomain,
    x509_authorities: Vec<CertificateDer<'static>>,
    jwt_authorities: Vec<JwtAuthority>,
    sequence_number: u64,
    refresh_hint: Option<Duration>,
}

impl Bundle {
    /// An empty bundle for `trust_domain`.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            x509_authorities: Vec::new(),
            jwt_authorities: Vec::new(),
            sequence_number: 0,
            refresh_hint: None,
        }
    }

    /// The trust domain the bundle belongs to.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The X.509 authorities (CA certificates, DER), in insertion order.
    pub fn x509_authorities(&self) -> &[CertificateDer<'static>] {
        &self.x509_authorities
    }

    /// Adds an X.509 authority; returns `false` if the same certificate is already
    /// present. The certificate must be well-formed DER with a supported key type.
    pub fn add_x509_authority(
        &mut self,
        cert: CertificateDer<'static>,
    ) -> Result<bool, BundleError> {
        check_certificate(&cert)?;
        if self.x509_authorities.contains(&cert) {
            return Ok(false);
        }
        self.x509_authorities.push(cert);
        Ok(true)
    }

    /// Removes an X.509 authority; returns whether it was present.
    pub fn remove_x509_authority(&mut self, cert_der: &[u8]) -> bool {
        let before = self.x509_authorities.len();
        self.x509_authorities.retain(|c| c.as_ref() != cert_der);
        self.x509_authorities.len() != before
    }

    /// The JWT authorities, in insertion order.
    pub fn jwt_authorities(&self) -> &[JwtAuthority] {
        &self.jwt_authorities
    }

    /// The JWT authority with key ID `key_id`.
    pub fn jwt_authority(&self, key_id: &str) -> Option<&JwtAuthority> {
        self.jwt_authorities.iter().find(|a| a.key_id == key_id)
    }

    /// Adds a JWT authority. Adding an identical authority again is a no-op; a
    /// different key under an existing key ID is an error.
    pub fn add_jwt_authority(&mut self, authority: JwtAuthority) -> Result<(), BundleError> {
        match self.jwt_authority(&authority.key_id) {
            Some(existing) if *existing == authority => Ok(()),
            Some(_) => Err(BundleError::DuplicateKeyId(authority.key_id)),
            None => {
                self.jwt_authorities.push(authority);
                Ok(())
            }
        }
    }

    /// Removes the JWT authority with key ID `key_id`.
    pub fn remove_jwt_authority(&mut self, key_id: &str) -> Option<JwtAuthority> {
        let at = self
            .jwt_authorities
            .iter()
            .position(|a| a.key_id == key_id)?;
        Some(self.jwt_authorities.remove(at))
    }

    /// Whether the bundle has no authority at all.
    pub fn is_empty(&self) -> bool {
        self.x509_authorities.is_empty() && self.jwt_authorities.is_empty()
    }

    /// The sequence number (`spiffe_sequence`), 0 when unset.
    pub fn sequence_number(&self) -> u64 {
        self.sequence_number
    }

    /// Sets the sequence number.
    pub fn set_sequence_number(&mut self, sequence_number: u64) {
        self.sequence_number = sequence_number;
    }

    /// The refresh hint (`spiffe_refresh_hint`), whole seconds.
    pub fn refresh_hint(&self) -> Option<Duration> {
        self.refresh_hint
    }

    /// The refresh hint, or [`DEFAULT_REFRESH_HINT`] when the bundle has none.
    pub fn refresh_hint_or_default(&self) -> Duration {
        self.refresh_hint.unwrap_or(DEFAULT_REFRESH_HINT)
    }

    /// Sets the refresh hint; sub-second parts are dropped when written as JSON.
    pub fn set_refresh_hint(&mut self, refresh_hint: Option<Duration>) {
        self.refresh_hint = refresh_hint;
    }
}

/// Checks that `der` is one well-formed certificate whose key can be written as a JWK.
pub(crate) fn check_certificate(der: &[u8]) -> Result<(), BundleError> {
    key::parse_spki(&certificate_spki(der)?)?;
    Ok(())
}

/// The DER SubjectPublicKeyInfo of a certificate, which must be exactly one
/// well-formed DER certificate.
pub(crate) fn certificate_spki(der: &[u8]) -> Result<Vec<u8>, BundleError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| BundleError::BadCertificate(crate::x509::x509_error(e)))?;
    if !rest.is_empty() {
        return Err(BundleError::BadCertificate(X509Error::InvalidCertificate));
    }
    Ok(cert.public_key().raw.to_vec())
}

fn check_key_id(key_id: &str) -> Result<(), BundleError> {
    if key_id.is_empty() || key_id.len() > MAX_KEY_ID_LEN || key_id.chars().any(char::is_control) {
        return Err(BundleError::BadKeyId {
            max: MAX_KEY_ID_LEN,
        });
    }
    Ok(())
}

//! Trust bundles on the wire (`spire.api.types.Bundle`, `BundleMask`): parsed into
//! store records with every authority checked, and rendered back with a mask.

use lanyard_proto::spire::api::types;
use lanyard_spiffe::{Bundle, JwtAuthority as SpiffeJwtAuthority, TrustDomain};
use lanyard_store::model::{BundleRecord, JwtAuthority, X509Authority};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use super::id::trust_domain_from_proto;
use crate::api::ApiError;

/// Every field of `BundleMask` set: what an absent mask means.
pub fn full_bundle_mask() -> types::BundleMask {
    types::BundleMask {
        x509_authorities: true,
        jwt_authorities: true,
        refresh_hint: true,
        sequence_number: true,
    }
}

/// The wire form of a stored bundle with the fields `mask` selects (the trust
/// domain always); `None` means every field.
pub fn bundle_to_proto(bundle: &BundleRecord, mask: Option<&types::BundleMask>) -> types::Bundle {
    let full = full_bundle_mask();
    let mask = mask.unwrap_or(&full);
    types::Bundle {
        trust_domain: bundle.trust_domain.to_string(),
        x509_authorities: if mask.x509_authorities {
            bundle.x509_authorities.iter().map(x509_to_proto).collect()
        } else {
            Vec::new()
        },
        jwt_authorities: if mask.jwt_authorities {
            bundle.jwt_authorities.iter().map(jwt_to_proto).collect()
        } else {
            Vec::new()
        },
        refresh_hint: if mask.refresh_hint {
            bundle
                .refresh_hint
                .map_or(0, |h| i64::try_from(h).unwrap_or(i64::MAX))
        } else {
            0
        },
        sequence_number: if mask.sequence_number {
            bundle.sequence_number
        } else {
            0
        },
    }
}

/// Parses a whole bundle from a request: trust domain, every authority, refresh hint.
pub fn bundle_from_proto(bundle: &types::Bundle) -> Result<BundleRecord, ApiError> {
    let trust_domain = trust_domain_from_proto("trust_domain", &bundle.trust_domain)?;
    let mut record = BundleRecord::new(trust_domain);
    record.x509_authorities = x509_authorities_from_proto(&bundle.x509_authorities)?;
    record.jwt_authorities = jwt_authorities_from_proto(&bundle.jwt_authorities)?;
    record.refresh_hint = refresh_hint_from_proto(bundle.refresh_hint)?;
    Ok(record)
}

/// Parses X.509 authorities; each must be one well-formed DER certificate.
pub fn x509_authorities_from_proto(
    certs: &[types::X509Certificate],
) -> Result<Vec<X509Authority>, ApiError> {
    let mut check = Bundle::new(placeholder_td());
    certs
        .iter()
        .enumerate()
        .map(|(index, cert)| {
            check
                .add_x509_authority(CertificateDer::from(cert.asn1.clone()))
                .map_err(|e| {
                    ApiError::invalid(format!("invalid x509_authorities[{index}]: {e}"))
                })?;
            Ok(X509Authority {
                der: cert.asn1.clone(),
                tainted: cert.tainted,
            })
        })
        .collect()
}

/// Parses JWT authorities; each needs a key ID and a supported public key.
pub fn jwt_authorities_from_proto(keys: &[types::JwtKey]) -> Result<Vec<JwtAuthority>, ApiError> {
    keys.iter()
        .enumerate()
        .map(|(index, key)| {
            let invalid =
                |why: String| ApiError::invalid(format!("invalid jwt_authorities[{index}]: {why}"));
            if key.key_id.is_empty() {
                return Err(invalid("missing key ID".to_owned()));
            }
            let expires_at = match key.expires_at {
                0 => None,
                s => Some(
                    OffsetDateTime::from_unix_timestamp(s)
                        .map_err(|_| invalid(format!("expires_at {s} is out of range")))?,
                ),
            };
            SpiffeJwtAuthority::new(&key.key_id, key.public_key.clone(), None)
                .map_err(|e| invalid(e.to_string()))?;
            Ok(JwtAuthority {
                key_id: key.key_id.clone(),
                public_key_der: key.public_key.clone(),
                expires_at,
                tainted: key.tainted,
            })
        })
        .collect()
}

/// A bundle record as a `lanyard-spiffe` bundle (for PEM and JSON output and for
/// verifying SVIDs). Authorities that do not parse are skipped.
pub fn record_to_bundle(record: &BundleRecord) -> Bundle {
    let mut bundle = Bundle::new(record.trust_domain.clone());
    for authority in &record.x509_authorities {
        let _ = bundle.add_x509_authority(CertificateDer::from(authority.der.clone()));
    }
    for authority in &record.jwt_authorities {
        let expires = authority.expires_at.map(OffsetDateTime::unix_timestamp);
        if let Ok(jwt) =
            SpiffeJwtAuthority::new(&authority.key_id, authority.public_key_der.clone(), expires)
        {
            let _ = bundle.add_jwt_authority(jwt);
        }
    }
    bundle.set_sequence_number(record.sequence_number);
    bundle.set_refresh_hint(record.refresh_hint.map(std::time::Duration::from_secs));
    bundle
}

fn refresh_hint_from_proto(hint: i64) -> Result<Option<u64>, ApiError> {
    match u64::try_from(hint) {
        Ok(0) => Ok(None),
        Ok(secs) => Ok(Some(secs)),
        Err(_) => Err(ApiError::invalid(format!(
            "invalid refresh_hint: must not be negative, got {hint}"
        ))),
    }
}

fn x509_to_proto(authority: &X509Authority) -> types::X509Certificate {
    types::X509Certificate {
        asn1: authority.der.clone(),
        tainted: authority.tainted,
    }
}

fn jwt_to_proto(authority: &JwtAuthority) -> types::JwtKey {
    types::JwtKey {
        public_key: authority.public_key_der.clone(),
        key_id: authority.key_id.clone(),
        expires_at: authority
            .expires_at
            .map_or(0, OffsetDateTime::unix_timestamp),
        tainted: authority.tainted,
    }
}

fn placeholder_td() -> TrustDomain {
    TrustDomain::new("check.invalid").expect("a constant, valid trust domain name")
}

//! What rotation reports, and what the bundle must hold.

use std::fmt;
use std::time::SystemTime;

use lanyard_spiffe::bundle::JwtAuthority;
use rustls_pki_types::CertificateDer;

use super::CaError;
use super::slots::{self, Record};
use crate::journal::{EntryMeta, Journal, JwtEntry, Slots, X509Entry};

/// X.509 CA or JWT signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthorityKind {
    /// The X.509 CA.
    X509,
    /// The JWT-SVID signing key.
    Jwt,
}

impl fmt::Display for AuthorityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::X509 => "x509",
            Self::Jwt => "jwt",
        })
    }
}

/// One step of rotation. After `Prepared` or `Pruned` the server updates
/// its bundle (see [`RotationEvent::changes_bundle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotationEvent {
    /// A new authority exists and is published, but does not sign yet.
    Prepared {
        /// Which kind.
        kind: AuthorityKind,
        /// Subject key ID (hex) for X.509, `kid` for JWT.
        authority_id: String,
        /// Its expiry.
        expires_at: SystemTime,
    },
    /// The prepared authority now signs; the previous one is old.
    Activated {
        /// Which kind.
        kind: AuthorityKind,
        /// The new active authority.
        authority_id: String,
        /// Its expiry.
        expires_at: SystemTime,
    },
    /// An old authority expired long enough ago and left the bundle.
    Pruned {
        /// Which kind.
        kind: AuthorityKind,
        /// The pruned authority.
        authority_id: String,
        /// What to remove from the bundle.
        unpublished: Unpublished,
    },
}

impl RotationEvent {
    /// Whether the bundle must be updated (something was added or removed).
    pub fn changes_bundle(&self) -> bool {
        matches!(self, Self::Prepared { .. } | Self::Pruned { .. })
    }

    pub(super) fn prepared(kind: AuthorityKind, meta: &EntryMeta) -> Self {
        Self::Prepared {
            kind,
            authority_id: meta.authority_id.clone(),
            expires_at: meta.not_after(),
        }
    }

    pub(super) fn activated(kind: AuthorityKind, meta: &EntryMeta) -> Self {
        Self::Activated {
            kind,
            authority_id: meta.authority_id.clone(),
            expires_at: meta.not_after(),
        }
    }
}

/// Bundle entries that no authority of this server needs any more.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unpublished {
    /// X.509 trust anchors to remove (empty when another authority of this
    /// server still needs the same upstream root).
    X509Certificates(Vec<CertificateDer<'static>>),
    /// The `kid` of a JWT key to remove.
    JwtKey(String),
}

/// The authorities this server must keep in its trust domain's bundle.
#[derive(Debug, Clone, Default)]
pub struct PublishedAuthorities {
    /// X.509 trust anchors: own CA certificates, or the upstream roots.
    pub x509: Vec<PublishedX509Authority>,
    /// JWT signing keys.
    pub jwt: Vec<PublishedJwtAuthority>,
}

/// One X.509 trust anchor in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedX509Authority {
    /// The certificate (DER).
    pub certificate: CertificateDer<'static>,
    /// Whether an operator tainted it (agents should re-sign what it signed).
    pub tainted: bool,
}

/// One JWT key in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedJwtAuthority {
    /// Key ID, public key and expiry.
    pub authority: JwtAuthority,
    /// Whether an operator tainted it.
    pub tainted: bool,
}

pub(super) fn published(journal: &Journal) -> Result<PublishedAuthorities, CaError> {
    let mut x509: Vec<PublishedX509Authority> = Vec::new();
    for entry in slots::all(&journal.x509) {
        for certificate in trust_anchors(entry) {
            let tainted = is_tainted_anchor(entry, &certificate);
            match x509.iter_mut().find(|p| p.certificate == certificate) {
                Some(existing) => existing.tainted |= tainted,
                None => x509.push(PublishedX509Authority {
                    certificate,
                    tainted,
                }),
            }
        }
    }

    let jwt = slots::all(&journal.jwt)
        .map(|entry| {
            Ok(PublishedJwtAuthority {
                authority: jwt_authority(entry)?,
                tainted: entry.meta.tainted,
            })
        })
        .collect::<Result<_, CaError>>()?;
    Ok(PublishedAuthorities { x509, jwt })
}

pub(super) fn jwt_authority(entry: &JwtEntry) -> Result<JwtAuthority, CaError> {
    Ok(JwtAuthority::new(
        &entry.meta.authority_id,
        entry.public_key.0.clone(),
        Some(i64::try_from(entry.meta.not_after).unwrap_or(i64::MAX)),
    )?)
}

/// Events for pruned X.509 records; an upstream root is only unpublished
/// when no remaining record uses it.
pub(super) fn x509_pruned(
    remaining: &Slots<X509Entry>,
    pruned: Vec<X509Entry>,
) -> Vec<RotationEvent> {
    pruned
        .into_iter()
        .map(|entry| {
            let still_used: Vec<_> = slots::all(remaining).flat_map(trust_anchors).collect();
            let certificates = trust_anchors(&entry)
                .filter(|cert| !still_used.contains(cert))
                .collect();
            RotationEvent::Pruned {
                kind: AuthorityKind::X509,
                authority_id: entry.meta().authority_id.clone(),
                unpublished: Unpublished::X509Certificates(certificates),
            }
        })
        .collect()
}

pub(super) fn jwt_pruned(pruned: Vec<JwtEntry>) -> Vec<RotationEvent> {
    pruned
        .into_iter()
        .map(|entry| RotationEvent::Pruned {
            kind: AuthorityKind::Jwt,
            authority_id: entry.meta.authority_id.clone(),
            unpublished: Unpublished::JwtKey(entry.meta.authority_id),
        })
        .collect()
}

/// The bundle certificates a record needs: itself when self-signed, else its upstream roots.
pub(super) fn trust_anchors(
    entry: &X509Entry,
) -> impl Iterator<Item = CertificateDer<'static>> + '_ {
    let own = entry
        .upstream_roots
        .is_empty()
        .then(|| CertificateDer::from(entry.certificate.0.clone()));
    own.into_iter().chain(
        entry
            .upstream_roots
            .iter()
            .map(|root| CertificateDer::from(root.0.clone())),
    )
}

/// The subject key ID of a certificate, lower-case hex.
pub(super) fn subject_key_id_hex(der: &[u8]) -> Option<String> {
    use x509_parser::extensions::ParsedExtension;
    use x509_parser::prelude::{FromDer, X509Certificate};

    let (_, cert) = X509Certificate::from_der(der).ok()?;
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(hex::encode(id.0)),
            _ => None,
        })
}

fn is_tainted_anchor(entry: &X509Entry, anchor: &CertificateDer<'_>) -> bool {
    if entry.upstream_roots.is_empty() {
        return entry.meta.tainted;
    }
    entry.upstream_tainted
        && entry.upstream_authority_id.is_some()
        && subject_key_id_hex(anchor) == entry.upstream_authority_id
}

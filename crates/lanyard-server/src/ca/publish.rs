//! Keeping the trust bundle in step with this server's authorities.
//!
//! The bundle is shared by every server of the trust domain, so publishing only
//! adds this server's authorities (or updates their taint flag) and removes what
//! rotation or an operator said to remove; other servers' authorities are left
//! alone. Each change bumps the bundle's sequence number (the store does that).

use lanyard_ca::manager::{PublishedAuthorities, Unpublished};
use lanyard_spiffe::TrustDomain;
use lanyard_store::model::{BundleRecord, JwtAuthority, X509Authority};
use lanyard_store::{Store, StoreError};
use time::OffsetDateTime;

/// Attempts at the create-or-update race with another server.
const ATTEMPTS: usize = 3;

/// Makes the bundle of `td` hold every authority in `published` and none of
/// `removed`; creates the bundle if there is none. Returns the stored bundle.
pub(super) async fn publish(
    store: &Store,
    td: &TrustDomain,
    published: &PublishedAuthorities,
    removed: &[Unpublished],
) -> Result<BundleRecord, StoreError> {
    let x509: Vec<X509Authority> = published
        .x509
        .iter()
        .map(|p| X509Authority {
            der: p.certificate.as_ref().to_vec(),
            tainted: p.tainted,
        })
        .collect();
    let jwt: Vec<JwtAuthority> = published
        .jwt
        .iter()
        .map(|p| JwtAuthority {
            key_id: p.authority.key_id().to_owned(),
            public_key_der: p.authority.public_key().to_vec(),
            expires_at: p
                .authority
                .expires_at()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
            tainted: p.tainted,
        })
        .collect();

    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let (x509_now, jwt_now) = (x509.clone(), jwt.clone());
        match store
            .modify_bundle(td, move |bundle| {
                merge(bundle, &x509_now, &jwt_now, removed)
            })
            .await
        {
            Err(StoreError::NotFound(_)) => {}
            other => return other,
        }

        let mut bundle = BundleRecord::new(td.clone());
        merge(&mut bundle, &x509, &jwt, removed);
        match store.create_bundle(&bundle).await {
            Err(error @ StoreError::AlreadyExists(_)) => last_error = Some(error),
            other => return other,
        }
    }
    Err(last_error.unwrap_or(StoreError::Conflict("bundle changed concurrently")))
}

/// Removes `removed`, then adds what is missing of `x509` and `jwt` and brings
/// the taint flags of those present up to date.
pub(super) fn merge(
    bundle: &mut BundleRecord,
    x509: &[X509Authority],
    jwt: &[JwtAuthority],
    removed: &[Unpublished],
) {
    for gone in removed {
        match gone {
            Unpublished::X509Certificates(certs) => bundle
                .x509_authorities
                .retain(|a| !certs.iter().any(|c| c.as_ref() == a.der.as_slice())),
            Unpublished::JwtKey(key_id) => bundle.jwt_authorities.retain(|a| &a.key_id != key_id),
            _ => {}
        }
    }

    for authority in x509 {
        match bundle
            .x509_authorities
            .iter_mut()
            .find(|a| a.der == authority.der)
        {
            Some(present) => present.tainted = authority.tainted,
            None => bundle.x509_authorities.push(authority.clone()),
        }
    }
    for authority in jwt {
        match bundle
            .jwt_authorities
            .iter_mut()
            .find(|a| a.key_id == authority.key_id)
        {
            Some(present) => present.tainted = authority.tainted,
            None => bundle.jwt_authorities.push(authority.clone()),
        }
    }
}

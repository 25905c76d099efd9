//! Reattaching keys to the authorities a saved journal names.

use std::sync::Arc;

use lanyard_spiffe::TrustDomain;
use rustls_pki_types::CertificateDer;

use super::slots::{self, Loaded, Record};
use super::{CaError, State};
use crate::journal::{Journal, JwtEntry, Slots, Status, X509Entry};
use crate::jwt::JwtKey;
use crate::key::{KeyManager, Signer};
use crate::x509::X509Authority;

/// Builds the runtime state for `journal`. An active or prepared authority
/// whose key is missing or does not match is retired (kept published, never
/// used again) so that the next rotation replaces it.
pub(super) fn restore(
    mut journal: Journal,
    keys: &dyn KeyManager,
    trust_domain: &TrustDomain,
) -> Result<State, CaError> {
    let x509 = restore_slots(&mut journal.x509, |entry| {
        let Some(signer) = keys.get_key(&entry.meta.slot.x509_key_id())? else {
            return Ok(None);
        };
        Ok(load_x509(entry, signer, trust_domain).map(Arc::new))
    })?;
    let jwt = restore_slots(&mut journal.jwt, |entry| {
        let Some(signer) = keys.get_key(&entry.meta.slot.jwt_key_id())? else {
            return Ok(None);
        };
        Ok(load_jwt(entry, signer).map(Arc::new))
    })?;
    Ok(State { journal, x509, jwt })
}

fn restore_slots<E: Record, A>(
    slots: &mut Slots<E>,
    mut load: impl FnMut(&E) -> Result<Option<Arc<A>>, CaError>,
) -> Result<Loaded<A>, CaError> {
    let mut loaded = Loaded::default();

    if let Some(active) = slots.active.take() {
        match load(&active)? {
            Some(authority) => {
                loaded.active = Some(authority);
                slots.active = Some(active);
            }
            None => {
                tracing::debug!(authority_id = %active.meta().authority_id, "active authority key unavailable, retiring it");
                slots::retire(slots, active);
            }
        }
    }

    let prepared = slots
        .next
        .as_ref()
        .is_some_and(|next| next.meta().status == Status::Prepared);
    if prepared && let Some(next) = slots.next.take() {
        match load(&next)? {
            Some(authority) => {
                loaded.prepared = Some(authority);
                slots.next = Some(next);
            }
            None => {
                tracing::debug!(authority_id = %next.meta().authority_id, "prepared authority key unavailable, retiring it");
                slots::retire(slots, next);
            }
        }
    }
    Ok(loaded)
}

fn load_x509(
    entry: &X509Entry,
    signer: Signer,
    trust_domain: &TrustDomain,
) -> Option<X509Authority> {
    let der = |d: &crate::journal::Der| CertificateDer::from(d.0.clone());
    let authority = X509Authority::from_parts(
        trust_domain,
        signer,
        der(&entry.certificate),
        entry.upstream_chain.iter().map(der).collect(),
        entry.upstream_roots.iter().map(der).collect(),
    );
    match authority {
        Ok(authority) if authority.authority_id() == entry.meta.authority_id => Some(authority),
        Ok(_) => None,
        Err(err) => {
            tracing::debug!(error = %err, "stored x509 authority does not load");
            None
        }
    }
}

fn load_jwt(entry: &JwtEntry, signer: Signer) -> Option<JwtKey> {
    if signer.public_key().as_ref() != entry.public_key.0.as_slice() {
        return None;
    }
    Some(JwtKey::from_parts(
        signer,
        entry.meta.authority_id.clone(),
        entry.meta.issued_at(),
        entry.meta.not_after(),
    ))
}

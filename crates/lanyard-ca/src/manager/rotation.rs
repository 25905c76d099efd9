//! The rotation tick: prepare, activate, prune.

use std::sync::Arc;
use std::time::SystemTime;

use super::events::{self, AuthorityKind, RotationEvent};
use super::slots::{self, Loaded, Record};
use super::{CaError, CaManager, State};
use crate::journal::{Der, EntryMeta, JwtEntry, Slot, Slots, Status, X509Entry};
use crate::jwt::{JwtKey, unix_seconds};
use crate::x509::X509Authority;

impl CaManager {
    /// Advances rotation to the clock's current time and returns what
    /// changed. Idempotent: call it at start and then every few seconds.
    ///
    /// - nothing active: prepare and activate at once;
    /// - past `min(lifetime/2, 30d)` before expiry: prepare the next authority
    ///   (published in the bundle from now on, not signing yet);
    /// - past `min(lifetime/6, 7d)` before expiry: activate it, the current
    ///   one becomes old;
    /// - old authorities are pruned once expired for longer than the grace.
    ///
    /// Each kind's changes are saved to the journal before they take effect.
    pub fn rotate(&self) -> Result<Vec<RotationEvent>, CaError> {
        let now = self.clock.now();
        let (change, mut state) = self.begin_change()?;
        let unchanged = state.journal.clone();
        let mut events = self.rotate_x509(&mut state, now)?;
        if state.journal != unchanged {
            self.commit(&change, state.clone())?;
        }

        if self.config.jwt_enabled {
            let unchanged = state.journal.clone();
            events.extend(self.rotate_jwt(&mut state, now)?);
            if state.journal != unchanged {
                self.commit(&change, state)?;
            }
        }

        for event in &events {
            tracing::debug!(event = ?event, "ca rotation");
        }
        Ok(events)
    }

    fn rotate_x509(
        &self,
        state: &mut State,
        now: SystemTime,
    ) -> Result<Vec<RotationEvent>, CaError> {
        let pruned = slots::prune(
            &mut state.journal.x509,
            &mut state.x509,
            now,
            self.config.prune_grace,
        );
        let mut events = events::x509_pruned(&state.journal.x509, pruned);

        let prepare = |slot| self.prepare_x509(slot, now);
        advance(
            &mut state.journal.x509,
            &mut state.x509,
            now,
            AuthorityKind::X509,
            prepare,
            &mut events,
        )?;
        Ok(events)
    }

    fn rotate_jwt(
        &self,
        state: &mut State,
        now: SystemTime,
    ) -> Result<Vec<RotationEvent>, CaError> {
        let pruned = slots::prune(
            &mut state.journal.jwt,
            &mut state.jwt,
            now,
            self.config.prune_grace,
        );
        let mut events = events::jwt_pruned(pruned);

        let prepare = |slot| self.prepare_jwt(slot, now);
        advance(
            &mut state.journal.jwt,
            &mut state.jwt,
            now,
            AuthorityKind::Jwt,
            prepare,
            &mut events,
        )?;
        Ok(events)
    }

    /// Makes a new X.509 CA in `slot` (new key, new certificate).
    pub(super) fn prepare_x509(
        &self,
        slot: Slot,
        now: SystemTime,
    ) -> Result<(X509Entry, Arc<X509Authority>), CaError> {
        let signer = self
            .keys
            .generate_key(&slot.x509_key_id(), self.config.ca_key_type)?;
        let config = &self.config;
        let authority = match &self.upstream {
            Some(upstream) => X509Authority::under_upstream(
                &config.trust_domain,
                &config.ca_subject,
                signer,
                config.ca_ttl,
                now,
                upstream.as_ref(),
            )?,
            None => X509Authority::self_signed(
                &config.trust_domain,
                &config.ca_subject,
                signer,
                config.ca_ttl,
                now,
            )?,
        };

        let der = |cert: &rustls_pki_types::CertificateDer<'_>| Der(cert.as_ref().to_vec());
        let entry = X509Entry {
            meta: meta(
                slot,
                authority.authority_id(),
                config.ca_key_type,
                now,
                authority.not_after(),
            ),
            certificate: der(authority.certificate()),
            upstream_chain: authority.upstream_chain().iter().map(der).collect(),
            upstream_roots: authority.upstream_roots().iter().map(der).collect(),
            upstream_authority_id: authority.upstream_authority_id().map(str::to_owned),
            upstream_tainted: false,
        };
        Ok((entry, Arc::new(authority)))
    }

    /// Makes a new JWT key in `slot`.
    pub(super) fn prepare_jwt(
        &self,
        slot: Slot,
        now: SystemTime,
    ) -> Result<(JwtEntry, Arc<JwtKey>), CaError> {
        let signer = self
            .keys
            .generate_key(&slot.jwt_key_id(), self.config.jwt_key_type)?;
        let key = JwtKey::new(signer, now, self.config.ca_ttl)?;
        let entry = JwtEntry {
            meta: meta(
                slot,
                key.key_id(),
                self.config.jwt_key_type,
                now,
                key.not_after(),
            ),
            public_key: Der(key.signer().public_key().as_ref().to_vec()),
        };
        Ok((entry, Arc::new(key)))
    }
}

/// The prepare/activate decisions for one kind.
fn advance<E: Record, A>(
    slots: &mut Slots<E>,
    loaded: &mut Loaded<A>,
    now: SystemTime,
    kind: AuthorityKind,
    mut prepare: impl FnMut(Slot) -> Result<(E, Arc<A>), CaError>,
    events: &mut Vec<RotationEvent>,
) -> Result<(), CaError> {
    let Some(active) = slots.active.as_ref().map(|a| a.meta().clone()) else {
        if !slots::is_prepared(slots) {
            let (entry, authority) = prepare(slots::slot_for_next(slots))?;
            events.push(RotationEvent::prepared(kind, entry.meta()));
            slots::install_prepared(slots, loaded, entry, authority);
        }
        activate(slots, loaded, kind, events);
        return Ok(());
    };

    if now > slots::prepare_at(&active) && !slots::is_prepared(slots) {
        let (entry, authority) = prepare(slots::slot_for_next(slots))?;
        events.push(RotationEvent::prepared(kind, entry.meta()));
        slots::install_prepared(slots, loaded, entry, authority);
    }
    if now > slots::activate_at(&active) {
        activate(slots, loaded, kind, events);
    }
    Ok(())
}

fn activate<E: Record, A>(
    slots: &mut Slots<E>,
    loaded: &mut Loaded<A>,
    kind: AuthorityKind,
    events: &mut Vec<RotationEvent>,
) {
    if slots::activate(slots, loaded)
        && let Some(active) = &slots.active
    {
        events.push(RotationEvent::activated(kind, active.meta()));
    }
}

fn meta(
    slot: Slot,
    authority_id: &str,
    key_type: crate::key::KeyType,
    now: SystemTime,
    not_after: SystemTime,
) -> EntryMeta {
    EntryMeta {
        slot,
        status: Status::Prepared,
        authority_id: authority_id.to_owned(),
        key_type,
        issued_at: unix_seconds(now).max(0).unsigned_abs(),
        not_after: unix_seconds(not_after).max(0).unsigned_abs(),
        tainted: false,
    }
}

//! Manual rotation and compromise response (SPIRE's LocalAuthority API).
//!
//! After a successful prepare, taint or revoke, the server refreshes its
//! bundle from [`CaManager::published_authorities`]; revoke also returns
//! what to remove.

use std::time::SystemTime;

use thiserror::Error;

use super::events::{self, Unpublished};
use super::slots::{self, Loaded, Record};
use super::{CaError, CaManager, State};
use crate::journal::{Slots, Status, X509Entry};

/// One authority as the LocalAuthority API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityState {
    /// Subject key ID (hex) for X.509, `kid` for JWT.
    pub authority_id: String,
    /// Expiry.
    pub expires_at: SystemTime,
    /// For X.509 under an upstream authority: the key ID (hex) of the
    /// upstream certificate that signed it.
    pub upstream_authority_id: Option<String>,
    /// Whether it was tainted.
    pub tainted: bool,
}

/// The authorities of one kind: the active one and the other slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityStates {
    /// Signing now.
    pub active: AuthorityState,
    /// Published, waiting to be activated.
    pub prepared: Option<AuthorityState>,
    /// The previous active authority, still published.
    pub old: Option<AuthorityState>,
}

/// Why a LocalAuthority operation was refused. The server maps these to
/// gRPC codes: `NotReady` is Unavailable, `JwtDisabled` Unimplemented,
/// `UpstreamConfigured` and `UpstreamNotConfigured` FailedPrecondition, `Ca`
/// Internal, the rest InvalidArgument.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LocalAuthorityError {
    /// No active authority yet (the server is starting).
    #[error("server is initializing")]
    NotReady,

    /// JWT-SVIDs are disabled.
    #[error("jwt functionality is disabled")]
    JwtDisabled,

    /// The request has no authority ID.
    #[error("no authority id provided")]
    MissingAuthorityId,

    /// The ID is the active authority, which cannot be tainted or revoked.
    #[error("unable to use the current (active) authority")]
    ActiveAuthority,

    /// The ID is not the authority in the other slot (nor, for JWT revoke, an old published key).
    #[error("unexpected authority id {0:?}")]
    UnexpectedAuthorityId(String),

    /// Only a prepared authority can be activated.
    #[error("only prepared authorities can be activated")]
    NotPrepared,

    /// Only an old authority can be tainted or revoked.
    #[error("only old authorities can be tainted or revoked")]
    NotOld,

    /// The authority is already tainted.
    #[error("authority is already tainted")]
    AlreadyTainted,

    /// Only a tainted authority can be revoked.
    #[error("only tainted authorities can be revoked; taint it first")]
    NotTainted,

    /// Upstream taint or revoke was asked for, but there is no upstream authority.
    #[error("upstream authority is not configured")]
    UpstreamNotConfigured,

    /// The upstream authority that signed the old CA is not a root in the
    /// bundle (an upstream intermediate cannot be tainted here).
    #[error("no upstream root with subject key id {0:?} is in the bundle")]
    UpstreamAuthorityNotInBundle(String),

    /// Tainting or revoking the local X.509 authority is refused when an
    /// upstream authority signs it.
    #[error("local authority can't be tainted or revoked when an upstream authority is configured")]
    UpstreamConfigured,

    /// The CA failed (key generation, journal write, ...).
    #[error("ca operation failed")]
    Ca(#[from] CaError),
}

impl CaManager {
    /// The active, prepared and old X.509 authorities.
    pub fn x509_authority_state(&self) -> Result<AuthorityStates, LocalAuthorityError> {
        let state = self.lock()?;
        states(&state.journal.x509, x509_state)
    }

    /// Prepares a new X.509 authority now (replacing any prepared or old one
    /// in the other slot, which stays published until it expires).
    pub fn prepare_x509_authority(&self) -> Result<AuthorityState, LocalAuthorityError> {
        let now = self.clock.now();
        self.mutate(|state| {
            require_active(&state.journal.x509)?;
            let slot = slots::slot_for_next(&state.journal.x509);
            let (entry, authority) = self.prepare_x509(slot, now)?;
            let shown = x509_state(&entry);
            slots::install_prepared(&mut state.journal.x509, &mut state.x509, entry, authority);
            Ok(shown)
        })
    }

    /// Activates the prepared X.509 authority `authority_id`.
    pub fn activate_x509_authority(
        &self,
        authority_id: &str,
    ) -> Result<AuthorityState, LocalAuthorityError> {
        self.mutate(|state| {
            activate(&mut state.journal.x509, &mut state.x509, authority_id)?;
            active_state(&state.journal.x509, x509_state)
        })
    }

    /// Marks the old X.509 authority `authority_id` as tainted.
    pub fn taint_x509_authority(
        &self,
        authority_id: &str,
    ) -> Result<AuthorityState, LocalAuthorityError> {
        if self.upstream.is_some() {
            return Err(LocalAuthorityError::UpstreamConfigured);
        }
        self.mutate(|state| {
            let entry = old_in_next_slot(&mut state.journal.x509, authority_id)?;
            if entry.meta.tainted {
                return Err(LocalAuthorityError::AlreadyTainted);
            }
            entry.meta.tainted = true;
            Ok(x509_state(entry))
        })
    }

    /// Removes the tainted old X.509 authority `authority_id` from the bundle.
    pub fn revoke_x509_authority(
        &self,
        authority_id: &str,
    ) -> Result<(AuthorityState, Unpublished), LocalAuthorityError> {
        if self.upstream.is_some() {
            return Err(LocalAuthorityError::UpstreamConfigured);
        }
        self.mutate(|state| {
            let entry = old_in_next_slot(&mut state.journal.x509, authority_id)?;
            if !entry.meta.tainted {
                return Err(LocalAuthorityError::NotTainted);
            }
            let shown = x509_state(entry);
            let removed = state.journal.x509.next.take().into_iter().collect();
            let unpublished = events::x509_pruned(&state.journal.x509, removed);
            let unpublished = match unpublished.into_iter().next() {
                Some(super::RotationEvent::Pruned { unpublished, .. }) => unpublished,
                _ => Unpublished::X509Certificates(Vec::new()),
            };
            tracing::debug!(authority_id, "x509 authority revoked");
            Ok((shown, unpublished))
        })
    }

    /// The active, prepared and old JWT authorities.
    pub fn jwt_authority_state(&self) -> Result<AuthorityStates, LocalAuthorityError> {
        self.require_jwt()?;
        let state = self.lock()?;
        states(&state.journal.jwt, jwt_state)
    }

    /// Prepares a new JWT key now.
    pub fn prepare_jwt_authority(&self) -> Result<AuthorityState, LocalAuthorityError> {
        self.require_jwt()?;
        let now = self.clock.now();
        self.mutate(|state| {
            require_active(&state.journal.jwt)?;
            let slot = slots::slot_for_next(&state.journal.jwt);
            let (entry, key) = self.prepare_jwt(slot, now)?;
            let shown = jwt_state(&entry);
            slots::install_prepared(&mut state.journal.jwt, &mut state.jwt, entry, key);
            Ok(shown)
        })
    }

    /// Activates the prepared JWT key `authority_id`.
    pub fn activate_jwt_authority(
        &self,
        authority_id: &str,
    ) -> Result<AuthorityState, LocalAuthorityError> {
        self.require_jwt()?;
        self.mutate(|state| {
            activate(&mut state.journal.jwt, &mut state.jwt, authority_id)?;
            active_state(&state.journal.jwt, jwt_state)
        })
    }

    /// Marks the old JWT key `authority_id` as tainted.
    pub fn taint_jwt_authority(
        &self,
        authority_id: &str,
    ) -> Result<AuthorityState, LocalAuthorityError> {
        self.require_jwt()?;
        self.mutate(|state| {
            let entry = old_in_next_slot(&mut state.journal.jwt, authority_id)?;
            if entry.meta.tainted {
                return Err(LocalAuthorityError::AlreadyTainted);
            }
            entry.meta.tainted = true;
            Ok(jwt_state(entry))
        })
    }

    /// Removes the tainted JWT key `authority_id` (the old one, or an older
    /// one still published) from the bundle.
    pub fn revoke_jwt_authority(
        &self,
        authority_id: &str,
    ) -> Result<(AuthorityState, Unpublished), LocalAuthorityError> {
        self.require_jwt()?;
        self.mutate(|state| {
            let slots = &mut state.journal.jwt;
            if !slots
                .retired
                .iter()
                .any(|e| e.meta.authority_id == authority_id)
            {
                old_in_next_slot(slots, authority_id)?;
            }
            let entry = slots::all(slots)
                .find(|e| e.meta.authority_id == authority_id)
                .ok_or_else(|| LocalAuthorityError::UnexpectedAuthorityId(authority_id.into()))?;
            if !entry.meta.tainted {
                return Err(LocalAuthorityError::NotTainted);
            }
            let shown = jwt_state(entry);

            if slots
                .next
                .as_ref()
                .is_some_and(|n| n.meta.authority_id == authority_id)
            {
                slots.next = None;
            }
            slots
                .retired
                .retain(|e| e.meta.authority_id != authority_id);
            tracing::debug!(authority_id, "jwt authority revoked");
            Ok((shown, Unpublished::JwtKey(authority_id.to_owned())))
        })
    }

    fn require_jwt(&self) -> Result<(), LocalAuthorityError> {
        if self.config.jwt_enabled {
            Ok(())
        } else {
            Err(LocalAuthorityError::JwtDisabled)
        }
    }

    /// Runs `change` on a copy of the state, saves the journal, then commits.
    pub(super) fn mutate<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, LocalAuthorityError>,
    ) -> Result<T, LocalAuthorityError> {
        let (guard, mut state) = self.begin_change()?;
        let result = change(&mut state)?;
        self.commit(&guard, state)?;
        Ok(result)
    }
}

fn require_active<E: Record>(slots: &Slots<E>) -> Result<(), LocalAuthorityError> {
    if slots.active.is_none() {
        return Err(LocalAuthorityError::NotReady);
    }
    Ok(())
}

fn activate<E: Record, A>(
    slots: &mut Slots<E>,
    loaded: &mut Loaded<A>,
    authority_id: &str,
) -> Result<(), LocalAuthorityError> {
    if authority_id.is_empty() {
        return Err(LocalAuthorityError::MissingAuthorityId);
    }
    let next = slots
        .next
        .as_ref()
        .filter(|next| next.meta().authority_id == authority_id)
        .ok_or_else(|| LocalAuthorityError::UnexpectedAuthorityId(authority_id.into()))?;
    if next.meta().status != Status::Prepared {
        return Err(LocalAuthorityError::NotPrepared);
    }
    if !slots::activate(slots, loaded) {
        return Err(LocalAuthorityError::NotPrepared);
    }
    tracing::debug!(authority_id, "authority activated by operator");
    Ok(())
}

/// The record in the other slot, checked to be `authority_id` and old.
fn old_in_next_slot<'a, E: Record>(
    slots: &'a mut Slots<E>,
    authority_id: &str,
) -> Result<&'a mut E, LocalAuthorityError> {
    if authority_id.is_empty() {
        return Err(LocalAuthorityError::MissingAuthorityId);
    }
    if slots
        .active
        .as_ref()
        .is_some_and(|active| active.meta().authority_id == authority_id)
    {
        return Err(LocalAuthorityError::ActiveAuthority);
    }
    let next = slots
        .next
        .as_mut()
        .filter(|next| next.meta().authority_id == authority_id)
        .ok_or_else(|| LocalAuthorityError::UnexpectedAuthorityId(authority_id.into()))?;
    if next.meta().status != Status::Old {
        return Err(LocalAuthorityError::NotOld);
    }
    Ok(next)
}

fn states<E: Record>(
    slots: &Slots<E>,
    show: impl Fn(&E) -> AuthorityState,
) -> Result<AuthorityStates, LocalAuthorityError> {
    let active = active_state(slots, &show)?;
    let next = slots.next.as_ref();
    let with_status = |status| next.filter(|n| n.meta().status == status).map(&show);
    Ok(AuthorityStates {
        active,
        prepared: with_status(Status::Prepared),
        old: with_status(Status::Old),
    })
}

fn active_state<E: Record>(
    slots: &Slots<E>,
    show: impl Fn(&E) -> AuthorityState,
) -> Result<AuthorityState, LocalAuthorityError> {
    slots
        .active
        .as_ref()
        .map(show)
        .ok_or(LocalAuthorityError::NotReady)
}

pub(super) fn x509_state(entry: &X509Entry) -> AuthorityState {
    AuthorityState {
        upstream_authority_id: entry.upstream_authority_id.clone(),
        ..meta_state(entry)
    }
}

fn jwt_state(entry: &crate::journal::JwtEntry) -> AuthorityState {
    meta_state(entry)
}

fn meta_state<E: Record>(entry: &E) -> AuthorityState {
    let meta = entry.meta();
    AuthorityState {
        authority_id: meta.authority_id.clone(),
        expires_at: meta.not_after(),
        upstream_authority_id: None,
        tainted: meta.tainted,
    }
}

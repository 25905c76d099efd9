//! The CA manager: owns the X.509 CA and the JWT key, rotates them through
//! two slots, and keeps the journal.
//!
//! Call [`CaManager::rotate`] once at start (it prepares and activates the
//! first authorities) and then every few seconds; it is idempotent.

mod events;
mod local_authority;
mod restore;
mod rotation;
mod slots;
mod upstream_authority;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::Duration;

use lanyard_spiffe::TrustDomain;
use thiserror::Error;

pub use events::{
    AuthorityKind, PublishedAuthorities, PublishedJwtAuthority, PublishedX509Authority,
    RotationEvent, Unpublished,
};
pub use local_authority::{AuthorityState, AuthorityStates, LocalAuthorityError};

use crate::clock::Clock;
use crate::journal::{Journal, JournalError, JournalStore};
use crate::jwt::{IssuedJwtSvid, JwtKey, JwtKeyError, JwtSvidRequest};
use crate::key::{KeyError, KeyManager, KeyType};
use crate::upstream::UpstreamAuthority;
use crate::x509::{CaSubject, IssuedX509Svid, X509Authority, X509Error, X509SvidRequest};
use slots::Loaded;

/// Upper bound on how far before expiry the next authority is prepared.
const MAX_PREPARE_LEAD: Duration = Duration::from_secs(30 * 24 * 3600);
/// Upper bound on how far before expiry the next authority is activated.
const MAX_ACTIVATE_LEAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the CA manager needs to know (the server's `ca_*` settings).
#[derive(Debug, Clone)]
pub struct CaConfig {
    /// The trust domain the CA signs for.
    pub trust_domain: TrustDomain,
    /// Key type of X.509 CA keys (`ca_key_type`).
    pub ca_key_type: KeyType,
    /// Key type of JWT signing keys (`jwt_key_type`, defaults to `ca_key_type`).
    pub jwt_key_type: KeyType,
    /// Lifetime of CA certificates and JWT keys (`ca_ttl`, default 24 h).
    pub ca_ttl: Duration,
    /// Subject of CA certificates (`ca_subject`).
    pub ca_subject: CaSubject,
    /// Whether JWT signing keys are kept (false = `disable_jwt_svids`).
    pub jwt_enabled: bool,
    /// How long an expired authority stays in the bundle before it is
    /// pruned (SPIRE keeps expired authorities for 24 h, for verifiers
    /// whose clocks run behind).
    pub prune_grace: Duration,
}

impl CaConfig {
    /// SPIRE's defaults: ec-p256 keys, 24 h CA lifetime, JWT enabled, 24 h
    /// prune grace.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            ca_key_type: KeyType::EcP256,
            jwt_key_type: KeyType::EcP256,
            ca_ttl: Duration::from_secs(24 * 3600),
            ca_subject: CaSubject::default(),
            jwt_enabled: true,
            prune_grace: Duration::from_secs(24 * 3600),
        }
    }

    /// The longest SVID lifetime rotation can honour: an authority is
    /// activated `min(ca_ttl/6, 7d)` before it expires, so SVIDs with a
    /// longer TTL get cut short at the authority's expiry. The server warns
    /// at start when its configured SVID TTLs exceed this.
    pub fn max_svid_ttl(&self) -> Duration {
        (self.ca_ttl / 6).min(MAX_ACTIVATE_LEAD)
    }
}

/// Owns the signing authorities of one server.
pub struct CaManager {
    config: CaConfig,
    keys: Arc<dyn KeyManager>,
    journal_store: Arc<dyn JournalStore>,
    upstream: Option<Arc<dyn UpstreamAuthority>>,
    clock: Arc<dyn Clock>,
    /// Serializes changes; held while keys are generated and the journal
    /// is written, so that `state` is only write-locked for the final swap.
    changes: Mutex<()>,
    state: RwLock<State>,
}

/// Why a CA manager operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaError {
    /// There is no active authority of this kind yet (call `rotate` first).
    #[error("no active {0} authority yet")]
    NotReady(AuthorityKind),

    /// JWT-SVIDs are disabled in the configuration.
    #[error("jwt-svids are disabled")]
    JwtDisabled,

    /// The configuration is unusable.
    #[error("invalid ca configuration: {0}")]
    InvalidConfig(&'static str),

    /// The key manager failed.
    #[error("key manager failed")]
    Key(#[from] KeyError),

    /// Building a CA certificate or an SVID failed.
    #[error("x509 authority failed")]
    X509(#[from] X509Error),

    /// Signing a JWT-SVID failed.
    #[error("jwt-svid signing failed")]
    Jwt(#[from] JwtKeyError),

    /// Loading or saving the journal failed.
    #[error("ca journal failed")]
    Journal(#[from] JournalError),

    /// A JWT authority could not be expressed as a bundle entry.
    #[error("jwt authority is not publishable")]
    Bundle(#[from] lanyard_spiffe::BundleError),

    /// A lock was poisoned by a panic in another thread.
    #[error("ca state lock poisoned")]
    Poisoned,
}

impl CaManager {
    /// Opens the CA manager: loads the journal (if any) and reattaches the
    /// keys it names. Authorities whose key is gone (memory key manager
    /// after a restart) stay published but are replaced at the next
    /// [`CaManager::rotate`].
    pub fn open(
        config: CaConfig,
        keys: Arc<dyn KeyManager>,
        journal_store: Arc<dyn JournalStore>,
        upstream: Option<Arc<dyn UpstreamAuthority>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CaError> {
        if config.ca_ttl < Duration::from_secs(60) {
            return Err(CaError::InvalidConfig("ca_ttl must be at least one minute"));
        }

        let journal = match journal_store.load()? {
            Some(bytes) => Journal::from_json(&bytes)?,
            None => Journal::new(),
        };
        let state = restore::restore(journal, keys.as_ref(), &config.trust_domain)?;
        Ok(Self {
            config,
            keys,
            journal_store,
            upstream,
            clock,
            changes: Mutex::new(()),
            state: RwLock::new(state),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &CaConfig {
        &self.config
    }

    /// See [`CaConfig::max_svid_ttl`].
    pub fn max_svid_ttl(&self) -> Duration {
        self.config.max_svid_ttl()
    }

    /// Whether the X.509 CA is an intermediate under an upstream authority.
    pub fn has_upstream_authority(&self) -> bool {
        self.upstream.is_some()
    }

    /// The X.509 CA that signs now.
    pub fn active_x509_authority(&self) -> Result<Arc<X509Authority>, CaError> {
        self.lock()?
            .x509
            .active
            .clone()
            .ok_or(CaError::NotReady(AuthorityKind::X509))
    }

    /// The JWT key that signs now.
    pub fn active_jwt_key(&self) -> Result<Arc<JwtKey>, CaError> {
        if !self.config.jwt_enabled {
            return Err(CaError::JwtDisabled);
        }
        self.lock()?
            .jwt
            .active
            .clone()
            .ok_or(CaError::NotReady(AuthorityKind::Jwt))
    }

    /// Signs an X509-SVID with the active CA at the clock's current time.
    pub fn issue_x509_svid(&self, request: &X509SvidRequest) -> Result<IssuedX509Svid, CaError> {
        let authority = self.active_x509_authority()?;
        Ok(authority.issue_x509_svid(request, self.clock.now())?)
    }

    /// Signs a JWT-SVID with the active JWT key at the clock's current time;
    /// `exp` is capped at the key's expiry.
    pub fn issue_jwt_svid(&self, request: &JwtSvidRequest) -> Result<IssuedJwtSvid, CaError> {
        if !self.config.trust_domain.contains(&request.spiffe_id) {
            return Err(JwtKeyError::ForeignTrustDomain(request.spiffe_id.to_string()).into());
        }
        let key = self.active_jwt_key()?;
        Ok(key.issue_jwt_svid(request, self.clock.now())?)
    }

    /// Everything this server must have in its trust bundle: every X.509
    /// trust anchor and JWT key that is prepared, active or old and not yet
    /// pruned or revoked.
    pub fn published_authorities(&self) -> Result<PublishedAuthorities, CaError> {
        let state = self.lock()?;
        events::published(&state.journal)
    }

    fn lock(&self) -> Result<RwLockReadGuard<'_, State>, CaError> {
        self.state.read().map_err(|_| CaError::Poisoned)
    }

    /// Starts a change: returns the change lock and a copy of the state to edit.
    fn begin_change(&self) -> Result<(MutexGuard<'_, ()>, State), CaError> {
        let guard = self.changes.lock().map_err(|_| CaError::Poisoned)?;
        let state = self.lock()?.clone();
        Ok((guard, state))
    }

    /// Saves the edited state's journal, then makes the state current.
    fn commit(&self, _change: &MutexGuard<'_, ()>, state: State) -> Result<(), CaError> {
        self.save(&state.journal)?;
        *self.state.write().map_err(|_| CaError::Poisoned)? = state;
        Ok(())
    }

    fn save(&self, journal: &Journal) -> Result<(), CaError> {
        self.journal_store.save(&journal.to_json()?)?;
        Ok(())
    }
}

impl fmt::Debug for CaManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaManager")
            .field("config", &self.config)
            .field("upstream", &self.upstream.is_some())
            .finish_non_exhaustive()
    }
}

/// The journal plus the authorities loaded for it.
#[derive(Debug, Clone)]
struct State {
    journal: Journal,
    x509: Loaded<X509Authority>,
    jwt: Loaded<JwtKey>,
}

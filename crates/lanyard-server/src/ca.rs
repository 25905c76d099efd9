//! The server's signing authorities wired to the datastore: the CA manager with
//! its journal in the store, the trust bundle kept in step with rotation, and
//! SVID minting with default TTLs and bounded concurrency.
//!
//! A gate orders signing against rotation: rotation (and operator changes to the
//! authorities) hold it exclusively until the bundle is updated, so nothing is
//! ever signed by an authority that is not yet in the published bundle.

mod journal;
mod publish;
mod rotation;
mod upstream;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use lanyard_ca::manager::{CaConfig, CaError, CaManager, LocalAuthorityError};
use lanyard_ca::{
    Clock, IssuedX509Svid, JwtSvidRequest, KeyManager, PublicKey, UpstreamAuthority,
    X509SvidRequest,
};
use lanyard_spiffe::{SpiffeId, TrustDomain};
use lanyard_store::{Store, StoreError};
use tokio::sync::{RwLock, Semaphore};

pub use journal::StoreJournal;
pub use rotation::ROTATION_INTERVAL;

/// What the server needs beyond the CA manager's own settings.
#[derive(Clone, Debug)]
pub struct CaSettings {
    /// The CA manager's settings (trust domain, key types, `ca_ttl`, ...).
    pub ca: CaConfig,
    /// TTL of minted X509-SVIDs when the request gives none.
    pub default_x509_svid_ttl: Duration,
    /// TTL of minted JWT-SVIDs when the request gives none.
    pub default_jwt_svid_ttl: Duration,
    /// The `iss` claim of JWT-SVIDs, if configured.
    pub jwt_issuer: Option<String>,
}

/// Why a CA operation of the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerCaError {
    /// The CA manager failed or is not ready.
    #[error("ca manager")]
    Ca(#[from] CaError),

    /// An operator request on the local authorities was refused or failed.
    #[error("local authority")]
    LocalAuthority(#[from] LocalAuthorityError),

    /// The bundle could not be read or written.
    #[error("trust bundle")]
    Store(#[from] StoreError),

    /// A blocking task panicked or was cancelled.
    #[error("ca task did not finish")]
    Task(#[from] tokio::task::JoinError),
}

/// A JWT-SVID as minted.
#[derive(Clone)]
pub struct MintedJwtSvid {
    /// The compact token (a bearer credential: never log it).
    pub token: String,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for MintedJwtSvid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedJwtSvid")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The server's CA: the CA manager, the datastore it publishes to, and the
/// signing gate.
pub struct ServerCa {
    manager: Arc<CaManager>,
    store: Arc<Store>,
    settings: CaSettings,
    gate: RwLock<()>,
    signing: Semaphore,
    ready: AtomicBool,
}

impl ServerCa {
    /// Opens the CA manager on `keys` with its journal stored under
    /// `journal_key` in `store`. Nothing is prepared yet: call
    /// [`ServerCa::rotate`] before signing.
    pub async fn open(
        settings: CaSettings,
        keys: Arc<dyn KeyManager>,
        upstream: Option<Arc<dyn UpstreamAuthority>>,
        store: Arc<Store>,
        journal_key: String,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ServerCaError> {
        let journal = Arc::new(StoreJournal::new(
            store.clone(),
            journal_key,
            tokio::runtime::Handle::current(),
        ));
        let config = settings.ca.clone();
        let manager = tokio::task::spawn_blocking(move || {
            CaManager::open(config, keys, journal, upstream, clock)
        })
        .await??;

        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            manager: Arc::new(manager),
            store,
            settings,
            gate: RwLock::new(()),
            signing: Semaphore::new(workers),
            ready: AtomicBool::new(false),
        })
    }

    /// The trust domain the CA signs for.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.settings.ca.trust_domain
    }

    /// The CA manager (for read-only queries).
    pub fn manager(&self) -> &CaManager {
        &self.manager
    }

    /// Whether an X.509 authority is active and published.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The longest SVID TTL rotation can honour (`min(ca_ttl/6, 7d)`).
    pub fn max_svid_ttl(&self) -> Duration {
        self.manager.max_svid_ttl()
    }

    /// One warning per configured default SVID TTL that rotation cannot
    /// honour, with the setting's name: SVIDs signed near an authority's end
    /// would be cut short at its expiry.
    pub fn ttl_warnings(&self) -> Vec<(&'static str, String)> {
        let max = self.max_svid_ttl();
        [
            ("default_x509_svid_ttl", self.settings.default_x509_svid_ttl),
            ("default_jwt_svid_ttl", self.settings.default_jwt_svid_ttl),
        ]
        .into_iter()
        .filter(|(_, ttl)| *ttl > max)
        .map(|(name, ttl)| {
            let warning = format!(
                "{name} ({}) is longer than rotation allows ({}: ca_ttl/6, at most 7 days); \
                 SVIDs will be cut short at the signing authority's expiry",
                humantime::format_duration(ttl),
                humantime::format_duration(max),
            );
            (name, warning)
        })
        .collect()
    }

    /// Signs an X509-SVID for `public_key` with the active authority. `ttl`
    /// `None` means the default; the result never outlives the authority.
    pub async fn mint_x509_svid(
        &self,
        public_key: PublicKey,
        spiffe_id: SpiffeId,
        dns_names: Vec<String>,
        ttl: Option<Duration>,
    ) -> Result<IssuedX509Svid, ServerCaError> {
        let request = X509SvidRequest {
            public_key,
            spiffe_id,
            dns_names,
            ttl: ttl.unwrap_or(self.settings.default_x509_svid_ttl),
        };

        let _published = self.gate.read().await;
        let _slot = self
            .signing
            .acquire()
            .await
            .map_err(|_| CaError::Poisoned)?;
        // Both key managers sign in memory (tens of microseconds): a hand-off to the
        // blocking pool would cost more wake-ups than the signature itself.
        let svid = self.manager.issue_x509_svid(&request)?;
        metrics::counter!("lanyard_server_svids_signed_total", "type" => "x509").increment(1);
        Ok(svid)
    }

    /// Signs a JWT-SVID for `spiffe_id` and `audience` with the active JWT key.
    /// `ttl` `None` means the default; `exp` never passes the key's expiry.
    pub async fn mint_jwt_svid(
        &self,
        spiffe_id: SpiffeId,
        audience: Vec<String>,
        ttl: Option<Duration>,
    ) -> Result<MintedJwtSvid, ServerCaError> {
        let request = JwtSvidRequest {
            spiffe_id,
            audience,
            ttl: ttl.unwrap_or(self.settings.default_jwt_svid_ttl),
            issuer: self.settings.jwt_issuer.clone(),
            include_jti: false,
        };

        let _published = self.gate.read().await;
        let _slot = self
            .signing
            .acquire()
            .await
            .map_err(|_| CaError::Poisoned)?;
        let issued = self.manager.issue_jwt_svid(&request)?;
        metrics::counter!("lanyard_server_svids_signed_total", "type" => "jwt").increment(1);
        Ok(MintedJwtSvid {
            token: issued.token().to_owned(),
            issued_at: issued.issued_at(),
            expires_at: unix_seconds(issued.expires_at()),
        })
    }

    fn mark_ready(&self) {
        let ready = self.manager.active_x509_authority().is_ok();
        self.ready.store(ready, Ordering::Release);
    }
}

impl std::fmt::Debug for ServerCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCa")
            .field("trust_domain", self.trust_domain())
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

/// Unix seconds of `t` (negative before 1970, which no clock here reads).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

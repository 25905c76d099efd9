//! JWT-SVIDs cached per (entry, audience set) until half their lifetime has passed,
//! and minted once for any number of callers missing the same key at the same time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use futures::FutureExt as _;
use futures::future::Shared;

use super::signer::BoxFuture;
use super::snapshot::JwtSvid;
use super::{Cache, CacheError};

/// A `NewJWTSVID` call in progress. Every caller that misses the same key while it runs
/// awaits this one call instead of making its own.
pub(crate) type JwtFlight = Shared<BoxFuture<'static, Result<JwtSvid, tonic::Status>>>;

impl Cache {
    /// A JWT-SVID for `entry_id` with `audiences` (order and duplicates do not matter),
    /// from the cache when more than half of its lifetime is left, else minted by the
    /// server through `NewJWTSVID`. Concurrent misses for the same entry and audiences
    /// share one server call and its answer (success or error).
    pub async fn jwt_svid(
        &self,
        entry_id: &str,
        audiences: &[String],
    ) -> Result<JwtSvid, CacheError> {
        if audiences.iter().all(|a| a.is_empty()) {
            return Err(CacheError::NoAudience);
        }
        let key = JwtKey::new(entry_id, audiences);
        let flight = {
            let mut state = self.lock();
            if !state.serving {
                return Err(CacheError::NotServing);
            }
            let Some(entry) = state.entries.get(entry_id) else {
                return Err(CacheError::UnknownEntry(entry_id.to_owned()));
            };
            let cached = state
                .jwt
                .get(&key, SystemTime::now())
                .filter(|token| token.spiffe_id == entry.spiffe_id);
            if let Some(token) = cached {
                return Ok(token);
            }
            match state.jwt_flights.get(&key) {
                Some(flight) => flight.clone(),
                None => {
                    let flight = self.jwt_flight(key.clone());
                    state.jwt_flights.insert(key, flight.clone());
                    flight
                }
            }
        };
        flight.await.map_err(CacheError::Server)
    }

    /// The call for `key`: it stores its token in the cache and forgets itself when done.
    /// It holds the cache weakly, so a call nobody awaits any more keeps nothing alive.
    fn jwt_flight(&self, key: JwtKey) -> JwtFlight {
        let signer = self.signer();
        let cache = Arc::downgrade(&self.inner);
        let call = async move {
            let result = signer.new_jwt_svid(&key.entry_id, &key.audiences).await;
            if let Some(inner) = cache.upgrade() {
                let cache = Self { inner };
                let mut state = cache.lock();
                state.jwt_flights.remove(&key);
                let current = state
                    .entries
                    .get(&key.entry_id)
                    .map(|entry| entry.spiffe_id.clone());
                if let Ok(token) = &result
                    && state.serving
                    && current.as_ref() == Some(&token.spiffe_id)
                {
                    state.jwt.insert(key, token.clone(), SystemTime::now());
                    metrics::gauge!(crate::health::metrics::CACHED_JWT_SVIDS)
                        .set(state.jwt.len() as f64);
                }
            }
            result
        };
        let call: BoxFuture<'static, _> = Box::pin(call);
        call.shared()
    }
}

/// The cache key: an entry and its audiences, sorted and de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct JwtKey {
    pub(crate) entry_id: String,
    pub(crate) audiences: Vec<String>,
}

impl JwtKey {
    pub(crate) fn new(entry_id: &str, audiences: &[String]) -> Self {
        let mut audiences = audiences.to_vec();
        audiences.sort();
        audiences.dedup();
        Self {
            entry_id: entry_id.to_owned(),
            audiences,
        }
    }
}

/// A bounded map of minted JWT-SVIDs (a hard bound: the oldest-expiring goes first).
pub(crate) struct JwtCache {
    max: usize,
    tokens: HashMap<JwtKey, JwtSvid>,
}

impl JwtCache {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            tokens: HashMap::new(),
        }
    }

    /// The cached token for `key` if more than half its lifetime is left at `now`.
    pub(crate) fn get(&self, key: &JwtKey, now: SystemTime) -> Option<JwtSvid> {
        let token = self.tokens.get(key)?;
        fresh(token, now).then(|| token.clone())
    }

    /// Stores `token`, evicting stale tokens and then the ones expiring first while the
    /// cache is over its bound.
    pub(crate) fn insert(&mut self, key: JwtKey, token: JwtSvid, now: SystemTime) {
        self.tokens.insert(key, token);
        if self.tokens.len() <= self.max {
            return;
        }
        self.tokens.retain(|_, t| fresh(t, now));
        while self.tokens.len() > self.max {
            let Some(oldest) = self
                .tokens
                .iter()
                .min_by_key(|(_, t)| t.expires_at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.tokens.remove(&oldest);
        }
    }

    /// Forgets every token of entries not kept by `keep`.
    pub(crate) fn retain_entries(&mut self, keep: impl Fn(&str) -> bool) {
        self.tokens.retain(|key, _| keep(&key.entry_id));
    }

    pub(crate) fn clear(&mut self) {
        self.tokens.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }
}

/// Whether less than half of the token's lifetime has passed at `now`.
fn fresh(token: &JwtSvid, now: SystemTime) -> bool {
    let Ok(lifetime) = token.expires_at.duration_since(token.issued_at) else {
        return false;
    };
    now < token.issued_at + lifetime / 2
}

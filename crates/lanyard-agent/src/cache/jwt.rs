//! JWT-SVIDs cached per (entry, audience set) until half their lifetime has passed.

use std::collections::HashMap;
use std::time::SystemTime;

use super::snapshot::JwtSvid;

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
